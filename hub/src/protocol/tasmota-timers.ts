/**
 * What the hub pushes to a Tasmota relay so that it keeps a dusk-to-dawn program while the hub
 * is dead: `Timer<n>`, `Timers`, `Latitude`, `Longitude`, `Timezone`, `Time`, `Rule<n>`, sent
 * through `Backlog`. Shared by the hub (formatting) and the simulated relay (parsing).
 * https://tasmota.github.io/docs/Timers/ , https://tasmota.github.io/docs/Rules/ ,
 * https://tasmota.github.io/docs/Commands/#management (Backlog)
 */
import { sunTimes } from './sun.js';

/** Tasmota has 16 timers. */
export const MAX_TIMERS = 16;
/** Backlog holds at most 30 commands (MAX_BACKLOG); the rest of a longer one is dropped. */
export const MAX_BACKLOG_COMMANDS = 30;
/** Kept well inside Tasmota's command buffer; a longer Backlog is split. */
export const MAX_BACKLOG_CHARS = 500;
/** Rule sets Rule1..Rule3, 511 characters each. */
export const MAX_RULE_SETS = 3;
export const MAX_RULE_CHARS = 511;

/** 0 clock time, 1 sunrise, 2 sunset. */
export type TimerMode = 0 | 1 | 2;
/** 0 off, 1 on, 2 toggle, 3 rule (fires `Clock#Timer=<n>` and switches nothing). */
export type TimerAction = 0 | 1 | 2 | 3;

export interface TasmotaTimer {
  enable: boolean;
  mode: TimerMode;
  /**
   * Mode 0: minutes after local midnight (0–1439). Modes 1 and 2: signed offset in minutes from
   * sunrise/sunset (−719…719), written `-00:30` / `00:15` on the wire.
   */
  minutes: number;
  /** ± minutes of random jitter around the time (0–15). */
  window: number;
  /** Sunday first (SMTWTFS): `days[0]` is Sunday. */
  days: readonly boolean[];
  repeat: boolean;
  /** Relay channel 1–16. */
  output: number;
  action: TimerAction;
}

/** A cleared timer, as `Timer<n> 0` leaves it. */
export const EMPTY_TIMER: TasmotaTimer = {
  enable: false,
  mode: 0,
  minutes: 0,
  window: 0,
  days: [false, false, false, false, false, false, false],
  repeat: false,
  output: 1,
  action: 0,
};

