/**
 * The provisioning file: which relays the simulated fleet runs and how they log in. The hub's
 * demo writes it (one entry per relay it provisioned); the fleet and `npm run sim` read it.
 *
 * { "broker": { "host": "127.0.0.1", "port": 1883 },
 *   "relays": [ { "topic": "khu_a01", "username": "khu_a01", "password": "…", "channels": 2, "powerOnState": 3 } ] }
 */
import { readFile } from 'node:fs/promises';
import { isDeviceTopic } from '../hub/src/protocol/tasmota.js';

export const MAX_CHANNELS = 8;

/** Tasmota PowerOnState: 0 off, 1 on, 2 toggle, 3 last saved (the default), 4 on and locked. */
export type PowerOnState = 0 | 1 | 2 | 3 | 4;

export interface RelayProvisioning {
  /** The Tasmota `Topic`: letters, digits, `_` and `-`. */
  topic: string;
  username: string;
  password: string;
  /** 1 to 8 relays; 1 = a single-relay device (`POWER`), more = `POWER1`… */
  channels: number;
  powerOnState?: PowerOnState;
}

export interface Provisioning {
  broker: { host: string; port: number };
  relays: RelayProvisioning[];
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const show = (value: unknown): string => {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 40 ? `${text.slice(0, 40)}…` : text;
};

/**
 * Check a parsed provisioning document. Throws an Error naming the bad field, e.g.
 * `provisioning: relays[2].channels must be an integer from 1 to 8 (got 9)`. Unknown fields
 * are ignored, so that the hub may add some without breaking older simulators.
 */
export function parseProvisioning(data: unknown, source = 'provisioning'): Provisioning {
  const fail = (path: string, what: string, value: unknown): never => {
    throw new Error(`${source}: ${path} ${what} (got ${show(value)})`);
  };
  if (!isObject(data)) fail('the document', 'must be a JSON object', data);
  const doc = data as Json;

  const broker = doc.broker;
  if (!isObject(broker)) fail('broker', 'must be an object with host and port', broker);
  const { host, port } = broker as Json;
  if (typeof host !== 'string' || host.trim() === '') fail('broker.host', 'must be a non-empty string', host);
  if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
    fail('broker.port', 'must be an integer from 1 to 65535', port);
  }

  if (!Array.isArray(doc.relays)) fail('relays', 'must be an array', doc.relays);
  const seen = new Map<string, number>();
  const relays = (doc.relays as unknown[]).map((entry, i): RelayProvisioning => {
    const at = `relays[${i}]`;
    if (!isObject(entry)) fail(at, 'must be an object', entry);
    const { topic, username, password, channels = 1, powerOnState } = entry as Json;
    if (typeof topic !== 'string' || !isDeviceTopic(topic)) {
      fail(`${at}.topic`, 'must be 1 to 64 letters, digits, "_" or "-"', topic);
    }
    const first = seen.get(topic as string);
    if (first !== undefined) fail(`${at}.topic`, `duplicates relays[${first}].topic`, topic);
    seen.set(topic as string, i);
    if (typeof username !== 'string' || username === '')
      fail(`${at}.username`, 'must be a non-empty string', username);
    // The value itself is a secret: name the field only.
    if (typeof password !== 'string' || password === '') {
      throw new Error(`${source}: ${at}.password must be a non-empty string`);
    }
    if (!Number.isInteger(channels) || (channels as number) < 1 || (channels as number) > MAX_CHANNELS) {
      fail(`${at}.channels`, `must be an integer from 1 to ${MAX_CHANNELS}`, channels);
    }
    if (powerOnState !== undefined && ![0, 1, 2, 3, 4].includes(powerOnState as number)) {
      fail(
        `${at}.powerOnState`,
        'must be 0 (off), 1 (on), 2 (toggle), 3 (last saved) or 4 (on, locked)',
        powerOnState,
      );
    }
    const relay: RelayProvisioning = {
      topic: topic as string,
      username: username as string,
      password: password as string,
      channels: channels as number,
    };
    if (powerOnState !== undefined) relay.powerOnState = powerOnState as PowerOnState;
    return relay;
  });

  return { broker: { host: host as string, port: port as number }, relays };
}

/** Read and check a provisioning file; errors name the file and the bad field. */
export async function readProvisioningFile(path: string): Promise<Provisioning> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new Error(`cannot read provisioning file ${path}: ${reason}`, { cause: err });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseProvisioning(data, path);
}
