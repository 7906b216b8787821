/** Days and offsets in the area's time zone (Asia/Ho_Chi_Minh), computed with Intl, not the phone's clock zone. */
import { TIME_ZONE } from './i18n.js';

const parts = new Intl.DateTimeFormat('en-US', {
  timeZone: TIME_ZONE,
  hour12: false,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** The zone's offset from UTC at `ms`, in ms (+7 h for Việt Nam). */
export function zoneOffsetMs(ms: number): number {
  const p: Record<string, number> = {};
  for (const part of parts.formatToParts(ms)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  const asUtc = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour! % 24, p.minute!, p.second!);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** The UTC instant of local midnight of the local day holding `ms`. */
export function startOfLocalDay(ms: number): number {
  const offset = zoneOffsetMs(ms);
  const local = ms + offset;
  const midnightLocal = local - (((local % 86_400_000) + 86_400_000) % 86_400_000);
  return midnightLocal - zoneOffsetMs(midnightLocal - offset);
}

export const iso = (ms: number): string => new Date(ms).toISOString();

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;
