/**
 * What every light should be at any instant: the override in force, else the program the
 * calendar chose for that night. Pure (no timers, no I/O): the service asks it at the instants
 * it plans, the preview asks it for a week ahead, tests ask it with any clock.
 *
 * Nights, not dates: a lighting day runs from local noon to the next noon, and a calendar date
 * names the night that begins that evening (Tết's eve lights until the morning after).
 */
import type { Actor } from '../core/event-bus.js';
import { sunTimes } from '../protocol/sun.js';
import type { PowerState } from '../protocol/tasmota.js';
import { cronInstants } from './cron.js';
import {
  type CompiledCalendarRule,
  type CompiledProgram,
  calendarMatches,
  type Defaults,
  type OverrideRecord,
} from './model.js';
import { DAY_MS, dateOfDay, type SiteClock, weekdayOfDay } from './site-clock.js';

/** A light (with its zone) or, for a street's preview, a zone alone (`light: null`). */
export interface Target {
  light: string | null;
  zone: string;
}

export interface Site {
  latitude: number;
  longitude: number;
  clock: SiteClock;
}

export interface NightPlan {
  /** Rule instants of the night, sorted. */
  events: Array<{ at: number; state: PowerState }>;
  cut?: { from: number; to: number };
}

export interface Desired {
  state: PowerState;
  actor: Actor;
  /** The program chosen, and why (`calendar:<rule>`, `default:light`, `default:zone`, `default`). */
  program?: string;
  source?: string;
  override?: number;
}

export interface Change extends Desired {
  at: number;
}

const LOOKBACK_NIGHTS = 8;
const NOON_SEC = 12 * 3600;

export class ScheduleEngine {
  readonly site: Site;
  #programs = new Map<string, CompiledProgram>();
  #calendar: CompiledCalendarRule[] = [];
  #defaults: Defaults = { program: null, zones: {}, lights: {} };
  #overrides: OverrideRecord[] = [];
  #plans = new Map<string, NightPlan>();

  constructor(site: Site) {
    this.site = site;
  }

  setPrograms(programs: Iterable<CompiledProgram>): void {
    this.#programs = new Map([...programs].map((p) => [p.record.id, p]));
    this.#plans.clear();
  }

  setCalendar(rules: CompiledCalendarRule[]): void {
    this.#calendar = rules;
  }

  setDefaults(defaults: Defaults): void {
    this.#defaults = defaults;
  }

  setOverrides(overrides: OverrideRecord[]): void {
    this.#overrides = overrides;
  }

  get programs(): ReadonlyMap<string, CompiledProgram> {
    return this.#programs;
  }

  /** The lighting day (night) an instant belongs to: the local date of the noon before it. */
  nightOf(ms: number): number {
    const day = this.site.clock.dayOf(ms);
    return ms < this.site.clock.toInstant(day, NOON_SEC) ? day - 1 : day;
  }

  nightStart(night: number): number {
    return this.site.clock.toInstant(night, NOON_SEC);
  }

  /** The program chosen for a target on a night, and why. */
  programFor(t: Target, night: number): { program: CompiledProgram; source: string } | undefined {
    const weekday = weekdayOfDay(night);
    for (const c of this.#calendar) {
      const r = c.rule;
      const everywhere = r.zones.length === 0 && r.lights.length === 0;
      const inScope =
        everywhere || r.zones.includes(t.zone) || (t.light !== null && r.lights.includes(t.light));
      if (!inScope || !calendarMatches(c, night, weekday)) continue;
      const program = this.#programs.get(r.program);
      if (program) return { program, source: `calendar:${r.id}` };
    }
    return this.defaultProgramFor(t);
  }

