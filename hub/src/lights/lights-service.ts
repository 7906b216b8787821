import { KhuError, notFound } from '../core/errors.js';
import type { Actor, EventBus, HubEventName, HubEvents, LightSnapshot } from '../core/event-bus.js';
import type { Logger } from '../core/log.js';
import type { HubModule } from '../core/module.js';
import {
  encodePowerCommand,
  type PowerCommand,
  type PowerState,
  parsePowerKey,
  parsePowerObject,
  parsePowerState,
  topics,
} from '../protocol/tasmota.js';
import type { DeviceRecord, DevicesRepo, LightRecord } from '../store/devices-repo.js';

export interface LightsOptions {
  ackTimeoutMs: number;
  commandWaitMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
}

/** Where the hub's commands go: the broker, in-process. */
export interface CommandSink {
  publish(topic: string, payload: string): void;
}

interface Light {
  record: LightRecord;
  device: Relay;
  /** Set when the device (re)subscribed: the next report is the device's state, not news. */
  syncing: boolean;
  /**
   * States sent lately, each until when its answer may still come: a report of one of them that
   * differs from the desired state is the answer to an earlier command (ON, then OFF 5 ms
   * later), not news from the cabinet.
   */
  sent: Map<PowerState, number>;
  ackTimer: NodeJS.Timeout | undefined;
}

interface Relay {
  id: string;
  single: boolean;
  lights: Map<number, Light>;
  online: boolean;
  listening: boolean;
  retryTimer: NodeJS.Timeout | undefined;
  retryDelayMs: number;
}

const isPending = (l: Light) => l.record.desired !== null && l.record.desired !== l.record.reported;

/**
 * Street lights: per light (one relay channel) the desired state, who asked for it, and the
 * state the relay reported, both persisted. Commands to an offline relay are kept as desired
 * state, not as a queue; when the relay subscribes again the hub asks for its state and sends
 * only what differs, repeating with backoff while a light stays pending.
 */
export class LightsService implements HubModule {
  readonly name = 'lights';
  #opts: LightsOptions;
  #bus: EventBus;
  #repo: DevicesRepo;
  #sink: CommandSink;
  #log: Logger;
  #lights = new Map<string, Light>();
  #relays = new Map<string, Relay>();
  #waiters = new Map<string, Set<() => void>>();
  #reportedQueue = new Map<string, { id: string; reported: PowerState; at: string }>();
  #flush: NodeJS.Immediate | undefined;

  constructor(deps: {
    options: LightsOptions;
    bus: EventBus;
    repo: DevicesRepo;
    sink: CommandSink;
    log: Logger;
  }) {
    this.#opts = deps.options;
    this.#bus = deps.bus;
    this.#repo = deps.repo;
    this.#sink = deps.sink;
    this.#log = deps.log;
  }

