/**
 * The lighting schedule as the area head writes it: programs (switching rules, an optional night
 * cut), an ordered calendar choosing a program per night, default programs per site, zone or
 * light, and overrides with an expiry. Checked here, with messages naming the field.
 */
import { badRequest } from '../core/errors.js';
import { parseLocalTime } from '../protocol/program.js';
import { isSunEvent, type SunEvent } from '../protocol/sun.js';
import type { PowerState } from '../protocol/tasmota.js';
import { CronError, type CronSpec, parseCron } from './cron.js';
import { parseDay } from './site-clock.js';

/** Sun offsets stay within three hours, so an evening switch stays in the evening. */
export const MAX_SUN_OFFSET_MIN = 180;
export const MAX_PROGRAM_RULES = 16;
export const MAX_CALENDAR_RULES = 200;
export const MAX_RULE_DATES = 366;
/** An override lasts at most this long: a festival week, not a new program. */
export const MAX_OVERRIDE_DAYS = 31;
export const SCHEDULE_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export type ProgramRule =
  | { state: PowerState; cron: string }
  | { state: PowerState; sun: SunEvent; offsetMin: number };

export interface NightCut {
  from: string;
  to: string;
}

/** A rule as sent: checked by compileProgram, then stored as a ProgramRule. */
export interface ProgramRuleInput {
  state: PowerState;
  cron?: string;
  sun?: SunEvent;
  offsetMin?: number;
}

export interface ProgramInput {
  name: string;
  rules: ProgramRuleInput[];
  nightCut?: NightCut | null;
}

export interface ProgramRecord {
  id: string;
  name: string;
  rules: ProgramRule[];
  nightCut: NightCut | null;
  createdAt: string;
  updatedAt: string;
}

export interface CompiledRule {
  state: PowerState;
  cron?: CronSpec;
  sun?: SunEvent;
  offsetMin: number;
}

export interface CompiledProgram {
  record: ProgramRecord;
  rules: CompiledRule[];
  /** Seconds after local midnight; `from` in the evening or night, `to` later the same night. */
  cut?: { fromSec: number; toSec: number };
}

export interface CalendarInput {
  name: string;
  program: string;
  /** Specific nights (`YYYY-MM-DD`: the night that begins that evening). */
  dates?: string[];
  /** A range of nights, both ends included; with `weekdays`, only those weekdays in it. */
  from?: string;
  to?: string;
  /** 0 = Sunday … 6 = Saturday. */
  weekdays?: number[];
  /** Where it applies; both empty = every light. */
  zones?: string[];
  lights?: string[];
}

export interface CalendarRule {
  id: string;
  name: string;
  program: string;
  dates: string[] | null;
  from: string | null;
  to: string | null;
  weekdays: number[] | null;
  zones: string[];
  lights: string[];
}

export interface CompiledCalendarRule {
  rule: CalendarRule;
  dates?: Set<number>;
  from?: number;
  to?: number;
  weekdays?: Set<number>;
}

export interface Defaults {
  /** The program of every light that has no other; null = the hub leaves such lights alone. */
  program: string | null;
  zones: Record<string, string>;
  lights: Record<string, string>;
}

export interface OverrideRecord {
  id: number;
  zone: string | null;
  light: string | null;
  state: PowerState;
  /** ISO UTC: after this the program takes over again. */
  until: string;
  /** `override`: set by the head through the API; `manual`: a switch by hand, until the next transition. */
  kind: 'override' | 'manual';
  by: string;
  note: string;
  createdAt: string;
}

const LIGHTING_DAY_START_SEC = 12 * 3600;
/** Seconds since the lighting day's start (local noon). */
export const nightSec = (secOfDay: number) => (secOfDay - LIGHTING_DAY_START_SEC + 86_400) % 86_400;

