/**
 * The program a device keeps for when the hub is dead: Tasmota timers and a rule (through
 * Backlog), or the edge agent's PROGRAM JSON. Built from each channel's default program (the
 * calendar's exceptions stay with the hub). What a device cannot carry is simplified, and said.
 */
import { createHash } from 'node:crypto';
import { type Program, type ProgramChannel, type ProgramRule, parseProgram } from '../protocol/program.js';
import { sunTimes } from '../protocol/sun.js';
import {
  applyTimerPayload,
  EMPTY_TIMER,
  type FallbackProgramOptions,
  type FallbackSwitch,
  fallbackProgramCommands,
  formatTimer,
  MAX_TIMERS,
  parseCommandLine,
  splitBacklog,
  type TasmotaTimer,
} from '../protocol/tasmota-timers.js';
import { cronDailyTime } from './cron.js';
import type { CompiledProgram, CompiledRule } from './model.js';
import type { SiteClock } from './site-clock.js';

export interface FallbackSite {
  latitude: number;
  longitude: number;
  clock: SiteClock;
}

export interface ChannelProgram {
  channel: number;
  program: CompiledProgram | undefined;
}

export interface BuiltFallback {
  /** Backlog payloads (Tasmota) or the PROGRAM JSON (edge). */
  payloads: string[];
  /** Over everything but the clock: equal hashes need no new push. */
  hash: string;
  /** What had to be simplified, for the log. */
  notes: string[];
}

/** Dusk to dawn: what a channel keeps when its program cannot be carried by the device. */
const DUSK_TO_DAWN: { on: FallbackSwitch; off: FallbackSwitch } = {
  on: { mode: 'sunset', offsetMin: 0 },
  off: { mode: 'sunrise', offsetMin: 0 },
};

const hashOf = (parts: unknown) =>
  createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
const hhmm = (sec: number) =>
  `${String(Math.floor(sec / 3600)).padStart(2, '0')}:${String(Math.floor(sec / 60) % 60).padStart(2, '0')}`;

function utcOffsetText(minutes: number): string {
  const abs = Math.abs(minutes);
  return `${minutes < 0 ? '-' : '+'}${hhmm(abs * 60)}`;
}

/** Civil twilight's length at the site today (minutes): Tasmota knows only sunrise and sunset. */
function civilTwilightMin(site: FallbackSite, nowMs: number): number {
  const p = site.clock.parts(nowMs);
  const s = sunTimes(p, site.latitude, site.longitude);
  if (!s.sunset || !s.civilDusk) return 0;
  return Math.round((s.civilDusk.getTime() - s.sunset.getTime()) / 60_000);
}

function tasmotaSwitch(rule: CompiledRule, civilMin: number): FallbackSwitch | undefined {
  if (rule.cron) {
    const daily = cronDailyTime(rule.cron);
    if (!daily || daily.weekdays.includes(false)) return undefined;
    return { mode: 'clock', offsetMin: Math.floor(daily.secOfDay / 60) };
  }
  switch (rule.sun) {
    case 'sunset':
      return { mode: 'sunset', offsetMin: rule.offsetMin };
    case 'sunrise':
      return { mode: 'sunrise', offsetMin: rule.offsetMin };
    case 'civilDusk':
      return { mode: 'sunset', offsetMin: rule.offsetMin + civilMin };
    case 'civilDawn':
      return { mode: 'sunrise', offsetMin: rule.offsetMin - civilMin };
    default:
      return undefined;
  }
}

type TasmotaPlan = Pick<FallbackProgramOptions, 'on' | 'off' | 'nightCut'>;

function tasmotaPlan(p: CompiledProgram, civilMin: number, notes: string[]): TasmotaPlan {
  const on = p.rules.filter((r) => r.state === 'on');
  const off = p.rules.filter((r) => r.state === 'off');
  const sOn = on.length === 1 ? tasmotaSwitch(on[0]!, civilMin) : undefined;
  const sOff = off.length === 1 ? tasmotaSwitch(off[0]!, civilMin) : undefined;
  if (!sOn || !sOff) {
    notes.push(
      `program ${p.record.id}: Tasmota timers carry one daily on and one daily off time; dusk to dawn kept instead`,
    );
    return { ...DUSK_TO_DAWN };
  }
  const plan: TasmotaPlan = { on: sOn, off: sOff };
  if (p.record.nightCut) plan.nightCut = { from: p.record.nightCut.from, to: p.record.nightCut.to };
  return plan;
}

/** The builder's commands for one plan; a night cut Tasmota cannot run safely is dropped. */
function commandsFor(
  base: Omit<FallbackProgramOptions, 'on' | 'off' | 'channels'>,
  plan: TasmotaPlan,
  channels: number,
  notes: string[],
) {
  try {
    return fallbackProgramCommands({ ...base, ...plan, channels });
  } catch (err) {
    if (!plan.nightCut) throw err;
    notes.push(`night cut left out on the device: ${(err as Error).message}`);
    const { nightCut: _cut, ...rest } = plan;
    return fallbackProgramCommands({ ...base, ...rest, channels });
  }
}

