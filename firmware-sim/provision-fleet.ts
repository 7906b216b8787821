/**
 * The simulated fleet provisions itself through the hub's HTTP API, as a technician would:
 * `POST /api/auth/login`, then `POST /api/devices/relays` for each relay, or, for a relay that
 * exists already (409), `POST /api/devices/<id>/password` for a new login. The answers make the
 * provisioning document the fleet runs from (see provisioning.ts).
 *
 * Relays are laid out as the demo's: zones `Phố mô phỏng A`, `B`, …, relays `sim-a01`, `sim-a02`,
 * … in each, every third one a 2-channel cabinet.
 *
 * Passwords (the technician's and the relays') never appear in an error message.
 */
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Provisioning, RelayProvisioning } from './provisioning.js';

/** One zone per letter. */
export const MAX_ZONES = 26;
export const MAX_RELAYS = 10_000;

/** A refused login, an unreachable hub, or an answer the simulator cannot use. */
export class HubApiError extends Error {
  override name = 'HubApiError';
  /** The HTTP status, when the hub answered. */
  readonly status: number | undefined;

  constructor(message: string, status?: number, options?: ErrorOptions) {
    super(message, options);
    this.status = status;
  }
}

export interface SimRelayPlan {
  id: string;
  name: string;
  zone: string;
  channels: number;
}

/**
 * `relays` relays over `zones` zones (no more zones than relays), as evenly as they go, the first
 * zones taking one more when they do not divide.
 */
export function planFleet(relays: number, zones: number): SimRelayPlan[] {
  if (!Number.isInteger(relays) || relays < 1 || relays > MAX_RELAYS) {
    throw new RangeError(`relays must be an integer from 1 to ${MAX_RELAYS} (got ${relays})`);
  }
  if (!Number.isInteger(zones) || zones < 1 || zones > MAX_ZONES) {
    throw new RangeError(`zones must be an integer from 1 to ${MAX_ZONES} (got ${zones})`);
  }
  const used = Math.min(zones, relays);
  const plan: SimRelayPlan[] = [];
  for (let z = 0; z < used; z++) {
    const letter = String.fromCharCode(65 + z);
    const count = Math.floor(relays / used) + (z < relays % used ? 1 : 0);
    for (let i = 1; i <= count; i++) {
      plan.push({
        id: `sim-${letter.toLowerCase()}${String(i).padStart(2, '0')}`,
        name: `Cột đèn mô phỏng ${letter} ${i}`,
        zone: `Phố mô phỏng ${letter}`,
        channels: i % 3 === 0 ? 2 : 1,
      });
    }
  }
  return plan;
}

export interface ProvisionFleetOptions {
  /** The hub's base URL, e.g. `http://127.0.0.1:8080`. */
  hub: URL;
  /** A technician or admin account. */
  username: string;
  password: string;
  relays: number;
  zones: number;
  /** The broker host the relays use; default the hub URL's host (the answers' may be the public address). */
  host?: string;
  /** The broker port; default the one the hub answers. */
  port?: number;
  /** Per request; default 10 s. */
  timeoutMs?: number;
  /** Requests in flight at once; default 8. */
  concurrency?: number;
}

export interface ProvisionFleetResult {
  provisioning: Provisioning;
  /** Relays the hub did not know. */
  created: string[];
  /** Relays that existed and were given a new password. */
  rotated: string[];
}

interface MqttLogin {
  host: string;
  port: number;
  username: string;
  password: string;
  topic: string;
}

