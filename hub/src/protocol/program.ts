/**
 * The lighting program the hub sends to an edge agent as `cmnd/<t>/PROGRAM` (never retained),
 * when the agent connects and whenever the program changes. The agent stores it and runs it
 * only while the hub is unreachable. Version 1:
 *
 * { "version": 1,
 *   "site": { "latitude": 21.32, "longitude": 105.29, "timezone": "+07:00" },
 *   "channels": [
 *     { "channel": 1,
 *       "rules": [ { "state": "on", "sun": "sunset", "offsetMin": -15 },
 *                  { "state": "off", "sun": "sunrise", "offsetMin": 15, "days": "1111111" } ],
 *       "nightCut": { "from": "23:00", "to": "04:30" } } ] }
 *
 * A rule switches at a sun event (`sunrise`, `sunset`, `civilDawn`, `civilDusk`) ± offsetMin,
 * or at a fixed local time `"time": "hh:mm"` (or `hh:mm:ss`), on the weekdays in `days`
 * (Sunday first, as Tasmota's timers; default every day). The night cut keeps the lights off
 * inside its window whatever the rules say.
 */
import { type CalendarDate, isSunEvent, type SunEvent, sunTimes } from './sun.js';
import type { PowerState } from './tasmota.js';

export const PROGRAM_VERSION = 1;
/** The `cmnd/<t>/PROGRAM` command name. */
export const PROGRAM_COMMAND = 'PROGRAM';
export const MAX_PROGRAM_BYTES = 16 * 1024;
export const MAX_PROGRAM_CHANNELS = 32;
export const MAX_RULES_PER_CHANNEL = 32;
export const MAX_OFFSET_MIN = 719;

export type ProgramAt = { sun: SunEvent; offsetMin: number } | { time: string };

export type ProgramRule = ProgramAt & {
  state: PowerState;
  /** Seven characters `0`/`1`, Sunday first; absent = every day. */
  days?: string;
};

export interface ProgramChannel {
  channel: number;
  rules: ProgramRule[];
  nightCut?: { from: string; to: string };
}

export interface Program {
  version: typeof PROGRAM_VERSION;
  site: { latitude: number; longitude: number; timezone: string };
  channels: ProgramChannel[];
}

export class ProgramError extends Error {
  override name = 'ProgramError';
  readonly code = 'KHU_PROGRAM_INVALID';
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const show = (v: unknown): string => {
  const text = JSON.stringify(v);
  return text === undefined ? String(v) : text.length > 40 ? `${text.slice(0, 40)}…` : text;
};

function fail(path: string, expected: string, value: unknown): never {
  throw new ProgramError(`${path} must be ${expected} (got ${show(value)})`);
}

function onlyKeys(obj: Json, path: string, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw new ProgramError(`${path}.${key} is not a known field (known: ${allowed.join(', ')})`);
    }
  }
}

/** `"+07:00"`, `"-03:30"`, `"Z"` → minutes east of UTC. */
export function parseUtcOffset(text: string): number | undefined {
  if (text === 'Z') return 0;
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(text);
  if (!m || Number(m[3]) > 59) return undefined;
  const v = (Number(m[2]) * 60 + Number(m[3])) * (m[1] === '-' ? -1 : 1);
  return v >= -13 * 60 && v <= 14 * 60 ? v : undefined;
}