/** Backlog payloads for a Tasmota relay; undefined when none of its channels has a program. */
export function tasmotaFallback(
  site: FallbackSite,
  channels: ChannelProgram[],
  nowMs: number,
): BuiltFallback | undefined {
  const withProgram = channels.filter((c) => c.program);
  if (withProgram.length === 0) return undefined;
  const notes: string[] = [];
  const civil = civilTwilightMin(site, nowMs);
  const base = {
    latitude: site.latitude,
    longitude: site.longitude,
    timezoneHours: site.clock.offsetMin(nowMs) / 60,
  };
  const plans = new Map(withProgram.map((c) => [c.channel, tasmotaPlan(c.program!, civil, notes)]));
  const distinct = new Set([...plans.values()].map((p) => JSON.stringify(p)));
  let commands: string[];
  const allAlike = distinct.size === 1 && withProgram.length === channels.length;
  if (allAlike && channels.every((c, i) => c.channel === i + 1)) {
    commands = commandsFor(base, [...plans.values()][0]!, channels.length, notes);
  } else {
    // Channels differ: each channel's timers from the builder, renumbered onto one relay.
    const timers: TasmotaTimer[] = [];
    let head: string[] = [];
    let tail: string[] = [];
    for (const [channel, plan] of plans) {
      const cmds = commandsFor(base, plan, 1, notes);
      const first = cmds.findIndex((c) => /^Timer1 /.test(c));
      head = cmds.slice(0, first);
      tail = cmds.slice(first + MAX_TIMERS);
      for (const c of cmds.slice(first, first + MAX_TIMERS)) {
        const cmd = parseCommandLine(c)!;
        if (cmd.payload === '0') continue;
        timers.push({ ...applyTimerPayload(EMPTY_TIMER, cmd.payload), output: channel });
      }
    }
    if (timers.length > MAX_TIMERS) {
      throw new RangeError(`the channels' programs need ${timers.length} timers; Tasmota has ${MAX_TIMERS}`);
    }
    commands = [...head];
    for (let i = 1; i <= MAX_TIMERS; i++) {
      const t = timers[i - 1];
      commands.push(t ? `Timer${i} ${formatTimer(t)}` : `Timer${i} 0`);
    }
    commands.push(...tail);
  }
  const epochSec = Math.floor(nowMs / 1000);
  // The clock goes first, so that timers (if they were ever armed) judge by the right time.
  const withClock = [...commands.slice(0, 3), `Time ${epochSec}`, ...commands.slice(3)];
  return { payloads: splitBacklog(withClock), hash: hashOf(['tasmota', commands]), notes };
}

/** Only the relay clock and zone: sent at each connect when the program is already on the relay. */
export function tasmotaClock(site: FallbackSite, nowMs: number): string {
  const tz = site.clock.offsetMin(nowMs);
  const tzText = tz % 60 === 0 ? String(tz / 60) : utcOffsetText(tz);
  return `Timezone ${tzText}; Time ${Math.floor(nowMs / 1000)}`;
}

function edgeRules(p: CompiledProgram, notes: string[]): ProgramRule[] | undefined {
  const out: ProgramRule[] = [];
  for (const r of p.rules) {
    if (r.sun) {
      out.push({ state: r.state, sun: r.sun, offsetMin: r.offsetMin });
      continue;
    }
    const spec = r.cron!;
    if (spec.months.size !== 12 || spec.daysOfMonth.size !== 31) {
      notes.push(
        `program ${p.record.id}: cron "${spec.expression}" names months or days of the month; dusk to dawn kept instead`,
      );
      return undefined;
    }
    const days = [0, 1, 2, 3, 4, 5, 6].map((d) => (spec.weekdays.has(d) ? '1' : '0')).join('');
    for (const h of spec.hours)
      for (const m of spec.minutes)
        for (const s of spec.seconds) {
          const time =
            s === 0 ? hhmm(h * 3600 + m * 60) : `${hhmm(h * 3600 + m * 60)}:${String(s).padStart(2, '0')}`;
          out.push(days === '1111111' ? { state: r.state, time } : { state: r.state, time, days });
        }
  }
  return out.length > 0 && out.length <= 32 ? out : undefined;
}

/** The edge agent's PROGRAM; undefined when none of its channels has a program. */
export function edgeFallback(
  site: FallbackSite,
  channels: ChannelProgram[],
  nowMs: number,
): BuiltFallback | undefined {
  const notes: string[] = [];
  const out: ProgramChannel[] = [];
  for (const c of channels) {
    if (!c.program) continue;
    const rules = edgeRules(c.program, notes) ?? [
      { state: 'on', sun: 'sunset', offsetMin: 0 },
      { state: 'off', sun: 'sunrise', offsetMin: 0 },
    ];
    const ch: ProgramChannel = { channel: c.channel, rules };
    if (c.program.record.nightCut) ch.nightCut = { ...c.program.record.nightCut };
    out.push(ch);
  }
  if (out.length === 0) return undefined;
  const program: Program = parseProgram({
    version: 1,
    site: {
      latitude: site.latitude,
      longitude: site.longitude,
      timezone: utcOffsetText(site.clock.offsetMin(nowMs)),
    },
    channels: out,
  });
  const text = JSON.stringify(program);
  return { payloads: [text], hash: hashOf(['edge', text]), notes };
}
