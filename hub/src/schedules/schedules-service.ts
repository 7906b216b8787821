/**
 * Lighting programs at work: at start every light is set to what its program says now (only
 * where that differs from its desired state, so a restart switches nothing needlessly); then one
 * timer wakes at the next instant anything may change (a rule, a night cut, an override's end),
 * re-planning at least every minute so a clock step is noticed. A switch by a person is an
 * override until the program's next transition (or `manualHoldMinutes`). Devices get their
 * fallback programs through DevicePush.
 */
import { badRequest, conflict, KhuError, notFound } from '../core/errors.js';
import type { Actor, EventBus, HubEventName, HubEvents, LightSnapshot } from '../core/event-bus.js';
import type { Logger } from '../core/log.js';
import type { HubModule } from '../core/module.js';
import type { CommandSink, LightsService } from '../lights/lights-service.js';
import type { PowerState } from '../protocol/tasmota.js';
import type { SchedulesRepo } from '../store/schedules-repo.js';
import { analyseCalendarRule, type Overlap } from './calendar-check.js';
import { DevicePush } from './device-push.js';
import { type Change, ScheduleEngine, type Target } from './engine.js';
import { LightStats, type LightStatsView } from './light-stats.js';
import {
  type CalendarInput,
  type CalendarRule,
  type CompiledCalendarRule,
  compileCalendarRule,
  compileProgram,
  type Defaults,
  MAX_CALENDAR_RULES,
  MAX_OVERRIDE_DAYS,
  type OverrideRecord,
  type ProgramInput,
  type ProgramRecord,
  SCHEDULE_ID,
} from './model.js';
import { DAY_MS, SiteClock } from './site-clock.js';

export interface SchedulesOptions {
  latitude: number;
  longitude: number;
  timezone: string;
  /** 0: a manual switch holds until the program's next transition; n: for n minutes. */
  manualHoldMinutes: number;
  /** Push fallback programs to devices (Tasmota timers, edge PROGRAM). */
  pushFallback: boolean;
}

/** Re-plan at least this often: a clock step (NTP at boot) must not leave a timer far off. */
const MAX_SLEEP_MS = 60_000;

export interface PreviewEntry {
  zone: string;
  light?: string;
  transitions: Array<{ at: string; state: PowerState; reason: string; program?: string; source?: string }>;
}

export class SchedulesService implements HubModule {
  readonly name = 'schedules';
  readonly engine: ScheduleEngine;
  #opts: SchedulesOptions;
  #bus: EventBus;
  #repo: SchedulesRepo;
  #lights: LightsService;
  #log: Logger;
  #now: () => number;
  #stats: LightStats;
  #push: DevicePush;
  #programs = new Map<string, ProgramRecord>();
  #calendar: CalendarRule[] = [];
  #defaults: Defaults = { program: null, zones: {}, lights: {} };
  #overrides: OverrideRecord[] = [];
  #timer: NodeJS.Timeout | undefined;
  #planned: number | undefined;
  #manualQueue = new Map<string, Omit<OverrideRecord, 'id'>>();
  #manualFlush: NodeJS.Immediate | undefined;
  #running = false;

