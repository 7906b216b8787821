import type {
  CalendarRule,
  Defaults,
  NightCut,
  OverrideRecord,
  ProgramRecord,
  ProgramRule,
} from '../schedules/model.js';
import type { Db } from './db.js';

export interface LightStatsRecord {
  lightId: string;
  switches: number;
  burnMs: number;
  onSince: string | null;
  lastSwitch: string | null;
}

interface ProgramRow {
  id: string;
  name: string;
  rules: string;
  night_cut: string | null;
  created_at: string;
  updated_at: string;
}

interface CalendarRow {
  id: string;
  position: number;
  name: string;
  program: string;
  dates: string | null;
  range_from: string | null;
  range_to: string | null;
  weekdays: string | null;
  zones: string;
  lights: string;
}

interface OverrideRow {
  id: number;
  zone: string | null;
  light: string | null;
  state: 'on' | 'off';
  until: string;
  kind: 'override' | 'manual';
  by_actor: string;
  note: string;
  created_at: string;
}

const json = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));

/** Programs, calendar, defaults, overrides, per-light stats, and what each device was last pushed. */
export class SchedulesRepo {
  #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  // ---- programs ----

  listPrograms(): ProgramRecord[] {
    return this.#db
      .prepare<[], ProgramRow>('SELECT * FROM schedule_programs ORDER BY id')
      .all()
      .map((r) => ({
        id: r.id,
        name: r.name,
        rules: JSON.parse(r.rules) as ProgramRule[],
        nightCut: json<NightCut>(r.night_cut),
        createdAt: r.created_at,
        updatedAt: r.updated_at,
      }));
  }

  upsertProgram(p: ProgramRecord): void {
    this.#db
      .prepare(
        `INSERT INTO schedule_programs (id, name, rules, night_cut, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, rules = excluded.rules,
           night_cut = excluded.night_cut, updated_at = excluded.updated_at`,
      )
      .run(
        p.id,
        p.name,
        JSON.stringify(p.rules),
        p.nightCut ? JSON.stringify(p.nightCut) : null,
        p.createdAt,
        p.updatedAt,
      );
  }

  deleteProgram(id: string): void {
    this.#db.prepare('DELETE FROM schedule_programs WHERE id = ?').run(id);
  }

  // ---- calendar ----

  listCalendar(): CalendarRule[] {
    return this.#db
      .prepare<[], CalendarRow>('SELECT * FROM schedule_calendar ORDER BY position, id')
      .all()
      .map((r) => ({
        id: r.id,
        name: r.name,
        program: r.program,
        dates: json<string[]>(r.dates),
        from: r.range_from,
        to: r.range_to,
        weekdays: json<number[]>(r.weekdays),
        zones: JSON.parse(r.zones) as string[],
        lights: JSON.parse(r.lights) as string[],
      }));
  }