export function compileProgram(record: ProgramRecord): CompiledProgram {
  if (typeof record.name !== 'string' || record.name.trim() === '')
    throw badRequest('name must not be empty');
  if (!Array.isArray(record.rules) || record.rules.length === 0 || record.rules.length > MAX_PROGRAM_RULES) {
    throw badRequest(`rules must be a list of 1 to ${MAX_PROGRAM_RULES} switching rules`);
  }
  const rules = record.rules.map((r, i): CompiledRule => {
    const path = `rules[${i}]`;
    if (r.state !== 'on' && r.state !== 'off') throw badRequest(`${path}.state must be "on" or "off"`);
    const has = (k: string) => (r as Record<string, unknown>)[k] !== undefined;
    if (has('cron') === has('sun')) {
      throw badRequest(`${path} needs either "cron" (a fixed time) or "sun" (with "offsetMin"), not both`);
    }
    if ('cron' in r && r.cron !== undefined) {
      if (has('offsetMin')) throw badRequest(`${path}.offsetMin goes with "sun" only`);
      try {
        return { state: r.state, cron: parseCron(r.cron), offsetMin: 0 };
      } catch (err) {
        if (err instanceof CronError) throw badRequest(`${path}.cron ${err.message}`);
        throw err;
      }
    }
    const s = r as { sun: unknown; offsetMin?: unknown };
    if (!isSunEvent(s.sun)) throw badRequest(`${path}.sun must be sunrise, sunset, civilDawn or civilDusk`);
    const offset = s.offsetMin ?? 0;
    if (typeof offset !== 'number' || !Number.isInteger(offset) || Math.abs(offset) > MAX_SUN_OFFSET_MIN) {
      throw badRequest(
        `${path}.offsetMin must be a whole number of minutes from -${MAX_SUN_OFFSET_MIN} to ${MAX_SUN_OFFSET_MIN} (got ${JSON.stringify(offset)})`,
      );
    }
    return { state: r.state, sun: s.sun, offsetMin: offset };
  });
  const out: CompiledProgram = { record, rules };
  if (record.nightCut) {
    const from = parseLocalTime(record.nightCut.from);
    const to = parseLocalTime(record.nightCut.to);
    if (from === undefined) throw badRequest('nightCut.from must be a local time "hh:mm"');
    if (to === undefined) throw badRequest('nightCut.to must be a local time "hh:mm"');
    if (nightSec(from) >= nightSec(to)) {
      throw badRequest(
        `nightCut must lie within one night (noon to noon): from ${record.nightCut.from} to ${record.nightCut.to} does not`,
      );
    }
    out.cut = { fromSec: from, toSec: to };
  }
  return out;
}

const checkDay = (text: unknown, path: string): number => {
  const day = typeof text === 'string' ? parseDay(text) : undefined;
  if (day === undefined) throw badRequest(`${path} must be a date YYYY-MM-DD (got ${JSON.stringify(text)})`);
  return day;
};

export function compileCalendarRule(rule: CalendarRule): CompiledCalendarRule {
  if (rule.name.trim() === '') throw badRequest('name must not be empty');
  const out: CompiledCalendarRule = { rule };
  const hasRange = rule.from !== null || rule.to !== null;
  if (rule.dates === null && !hasRange && rule.weekdays === null) {
    throw badRequest('a calendar rule needs "dates", a range "from"/"to", or "weekdays"');
  }
  if (rule.dates !== null) {
    if (hasRange || rule.weekdays !== null) {
      throw badRequest('"dates" cannot be combined with "from"/"to" or "weekdays"');
    }
    if (rule.dates.length === 0 || rule.dates.length > MAX_RULE_DATES) {
      throw badRequest(`dates must list 1 to ${MAX_RULE_DATES} dates`);
    }
    out.dates = new Set(rule.dates.map((d, i) => checkDay(d, `dates[${i}]`)));
  }
  if (hasRange) {
    if (rule.from === null || rule.to === null) throw badRequest('a range needs both "from" and "to"');
    out.from = checkDay(rule.from, 'from');
    out.to = checkDay(rule.to, 'to');
    if (out.to < out.from) throw badRequest(`to (${rule.to}) is before from (${rule.from})`);
  }
  if (rule.weekdays !== null) {
    if (
      rule.weekdays.length === 0 ||
      rule.weekdays.some((d) => !Number.isInteger(d) || d < 0 || d > 6) ||
      new Set(rule.weekdays).size !== rule.weekdays.length
    ) {
      throw badRequest('weekdays must list distinct days 0 (Sunday) to 6 (Saturday)');
    }
    out.weekdays = new Set(rule.weekdays);
  }
  return out;
}

/** Does the rule choose the night that begins on local day `day`? */
export function calendarMatches(r: CompiledCalendarRule, day: number, weekday: number): boolean {
  if (r.dates) return r.dates.has(day);
  if (r.from !== undefined && (day < r.from || day > r.to!)) return false;
  if (r.weekdays && !r.weekdays.has(weekday)) return false;
  return true;
}