  start(): void {
    const devices = new Map(this.#repo.listDevices().map((d) => [d.id, d]));
    for (const d of devices.values()) this.#addRelay(d);
    for (const l of this.#repo.listLights()) this.#addLight(l);
    const on = <K extends HubEventName>(event: K, fn: (payload: HubEvents[K]) => void) =>
      this.#bus.on(this.name, event, fn);
    on('deviceOnline', ({ deviceId }) => this.#setOnline(deviceId, true));
    on('deviceOffline', ({ deviceId }) => this.#setOnline(deviceId, false));
    on('deviceListening', ({ deviceId }) => this.#resync(deviceId));
    on('deviceMessage', (m) => this.#onMessage(m));
  }

  stop(): void {
    this.#bus.removeOwner(this.name);
    for (const r of this.#relays.values()) clearTimeout(r.retryTimer);
    for (const l of this.#lights.values()) clearTimeout(l.ackTimer);
    for (const set of this.#waiters.values()) for (const resolve of set) resolve();
    this.#waiters.clear();
    if (this.#flush) clearImmediate(this.#flush);
    this.#flushReported();
    this.#lights.clear();
    this.#relays.clear();
  }

  // ---- reading ----

  list(): LightSnapshot[] {
    return [...this.#lights.values()].map(snapshot);
  }

  get(id: string): LightSnapshot {
    return snapshot(this.#light(id));
  }

  zones(): string[] {
    return [...new Set([...this.#lights.values()].map((l) => l.record.zone))].sort();
  }

  lightsOfZone(zone: string): string[] {
    const ids = [...this.#lights.values()].filter((l) => l.record.zone === zone).map((l) => l.record.id);
    if (ids.length === 0) throw notFound(`zone ${zone}`);
    return ids;
  }

  allLightIds(): string[] {
    return [...this.#lights.keys()];
  }

  /** A device's lights by channel (what a program pushed to the device is built from). */
  lightsOfDevice(deviceId: string): Array<{ id: string; channel: number; zone: string }> {
    const relay = this.#relays.get(deviceId);
    if (!relay) return [];
    return [...relay.lights.values()]
      .map((l) => ({ id: l.record.id, channel: l.record.channel, zone: l.record.zone }))
      .sort((a, b) => a.channel - b.channel);
  }

  // ---- devices come and go (called by the devices service) ----

  addDevice(device: DeviceRecord, lights: LightRecord[]): void {
    this.#addRelay(device);
    for (const l of lights) this.#addLight(l);
  }

  removeDevice(deviceId: string): void {
    const relay = this.#relays.get(deviceId);
    if (!relay) return;
    clearTimeout(relay.retryTimer);
    for (const l of relay.lights.values()) {
      clearTimeout(l.ackTimer);
      this.#lights.delete(l.record.id);
      this.#wake(l.record.id);
    }
    this.#relays.delete(deviceId);
  }

  // ---- commands ----

  /**
   * Set lights on, off, or toggle them. A toggle of several lights acts as one switch: all off
   * when any is on, else all on. Resolves once every light is confirmed by its relay, or after
   * `waitMs` with the pending ones marked so.
   */
  async command(
    ids: string[],
    command: PowerCommand,
    actor: Actor,
    waitMs = this.#opts.commandWaitMs,
  ): Promise<LightSnapshot[]> {
    const lights = ids.map((id) => this.#light(id));
    let to: PowerState;
    if (command === 'toggle') {
      to = lights.some((l) => (l.record.desired ?? l.record.reported) === 'on') ? 'off' : 'on';
    } else {
      to = command;
    }
    const at = new Date().toISOString();
    const by = `${actor.kind}:${actor.name}`;
    const changed: Light[] = [];
    for (const l of lights) {
      if (l.record.desired === to && l.record.reported === to) continue;
      const from = l.record.desired ?? l.record.reported;
      l.record = { ...l.record, desired: to, desiredBy: by, desiredAt: at };
      changed.push(l);
      if (from !== to) this.#bus.emit('lightCommanded', { lightId: l.record.id, from, to, actor });
    }
    if (changed.length > 0) {
      this.#repo.setDesired(changed.map((l) => ({ id: l.record.id, desired: to, by, at })));
      const relays = new Set<Relay>();
      for (const l of changed) {
        this.#bus.emit('lightChanged', { light: snapshot(l), cause: 'desired' });
        this.#armAckTimer(l);
        if (l.device.listening) {
          this.#send(l, to);
          relays.add(l.device);
        }
      }
      for (const r of relays) this.#scheduleRetry(r, true);
    }
    // Waiting for a relay that is offline would only delay the answer: it stays pending.
    await this.#waitConfirmed(
      lights.filter((l) => isPending(l) && l.device.listening),
      waitMs,
    );
    return lights.map((l) => snapshot(this.#lights.get(l.record.id) ?? l));
  }

  // ---- internals ----

  #light(id: string): Light {
    const l = this.#lights.get(id);
    if (!l) throw notFound(`light ${id}`);
    return l;
  }

  #addRelay(d: DeviceRecord): void {
    this.#relays.set(d.id, {
      id: d.id,
      single: d.channels === 1,
      lights: new Map(),
      online: false,
      listening: false,
      retryTimer: undefined,
      retryDelayMs: this.#opts.retryInitialMs,
    });
  }

  #addLight(record: LightRecord): void {
    const device = this.#relays.get(record.deviceId);
    if (!device) throw new KhuError('KHU_INTERNAL', `light ${record.id} has no device ${record.deviceId}`);
    const light: Light = { record, device, syncing: false, sent: new Map(), ackTimer: undefined };
    device.lights.set(record.channel, light);
    this.#lights.set(record.id, light);
  }

  #setOnline(deviceId: string, online: boolean): void {
    const relay = this.#relays.get(deviceId);
    if (!relay || relay.online === online) return;
    relay.online = online;
    if (!online) {
      relay.listening = false;
      clearTimeout(relay.retryTimer);
      relay.retryTimer = undefined;
      for (const l of relay.lights.values()) {
        clearTimeout(l.ackTimer);
        l.ackTimer = undefined;
        l.syncing = false;
      }
    }
    for (const l of relay.lights.values())
      this.#bus.emit('lightChanged', { light: snapshot(l), cause: 'availability' });
  }

  /** The device can hear commands now: ask for its state; what differs is sent on the answer. */
  #resync(deviceId: string): void {
    const relay = this.#relays.get(deviceId);
    if (!relay) return;
    relay.listening = true;
    relay.retryDelayMs = this.#opts.retryInitialMs;
    for (const l of relay.lights.values()) {
      l.syncing = true;
      this.#send(l, 'query');
      if (isPending(l)) this.#armAckTimer(l);
    }
    this.#scheduleRetry(relay, true);
  }

  #send(l: Light, command: PowerState | 'query'): void {
    if (command !== 'query') l.sent.set(command, Date.now() + this.#opts.ackTimeoutMs);
    this.#sink.publish(
      topics.power(l.device.id, l.record.channel, l.device.single),
      encodePowerCommand(command),
    );
  }

  /** While a light is pending or unconfirmed, repeat: resend what differs, re-ask what is unknown. */
  #scheduleRetry(relay: Relay, reset: boolean): void {
    if (reset) {
      // A fresh command must not wait behind a long backoff left by a stuck channel.
      relay.retryDelayMs = this.#opts.retryInitialMs;
      clearTimeout(relay.retryTimer);
      relay.retryTimer = undefined;
    }
    if (relay.retryTimer) return;
    relay.retryTimer = setTimeout(() => {
      relay.retryTimer = undefined;
      if (!relay.listening) return;
      let outstanding = false;
      for (const l of relay.lights.values()) {
        if (l.syncing) {
          this.#send(l, 'query');
          outstanding = true;
        } else if (isPending(l)) {
          this.#send(l, l.record.desired!);
          outstanding = true;
        }
      }
      if (!outstanding) return;
      relay.retryDelayMs = Math.min(relay.retryDelayMs * 2, this.#opts.retryMaxMs);
      this.#scheduleRetry(relay, false);
    }, relay.retryDelayMs);
    relay.retryTimer.unref();
  }

  #armAckTimer(l: Light): void {
    clearTimeout(l.ackTimer);
    l.ackTimer = setTimeout(() => {
      l.ackTimer = undefined;
      if (!isPending(l) || !l.device.online) return;
      this.#bus.emit('alarm', {
        kind: 'relay_no_ack',
        deviceId: l.device.id,
        lightId: l.record.id,
        message: `${l.record.id} did not confirm ${l.record.desired} within ${this.#opts.ackTimeoutMs} ms`,
        data: { desired: l.record.desired, reported: l.record.reported },
      });
    }, this.#opts.ackTimeoutMs);
    l.ackTimer.unref();
  }

  #onMessage(m: HubEvents['deviceMessage']): void {
    const relay = this.#relays.get(m.deviceId);
    if (!relay || m.prefix === 'cmnd') return; // our own commands, and Tasmota's empty echo on connect
    const text = m.payload.toString('utf8');
    let states: Map<number, PowerState> | undefined;
    if ((m.prefix === 'stat' && m.command === 'RESULT') || (m.prefix === 'tele' && m.command === 'STATE')) {
      states = parsePowerObject(text);
    } else if (m.prefix === 'stat') {
      const channel = parsePowerKey(m.command);
      if (channel === undefined) return; // other stat topics (STATUS…) are not about power
      const state = parsePowerState(text);
      states = state === undefined ? undefined : new Map([[channel, state]]);
    } else {
      return; // tele/LWT and other telemetry
    }
    if (!states) {
      this.#log.warn(
        { deviceId: m.deviceId, topic: `${m.prefix}/${m.deviceId}/${m.command}` },
        'malformed payload ignored',
      );
      this.#bus.emit('alarm', {
        kind: 'bad_payload',
        deviceId: m.deviceId,
        message: `${m.deviceId} sent a malformed ${m.prefix}/${m.command}`,
        data: { topic: `${m.prefix}/${m.deviceId}/${m.command}`, payload: text.slice(0, 200) },
      });
      return;
    }
    for (const [channel, state] of states) {
      const light = relay.lights.get(channel);
      if (light) this.#report(light, state);
      else this.#log.debug({ deviceId: m.deviceId, channel }, 'report for a channel with no light');
    }
  }

  #report(l: Light, state: PowerState): void {
    const before = l.record;
    const wasPending = isPending(l);
    const syncing = l.syncing;
    const answersEarlier = (l.sent.get(state) ?? 0) > Date.now();
    l.syncing = false;
    if (state !== before.reported) {
      l.record = { ...before, reported: state, reportedAt: new Date().toISOString() };
      this.#queueReported(l);
    }
    if (before.desired === null) {
      // The hub has never asked anything of this light: the device's state is the truth.
      this.#adopt(l, state, { kind: 'system', name: `device:${l.device.id}` }, false);
    } else if (state !== before.desired && !wasPending && !syncing && !answersEarlier) {
      // Confirmed before, and now different: switched at the cabinet, or by something else.
      this.#bus.emit('alarm', {
        kind: 'relay_unexpected_state',
        deviceId: l.device.id,
        lightId: l.record.id,
        message: `${l.record.id} reported ${state}; nobody asked for it (desired ${before.desired})`,
        data: { desired: before.desired, reported: state },
      });
      this.#adopt(l, state, { kind: 'system', name: `device:${l.device.id}` }, true);
    } else if (state !== before.desired && (syncing || answersEarlier)) {
      // Back after being away, or the answer to an earlier command: send the latest desired
      // state, only where it differs, and keep at it while it stays pending.
      this.#send(l, before.desired);
      this.#scheduleRetry(l.device, false);
    }
    if (l.record !== before) this.#bus.emit('lightChanged', { light: snapshot(l), cause: 'reported' });
    if (!isPending(l)) {
      clearTimeout(l.ackTimer);
      l.ackTimer = undefined;
      this.#wake(l.record.id);
    }
  }

  #adopt(l: Light, state: PowerState, actor: Actor, announce: boolean): void {
    const at = new Date().toISOString();
    const by = `${actor.kind}:${actor.name}`;
    const from = l.record.desired;
    l.record = { ...l.record, desired: state, desiredBy: by, desiredAt: at };
    this.#repo.setDesired([{ id: l.record.id, desired: state, by, at }]);
    if (announce) this.#bus.emit('lightCommanded', { lightId: l.record.id, from, to: state, actor });
  }

  #queueReported(l: Light): void {
    this.#reportedQueue.set(l.record.id, {
      id: l.record.id,
      reported: l.record.reported!,
      at: l.record.reportedAt!,
    });
    this.#flush ??= setImmediate(() => this.#flushReported());
  }

  #flushReported(): void {
    this.#flush = undefined;
    if (this.#reportedQueue.size === 0) return;
    const batch = [...this.#reportedQueue.values()];
    this.#reportedQueue.clear();
    try {
      this.#repo.setReported(batch);
    } catch (err) {
      this.#log.error({ err }, 'could not persist reported states');
    }
  }

  #waitConfirmed(lights: Light[], waitMs: number): Promise<void> {
    if (lights.length === 0 || waitMs <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      let left = lights.length;
      const registered: Array<[string, () => void]> = [];
      const done = () => {
        clearTimeout(timer);
        for (const [id, fn] of registered) this.#waiters.get(id)?.delete(fn);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      for (const l of lights) {
        const fn = () => {
          if (--left === 0) done();
        };
        registered.push([l.record.id, fn]);
        const set = this.#waiters.get(l.record.id) ?? new Set();
        set.add(fn);
        this.#waiters.set(l.record.id, set);
      }
    });
  }

  #wake(lightId: string): void {
    const set = this.#waiters.get(lightId);
    if (!set) return;
    this.#waiters.delete(lightId);
    for (const fn of set) fn();
  }
}

function snapshot(l: Light): LightSnapshot {
  return {
    id: l.record.id,
    name: l.record.name,
    zone: l.record.zone,
    desired: l.record.desired,
    reported: l.record.reported,
    online: l.device.online,
    pending: isPending(l),
    desiredBy: l.record.desiredBy,
    desiredAt: l.record.desiredAt,
    reportedAt: l.record.reportedAt,
  };
}
