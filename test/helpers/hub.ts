/**
 * A real hub for integration tests: SQLite in a temp dir, broker and HTTP on loopback port 0,
 * simulated relays over real sockets. Everything it makes is torn down by `close()`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { SimRelay, type SimRelayOptions } from '../../firmware-sim/relay.js';
import { loadConfig, merge } from '../../hub/src/config/load.js';
import type { Config } from '../../hub/src/config/schema.js';
import { createHub, type Hub } from '../../hub/src/main.js';
import { waitFor } from './wait.js';

export const ADMIN_PASSWORD = 'admin-test-pw';

export interface ApiResult<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

export interface MqttLogin {
  host: string;
  port: number;
  username: string;
  password: string;
  topic: string;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

export class TestHub {
  hub!: Hub;
  readonly dataDir: string;
  #overrides: DeepPartial<Config>;
  #relays = new Set<SimRelay>();
  #tokens = new Map<string, string>();
  #ports: { http: number; mqtt: number } = { http: 0, mqtt: 0 };
  /** Everything the hub logged, as parsed pino lines. */
  readonly logs: Array<Record<string, unknown>> = [];

  private constructor(overrides: DeepPartial<Config>) {
    this.dataDir = mkdtempSync(join(tmpdir(), 'khu-test-'));
    this.#overrides = overrides;
  }

  static async start(overrides: DeepPartial<Config> = {}): Promise<TestHub> {
    const t = new TestHub(overrides);
    await t.#boot();
    return t;
  }

  get url(): string {
    return this.hub.url;
  }

  get mqttPort(): number {
    return this.hub.broker.port;
  }

  async #boot(): Promise<void> {
    // The test's settings over ours, key by key, so that loopback and the ports always stay.
    const config = loadConfig({
      env: {},
      overrides: merge(this.#overrides, {
        dataDir: this.dataDir,
        http: { host: '127.0.0.1', port: this.#ports.http },
        mqtt: { host: '127.0.0.1', port: this.#ports.mqtt },
      }),
    });
    const log = pino(
      { level: 'debug' },
      {
        write: (line: string) => {
          this.logs.push(JSON.parse(line) as Record<string, unknown>);
        },
      },
    );
    this.hub = await createHub(config, { log, adminPassword: ADMIN_PASSWORD });
    await this.hub.start();
    // A restart comes back on the same ports, as a real hub does, so relays find it again.
    this.#ports = { http: Number(new URL(this.hub.url).port), mqtt: this.hub.broker.port };
  }

  /** Stop the hub (relays stay running and start reconnecting), then start it again on the same data. */
  async restart(between?: () => Promise<void>): Promise<void> {
    await this.hub.stop();
    this.#tokens.clear();
    await between?.();
    await this.#boot();
  }

  async api<T = unknown>(
    method: string,
    path: string,
    options: { body?: unknown; token?: string | null; as?: string; headers?: Record<string, string> } = {},
  ): Promise<ApiResult<T>> {
    const headers: Record<string, string> = { ...options.headers };
    let token = options.token;
    if (token === undefined) token = await this.token(options.as ?? 'admin');
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    }
    const res = await fetch(this.url + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {}
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  /** A token for a user; `admin` logs in with the test password, others with `<name>-pw`. */
  async token(username: string): Promise<string> {
    const cached = this.#tokens.get(username);
    if (cached) return cached;
    const password = username === 'admin' ? ADMIN_PASSWORD : `${username}-pw`;
    const res = await this.api<{ token: string }>('POST', '/api/auth/login', {
      token: null,
      body: { username, password },
    });
    if (res.status !== 200)
      throw new Error(`login as ${username}: ${res.status} ${JSON.stringify(res.body)}`);
    this.#tokens.set(username, res.body.token);
    return res.body.token;
  }

  async createUser(username: string, role: string, zones: string[] = []): Promise<void> {
    const res = await this.api('POST', '/api/users', {
      body: { username, password: `${username}-pw`, role, zones },
    });
    if (res.status !== 201) throw new Error(`create ${username}: ${res.status} ${JSON.stringify(res.body)}`);
  }

  async provision(spec: {
    id: string;
    name?: string;
    zone?: string;
    channels?: unknown;
  }): Promise<MqttLogin> {
    const res = await this.api<{ mqtt: MqttLogin }>('POST', '/api/devices/relays', {
      body: { name: `Relay ${spec.id}`, zone: 'zone-1', ...spec },
    });
    if (res.status !== 201)
      throw new Error(`provision ${spec.id}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.mqtt;
  }

  /** A simulated relay logged in with `login`; not started. Torn down with the hub. */
  relay(login: MqttLogin, options: Partial<SimRelayOptions> = {}): SimRelay {
    const relay = new SimRelay({
      host: '127.0.0.1',
      port: this.mqttPort,
      topic: login.topic,
      username: login.username,
      password: login.password,
      telePeriodSec: 0,
      reconnect: { initialMs: 50, maxMs: 500 },
      ...options,
    });
    this.#relays.add(relay);
    return relay;
  }

  /** Provision a relay and start its simulator; resolves once the hub knows it can hear commands. */
  async onlineRelay(
    spec: { id: string; name?: string; zone?: string; channels?: unknown },
    options: Partial<SimRelayOptions> = {},
  ): Promise<SimRelay> {
    const login = await this.provision(spec);
    const channels =
      typeof spec.channels === 'number'
        ? spec.channels
        : Array.isArray(spec.channels)
          ? spec.channels.length
          : 1;
    const relay = this.relay(login, { channels, ...options });
    const listening = new Promise<void>((resolve) => {
      const owner = `test-listening-${spec.id}`;
      this.hub.bus.on(owner, 'deviceListening', ({ deviceId }) => {
        if (deviceId !== spec.id) return;
        this.hub.bus.removeOwner(owner);
        resolve();
      });
    });
    await relay.start();
    await listening;
    const ids = new Set(this.hub.devices.list().find((d) => d.id === spec.id)?.lights);
    await waitFor(() => this.hub.lights.list().every((l) => !ids.has(l.id) || l.reported !== null), {
      message: `first state report of ${spec.id}`,
    });
    return relay;
  }

  /** Stop the relays, the hub, and remove the data. */
  async close(): Promise<void> {
    await Promise.all([...this.#relays].map((r) => r.stop().catch(() => {})));
    this.#relays.clear();
    await this.hub?.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
