import type { DeviceLogins } from '../broker/broker.js';
import { generateDeviceSecret, hashDeviceSecret, verifyDeviceSecret } from '../broker/device-secrets.js';
import { badRequest, conflict, notFound } from '../core/errors.js';
import type { Actor, EventBus } from '../core/event-bus.js';
import type { Logger } from '../core/log.js';
import type { HubModule } from '../core/module.js';
import type { LightsService } from '../lights/lights-service.js';
import { isDeviceTopic } from '../protocol/tasmota.js';
import type { DeviceRecord, DevicesRepo, LightRecord } from '../store/devices-repo.js';

export interface RelaySpec {
  id: string;
  name: string;
  zone: string;
  /** A count, or one `{name, zone}` per channel when a cabinet feeds several streets. */
  channels?: number | Array<{ name: string; zone: string }>;
}

export interface DeviceView {
  id: string;
  name: string;
  kind: 'tasmota';
  channels: number;
  online: boolean;
  lastSeen: string | null;
  createdAt: string;
  lights: string[];
}

/** The login a relay uses, handed out once; only its hash is kept. */
export interface RelayLogin {
  username: string;
  password: string;
  topic: string;
}

export const MAX_CHANNELS = 8;

/**
 * Relays: provisioning (id, name, lights and an MQTT login), who may log in to the broker, and
 * which devices are online and when each was last seen.
 */
export class DevicesService implements HubModule, DeviceLogins {
  readonly name = 'devices';
  #repo: DevicesRepo;
  #lights: LightsService;
  #bus: EventBus;
  #log: Logger;
  #devices = new Map<string, DeviceRecord & { online: boolean }>();
  #disconnect: (deviceId: string) => void;
  #seenQueue = new Map<string, string>();
  #seenFlush: NodeJS.Immediate | undefined;

  constructor(deps: {
    repo: DevicesRepo;
    lights: LightsService;
    bus: EventBus;
    log: Logger;
    disconnect: (deviceId: string) => void;
  }) {
    this.#repo = deps.repo;
    this.#lights = deps.lights;
    this.#bus = deps.bus;
    this.#log = deps.log;
    this.#disconnect = deps.disconnect;
  }

  start(): void {
    for (const d of this.#repo.listDevices()) this.#devices.set(d.id, { ...d, online: false });
    this.#bus.on(this.name, 'deviceOnline', ({ deviceId }) => this.#seen(deviceId, true));
    this.#bus.on(this.name, 'deviceOffline', ({ deviceId }) => this.#seen(deviceId, false));
  }

  stop(): void {
    this.#bus.removeOwner(this.name);
    if (this.#seenFlush) clearImmediate(this.#seenFlush);
    this.#flushSeen();
    const now = new Date().toISOString();
    const online = [...this.#devices.values()].filter((d) => d.online).map((d) => ({ id: d.id, at: now }));
    if (online.length) this.#repo.setLastSeen(online);
    this.#devices.clear();
  }

  verify(username: string, password: Buffer): string | undefined {
    const device = this.#devices.get(username);
    return device && verifyDeviceSecret(password, device.secretHash) ? device.id : undefined;
  }

  list(): DeviceView[] {
    const lightsByDevice = new Map<string, string[]>();
    for (const l of this.#repo.listLights()) {
      const list = lightsByDevice.get(l.deviceId) ?? [];
      list.push(l.id);
      lightsByDevice.set(l.deviceId, list);
    }
    return [...this.#devices.values()]
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((d) => ({
        id: d.id,
        name: d.name,
        kind: d.kind,
        channels: d.channels,
        online: d.online,
        lastSeen: d.online ? new Date().toISOString() : d.lastSeen,
        createdAt: d.createdAt,
        lights: lightsByDevice.get(d.id) ?? [],
      }));
  }

  provisionRelay(spec: RelaySpec, actor: Actor): RelayLogin {
    if (!isDeviceTopic(spec.id)) {
      throw badRequest('id: 1–64 letters, digits, "_" or "-" (it is also the relay\'s MQTT topic)');
    }
    if (this.#devices.has(spec.id)) throw conflict(`device ${spec.id} exists already`);
    const channels =
      spec.channels === undefined || typeof spec.channels === 'number'
        ? Array.from({ length: spec.channels ?? 1 }, (_, i) => ({
            name: (spec.channels ?? 1) === 1 ? spec.name : `${spec.name} ${i + 1}`,
            zone: spec.zone,
          }))
        : spec.channels;
    if (channels.length < 1 || channels.length > MAX_CHANNELS) {
      throw badRequest(`channels: a relay has 1 to ${MAX_CHANNELS} channels`);
    }
    const now = new Date().toISOString();
    const lights: LightRecord[] = channels.map((c, i) => ({
      id: channels.length === 1 ? spec.id : `${spec.id}-${i + 1}`,
      deviceId: spec.id,
      channel: i + 1,
      name: c.name,
      zone: c.zone,
      desired: null,
      desiredBy: null,
      desiredAt: null,
      reported: null,
      reportedAt: null,
    }));
    for (const l of lights) if (this.#repo.lightIdTaken(l.id)) throw conflict(`light ${l.id} exists already`);
    const password = generateDeviceSecret();
    const device: DeviceRecord = {
      id: spec.id,
      name: spec.name,
      kind: 'tasmota',
      channels: lights.length,
      secretHash: hashDeviceSecret(password),
      createdAt: now,
      lastSeen: null,
    };
    this.#repo.insertDevice(device, lights);
    this.#devices.set(device.id, { ...device, online: false });
    this.#lights.addDevice(device, lights);
    this.#bus.emit('audit', {
      actor,
      action: 'device.provisioned',
      target: device.id,
      data: { channels: lights.length, zones: [...new Set(lights.map((l) => l.zone))] },
    });
    this.#log.info({ deviceId: device.id, channels: lights.length }, 'relay provisioned');
    return { username: device.id, password, topic: device.id };
  }

  remove(id: string, actor: Actor): void {
    if (!this.#devices.has(id)) throw notFound(`device ${id}`);
    this.#repo.removeDevice(id);
    this.#devices.delete(id);
    this.#lights.removeDevice(id);
    this.#disconnect(id);
    this.#bus.emit('audit', { actor, action: 'device.removed', target: id });
  }

  /** A new password; the old one stops working at once and the device is disconnected. */
  rotatePassword(id: string, actor: Actor): RelayLogin {
    const device = this.#devices.get(id);
    if (!device) throw notFound(`device ${id}`);
    const password = generateDeviceSecret();
    const secretHash = hashDeviceSecret(password);
    this.#repo.setSecret(id, secretHash);
    device.secretHash = secretHash;
    this.#disconnect(id);
    this.#bus.emit('audit', { actor, action: 'device.password_rotated', target: id });
    return { username: id, password, topic: id };
  }

  #seen(deviceId: string, online: boolean): void {
    const device = this.#devices.get(deviceId);
    if (!device) return;
    device.online = online;
    device.lastSeen = new Date().toISOString();
    // 1000 relays reconnecting at once: one commit per turn of the event loop, not per relay.
    this.#seenQueue.set(deviceId, device.lastSeen);
    this.#seenFlush ??= setImmediate(() => this.#flushSeen());
  }

  #flushSeen(): void {
    this.#seenFlush = undefined;
    if (this.#seenQueue.size === 0) return;
    const batch = [...this.#seenQueue].map(([id, at]) => ({ id, at }));
    this.#seenQueue.clear();
    try {
      this.#repo.setLastSeen(batch);
    } catch (err) {
      this.#log.error({ err }, 'could not persist last-seen times');
    }
  }
}