/** One command of a command line: `Timer1 {…}` → `{ command: 'TIMER1', payload: '{…}' }`. */
export interface TasmotaCommand {
  /** Upper-cased, as Tasmota matches command names. */
  command: string;
  payload: string;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** `Timer1 {"Enable":1}` → command and payload. The name ends at the first space. */
export function parseCommandLine(line: string): TasmotaCommand | undefined {
  const text = line.trim();
  if (text === '') return undefined;
  const m = /^(\S+)\s*(.*)$/s.exec(text);
  if (!m) return undefined;
  return { command: m[1]!.toUpperCase(), payload: m[2]!.trim() };
}

/** `Backlog a; b; c` splits on `;` (Tasmota does the same, even inside JSON); empty parts are skipped. */
export function parseBacklog(payload: string): TasmotaCommand[] {
  return payload
    .split(';')
    .map(parseCommandLine)
    .filter((c): c is TasmotaCommand => c !== undefined);
}

export function formatBacklog(commands: readonly string[]): string {
  for (const c of commands) {
    if (c.includes(';')) throw new Error(`a Backlog command cannot contain ';': ${c}`);
  }
  return commands.join('; ');
}

/**
 * Commands as Backlog payloads of at most 30 commands and MAX_BACKLOG_CHARS each, in order.
 * Send each as `cmnd/<t>/Backlog`.
 */
export function splitBacklog(commands: readonly string[]): string[] {
  const out: string[] = [];
  let batch: string[] = [];
  let length = 0;
  for (const c of commands) {
    if (c.length > MAX_BACKLOG_CHARS)
      throw new Error(`command longer than ${MAX_BACKLOG_CHARS} characters: ${c}`);
    const extra = batch.length === 0 ? c.length : c.length + 2;
    if (batch.length === MAX_BACKLOG_COMMANDS || length + extra > MAX_BACKLOG_CHARS) {
      out.push(formatBacklog(batch));
      batch = [];
      length = 0;
    }
    length += batch.length === 0 ? c.length : c.length + 2;
    batch.push(c);
  }
  if (batch.length > 0) out.push(formatBacklog(batch));
  return out;
}

// --- Timer<n> ------------------------------------------------------------------------------------

/** `"05:30"` (mode 0) or `"-00:30"`/`"+00:15"`/`"00:15"` (modes 1, 2) → minutes. */
export function parseTimerTime(text: string, mode: TimerMode): number | undefined {
  const m = /^([+-]?)(\d{1,2}):(\d{1,2})$/.exec(text.trim());
  if (!m) return undefined;
  const hours = Number(m[2]);
  const minutes = Number(m[3]);
  if (minutes > 59) return undefined;
  if (mode === 0) {
    if (m[1] !== '' || hours > 23) return undefined;
    return hours * 60 + minutes;
  }
  if (hours > 11) return undefined;
  const value = hours * 60 + minutes;
  return m[1] === '-' ? -value : value;
}

export function formatTimerTime(minutes: number, mode: TimerMode): string {
  const abs = Math.abs(minutes);
  const text = `${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
  return mode !== 0 && minutes < 0 ? `-${text}` : text;
}

/** `"1111111"`, `"SMTWTFS"`, `"--TW--S"`, `"SM00TF0"`: `0` or `-` is off, anything else on. */
export function parseTimerDays(text: string): boolean[] | undefined {
  if (text.length !== 7) return undefined;
  return [...text].map((ch) => ch !== '0' && ch !== '-');
}

/** Tasmota answers with digits: `"0111110"`. */
export function formatTimerDays(days: readonly boolean[]): string {
  return days.map((d) => (d ? '1' : '0')).join('');
}

/** The JSON Tasmota answers for a timer, key order as it sends it. */
export function timerToJson(t: TasmotaTimer): Record<string, number | string> {
  return {
    Enable: t.enable ? 1 : 0,
    Mode: t.mode,
    Time: formatTimerTime(t.minutes, t.mode),
    Window: t.window,
    Days: formatTimerDays(t.days),
    Repeat: t.repeat ? 1 : 0,
    Output: t.output,
    Action: t.action,
  };
}

/** The payload of `Timer<n> <payload>`. */
export function formatTimer(t: TasmotaTimer): string {
  return JSON.stringify(timerToJson(t));
}

/** `{"Timer1":{…}}` on `stat/<t>/RESULT`. */
export function formatTimerResult(index: number, t: TasmotaTimer): string {
  return JSON.stringify({ [`Timer${index}`]: timerToJson(t) });
}

export class TimerPayloadError extends Error {
  override name = 'TimerPayloadError';
}

const intIn = (value: unknown, min: number, max: number): number | undefined => {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max ? n : undefined;
};

/**
 * Apply a `Timer<n>` JSON payload over the timer's current settings: every key is optional, as
 * on Tasmota. `Arm` is the older name of `Enable`. A bad value throws TimerPayloadError and
 * changes nothing; unknown keys are ignored (Tasmota ignores them too).
 */
export function applyTimerPayload(current: TasmotaTimer, payload: string): TasmotaTimer {
  let data: unknown;
  try {
    data = JSON.parse(payload);
  } catch {
    throw new TimerPayloadError('Timer payload is not JSON');
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new TimerPayloadError('Timer payload must be a JSON object');
  }
  const src = Object.fromEntries(Object.entries(data).map(([k, v]) => [k.toLowerCase(), v]));
  const next = { ...current, days: [...current.days] };
  const bad = (key: string, expected: string) =>
    new TimerPayloadError(`Timer ${key} must be ${expected} (got ${JSON.stringify(src[key.toLowerCase()])})`);
  const enable = src.enable ?? src.arm;
  if (enable !== undefined) {
    const v = intIn(enable, 0, 1);
    if (v === undefined) throw bad(src.enable !== undefined ? 'Enable' : 'Arm', '0 or 1');
    next.enable = v === 1;
  }
  if (src.mode !== undefined) {
    const v = intIn(src.mode, 0, 2);
    if (v === undefined) throw bad('Mode', '0, 1 or 2');
    next.mode = v as TimerMode;
  }
  if (src.time !== undefined) {
    const v = typeof src.time === 'string' ? parseTimerTime(src.time, next.mode) : undefined;
    if (v === undefined)
      throw bad(
        'Time',
        next.mode === 0 ? '"hh:mm" from 00:00 to 23:59' : 'an offset "-hh:mm" or "hh:mm" up to 11:59',
      );
    next.minutes = v;
  } else if (next.mode === 0 && next.minutes < 0) {
    next.minutes = 0;
  }
  if (src.window !== undefined) {
    const v = intIn(src.window, 0, 15);
    if (v === undefined) throw bad('Window', 'an integer from 0 to 15');
    next.window = v;
  }
  if (src.days !== undefined) {
    const v = typeof src.days === 'string' ? parseTimerDays(src.days) : undefined;
    if (v === undefined) throw bad('Days', 'seven characters, Sunday first, 0 or - for off');
    next.days = v;
  }
  if (src.repeat !== undefined) {
    const v = intIn(src.repeat, 0, 1);
    if (v === undefined) throw bad('Repeat', '0 or 1');
    next.repeat = v === 1;
  }
  if (src.output !== undefined) {
    const v = intIn(src.output, 1, 16);
    if (v === undefined) throw bad('Output', 'an integer from 1 to 16');
    next.output = v;
  }
  if (src.action !== undefined) {
    const v = intIn(src.action, 0, 3);
    if (v === undefined) throw bad('Action', '0, 1, 2 or 3');
    next.action = v as TimerAction;
  }
  return next;
}

/** Read `{"Timer1":{…}}` from `stat/<t>/RESULT`; undefined when it is not a timer result. */
export function parseTimerResult(payload: string): { index: number; timer: TasmotaTimer } | undefined {
  let data: unknown;
  try {
    data = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return undefined;
  const entries = Object.entries(data);
  if (entries.length !== 1) return undefined;
  const [key, value] = entries[0]!;
  const m = /^Timer(\d{1,2})$/.exec(key);
  const index = m ? Number(m[1]) : 0;
  if (index < 1 || index > MAX_TIMERS || value === null || typeof value !== 'object') return undefined;
  try {
    return { index, timer: applyTimerPayload(EMPTY_TIMER, JSON.stringify(value)) };
  } catch {
    return undefined;
  }
}

/**
 * When a timer fires on a local date, in minutes after local midnight, or undefined when it does
 * not fire that day (day not selected, disabled, or no sunrise/sunset there). Tasmota compares
 * at minute resolution; sun times are rounded to the minute.
 */
export function timerMinuteOn(
  t: TasmotaTimer,
  date: { year: number; month: number; day: number },
  site: { latitude: number; longitude: number; timezoneMin: number },
): number | undefined {
  if (!t.enable) return undefined;
  const weekday = new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay();
  if (!t.days[weekday]) return undefined;
  if (t.mode === 0) return t.minutes;
  const sun = sunTimes(date, site.latitude, site.longitude);
  const at = t.mode === 1 ? sun.sunrise : sun.sunset;
  if (!at) return undefined;
  const localMin =
    Math.round((at.getTime() - Date.UTC(date.year, date.month - 1, date.day)) / 60_000) + site.timezoneMin;
  const minute = localMin + t.minutes;
  return minute >= 0 && minute < 1440 ? minute : undefined;
}

// --- Timers, Latitude, Longitude, Timezone, Time ---------------------------------------------------

/** `Timers 0|1|2` (2 toggles), `off`/`on`; empty = query. */
export function parseTimersPayload(payload: string): 'on' | 'off' | 'toggle' | 'query' | undefined {
  const p = payload.trim().toLowerCase();
  if (p === '') return 'query';
  if (p === '1' || p === 'on') return 'on';
  if (p === '0' || p === 'off') return 'off';
  if (p === '2' || p === 'toggle') return 'toggle';
  return undefined;
}

export function formatTimersResult(armed: boolean): string {
  return JSON.stringify({ Timers: armed ? 'ON' : 'OFF' });
}

/** `Timezone 7`, `Timezone +07:00`, `Timezone -3:30` → minutes east of UTC (−13:00…+14:00). */
export function parseTimezone(payload: string): number | undefined {
  const m = /^([+-]?)(\d{1,2})(?::(\d{2}))?$/.exec(payload.trim());
  if (!m) return undefined;
  const minutes = Number(m[2]) * 60 + (m[3] === undefined ? 0 : Number(m[3]));
  if (m[3] !== undefined && Number(m[3]) > 59) return undefined;
  const value = m[1] === '-' ? -minutes : minutes;
  return value >= -13 * 60 && value <= 14 * 60 ? value : undefined;
}

/** Tasmota's answer form: `+07:00`. */
export function formatTimezone(minutes: number): string {
  const abs = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** The command payload: whole hours as `7`, else `+05:30`. */
export function timezoneCommand(minutes: number): string {
  return minutes % 60 === 0 ? String(minutes / 60) : formatTimezone(minutes);
}

export function parseCoordinate(payload: string, max: number): number | undefined {
  if (!/^[+-]?\d+(\.\d+)?$/.test(payload.trim())) return undefined;
  const v = Number(payload);
  return Math.abs(v) <= max ? v : undefined;
}

/** `Time <epoch>`: epoch seconds after 2016-01-01 set the clock (Tasmota's START_VALID_TIME). */
export const MIN_VALID_EPOCH = 1451602800;

// --- Rules ---------------------------------------------------------------------------------------

export interface TasmotaRule {
  /** As written, e.g. `Mqtt#Disconnected`. */
  trigger: string;
  /** The command line after DO, e.g. `Timers 1` or `Backlog a; b`. */
  command: string;
}

/** `ON Mqtt#Disconnected DO Timers 1 ENDON ON …` → rules; undefined when it is not that shape. */
export function parseRuleSet(text: string): TasmotaRule[] | undefined {
  const rules: TasmotaRule[] = [];
  const re = /\s*ON\s+(\S+)\s+DO\s+(.+?)\s+(?:ENDON|BREAK)(?=\s+ON\s|\s*$)/iy;
  let index = 0;
  const trimmed = text.trim();
  while (index < trimmed.length) {
    re.lastIndex = index;
    const m = re.exec(trimmed);
    if (!m) return undefined;
    rules.push({ trigger: m[1]!, command: m[2]!.trim() });
    index = re.lastIndex;
  }
  return rules.length > 0 ? rules : undefined;
}

export interface RuleSetState {
  enabled: boolean;
  once: boolean;
  stopOnError: boolean;
  text: string;
}

/** `{"Rule1":{"State":"ON","Once":"OFF","StopOnError":"OFF","Length":…,"Free":…,"Rules":"…"}}`. */
export function formatRuleResult(index: number, rule: RuleSetState): string {
  const onOff = (b: boolean) => (b ? 'ON' : 'OFF');
  return JSON.stringify({
    [`Rule${index}`]: {
      State: onOff(rule.enabled),
      Once: onOff(rule.once),
      StopOnError: onOff(rule.stopOnError),
      Length: rule.text.length,
      Free: MAX_RULE_CHARS - rule.text.length,
      Rules: rule.text,
    },
  });
}

/** The rule that arms the timers only while the broker is lost, so that they never fight the hub. */
export const FALLBACK_RULE = 'ON Mqtt#Disconnected DO Timers 1 ENDON ON Mqtt#Connected DO Timers 0 ENDON';

// --- the fallback program --------------------------------------------------------------------------

export type FallbackMode = 'sunrise' | 'sunset' | 'clock';

export interface FallbackSwitch {
  /** `sunrise`/`sunset`: offsetMin is minutes from the event (−719…719); `clock`: minutes after local midnight. */
  mode: FallbackMode;
  offsetMin: number;
}

export interface FallbackProgramOptions {
  latitude: number;
  longitude: number;
  /** Hours east of UTC, e.g. 7 for Asia/Ho_Chi_Minh (whole or half hours). */
  timezoneHours: number;
  on: FallbackSwitch;
  off: FallbackSwitch;
  /** Relay channels 1…n switched alike. */
  channels: number;
  /** Lights off between `from` and `to` (local `hh:mm`), e.g. 23:00 to 04:30. */
  nightCut?: { from: string; to: string };
  /** Also set the relay's clock (`Time <epoch seconds>`), for sites without NTP. */
  epochSec?: number;
}

const MODE: Record<FallbackMode, TimerMode> = { clock: 0, sunrise: 1, sunset: 2 };

function fallbackTimer(output: number, sw: FallbackSwitch, action: TimerAction): TasmotaTimer {
  return {
    enable: true,
    mode: MODE[sw.mode],
    minutes: sw.offsetMin,
    window: 0,
    days: [true, true, true, true, true, true, true],
    repeat: true,
    output,
    action,
  };
}

function checkSwitch(name: string, sw: FallbackSwitch): void {
  const ok =
    sw.mode === 'clock'
      ? Number.isInteger(sw.offsetMin) && sw.offsetMin >= 0 && sw.offsetMin < 1440
      : (sw.mode === 'sunrise' || sw.mode === 'sunset') &&
        Number.isInteger(sw.offsetMin) &&
        Math.abs(sw.offsetMin) <= 719;
  if (!ok) {
    throw new RangeError(
      `${name}: ${sw.mode === 'clock' ? 'clock minutes must be an integer from 0 to 1439' : 'mode must be sunrise, sunset or clock, and offsetMin an integer from -719 to 719'} (got ${JSON.stringify(sw)})`,
    );
  }
}

const hhmm = (text: string, name: string): number => {
  const v = parseTimerTime(text, 0);
  if (v === undefined) throw new RangeError(`${name} must be "hh:mm" (got ${JSON.stringify(text)})`);
  return v;
};

/** The earliest and latest local minute at which a switch happens over a year. */
function yearRange(sw: FallbackSwitch, o: FallbackProgramOptions): [number, number] {
  if (sw.mode === 'clock') return [sw.offsetMin, sw.offsetMin];
  let min = 1440;
  let max = -1;
  const timer = fallbackTimer(1, sw, 1);
  const site = {
    latitude: o.latitude,
    longitude: o.longitude,
    timezoneMin: Math.round(o.timezoneHours * 60),
  };
  for (let d = 0; d < 366; d += 3) {
    const day = new Date(Date.UTC(2026, 0, 1 + d));
    const at = timerMinuteOn(
      timer,
      { year: 2026, month: day.getUTCMonth() + 1, day: day.getUTCDate() },
      site,
    );
    if (at === undefined) continue;
    min = Math.min(min, at);
    max = Math.max(max, at);
  }
  return [min, max];
}

/**
 * The commands a hub sends to a Tasmota relay for a fallback dusk-to-dawn program, as Backlog
 * payloads: site and clock, one timer per switching instant and channel (the rest cleared),
 * timers disarmed (the hub is connected while it sends this), and Rule1 arming them only while
 * the broker is lost. Throws RangeError on options Tasmota cannot carry out.
 */
export function fallbackProgramCommands(o: FallbackProgramOptions): string[] {
  if (!Number.isFinite(o.latitude) || Math.abs(o.latitude) > 90) {
    throw new RangeError(`latitude must be from -90 to 90 (got ${o.latitude})`);
  }
  if (!Number.isFinite(o.longitude) || Math.abs(o.longitude) > 180) {
    throw new RangeError(`longitude must be from -180 to 180 (got ${o.longitude})`);
  }
  const tzMin = o.timezoneHours * 60;
  if (!Number.isInteger(tzMin) || tzMin % 15 !== 0 || tzMin < -13 * 60 || tzMin > 14 * 60) {
    throw new RangeError(`timezoneHours must be from -13 to 14 in quarter hours (got ${o.timezoneHours})`);
  }
  checkSwitch('on', o.on);
  checkSwitch('off', o.off);
  const perChannel = o.nightCut ? 4 : 2;
  const maxChannels = Math.floor(MAX_TIMERS / perChannel);
  if (!Number.isInteger(o.channels) || o.channels < 1 || o.channels > maxChannels) {
    throw new RangeError(
      `channels must be an integer from 1 to ${maxChannels}: Tasmota has ${MAX_TIMERS} timers and this program needs ${perChannel} per channel (got ${o.channels})`,
    );
  }
  const timers: TasmotaTimer[] = [];
  let cut: { from: number; to: number } | undefined;
  if (o.nightCut) {
    cut = { from: hhmm(o.nightCut.from, 'nightCut.from'), to: hhmm(o.nightCut.to, 'nightCut.to') };
    // Timers only fire at instants: a cut ending after sunrise would switch the lights on by day.
    const [earliestOff] = yearRange(o.off, o);
    const [, latestOn] = yearRange(o.on, o);
    if (cut.to >= earliestOff || cut.to >= cut.from) {
      throw new RangeError(
        `nightCut.to (${o.nightCut.to}) must come before the earliest morning switch-off of the year (${formatTimerTime(earliestOff, 0)})`,
      );
    }
    if (cut.from <= latestOn) {
      throw new RangeError(
        `nightCut.from (${o.nightCut.from}) must come after the latest evening switch-on of the year (${formatTimerTime(latestOn, 0)})`,
      );
    }
  }
  for (let ch = 1; ch <= o.channels; ch++) {
    timers.push(fallbackTimer(ch, o.on, 1), fallbackTimer(ch, o.off, 0));
    if (cut) {
      timers.push(fallbackTimer(ch, { mode: 'clock', offsetMin: cut.from }, 0));
      timers.push(fallbackTimer(ch, { mode: 'clock', offsetMin: cut.to }, 1));
    }
  }
  const commands = [
    `Latitude ${o.latitude.toFixed(6)}`,
    `Longitude ${o.longitude.toFixed(6)}`,
    `Timezone ${timezoneCommand(tzMin)}`,
  ];
  if (o.epochSec !== undefined) {
    if (!Number.isInteger(o.epochSec) || o.epochSec < MIN_VALID_EPOCH) {
      throw new RangeError(`epochSec must be whole seconds after 2016 (got ${o.epochSec})`);
    }
    commands.push(`Time ${o.epochSec}`);
  }
  // Disarm first, so that no half-written program can fire while the rest arrives.
  commands.push('Timers 0');
  for (let i = 1; i <= MAX_TIMERS; i++) {
    const t = timers[i - 1];
    commands.push(t ? `Timer${i} ${formatTimer(t)}` : `Timer${i} 0`);
  }
  commands.push(`Rule1 ${FALLBACK_RULE}`, 'Rule1 1');
  return commands;
}

/** fallbackProgramCommands() as Backlog payloads (each ≤ 30 commands, ≤ MAX_BACKLOG_CHARS). */
export function fallbackProgramBacklog(o: FallbackProgramOptions): string[] {
  return splitBacklog(fallbackProgramCommands(o));
}
