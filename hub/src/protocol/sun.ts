/**
 * Sunrise, sunset and civil dawn/dusk as UTC instants, after NOAA's solar calculator
 * (https://gml.noaa.gov/grad/solcalc/calcdetails.html, from Meeus, "Astronomical Algorithms").
 * Pure and dependency-free: the hub, the edge agent and the simulated relay all use it.
 * Accuracy is about a minute at the latitudes Khu serves, which is what the published tables give.
 */

export type SunEvent = 'sunrise' | 'sunset' | 'civilDawn' | 'civilDusk';

export const SUN_EVENTS: readonly SunEvent[] = ['sunrise', 'sunset', 'civilDawn', 'civilDusk'];

/** A calendar date, as people on the site read it. */
export interface CalendarDate {
  year: number;
  /** 1–12. */
  month: number;
  /** 1–31. */
  day: number;
}

/** Each event of one day; undefined where the sun does not reach that altitude (polar day or night). */
export type SunTimes = Record<SunEvent, Date | undefined> & { solarNoon: Date };

/** Zenith angles: the upper limb on the horizon with standard refraction (90°50′), civil twilight 96°. */
const ZENITH: Record<SunEvent, number> = {
  sunrise: 90.833,
  sunset: 90.833,
  civilDawn: 96,
  civilDusk: 96,
};

const RAD = Math.PI / 180;
const DAY_MS = 86_400_000;

interface SolarPosition {
  /** Declination, degrees. */
  declination: number;
  /** Equation of time, minutes. */
  eqTime: number;
}

/** NOAA's solar position for an instant (Julian centuries since J2000.0). */
function solarPosition(ms: number): SolarPosition {
  const jd = ms / DAY_MS + 2440587.5;
  const t = (jd - 2451545) / 36525;
  const l0 = (((280.46646 + t * (36000.76983 + t * 0.0003032)) % 360) + 360) % 360;
  const m = 357.52911 + t * (35999.05029 - 0.0001537 * t);
  const e = 0.016708634 - t * (0.000042037 + 0.0000001267 * t);
  const c =
    Math.sin(m * RAD) * (1.914602 - t * (0.004817 + 0.000014 * t)) +
    Math.sin(2 * m * RAD) * (0.019993 - 0.000101 * t) +
    Math.sin(3 * m * RAD) * 0.000289;
  const omega = 125.04 - 1934.136 * t;
  const lambda = l0 + c - 0.00569 - 0.00478 * Math.sin(omega * RAD);
  const eps0 = 23 + (26 + (21.448 - t * (46.815 + t * (0.00059 - t * 0.001813))) / 60) / 60;
  const eps = eps0 + 0.00256 * Math.cos(omega * RAD);
  const declination = Math.asin(Math.sin(eps * RAD) * Math.sin(lambda * RAD)) / RAD;
  const y = Math.tan((eps / 2) * RAD) ** 2;
  const eqTime =
    (4 / RAD) *
    (y * Math.sin(2 * l0 * RAD) -
      2 * e * Math.sin(m * RAD) +
      4 * e * y * Math.sin(m * RAD) * Math.cos(2 * l0 * RAD) -
      0.5 * y * y * Math.sin(4 * l0 * RAD) -
      1.25 * e * e * Math.sin(2 * m * RAD));
  return { declination, eqTime };
}

function checkInputs(date: CalendarDate, latitude: number, longitude: number): void {
  if (!Number.isFinite(latitude) || latitude < -90 || latitude > 90) {
    throw new RangeError(`latitude must be a number from -90 to 90 (got ${latitude})`);
  }
  if (!Number.isFinite(longitude) || longitude < -180 || longitude > 180) {
    throw new RangeError(`longitude must be a number from -180 to 180 (got ${longitude})`);
  }
  const { year, month, day } = date;
  const probe = new Date(Date.UTC(year, month - 1, day));
  if (
    !Number.isInteger(year) ||
    probe.getUTCFullYear() !== year ||
    probe.getUTCMonth() !== month - 1 ||
    probe.getUTCDate() !== day
  ) {
    throw new RangeError(`not a calendar date: ${year}-${month}-${day}`);
  }
}

/**
 * The sun's events on `date` at a place. "The day" is the one whose solar noon falls on that
 * calendar date at that longitude, which is the local date wherever the time zone is close to
 * solar time (Việt Nam: UTC+7 at 102–110° E). East longitudes are positive.
 */
export function sunTimes(date: CalendarDate, latitude: number, longitude: number): SunTimes {
  checkInputs(date, latitude, longitude);
  const midnight = Date.UTC(date.year, date.month - 1, date.day);
  // Solar noon, refined once at the noon instant (the equation of time moves slowly).
  let noonMin = 720 - 4 * longitude - solarPosition(midnight + (720 - 4 * longitude) * 60_000).eqTime;
  noonMin = 720 - 4 * longitude - solarPosition(midnight + noonMin * 60_000).eqTime;
  const out = { solarNoon: new Date(midnight + Math.round(noonMin * 60_000)) } as SunTimes;
  for (const event of SUN_EVENTS) {
    const rising = event === 'sunrise' || event === 'civilDawn';
    // Iterate at the event's own instant: declination and equation of time change during the day.
    let minutes = noonMin + (rising ? -360 : 360);
    let found = true;
    for (let i = 0; i < 3; i++) {
      const { declination, eqTime } = solarPosition(midnight + minutes * 60_000);
      const cosH =
        (Math.cos(ZENITH[event] * RAD) - Math.sin(latitude * RAD) * Math.sin(declination * RAD)) /
        (Math.cos(latitude * RAD) * Math.cos(declination * RAD));
      if (cosH < -1 || cosH > 1) {
        found = false;
        break;
      }
      const hourAngle = Math.acos(cosH) / RAD;
      const noon = 720 - 4 * longitude - eqTime;
      minutes = noon + (rising ? -4 : 4) * hourAngle;
    }
    out[event] = found ? new Date(midnight + Math.round(minutes * 60_000)) : undefined;
  }
  return out;
}

/** One event's instant, or undefined in polar day/night. */
export function sunEvent(
  event: SunEvent,
  date: CalendarDate,
  latitude: number,
  longitude: number,
): Date | undefined {
  return sunTimes(date, latitude, longitude)[event];
}

export function isSunEvent(value: unknown): value is SunEvent {
  return typeof value === 'string' && (SUN_EVENTS as readonly string[]).includes(value);
}