  constructor(deps: {
    options: SchedulesOptions;
    bus: EventBus;
    repo: SchedulesRepo;
    lights: LightsService;
    sink: CommandSink;
    log: Logger;
    /** The clock (epoch ms); tests pass a fake one. */
    now?: () => number;
  }) {
    this.#opts = deps.options;
    this.#bus = deps.bus;
    this.#repo = deps.repo;
    this.#lights = deps.lights;
    this.#log = deps.log;
    this.#now = deps.now ?? Date.now;
    this.engine = new ScheduleEngine({
      latitude: deps.options.latitude,
      longitude: deps.options.longitude,
      clock: new SiteClock(deps.options.timezone),
    });
    this.#stats = new LightStats(deps.repo, deps.log);
    this.#push = new DevicePush({
      engine: this.engine,
      lights: deps.lights,
      sink: deps.sink,
      repo: deps.repo,
      log: deps.log,
      now: this.#now,
    });
  }

  start(): void {
    this.#running = true;
    for (const p of this.#repo.listPrograms()) this.#programs.set(p.id, p);
    this.#calendar = this.#repo.listCalendar();
    this.#defaults = this.#repo.getDefaults();
    this.#overrides = this.#repo.listOverrides();
    this.#reload();
    this.#stats.load(this.#lights.list());
    this.#push.load();
    const on = <K extends HubEventName>(event: K, fn: (payload: HubEvents[K]) => void) =>
      this.#bus.on(this.name, event, fn);
    on('lightCommanded', (e) => this.#onCommanded(e));
    on('lightChanged', (e) => {
      if (e.cause === 'reported') this.#stats.reported(e.light, this.#now());
    });
    if (this.#opts.pushFallback) {
      on('deviceListening', ({ deviceId }) => this.#push.listening(deviceId));
      on('deviceOffline', ({ deviceId }) => this.#push.offline(deviceId));
      on('deviceMessage', (m) => this.#push.message(m));
    }
    // Catch up: never wait for the next transition.
    this.#tick();
  }

  stop(): void {
    this.#running = false;
    this.#bus.removeOwner(this.name);
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#flushManual();
    this.#stats.flush();
    this.#stats.clear();
    this.#push.clear();
    this.#programs.clear();
  }

  // ---- reading ----

  listPrograms(): ProgramRecord[] {
    return [...this.#programs.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  getProgram(id: string): ProgramRecord {
    const p = this.#programs.get(id);
    if (!p) throw notFound(`program ${id}`);
    return p;
  }

  listCalendar(): CalendarRule[] {
    return [...this.#calendar];
  }

  getDefaults(): Defaults {
    return structuredClone(this.#defaults);
  }

  /** Overrides still in force (manual ones included). */
  listOverrides(): OverrideRecord[] {
    const now = this.#now();
    return this.#overrides.filter((o) => Date.parse(o.until) > now);
  }

  stats(): LightStatsView[] {
    return this.#stats.view(this.#lights.list(), this.#now());
  }

  // ---- programs ----

  saveProgram(id: string, input: ProgramInput, actor: Actor, mode: 'create' | 'update'): ProgramRecord {
    if (!SCHEDULE_ID.test(id)) throw badRequest('id: 1–64 lower-case letters, digits, "_" or "-"');
    const existing = this.#programs.get(id);
    if (mode === 'create' && existing) throw conflict(`program ${id} exists already`);
    if (mode === 'update' && !existing) throw notFound(`program ${id}`);
    const now = new Date(this.#now()).toISOString();
    const record: ProgramRecord = {
      id,
      name: input.name.trim(),
      rules: input.rules as ProgramRecord['rules'],
      nightCut: input.nightCut ?? null,
      createdAt: existing?.createdAt ?? now,
      // Plans are cached by this: a change within the same millisecond must still show.
      updatedAt: existing && existing.updatedAt >= now ? `${existing.updatedAt}+` : now,
    };
    const compiled = compileProgram(record);
    record.rules = compiled.rules.map((r) =>
      r.cron
        ? { state: r.state, cron: r.cron.expression }
        : { state: r.state, sun: r.sun!, offsetMin: r.offsetMin },
    );
    this.#repo.upsertProgram(record);
    this.#programs.set(id, record);
    this.#changed(actor, mode === 'create' ? 'schedule.program_created' : 'schedule.program_changed', id);
    return record;
  }

  deleteProgram(id: string, actor: Actor): void {
    if (!this.#programs.has(id)) throw notFound(`program ${id}`);
    const users = [
      ...this.#calendar.filter((r) => r.program === id).map((r) => `calendar rule ${r.id}`),
      ...(this.#defaults.program === id ? ['the site default'] : []),
      ...Object.entries(this.#defaults.zones)
        .filter(([, p]) => p === id)
        .map(([z]) => `zone ${z}`),
      ...Object.entries(this.#defaults.lights)
        .filter(([, p]) => p === id)
        .map(([l]) => `light ${l}`),
    ];
    if (users.length > 0) throw conflict(`program ${id} is in use by ${users.join(', ')}`);
    this.#repo.deleteProgram(id);
    this.#programs.delete(id);
    this.#changed(actor, 'schedule.program_deleted', id);
  }

  // ---- calendar ----

  saveCalendarRule(
    id: string,
    input: CalendarInput & { position?: number },
    actor: Actor,
    mode: 'create' | 'update',
  ): { rule: CalendarRule; position: number; overlaps: Overlap[] } {
    if (!SCHEDULE_ID.test(id)) throw badRequest('id: 1–64 lower-case letters, digits, "_" or "-"');
    const index = this.#calendar.findIndex((r) => r.id === id);
    if (mode === 'create' && index >= 0) throw conflict(`calendar rule ${id} exists already`);
    if (mode === 'update' && index < 0) throw notFound(`calendar rule ${id}`);
    if (mode === 'create' && this.#calendar.length >= MAX_CALENDAR_RULES) {
      throw badRequest(`the calendar holds at most ${MAX_CALENDAR_RULES} rules`);
    }
    if (!this.#programs.has(input.program)) throw badRequest(`program: unknown program ${input.program}`);
    const rule: CalendarRule = {
      id,
      name: input.name.trim(),
      program: input.program,
      dates: input.dates ?? null,
      from: input.from ?? null,
      to: input.to ?? null,
      weekdays: input.weekdays ?? null,
      zones: input.zones ?? [],
      lights: input.lights ?? [],
    };
    this.#checkScope(rule.zones, rule.lights);
    const compiled = compileCalendarRule(rule);
    const next = this.#calendar.filter((r) => r.id !== id);
    const position = Math.min(input.position ?? (index >= 0 ? index : next.length), next.length);
    if (position < 0) throw badRequest('position must be 0 or more');
    next.splice(position, 0, rule);
    const all = next.map((r) => (r === rule ? compiled : compileCalendarRule(r)));
    const zoneOf = new Map(this.#lights.list().map((l) => [l.id, l.zone]));
    const overlaps = analyseCalendarRule(all, position, this.engine.nightOf(this.#now()), zoneOf);
    this.#repo.saveCalendar(next);
    this.#calendar = next;
    this.#changed(actor, mode === 'create' ? 'schedule.rule_created' : 'schedule.rule_changed', id);
    return { rule, position, overlaps };
  }

  deleteCalendarRule(id: string, actor: Actor): void {
    if (!this.#calendar.some((r) => r.id === id)) throw notFound(`calendar rule ${id}`);
    const next = this.#calendar.filter((r) => r.id !== id);
    this.#repo.saveCalendar(next);
    this.#calendar = next;
    this.#changed(actor, 'schedule.rule_deleted', id);
  }

  // ---- defaults ----

  saveDefaults(d: Defaults, actor: Actor): Defaults {
    const check = (p: string, where: string) => {
      if (!this.#programs.has(p)) throw badRequest(`${where}: unknown program ${p}`);
    };
    if (d.program !== null) check(d.program, 'program');
    for (const [z, p] of Object.entries(d.zones)) check(p, `zones.${z}`);
    for (const [l, p] of Object.entries(d.lights)) check(p, `lights.${l}`);
    this.#checkScope(Object.keys(d.zones), Object.keys(d.lights));
    this.#repo.saveDefaults(d);
    this.#defaults = structuredClone(d);
    this.#changed(actor, 'schedule.defaults_changed');
    return this.getDefaults();
  }

  // ---- overrides ----

  createOverride(
    input: { zone?: string; light?: string; state: PowerState; until: string; note?: string },
    actor: Actor,
  ): OverrideRecord {
    if ((input.zone === undefined) === (input.light === undefined)) {
      throw badRequest('an override names either "zone" or "light"');
    }
    this.#checkScope(input.zone ? [input.zone] : [], input.light ? [input.light] : []);
    const until = Date.parse(input.until);
    const now = this.#now();
    if (!/^\d{4}-\d{2}-\d{2}T/.test(input.until) || Number.isNaN(until)) {
      throw badRequest(
        `until must be an ISO 8601 time such as 2026-11-26T23:00:00+07:00 (got ${input.until})`,
      );
    }
    if (until <= now) throw badRequest(`until (${input.until}) is already past`);
    if (until > now + MAX_OVERRIDE_DAYS * DAY_MS) {
      throw badRequest(`until must be within ${MAX_OVERRIDE_DAYS} days; for longer, use a calendar rule`);
    }
    const [record] = this.#repo.insertOverrides([
      {
        zone: input.zone ?? null,
        light: input.light ?? null,
        state: input.state,
        until: new Date(until).toISOString(),
        kind: 'override',
        by: `${actor.kind}:${actor.name}`,
        note: input.note ?? '',
        createdAt: new Date(now).toISOString(),
      },
    ]);
    this.#overrides.push(record!);
    this.#changed(actor, 'schedule.override_created', record!.light ?? `zone:${record!.zone}`, {
      id: record!.id,
      state: record!.state,
      until: record!.until,
    });
    return record!;
  }

  deleteOverride(id: number, actor: Actor): void {
    const o = this.#overrides.find((x) => x.id === id && Date.parse(x.until) > this.#now());
    if (!o) throw notFound(`override ${id}`);
    this.#repo.deleteOverrides([id]);
    this.#overrides = this.#overrides.filter((x) => x.id !== id);
    this.#changed(actor, 'schedule.override_deleted', o.light ?? `zone:${o.zone}`, { id });
  }

  /** Send every device its fallback program again (after replacing a relay, say). */
  pushFallbacks(): number {
    return this.#push.pushAll(true);
  }

  // ---- preview ----

  preview(days: number): { from: string; to: string; zones: PreviewEntry[]; lights: PreviewEntry[] } {
    const from = this.#now();
    const to = from + days * DAY_MS;
    const lights = this.#lights.list();
    const own = new Set<string>([
      ...Object.keys(this.#defaults.lights),
      ...this.#calendar.flatMap((r) => r.lights),
      ...this.listOverrides().flatMap((o) => (o.light ? [o.light] : [])),
    ]);
    const entry = (t: Target): PreviewEntry => ({
      zone: t.zone,
      ...(t.light ? { light: t.light } : {}),
      transitions: this.engine.changes(t, from, to).map(view),
    });
    return {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      zones: [...new Set(lights.map((l) => l.zone))].sort().map((zone) => entry({ light: null, zone })),
      lights: lights.filter((l) => own.has(l.id)).map((l) => entry({ light: l.id, zone: l.zone })),
    };
  }

  // ---- internals ----

  #checkScope(zones: string[], lights: string[]): void {
    const known = new Set(this.#lights.zones());
    for (const z of zones) if (!known.has(z)) throw badRequest(`unknown zone ${z}`);
    for (const l of lights) {
      try {
        this.#lights.get(l);
      } catch (err) {
        if (err instanceof KhuError && err.code === 'KHU_NOT_FOUND') throw badRequest(`unknown light ${l}`);
        throw err;
      }
    }
  }

  #reload(): void {
    const compiled = [];
    for (const p of this.#programs.values()) {
      try {
        compiled.push(compileProgram(p));
      } catch (err) {
        this.#log.error({ err, program: p.id }, 'stored program unusable: skipped');
      }
    }
    this.engine.setPrograms(compiled);
    const rules: CompiledCalendarRule[] = [];
    for (const r of this.#calendar) {
      try {
        rules.push(compileCalendarRule(r));
      } catch (err) {
        this.#log.error({ err, rule: r.id }, 'stored calendar rule unusable: skipped');
      }
    }
    this.engine.setCalendar(rules);
    this.engine.setDefaults(this.#defaults);
    this.engine.setOverrides(this.#overrides);
  }

  /** Something the head changed: re-evaluate now, re-plan, re-push device programs, log it. */
  #changed(actor: Actor, action: string, target?: string, data?: Record<string, unknown>): void {
    this.#reload();
    this.#bus.emit('audit', { actor, action, ...(target ? { target } : {}), ...(data ? { data } : {}) });
    if (!this.#running) return;
    this.#tick();
    if (this.#opts.pushFallback) this.#push.pushAll(false);
  }

  #tick(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    let now = this.#now();
    // Timers may wake a hair early: switch as of the planned instant.
    if (this.#planned !== undefined && now < this.#planned && this.#planned - now < 50) now = this.#planned;
    this.#planned = undefined;
    this.#expireOverrides(now);
    this.#apply(now);
    const next = this.engine.nextInstantAfter(now);
    const wake = Math.min(next ?? Number.POSITIVE_INFINITY, now + MAX_SLEEP_MS);
    this.#planned = next !== undefined && next <= wake ? next : undefined;
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, wake - this.#now()));
    this.#timer.unref();
  }

  /** Set every light whose desired state differs from what its override or program says now. */
  #apply(now: number): void {
    const groups = new Map<string, { state: PowerState; actor: Actor; ids: string[] }>();
    for (const l of this.#lights.list()) {
      const d = this.engine.desiredAt({ light: l.id, zone: l.zone }, now);
      if (!d || l.desired === d.state || this.#manualQueue.has(l.id)) continue;
      const key = `${d.state}|${d.actor.kind}:${d.actor.name}`;
      const g = groups.get(key) ?? { state: d.state, actor: d.actor, ids: [] };
      g.ids.push(l.id);
      groups.set(key, g);
    }
    for (const g of groups.values()) {
      this.#log.info(
        { lights: g.ids.length, state: g.state, by: `${g.actor.kind}:${g.actor.name}` },
        'switching by schedule',
      );
      this.#lights
        .command(g.ids, g.state, g.actor, 0)
        .catch((err) => this.#log.error({ err }, 'scheduled switch failed'));
    }
  }

  #expireOverrides(now: number): void {
    const expired = this.#overrides.filter((o) => Date.parse(o.until) <= now);
    if (expired.length === 0) return;
    this.#overrides = this.#overrides.filter((o) => Date.parse(o.until) > now);
    this.engine.setOverrides(this.#overrides);
    try {
      this.#repo.deleteOverrides(expired.map((o) => o.id));
    } catch (err) {
      this.#log.error({ err }, 'could not delete expired overrides');
    }
  }

  /** A person switched a light (an app, or by hand at the cabinet): hold it until the program's next transition. */
  #onCommanded(e: HubEvents['lightCommanded']): void {
    const byPerson =
      e.actor.kind === 'user' || (e.actor.kind === 'system' && e.actor.name.startsWith('device:'));
    if (!byPerson) return;
    let light: LightSnapshot;
    try {
      light = this.#lights.get(e.lightId);
    } catch {
      return;
    }
    const t = { light: light.id, zone: light.zone };
    const now = this.#now();
    if (!this.engine.programStateAt(t, now) && !this.engine.overrideAt(t, now)) return; // nothing to hold against
    let until: number;
    if (this.#opts.manualHoldMinutes > 0) until = now + this.#opts.manualHoldMinutes * 60_000;
    else until = this.engine.changes(t, now, now + 8 * DAY_MS, false)[0]?.at ?? now + 8 * DAY_MS;
    this.#manualQueue.set(light.id, {
      zone: null,
      light: light.id,
      state: e.to,
      until: new Date(until).toISOString(),
      kind: 'manual',
      by: `${e.actor.kind}:${e.actor.name}`,
      note: '',
      createdAt: new Date(now).toISOString(),
    });
    this.#manualFlush ??= setImmediate(() => this.#flushManual());
  }

  #flushManual(): void {
    if (this.#manualFlush) clearImmediate(this.#manualFlush);
    this.#manualFlush = undefined;
    if (this.#manualQueue.size === 0) return;
    const queued = [...this.#manualQueue.values()];
    this.#manualQueue.clear();
    try {
      const replaced = this.#overrides.filter(
        (o) => o.kind === 'manual' && queued.some((q) => q.light === o.light),
      );
      this.#repo.deleteOverrides(replaced.map((o) => o.id));
      const added = this.#repo.insertOverrides(queued);
      this.#overrides = [...this.#overrides.filter((o) => !replaced.includes(o)), ...added];
      this.engine.setOverrides(this.#overrides);
      if (this.#running) this.#tick();
    } catch (err) {
      this.#log.error({ err }, 'could not keep manual switches as overrides');
    }
  }
}

const view = (c: Change) => ({
  at: new Date(c.at).toISOString(),
  state: c.state,
  reason: `${c.actor.kind}:${c.actor.name}`,
  ...(c.program ? { program: c.program } : {}),
  ...(c.source ? { source: c.source } : {}),
});