  /** The program a target has when the calendar says nothing (what devices keep as fallback). */
  defaultProgramFor(t: Target): { program: CompiledProgram; source: string } | undefined {
    const byLight = t.light !== null ? this.#defaults.lights[t.light] : undefined;
    const pick = (id: string | null | undefined, source: string) => {
      const program = id ? this.#programs.get(id) : undefined;
      return program ? { program, source } : undefined;
    };
    return (
      pick(byLight, 'default:light') ??
      pick(this.#defaults.zones[t.zone], 'default:zone') ??
      pick(this.#defaults.program, 'default')
    );
  }

  /** A program's rule instants and night cut for one night (noon to noon), cached. */
  plan(program: CompiledProgram, night: number): NightPlan {
    const key = `${program.record.id}:${program.record.updatedAt}:${night}`;
    const cached = this.#plans.get(key);
    if (cached) return cached;
    const { clock, latitude, longitude } = this.site;
    const start = this.nightStart(night);
    const end = this.nightStart(night + 1);
    const events: NightPlan['events'] = [];
    for (const rule of program.rules) {
      for (const day of [night, night + 1]) {
        const instants = rule.cron
          ? cronInstants(rule.cron, day, clock)
          : [sunTimes(dateOfDay(day), latitude, longitude)[rule.sun!]?.getTime()];
        for (const at of instants) {
          if (at === undefined) continue;
          const when = rule.cron ? at : at + rule.offsetMin * 60_000;
          if (when >= start && when < end) events.push({ at: when, state: rule.state });
        }
      }
    }
    events.sort((a, b) => a.at - b.at);
    const out: NightPlan = { events };
    if (program.cut) {
      const at = (sec: number) => clock.toInstant(sec >= NOON_SEC ? night : night + 1, sec);
      out.cut = { from: at(program.cut.fromSec), to: at(program.cut.toSec) };
    }
    if (this.#plans.size > 20_000) this.#plans.clear();
    this.#plans.set(key, out);
    return out;
  }

  /** What the program alone says at an instant; undefined when no program covers the target. */
  programStateAt(t: Target, ms: number): Desired | undefined {
    const night = this.nightOf(ms);
    const tonight = this.programFor(t, night);
    if (!tonight) return undefined;
    const base = {
      actor: { kind: 'program' as const, name: tonight.program.record.id },
      program: tonight.program.record.id,
      source: tonight.source,
    };
    const plan = this.plan(tonight.program, night);
    if (plan.cut && ms >= plan.cut.from && ms < plan.cut.to) return { state: 'off', ...base };
    for (let n = night; n > night - LOOKBACK_NIGHTS; n--) {
      const chosen = n === night ? tonight : this.programFor(t, n);
      if (!chosen) continue;
      const events = this.plan(chosen.program, n).events;
      for (let i = events.length - 1; i >= 0; i--) {
        if (events[i]!.at <= ms) return { state: events[i]!.state, ...base };
      }
    }
    return undefined;
  }

  /** The override in force for a target: the latest made among those for its light or zone. */
  overrideAt(t: Target, ms: number): OverrideRecord | undefined {
    let best: OverrideRecord | undefined;
    for (const o of this.#overrides) {
      const covers = (o.light !== null && o.light === t.light) || (o.light === null && o.zone === t.zone);
      if (!covers || Date.parse(o.createdAt) > ms || Date.parse(o.until) <= ms) continue;
      if (!best || o.createdAt > best.createdAt || (o.createdAt === best.createdAt && o.id > best.id))
        best = o;
    }
    return best;
  }

  desiredAt(t: Target, ms: number): Desired | undefined {
    const o = this.overrideAt(t, ms);
    if (o) return { state: o.state, actor: { kind: 'override', name: String(o.id) }, override: o.id };
    return this.programStateAt(t, ms);
  }

  /** Instants in (fromMs, toMs] where something may change, sorted and unique. */
  #candidates(t: Target | undefined, fromMs: number, toMs: number): number[] {
    const set = new Set<number>();
    const add = (at: number) => {
      if (at > fromMs && at <= toMs) set.add(at);
    };
    for (let night = this.nightOf(fromMs); this.nightStart(night) <= toMs; night++) {
      const programs = t
        ? [this.programFor(t, night)?.program].filter((p) => p !== undefined)
        : [...this.#programs.values()];
      for (const p of programs) {
        const plan = this.plan(p, night);
        for (const e of plan.events) add(e.at);
        if (plan.cut) {
          add(plan.cut.from);
          add(plan.cut.to);
        }
      }
    }
    for (const o of this.#overrides) {
      add(Date.parse(o.createdAt));
      add(Date.parse(o.until));
    }
    return [...set].sort((a, b) => a - b);
  }

  /** Every change of a target's desired state in (fromMs, toMs], with its reason. */
  changes(t: Target, fromMs: number, toMs: number, withOverrides = true): Change[] {
    const out: Change[] = [];
    const at0 = (ms: number) => (withOverrides ? this.desiredAt(t, ms) : this.programStateAt(t, ms));
    let last = at0(fromMs)?.state;
    for (const at of this.#candidates(t, fromMs, toMs)) {
      const d = at0(at);
      if (!d || d.state === last) continue;
      last = d.state;
      out.push({ at, ...d });
    }
    return out;
  }

  /** The next instant after `ms` at which any target's desired state may change (rule, cut, override). */
  nextInstantAfter(ms: number): number | undefined {
    return this.#candidates(undefined, ms, ms + 2 * DAY_MS)[0];
  }
}
