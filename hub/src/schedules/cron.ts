/**
 * Fixed switching times as cron expressions, read by node-cron (5 fields, or 6 with seconds
 * first) and evaluated here per local day, so that a preview can list the instants of any week,
 * not only the next run from the real clock. As in node-cron, day of month and day of week
 * must both match.
 */
import { parse, validateDetailed } from 'node-cron';
import { dateOfDay, type SiteClock, weekdayOfDay } from './site-clock.js';

export interface CronSpec {
  expression: string;
  seconds: number[];
  minutes: number[];
  hours: number[];
  daysOfMonth: Set<number>;
  months: Set<number>;
  weekdays: Set<number>;
  /** Switching instants per day that matches. */
  perDay: number;
}

/** A street light switching more often than this a day is a typing mistake, not a program. */
export const MAX_CRON_PER_DAY = 48;

export class CronError extends Error {
  override name = 'CronError';
}

const numbers = (values: (number | string)[], field: string, expression: string): number[] => {
  const out: number[] = [];
  for (const v of values) {
    if (typeof v !== 'number') {
      throw new CronError(
        `"${expression}": ${field} "${v}" is not supported here (use plain numbers, ranges, lists and steps)`,
      );
    }
    out.push(v);
  }
  return out;
};

/** Parse and check a cron expression; throws CronError with a message meant for people. */
export function parseCron(expression: string): CronSpec {
  const text = expression.trim();
  const fields = text.split(/\s+/).length;
  if (fields !== 5 && fields !== 6) {
    throw new CronError(
      `"${expression}" must have 5 fields (minute hour day month weekday) or 6 with seconds first`,
    );
  }
  const check = validateDetailed(text);
  if (!check.valid) {
    throw new CronError(`"${expression}": ${check.errors.map((e) => e.message).join('; ')}`);
  }
  const p = parse(text);
  const spec: CronSpec = {
    expression: text,
    seconds: numbers(p.second, 'second', text),
    minutes: numbers(p.minute, 'minute', text),
    hours: numbers(p.hour, 'hour', text),
    daysOfMonth: new Set(numbers(p.dayOfMonth, 'day of month', text)),
    months: new Set(numbers(p.month, 'month', text)),
    weekdays: new Set(numbers(p.dayOfWeek, 'day of week', text).map((d) => d % 7)),
    perDay: 0,
  };
  spec.perDay = spec.seconds.length * spec.minutes.length * spec.hours.length;
  if (spec.perDay > MAX_CRON_PER_DAY) {
    throw new CronError(
      `"${expression}" switches ${spec.perDay} times a day; a lighting program allows at most ${MAX_CRON_PER_DAY}`,
    );
  }
  return spec;
}

export function cronMatchesDay(spec: CronSpec, day: number): boolean {
  const d = dateOfDay(day);
  return spec.months.has(d.month) && spec.daysOfMonth.has(d.day) && spec.weekdays.has(weekdayOfDay(day));
}

/** The instants of a cron expression on local day `day`, sorted. */
export function cronInstants(spec: CronSpec, day: number, clock: SiteClock): number[] {
  if (!cronMatchesDay(spec, day)) return [];
  const out: number[] = [];
  for (const h of spec.hours)
    for (const m of spec.minutes)
      for (const s of spec.seconds) out.push(clock.toInstant(day, h * 3600 + m * 60 + s));
  return out.sort((a, b) => a - b);
}

/** `hh:mm[:ss]` on every day when the expression is one daily time, else undefined. */
export function cronDailyTime(spec: CronSpec): { secOfDay: number; weekdays: boolean[] } | undefined {
  if (spec.perDay !== 1 || spec.months.size !== 12 || spec.daysOfMonth.size !== 31) return undefined;
  return {
    secOfDay: spec.hours[0]! * 3600 + spec.minutes[0]! * 60 + spec.seconds[0]!,
    weekdays: [0, 1, 2, 3, 4, 5, 6].map((d) => spec.weekdays.has(d)),
  };
}
