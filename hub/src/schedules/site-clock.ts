/**
 * Local dates and wall-clock times at the site, for an IANA time zone (Asia/Ho_Chi_Minh by
 * default). Pure: every function takes the instant it works on, so tests use fake clocks.
 */
import type { CalendarDate } from '../protocol/sun.js';

export const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

export interface LocalParts extends CalendarDate {
  hour: number;
  minute: number;
  second: number;
  /** 0 = Sunday. */
  weekday: number;
}

/** Days since 1970-01-01 of a calendar date (the date's own number, whatever the zone). */
export const dayNumber = (d: CalendarDate): number => Date.UTC(d.year, d.month - 1, d.day) / DAY_MS;

export function dateOfDay(day: number): CalendarDate {
  const d = new Date(day * DAY_MS);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

export const weekdayOfDay = (day: number): number => new Date(day * DAY_MS).getUTCDay();

const pad = (n: number) => String(n).padStart(2, '0');
export const formatDay = (day: number): string => {
  const d = dateOfDay(day);
  return `${d.year}-${pad(d.month)}-${pad(d.day)}`;
};

/** `2026-02-17` → its day number; undefined when it is not a calendar date. */
export function parseDay(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return undefined;
  const date = { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
  const day = dayNumber(date);
  const back = dateOfDay(day);
  return back.year === date.year && back.month === date.month && back.day === date.day ? day : undefined;
}

export class SiteClock {
  readonly timeZone: string;
  #format: Intl.DateTimeFormat;
  /** UTC offsets by hour: evaluating 1000 lights asks for the same few hours again and again. */
  #offsets = new Map<number, number>();

  /** Throws RangeError for a time zone Intl does not know. */
  constructor(timeZone: string) {
    this.timeZone = timeZone;
    this.#format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
  }

  /** Minutes east of UTC at an instant. */
  offsetMin(ms: number): number {
    const hour = Math.floor(ms / HOUR_MS);
    let offset = this.#offsets.get(hour);
    if (offset === undefined) {
      const p = this.#rawParts(hour * HOUR_MS);
      const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
      offset = Math.round((asUtc - hour * HOUR_MS) / 60_000);
      if (this.#offsets.size > 10_000) this.#offsets.clear();
      this.#offsets.set(hour, offset);
    }
    return offset;
  }

  parts(ms: number): LocalParts {
    const local = new Date(ms + this.offsetMin(ms) * 60_000);
    return {
      year: local.getUTCFullYear(),
      month: local.getUTCMonth() + 1,
      day: local.getUTCDate(),
      hour: local.getUTCHours(),
      minute: local.getUTCMinutes(),
      second: local.getUTCSeconds(),
      weekday: local.getUTCDay(),
    };
  }

  /** The local day number of an instant. */
  dayOf(ms: number): number {
    return Math.floor((ms + this.offsetMin(ms) * 60_000) / DAY_MS);
  }

  /** The instant of a local wall-clock time (seconds after local midnight) on local day `day`. */
  toInstant(day: number, secOfDay: number): number {
    const wall = day * DAY_MS + secOfDay * 1000;
    let at = wall - this.offsetMin(wall) * 60_000;
    // Once more at the guess: right across an offset change (none in Việt Nam, but IANA zones vary).
    at = wall - this.offsetMin(at) * 60_000;
    return at;
  }

  #rawParts(ms: number) {
    const out: Record<string, number> = {};
    for (const p of this.#format.formatToParts(new Date(ms))) {
      if (p.type !== 'literal') out[p.type] = Number(p.value);
    }
    return out as { year: number; month: number; day: number; hour: number; minute: number; second: number };
  }
}

/** Throws a RangeError naming the zone when Intl does not know it. */
export function checkTimeZone(timeZone: string): void {
  new SiteClock(timeZone);
}
