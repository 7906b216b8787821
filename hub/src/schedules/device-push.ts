/**
 * Keeps each device's fallback program in step: when a device subscribes (and whenever the
 * programs change) the hub sends Tasmota relays `Backlog` timers, rule, site and clock, and edge
 * agents `cmnd/<t>/PROGRAM` (never retained). A device's kind is learnt from the device: an edge
 * agent answers `{"Command":"Unknown"}` to Backlog and `{"PROGRAM":…}` to PROGRAM, and its
 * `tele/<t>/STATE` carries a `Program` key; the kind is kept in `devices.kind`.
 */
import type { HubEvents } from '../core/event-bus.js';
import type { Logger } from '../core/log.js';
import type { CommandSink, LightsService } from '../lights/lights-service.js';
import { PROGRAM_COMMAND } from '../protocol/program.js';
import { topics } from '../protocol/tasmota.js';
import type { SchedulesRepo } from '../store/schedules-repo.js';
import type { ScheduleEngine } from './engine.js';
import {
  type BuiltFallback,
  type ChannelProgram,
  edgeFallback,
  tasmotaClock,
  tasmotaFallback,
} from './fallback.js';

type Kind = 'tasmota' | 'edge';

export class DevicePush {
  #engine: ScheduleEngine;
  #lights: LightsService;
  #sink: CommandSink;
  #repo: SchedulesRepo;
  #log: Logger;
  #now: () => number;
  #kinds = new Map<string, Kind>();
  #pushed = new Map<string, string>();
  #listening = new Set<string>();
  /** Sent a Backlog, kind not yet confirmed by an answer. */
  #probing = new Set<string>();

  constructor(deps: {
    engine: ScheduleEngine;
    lights: LightsService;
    sink: CommandSink;
    repo: SchedulesRepo;
    log: Logger;
    now: () => number;
  }) {
    this.#engine = deps.engine;
    this.#lights = deps.lights;
    this.#sink = deps.sink;
    this.#repo = deps.repo;
    this.#log = deps.log;
    this.#now = deps.now;
  }

  load(): void {
    for (const [id, kind] of this.#repo.deviceKinds())
      this.#kinds.set(id, kind === 'edge' ? 'edge' : 'tasmota');
    this.#pushed = this.#repo.pushedHashes();
  }

  clear(): void {
    this.#listening.clear();
    this.#probing.clear();
  }

  kindOf(deviceId: string): Kind {
    return this.#kinds.get(deviceId) ?? 'tasmota';
  }

  /** The device subscribed: its clock always, its program unless it holds this one already. */
  listening(deviceId: string): void {
    this.#listening.add(deviceId);
    this.push(deviceId, { clock: true, force: false });
  }

  offline(deviceId: string): void {
    this.#listening.delete(deviceId);
    this.#probing.delete(deviceId);
  }

  /** Programs changed: each listening device whose fallback differs gets the new one. */
  pushAll(force: boolean): number {
    let sent = 0;
    for (const id of this.#listening) if (this.push(id, { clock: force, force })) sent++;
    return sent;
  }

  #channels(deviceId: string): ChannelProgram[] {
    return this.#lights.lightsOfDevice(deviceId).map((l) => ({
      channel: l.channel,
      program: this.#engine.defaultProgramFor({ light: l.id, zone: l.zone })?.program,
    }));
  }

  /** Returns true when a program was sent. */
  push(deviceId: string, o: { clock: boolean; force: boolean }): boolean {
    const now = this.#now();
    const site = this.#engine.site;
    const kind = this.kindOf(deviceId);
    let built: BuiltFallback | undefined;
    try {
      built =
        kind === 'edge'
          ? edgeFallback(site, this.#channels(deviceId), now)
          : tasmotaFallback(site, this.#channels(deviceId), now);
    } catch (err) {
      this.#log.warn({ err, deviceId }, 'no fallback program for this device');
      built = undefined;
    }
    for (const note of built?.notes ?? []) this.#log.info({ deviceId, note }, 'fallback program simplified');
    const fresh = built !== undefined && (o.force || this.#pushed.get(deviceId) !== built.hash);
    if (kind === 'edge') {
      if (!fresh) return false;
      this.#sink.publish(topics.command(deviceId, PROGRAM_COMMAND), built!.payloads[0]!);
    } else if (fresh) {
      for (const p of built!.payloads) this.#sink.publish(topics.command(deviceId, 'Backlog'), p);
      this.#probing.add(deviceId);
    } else if (o.clock && built) {
      // No program for the device, no timers to run: its clock is left alone.
      this.#sink.publish(topics.command(deviceId, 'Backlog'), tasmotaClock(site, now));
      this.#probing.add(deviceId);
    }
    if (!fresh) return false;
    this.#pushed.set(deviceId, built!.hash);
    this.#repo.setPushed(deviceId, built!.hash, new Date(now).toISOString());
    this.#log.debug({ deviceId, kind }, 'fallback program sent');
    return true;
  }

  /** Answers that tell what a device is. */
  message(m: HubEvents['deviceMessage']): void {
    const isResult = m.prefix === 'stat' && m.command === 'RESULT';
    const isState = m.prefix === 'tele' && m.command === 'STATE';
    if (!isResult && !isState) return;
    if (isResult && !this.#probing.has(m.deviceId) && this.kindOf(m.deviceId) !== 'edge') return;
    let data: unknown;
    try {
      data = JSON.parse(m.payload.toString('utf8'));
    } catch {
      return;
    }
    if (data === null || typeof data !== 'object') return;
    const d = data as Record<string, unknown>;
    if (isState) {
      if ('Program' in d && this.kindOf(m.deviceId) !== 'edge') this.#becomeEdge(m.deviceId);
      return;
    }
    if ('PROGRAM' in d) {
      const r = d.PROGRAM as { Status?: string; Error?: string } | null;
      if (r?.Status === 'Error')
        this.#log.warn({ deviceId: m.deviceId, error: r.Error }, 'edge agent refused the program');
      return;
    }
    if (!this.#probing.has(m.deviceId)) return;
    if (d.Command === 'Unknown') this.#becomeEdge(m.deviceId);
    else if ('Timezone' in d || 'Latitude' in d || 'Time' in d) {
      this.#probing.delete(m.deviceId);
      if (this.#kinds.get(m.deviceId) !== 'tasmota') this.#kinds.set(m.deviceId, 'tasmota');
    }
  }

  #becomeEdge(deviceId: string): void {
    this.#probing.delete(deviceId);
    this.#kinds.set(deviceId, 'edge');
    this.#repo.setDeviceKind(deviceId, 'edge');
    this.#log.info({ deviceId }, 'device is a Khu edge agent: it gets PROGRAM');
    this.#pushed.delete(deviceId);
    if (this.#listening.has(deviceId)) this.push(deviceId, { clock: false, force: true });
  }
}
