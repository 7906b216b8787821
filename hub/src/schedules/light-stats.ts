/**
 * Burn hours and switch counts per light, from the states the relays report (not the commands):
 * a lamp burns while its relay says it is on. Written in one transaction per event-loop turn.
 */
import type { LightSnapshot } from '../core/event-bus.js';
import type { Logger } from '../core/log.js';
import type { LightStatsRecord, SchedulesRepo } from '../store/schedules-repo.js';

export interface LightStatsView {
  id: string;
  zone: string;
  /** Hours burnt since the hub started counting, including the current on period. */
  burnHours: number;
  switches: number;
  lastSwitch: string | null;
  on: boolean;
}

export class LightStats {
  #repo: SchedulesRepo;
  #log: Logger;
  #stats = new Map<string, LightStatsRecord>();
  #last = new Map<string, 'on' | 'off' | null>();
  #dirty = new Set<string>();
  #flush: NodeJS.Immediate | undefined;

  constructor(repo: SchedulesRepo, log: Logger) {
    this.#repo = repo;
    this.#log = log;
  }

  load(lights: LightSnapshot[]): void {
    for (const s of this.#repo.listStats()) this.#stats.set(s.lightId, s);
    for (const l of lights) this.#last.set(l.id, l.reported);
  }

  /** A light's reported state (maybe unchanged). */
  reported(light: LightSnapshot, nowMs: number): void {
    const before = this.#last.get(light.id) ?? null;
    const now = light.reported;
    this.#last.set(light.id, now);
    if (now === null || now === before) return;
    const at = new Date(nowMs).toISOString();
    const s = this.#stats.get(light.id) ?? {
      lightId: light.id,
      switches: 0,
      burnMs: 0,
      onSince: null,
      lastSwitch: null,
    };
    // The first report of a new light is its state, not a switch.
    if (before !== null) {
      s.switches++;
      s.lastSwitch = at;
    }
    if (now === 'on') s.onSince ??= at;
    else if (s.onSince) {
      s.burnMs += Math.max(0, nowMs - Date.parse(s.onSince));
      s.onSince = null;
    }
    this.#stats.set(light.id, s);
    this.#dirty.add(light.id);
    this.#flush ??= setImmediate(() => this.flush());
  }

  view(lights: LightSnapshot[], nowMs: number): LightStatsView[] {
    return lights.map((l) => {
      const s = this.#stats.get(l.id);
      const running = s?.onSince ? Math.max(0, nowMs - Date.parse(s.onSince)) : 0;
      return {
        id: l.id,
        zone: l.zone,
        burnHours: Math.round((((s?.burnMs ?? 0) + running) / 3_600_000) * 1000) / 1000,
        switches: s?.switches ?? 0,
        lastSwitch: s?.lastSwitch ?? null,
        on: l.reported === 'on',
      };
    });
  }

  flush(): void {
    if (this.#flush) clearImmediate(this.#flush);
    this.#flush = undefined;
    if (this.#dirty.size === 0) return;
    const batch = [...this.#dirty].map((id) => this.#stats.get(id)!).filter(Boolean);
    this.#dirty.clear();
    try {
      this.#repo.saveStats(batch);
    } catch (err) {
      this.#log.error({ err }, 'could not persist light stats');
    }
  }

  clear(): void {
    this.#stats.clear();
    this.#last.clear();
  }
}
