import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { Aedes, type AedesPublishPacket, type Client, type PublishPacket } from 'aedes';
import type { EventBus } from '../core/event-bus.js';
import type { Logger } from '../core/log.js';
import type { HubModule } from '../core/module.js';
import { parseTopic } from '../protocol/tasmota.js';
import { hearsPowerCommands, mayPublish, maySubscribe } from './acl.js';
import { guardPacketSize } from './packet-guard.js';

/** Who may log in: answers with the device id (its MQTT topic) for a valid login. */
export interface DeviceLogins {
  verify(username: string, password: Buffer): string | undefined;
}

export interface BrokerOptions {
  host: string;
  port: number;
  maxPacketBytes: number;
  maxTopicLevels: number;
}

type DeviceClient = Client & { khuDevice?: string; khuRejectedId?: boolean };

const IDENTIFIER_REJECTED = 2;
const BAD_USERNAME_OR_PASSWORD = 4;

/**
 * The embedded MQTT broker. It owns the listener and its port, and is configured only through
 * aedes' hooks: device logins, the per-device ACL, and routing of device messages onto the bus.
 * The hub itself publishes in-process (`publish()`), never through a network login.
 */
export class Broker implements HubModule {
  readonly name = 'broker';
  #opts: BrokerOptions;
  #bus: EventBus;
  #log: Logger;
  #logins: DeviceLogins;
  #aedes: Aedes | undefined;
  #server: Server | undefined;
  #sockets = new Set<Socket>();
  /** The live connection of each device; a newer one replaces an older one. */
  #clients = new Map<string, DeviceClient>();

  constructor(deps: { options: BrokerOptions; bus: EventBus; log: Logger; logins: DeviceLogins }) {
    this.#opts = deps.options;
    this.#bus = deps.bus;
    this.#log = deps.log;
    this.#logins = deps.logins;
  }