  /** The whole ordered list, replaced in one transaction (positions are the list order). */
  saveCalendar(rules: CalendarRule[]): void {
    this.#db.transaction(() => {
      this.#db.prepare('DELETE FROM schedule_calendar').run();
      const insert = this.#db.prepare(
        `INSERT INTO schedule_calendar (id, position, name, program, dates, range_from, range_to, weekdays, zones, lights)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      rules.forEach((r, i) => {
        insert.run(
          r.id,
          i,
          r.name,
          r.program,
          r.dates ? JSON.stringify(r.dates) : null,
          r.from,
          r.to,
          r.weekdays ? JSON.stringify(r.weekdays) : null,
          JSON.stringify(r.zones),
          JSON.stringify(r.lights),
        );
      });
    })();
  }

  // ---- defaults ----

  getDefaults(): Defaults {
    const out: Defaults = { program: null, zones: {}, lights: {} };
    const rows = this.#db
      .prepare<[], { target: string; program: string }>('SELECT target, program FROM schedule_defaults')
      .all();
    for (const r of rows) {
      if (r.target === '*') out.program = r.program;
      else if (r.target.startsWith('zone:')) out.zones[r.target.slice(5)] = r.program;
      else if (r.target.startsWith('light:')) out.lights[r.target.slice(6)] = r.program;
    }
    return out;
  }

  saveDefaults(d: Defaults): void {
    this.#db.transaction(() => {
      this.#db.prepare('DELETE FROM schedule_defaults').run();
      const insert = this.#db.prepare('INSERT INTO schedule_defaults (target, program) VALUES (?, ?)');
      if (d.program) insert.run('*', d.program);
      for (const [zone, p] of Object.entries(d.zones)) insert.run(`zone:${zone}`, p);
      for (const [light, p] of Object.entries(d.lights)) insert.run(`light:${light}`, p);
    })();
  }

  // ---- overrides ----

  listOverrides(): OverrideRecord[] {
    return this.#db
      .prepare<[], OverrideRow>('SELECT * FROM schedule_overrides ORDER BY id')
      .all()
      .map((r) => ({
        id: r.id,
        zone: r.zone,
        light: r.light,
        state: r.state,
        until: r.until,
        kind: r.kind,
        by: r.by_actor,
        note: r.note,
        createdAt: r.created_at,
      }));
  }

  /** Inserts in one transaction; returns the records with their ids. */
  insertOverrides(list: Array<Omit<OverrideRecord, 'id'>>): OverrideRecord[] {
    const insert = this.#db.prepare(
      `INSERT INTO schedule_overrides (zone, light, state, until, kind, by_actor, note, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    return this.#db.transaction(() =>
      list.map((o) => {
        const id = Number(
          insert.run(o.zone, o.light, o.state, o.until, o.kind, o.by, o.note, o.createdAt).lastInsertRowid,
        );
        return { ...o, id };
      }),
    )();
  }

  deleteOverrides(ids: number[]): void {
    const del = this.#db.prepare('DELETE FROM schedule_overrides WHERE id = ?');
    this.#db.transaction(() => {
      for (const id of ids) del.run(id);
    })();
  }

  // ---- light stats ----

  listStats(): LightStatsRecord[] {
    return this.#db
      .prepare<
        [],
        {
          light_id: string;
          switches: number;
          burn_ms: number;
          on_since: string | null;
          last_switch: string | null;
        }
      >('SELECT * FROM light_stats')
      .all()
      .map((r) => ({
        lightId: r.light_id,
        switches: r.switches,
        burnMs: r.burn_ms,
        onSince: r.on_since,
        lastSwitch: r.last_switch,
      }));
  }

  saveStats(list: LightStatsRecord[]): void {
    // A light removed meanwhile (its device deprovisioned) has no row to refer to: skipped.
    const upsert = this.#db.prepare(
      `INSERT INTO light_stats (light_id, switches, burn_ms, on_since, last_switch)
       SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM lights WHERE id = ?)
       ON CONFLICT(light_id) DO UPDATE SET switches = excluded.switches, burn_ms = excluded.burn_ms,
         on_since = excluded.on_since, last_switch = excluded.last_switch`,
    );
    this.#db.transaction(() => {
      for (const s of list) upsert.run(s.lightId, s.switches, s.burnMs, s.onSince, s.lastSwitch, s.lightId);
    })();
  }

  // ---- devices: kind and the fallback last pushed ----

  deviceKinds(): Map<string, string> {
    const rows = this.#db.prepare<[], { id: string; kind: string }>('SELECT id, kind FROM devices').all();
    return new Map(rows.map((r) => [r.id, r.kind]));
  }

  /** Learned from the device itself (an edge agent answers PROGRAM). */
  setDeviceKind(id: string, kind: 'tasmota' | 'edge'): void {
    this.#db.prepare('UPDATE devices SET kind = ? WHERE id = ?').run(kind, id);
  }

  pushedHashes(): Map<string, string> {
    const rows = this.#db
      .prepare<[], { device_id: string; hash: string | null }>('SELECT device_id, hash FROM device_fallback')
      .all();
    return new Map(rows.filter((r) => r.hash !== null).map((r) => [r.device_id, r.hash!]));
  }

  setPushed(deviceId: string, hash: string | null, at: string): void {
    this.#db
      .prepare(
        `INSERT INTO device_fallback (device_id, hash, pushed_at) SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM devices WHERE id = ?)
         ON CONFLICT(device_id) DO UPDATE SET hash = excluded.hash, pushed_at = excluded.pushed_at`,
      )
      .run(deviceId, hash, at, deviceId);
  }
}