/** `"hh:mm"` or `"hh:mm:ss"` → seconds after local midnight. */
export function parseLocalTime(text: string): number | undefined {
  const m = /^(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (!m) return undefined;
  const [h, min, s] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  return h <= 23 && min <= 59 && s <= 59 ? h * 3600 + min * 60 + s : undefined;
}

function parseRule(raw: unknown, path: string): ProgramRule {
  if (!isObject(raw)) fail(path, 'an object', raw);
  const state = raw.state;
  if (state !== 'on' && state !== 'off') fail(`${path}.state`, '"on" or "off"', state);
  let days: string | undefined;
  if (raw.days !== undefined) {
    if (typeof raw.days !== 'string' || !/^[01]{7}$/.test(raw.days)) {
      fail(`${path}.days`, 'seven 0/1 characters, Sunday first (e.g. "0111110")', raw.days);
    }
    if (raw.days === '0000000') fail(`${path}.days`, 'at least one day', raw.days);
    days = raw.days;
  }
  const extra = days === undefined ? {} : { days };
  if (raw.sun !== undefined && raw.time !== undefined) {
    throw new ProgramError(`${path} must have either sun or time, not both`);
  }
  if (raw.sun !== undefined) {
    onlyKeys(raw, path, ['state', 'sun', 'offsetMin', 'days']);
    if (!isSunEvent(raw.sun)) fail(`${path}.sun`, 'sunrise, sunset, civilDawn or civilDusk', raw.sun);
    const offsetMin = raw.offsetMin ?? 0;
    if (
      typeof offsetMin !== 'number' ||
      !Number.isInteger(offsetMin) ||
      Math.abs(offsetMin) > MAX_OFFSET_MIN
    ) {
      fail(`${path}.offsetMin`, `an integer from -${MAX_OFFSET_MIN} to ${MAX_OFFSET_MIN}`, offsetMin);
    }
    return { state, sun: raw.sun, offsetMin, ...extra };
  }
  if (raw.time !== undefined) {
    onlyKeys(raw, path, ['state', 'time', 'days']);
    if (typeof raw.time !== 'string' || parseLocalTime(raw.time) === undefined) {
      fail(`${path}.time`, 'a local time "hh:mm" or "hh:mm:ss"', raw.time);
    }
    return { state, time: raw.time, ...extra };
  }
  throw new ProgramError(`${path} needs "sun" (with "offsetMin") or "time"`);
}

function parseChannel(raw: unknown, path: string): ProgramChannel {
  if (!isObject(raw)) fail(path, 'an object', raw);
  onlyKeys(raw, path, ['channel', 'rules', 'nightCut']);
  const channel = raw.channel;
  if (
    typeof channel !== 'number' ||
    !Number.isInteger(channel) ||
    channel < 1 ||
    channel > MAX_PROGRAM_CHANNELS
  ) {
    fail(`${path}.channel`, `an integer from 1 to ${MAX_PROGRAM_CHANNELS}`, channel);
  }
  if (!Array.isArray(raw.rules) || raw.rules.length === 0 || raw.rules.length > MAX_RULES_PER_CHANNEL) {
    fail(`${path}.rules`, `a list of 1 to ${MAX_RULES_PER_CHANNEL} rules`, raw.rules);
  }
  const rules = raw.rules.map((r, i) => parseRule(r, `${path}.rules[${i}]`));
  const out: ProgramChannel = { channel, rules };
  if (raw.nightCut !== undefined) {
    const cut = raw.nightCut;
    if (!isObject(cut)) fail(`${path}.nightCut`, 'an object {"from","to"}', cut);
    onlyKeys(cut, `${path}.nightCut`, ['from', 'to']);
    for (const key of ['from', 'to'] as const) {
      if (typeof cut[key] !== 'string' || parseLocalTime(cut[key] as string) === undefined) {
        fail(`${path}.nightCut.${key}`, 'a local time "hh:mm"', cut[key]);
      }
    }
    if (cut.from === cut.to) fail(`${path}.nightCut.to`, 'different from nightCut.from', cut.to);
    out.nightCut = { from: cut.from as string, to: cut.to as string };
  }
  return out;
}

/** Parse and check a PROGRAM payload (text or already-parsed JSON). Throws ProgramError naming the path. */
export function parseProgram(input: string | unknown): Program {
  let data: unknown = input;
  if (typeof input === 'string') {
    if (Buffer.byteLength(input) > MAX_PROGRAM_BYTES) {
      throw new ProgramError(`the program is larger than ${MAX_PROGRAM_BYTES} bytes`);
    }
    if (input.trim() === '') throw new ProgramError('the program is empty');
    try {
      data = JSON.parse(input);
    } catch (err) {
      throw new ProgramError(`the program is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (!isObject(data)) fail('program', 'a JSON object', data);
  onlyKeys(data, 'program', ['version', 'site', 'channels']);
  if (data.version !== PROGRAM_VERSION) fail('version', String(PROGRAM_VERSION), data.version);
  const site = data.site;
  if (!isObject(site)) fail('site', 'an object {"latitude","longitude","timezone"}', site);
  onlyKeys(site, 'site', ['latitude', 'longitude', 'timezone']);
  const { latitude, longitude, timezone } = site;
  if (typeof latitude !== 'number' || !Number.isFinite(latitude) || Math.abs(latitude) > 90) {
    fail('site.latitude', 'a number from -90 to 90', latitude);
  }
  if (typeof longitude !== 'number' || !Number.isFinite(longitude) || Math.abs(longitude) > 180) {
    fail('site.longitude', 'a number from -180 to 180', longitude);
  }
  if (typeof timezone !== 'string' || parseUtcOffset(timezone) === undefined) {
    fail('site.timezone', 'a UTC offset such as "+07:00"', timezone);
  }
  if (
    !Array.isArray(data.channels) ||
    data.channels.length === 0 ||
    data.channels.length > MAX_PROGRAM_CHANNELS
  ) {
    fail('channels', `a list of 1 to ${MAX_PROGRAM_CHANNELS} channels`, data.channels);
  }
  const channels = data.channels.map((c, i) => parseChannel(c, `channels[${i}]`));
  const seen = new Map<number, number>();
  channels.forEach((c, i) => {
    const first = seen.get(c.channel);
    if (first !== undefined) {
      throw new ProgramError(`channels[${i}].channel duplicates channels[${first}].channel (${c.channel})`);
    }
    seen.set(c.channel, i);
  });
  return { version: PROGRAM_VERSION, site: { latitude, longitude, timezone }, channels };
}

export function encodeProgram(program: Program): string {
  return JSON.stringify(program);
}

// --- running a program ---------------------------------------------------------------------------

const DAY_MS = 86_400_000;

/** The local calendar date of day `dayIndex` (days since the epoch, local). */
function dateOf(dayIndex: number): CalendarDate {
  const d = new Date(dayIndex * DAY_MS);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** The instant of a rule on local day `dayIndex`, or undefined when it does not switch that day. */
function ruleInstant(
  rule: ProgramRule,
  dayIndex: number,
  program: Program,
  offsetMs: number,
): number | undefined {
  const weekday = new Date(dayIndex * DAY_MS).getUTCDay();
  if (rule.days && rule.days[weekday] !== '1') return undefined;
  const midnightUtc = dayIndex * DAY_MS - offsetMs;
  if ('time' in rule) return midnightUtc + parseLocalTime(rule.time)! * 1000;
  const at = sunTimes(dateOf(dayIndex), program.site.latitude, program.site.longitude)[rule.sun];
  return at === undefined ? undefined : at.getTime() + rule.offsetMin * 60_000;
}

function inNightCut(cut: ProgramChannel['nightCut'], ms: number, offsetMs: number): boolean {
  if (!cut) return false;
  const secOfDay = Math.floor(((((ms + offsetMs) % DAY_MS) + DAY_MS) % DAY_MS) / 1000);
  const from = parseLocalTime(cut.from)!;
  const to = parseLocalTime(cut.to)!;
  return from < to ? secOfDay >= from && secOfDay < to : secOfDay >= from || secOfDay < to;
}

/** Instants (and states) of the channel's rules between two instants, sorted. */
function ruleEvents(program: Program, ch: ProgramChannel, fromMs: number, toMs: number) {
  const offsetMs = parseUtcOffset(program.site.timezone)! * 60_000;
  const events: { at: number; state: PowerState }[] = [];
  const first = Math.floor((fromMs + offsetMs) / DAY_MS) - 1;
  const last = Math.floor((toMs + offsetMs) / DAY_MS) + 1;
  for (let day = first; day <= last; day++) {
    for (const rule of ch.rules) {
      const at = ruleInstant(rule, day, program, offsetMs);
      if (at !== undefined && at >= fromMs && at <= toMs) events.push({ at, state: rule.state });
    }
  }
  return events.sort((a, b) => a.at - b.at);
}

/**
 * What the program says for a channel at an instant: the state of the latest rule at or before
 * it (looking back up to 8 days, for weekday rules), off inside the night cut. Undefined when
 * the channel is not in the program or no rule has switched yet.
 */
export function programStateAt(program: Program, channel: number, ms: number): PowerState | undefined {
  const ch = program.channels.find((c) => c.channel === channel);
  if (!ch) return undefined;
  const offsetMs = parseUtcOffset(program.site.timezone)! * 60_000;
  if (inNightCut(ch.nightCut, ms, offsetMs)) return 'off';
  const events = ruleEvents(program, ch, ms - 8 * DAY_MS, ms);
  return events.at(-1)?.state;
}

/**
 * The first instant strictly after `ms` at which any channel's program may change (a rule, or a
 * night-cut boundary), within the next 8 days; undefined when there is none.
 */
export function nextProgramInstant(program: Program, ms: number): number | undefined {
  const offsetMs = parseUtcOffset(program.site.timezone)! * 60_000;
  let best: number | undefined;
  const consider = (at: number) => {
    if (at > ms && (best === undefined || at < best)) best = at;
  };
  const horizon = ms + 8 * DAY_MS;
  for (const ch of program.channels) {
    const next = ruleEvents(program, ch, ms + 1, horizon)[0];
    if (next) consider(next.at);
    if (ch.nightCut) {
      const today = Math.floor((ms + offsetMs) / DAY_MS);
      for (const key of ['from', 'to'] as const) {
        const sec = parseLocalTime(ch.nightCut[key])!;
        for (let day = today; day <= today + 1; day++) consider(day * DAY_MS - offsetMs + sec * 1000);
      }
    }
  }
  return best;
}

/** What the agent answers on `stat/<t>/RESULT` to a PROGRAM command. */
export interface ProgramResult {
  PROGRAM: {
    Status: 'Stored' | 'Error' | 'None' | 'Active';
    Version?: number;
    Channels?: number[];
    Error?: string;
  };
}