interface Answer {
  status: number;
  body: unknown;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/** The hub's `{"error":{"code","message"}}`, or what there is. */
function reason(answer: Answer): string {
  const error = isObject(answer.body) ? answer.body.error : undefined;
  if (isObject(error) && typeof error.message === 'string') {
    const code = typeof error.code === 'string' ? ` ${error.code}` : '';
    return `${error.message} (${answer.status}${code})`;
  }
  return `HTTP ${answer.status}`;
}

function isMqttLogin(body: unknown): body is { mqtt: MqttLogin } {
  if (!isObject(body) || !isObject(body.mqtt)) return false;
  const m = body.mqtt;
  return (
    typeof m.host === 'string' &&
    Number.isInteger(m.port) &&
    typeof m.username === 'string' &&
    m.username !== '' &&
    typeof m.password === 'string' &&
    m.password !== '' &&
    typeof m.topic === 'string' &&
    m.topic !== ''
  );
}

/** `[::1]` → `::1`: URL keeps IPv6 brackets, sockets want the bare address. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

class HubClient {
  readonly #base: URL;
  readonly #timeoutMs: number;
  token: string | undefined;

  constructor(hub: URL, timeoutMs: number) {
    // Keep a path prefix (a reverse proxy's), end it with "/" so relative paths resolve under it.
    this.#base = new URL(hub.href.endsWith('/') ? hub.href : `${hub.href}/`);
    this.#base.search = '';
    this.#base.hash = '';
    this.#timeoutMs = timeoutMs;
  }

  get origin(): string {
    return this.#base.href.replace(/\/$/, '');
  }

  async call(method: string, path: string, body?: unknown): Promise<Answer> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const what = `${method} ${path}`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(new URL(path.replace(/^\//, ''), this.#base), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        redirect: 'error',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string; errors?: { code?: string }[] } };
      if (e.name === 'TimeoutError' || e.name === 'AbortError') {
        throw new HubApiError(
          `the hub at ${this.origin} did not answer ${what} within ${this.#timeoutMs / 1000} s`,
          undefined,
          { cause: err },
        );
      }
      const code = e.cause?.code ?? e.cause?.errors?.[0]?.code ?? e.cause?.message ?? e.message;
      throw new HubApiError(`cannot reach the hub at ${this.origin}: ${code}`, undefined, { cause: err });
    }
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {}
    return { status: res.status, body: parsed };
  }
}

/**
 * Log in and provision every planned relay (a new password for those that exist). Throws a
 * HubApiError naming the problem: unreachable hub, refused login, a relay the hub refused.
 */
export async function provisionFleet(options: ProvisionFleetOptions): Promise<ProvisionFleetResult> {
  const plan = planFleet(options.relays, options.zones);
  const client = new HubClient(options.hub, options.timeoutMs ?? 10_000);

  const login = await client.call('POST', '/api/auth/login', {
    username: options.username,
    password: options.password,
  });
  if (login.status !== 200) {
    throw new HubApiError(
      `the hub at ${client.origin} refused the login of ${JSON.stringify(options.username)}: ${reason(login)}`,
      login.status,
    );
  }
  const token = isObject(login.body) ? login.body.token : undefined;
  if (typeof token !== 'string' || token === '') {
    throw new HubApiError(
      `${client.origin} answered the login without a token: is it a Khu hub?`,
      login.status,
    );
  }
  client.token = token;

  const logins: MqttLogin[] = new Array(plan.length);
  const created: string[] = [];
  const rotated: string[] = [];
  const provisionOne = async (relay: SimRelayPlan, index: number) => {
    const answer = await client.call('POST', '/api/devices/relays', relay);
    let login = answer;
    if (answer.status === 409) {
      login = await client.call('POST', `/api/devices/${encodeURIComponent(relay.id)}/password`);
      // A 409 for something else (a light of that id on another device): say what the hub said first.
      if (login.status === 404) {
        throw new HubApiError(`the hub refused to provision ${relay.id}: ${reason(answer)}`, answer.status);
      }
      if (login.status !== 200) {
        throw new HubApiError(
          `the hub refused a new password for ${relay.id}: ${reason(login)}`,
          login.status,
        );
      }
      rotated.push(relay.id);
    } else if (answer.status === 201) {
      created.push(relay.id);
    } else {
      throw new HubApiError(
        `the hub refused to provision ${relay.id} as ${JSON.stringify(options.username)}: ${reason(answer)}`,
        answer.status,
      );
    }
    if (!isMqttLogin(login.body)) {
      throw new HubApiError(`the hub's answer for ${relay.id} holds no MQTT login`, login.status);
    }
    logins[index] = login.body.mqtt;
  };

  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < plan.length) {
      const index = next++;
      try {
        await provisionOne(plan[index]!, index);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const workers = Math.max(1, Math.min(options.concurrency ?? 8, plan.length));
  const settled = await Promise.allSettled(Array.from({ length: workers }, worker));
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (rejected) throw rejected.reason;

  // A relay that existed keeps the channels it was provisioned with, which may not be the plan's.
  const channelsOf = new Map<string, number>();
  if (rotated.length > 0) {
    const devices = await client.call('GET', '/api/devices');
    if (devices.status !== 200 || !Array.isArray(devices.body)) {
      throw new HubApiError(`the hub refused the list of devices: ${reason(devices)}`, devices.status);
    }
    for (const d of devices.body) {
      if (isObject(d) && typeof d.id === 'string' && Number.isInteger(d.channels)) {
        channelsOf.set(d.id, d.channels as number);
      }
    }
  }

  const relays: RelayProvisioning[] = plan.map((relay, i) => {
    const mqtt = logins[i]!;
    return {
      topic: mqtt.topic,
      username: mqtt.username,
      password: mqtt.password,
      channels: channelsOf.get(relay.id) ?? relay.channels,
      powerOnState: 3,
    };
  });
  const broker = {
    host: options.host ?? hostOf(options.hub),
    port: options.port ?? logins[0]!.port,
  };
  return { provisioning: { broker, relays }, created, rotated };
}

/**
 * Write a provisioning document readable by its owner only (it holds the relays' passwords):
 * mode 0600, through a temporary file so that a reader never sees half of it.
 */
export async function writeProvisioningFile(path: string, provisioning: Provisioning): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFile(tmp, `${JSON.stringify(provisioning, null, 2)}\n`, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new Error(`cannot write provisioning file ${path}: ${why}`, { cause: err });
  }
}