  get port(): number {
    return (this.#server?.address() as AddressInfo | null)?.port ?? 0;
  }

  get connectedDevices(): number {
    return this.#clients.size;
  }

  isConnected(deviceId: string): boolean {
    return this.#clients.has(deviceId);
  }

  async start(): Promise<void> {
    const aedes = await Aedes.createBroker({
      // Messages in flight before aedes' emitter queues them. Its queue is drained recursively
      // (each finished message starts the next on the same stack): a burst of a few thousand
      // (1000 relays answering a pushed program at once) overflowed the stack and took the hub
      // down. With room for every message of such a burst, nothing queues.
      concurrency: 20_000,
      maxTopicLevels: this.#opts.maxTopicLevels,
      drainTimeout: 30_000,
      heartbeatInterval: 60_000,
      preConnect: (client, packet, done) => {
        // [MQTT-3.1.3-8] an empty client id requires a clean session; aedes would accept it.
        (client as DeviceClient).khuRejectedId = !packet.clientId && packet.clean === false;
        // Tasmota's default client id is DVES_ + the MAC's last 3 bytes: in a fleet of 1000 two
        // relays can share one, and aedes would let each connection knock the other off. The id
        // is kept per login instead.
        if (packet.clientId && packet.username) packet.clientId = `${packet.username}/${packet.clientId}`;
        done(null, true);
      },
      authenticate: (client: DeviceClient, username, password, done) => {
        if (client.khuRejectedId) {
          this.#refused(client, 'empty client id without clean session');
          return done(
            Object.assign(new Error('identifier rejected'), { returnCode: IDENTIFIER_REJECTED }),
            false,
          );
        }
        const deviceId = username && password ? this.#logins.verify(username, password) : undefined;
        if (!deviceId) {
          this.#refused(client, username ? `bad login for ${username}` : 'anonymous');
          return done(
            Object.assign(new Error('bad user name or password'), { returnCode: BAD_USERNAME_OR_PASSWORD }),
            false,
          );
        }
        client.khuDevice = deviceId;
        done(null, true);
      },
      authorizePublish: (client: DeviceClient | null, packet, done) => {
        // client is null only for wills aedes republishes on its own.
        const deviceId = client?.khuDevice;
        if (deviceId && mayPublish(deviceId, packet.topic)) {
          // Nobody may subscribe to a device's tele/ and stat/ topics, so keeping its retained
          // messages (Tasmota retains its LWT) would only cost memory and a scan at every
          // subscribe; and a retained cmnd/ would switch the relay at each reconnect.
          packet.retain = false;
          return done(null);
        }
        if (!client) return done(null);
        this.#log.warn({ deviceId, topic: packet.topic }, 'publish outside own topics refused');
        this.#bus.emit('alarm', {
          kind: 'mqtt_refused',
          deviceId,
          message: `${deviceId} tried to publish on ${packet.topic}`,
          data: { topic: packet.topic },
        });
        done(new Error(`publish on ${packet.topic} not allowed`));
      },
      authorizeSubscribe: (client: DeviceClient, sub, done) => {
        const deviceId = client.khuDevice;
        if (deviceId && maySubscribe(deviceId, sub.topic)) return done(null, sub);
        // Real Tasmota also subscribes to its group and fallback topics: refuse quietly (SUBACK 0x80).
        this.#log.debug({ deviceId, topic: sub.topic }, 'subscription refused');
        done(null, null);
      },
      published: (packet: AedesPublishPacket, client: DeviceClient | null, done) => {
        const deviceId = client?.khuDevice;
        if (deviceId) this.#route(deviceId, packet);
        done(null);
      },
    });
    aedes.on('client', (client: DeviceClient) => {
      const deviceId = client.khuDevice;
      if (!deviceId) return;
      // One connection per device: an older one (a half-open socket, or someone else holding the
      // same login) is closed, so that a rotated or removed login leaves nothing connected.
      const previous = this.#clients.get(deviceId);
      this.#clients.set(deviceId, client);
      if (previous && previous !== client) previous.close();
      this.#bus.emit('deviceOnline', { deviceId });
    });
    aedes.on('clientReady', (client: DeviceClient) => {
      // A session kept by the broker (clean=false) gets its subscriptions back without a
      // SUBSCRIBE: the device hears commands from now on.
      const deviceId = client.khuDevice;
      if (!deviceId || this.#clients.get(deviceId) !== client) return;
      const subs = Object.keys(
        (client as Client & { subscriptions?: Record<string, unknown> }).subscriptions ?? {},
      );
      if (subs.some((topic) => hearsPowerCommands(deviceId, topic)))
        this.#bus.emit('deviceListening', { deviceId });
    });
    aedes.on('clientDisconnect', (client: DeviceClient) => {
      const deviceId = client.khuDevice;
      if (!deviceId || this.#clients.get(deviceId) !== client) return;
      this.#clients.delete(deviceId);
      this.#bus.emit('deviceOffline', { deviceId, reason: 'disconnect' });
    });
    aedes.on('subscribe', (subs, client: DeviceClient) => {
      const deviceId = client.khuDevice;
      if (!deviceId || this.#clients.get(deviceId) !== client) return;
      if (subs.some((s) => (s.qos as number) !== 128 && hearsPowerCommands(deviceId, s.topic))) {
        this.#bus.emit('deviceListening', { deviceId });
      }
    });
    aedes.on('clientError', (client: DeviceClient, err) => {
      this.#log.debug({ deviceId: client.khuDevice, clientId: client.id, err: err.message }, 'client error');
    });
    aedes.on('connectionError', (client: DeviceClient, err) => {
      this.#log.debug({ clientId: client.id, err: err.message }, 'connection error');
    });
    this.#aedes = aedes;

    const server = createServer({ noDelay: true }, (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
      guardPacketSize(socket, this.#opts.maxPacketBytes, (size) =>
        this.#log.warn(
          { remote: socket.remoteAddress, size },
          'MQTT packet over the size limit: connection closed',
        ),
      );
      aedes.handle(socket);
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // After a hub restart every relay comes back at once: Node's default backlog (511) would
      // drop SYNs and cost each dropped relay a 1–3 s retransmit.
      server.listen({ port: this.#opts.port, host: this.#opts.host, backlog: 2048 }, () => {
        server.off('error', reject);
        // Later errors (out of file descriptors on accept, say) are logged, never fatal.
        server.on('error', (err) => this.#log.error({ err }, 'MQTT listener error'));
        resolve();
      });
    });
    this.#log.info({ port: this.port }, 'MQTT broker listening');
  }

  async stop(): Promise<void> {
    const server = this.#server;
    const aedes = this.#aedes;
    this.#server = undefined;
    this.#aedes = undefined;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of this.#sockets) s.destroy();
      await closed;
    }
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    this.#clients.clear();
  }

  /** Publish from the hub itself, in-process. Commands are never retained. */
  publish(topic: string, payload: string, qos: 0 | 1 = 1): void {
    const aedes = this.#aedes;
    if (!aedes) return;
    const packet: PublishPacket = {
      cmd: 'publish',
      topic,
      payload: Buffer.from(payload),
      qos,
      retain: false,
      dup: false,
    };
    aedes.publish(packet as AedesPublishPacket, (err) => {
      if (err) this.#log.warn({ err, topic }, 'publish failed');
    });
  }

  /** Close a device's connection (device removed, or its password rotated). */
  disconnect(deviceId: string): void {
    this.#clients.get(deviceId)?.close();
  }

  #route(deviceId: string, packet: AedesPublishPacket): void {
    const parsed = parseTopic(packet.topic);
    if (!parsed || parsed.device !== deviceId) return;
    this.#bus.emit('deviceMessage', {
      deviceId,
      prefix: parsed.prefix,
      command: parsed.command,
      payload: packet.payload as Buffer,
    });
  }

  #refused(client: Client, reason: string): void {
    this.#log.info(
      { clientId: client.id, remote: (client.conn as Socket).remoteAddress, reason },
      'MQTT login refused',
    );
  }
}
