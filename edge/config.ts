/**
 * The edge agent's configuration: a YAML file (see config/edge.example.yaml), checked at start
 * with a message that names the path and what is wrong. The MQTT password may come from the
 * environment (KHU_EDGE_MQTT_PASSWORD) instead of the file.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { parseUtcOffset } from '../hub/src/protocol/program.js';
import { isDeviceTopic } from '../hub/src/protocol/tasmota.js';

export const MAX_EDGE_CHANNELS = 16;

export interface GpioDriverConfig {
  kind: 'gpio';
  /** GPIO chip, as gpiod names it: `gpiochip0` (or a path /dev/gpiochip0). */
  chip: string;
  /** Line offset on the chip for each channel, channel 1 first. */
  lines: number[];
  /** Relay boards that switch on a low level. */
  activeLow: boolean;
  /** The gpiod tools; default `gpioset` from PATH. */
  gpioset: string;
}

export interface FileDriverConfig {
  kind: 'file';
  /** JSON file that holds the channel states: `{"1":"on","2":"off"}`. */
  path: string;
}

export type DriverConfig = GpioDriverConfig | FileDriverConfig;

export interface EdgeConfig {
  mqtt: {
    host: string;
    port: number;
    username?: string;
    password?: string;
    /** The device topic (as provisioned on the hub). */
    topic: string;
    clientId: string;
    keepaliveSec: number;
    reconnect: { initialMs: number; maxMs: number };
  };
  channels: number;
  driver: DriverConfig;
  /** Where the program and the last relay states are kept. */
  stateDir: string;
  /** Default site before a PROGRAM arrives (the program carries its own). */
  site: { latitude: number; longitude: number; timezone: string };
  /** tele/<t>/STATE period; 0 = off. */
  telePeriodSec: number;
}

export class EdgeConfigError extends Error {
  override name = 'EdgeConfigError';
  readonly code = 'KHU_EDGE_CONFIG';
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const show = (v: unknown) => {
  const t = JSON.stringify(v);
  return t === undefined ? String(v) : t.length > 40 ? `${t.slice(0, 40)}…` : t;
};
const fail = (path: string, expected: string, value: unknown): never => {
  throw new EdgeConfigError(`${path} must be ${expected} (got ${show(value)})`);
};
const str = (obj: Json, key: string, path: string, fallback?: string): string => {
  const v = obj[key] ?? fallback;
  if (typeof v !== 'string' || v.trim() === '') fail(`${path}.${key}`, 'a non-empty string', v);
  return v as string;
};
const int = (obj: Json, key: string, path: string, min: number, max: number, fallback?: number): number => {
  const v = obj[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(`${path}.${key}`, `an integer from ${min} to ${max}`, v);
  }
  return v as number;
};
const num = (obj: Json, key: string, path: string, max: number): number => {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || Math.abs(v) > max) {
    fail(`${path}.${key}`, `a number from -${max} to ${max}`, v);
  }
  return v as number;
};
const section = (obj: Json, key: string, path = key): Json => {
  const v = obj[key];
  if (!isObject(v)) fail(path, 'a mapping', v);
  return v as Json;
};
const onlyKeys = (obj: Json, path: string, allowed: string[]) => {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k))
      throw new EdgeConfigError(`${path}.${k} is not a known setting (known: ${allowed.join(', ')})`);
  }
};

/** Check a parsed document; `env` supplies KHU_EDGE_MQTT_PASSWORD. */
export function parseEdgeConfig(doc: unknown, env: NodeJS.ProcessEnv = {}): EdgeConfig {
  if (!isObject(doc)) fail('the configuration', 'a YAML mapping', doc);
  const root = doc as Json;
  onlyKeys(root, 'config', ['mqtt', 'channels', 'driver', 'stateDir', 'site', 'telePeriodSec']);
  const m = section(root, 'mqtt');
  onlyKeys(m, 'mqtt', [
    'host',
    'port',
    'username',
    'password',
    'topic',
    'clientId',
    'keepaliveSec',
    'reconnect',
  ]);
  const topic = str(m, 'topic', 'mqtt');
  if (!isDeviceTopic(topic)) fail('mqtt.topic', 'letters, digits, _ or - (at most 64)', topic);
  const reconnect = m.reconnect === undefined ? {} : section(m, 'reconnect', 'mqtt.reconnect');
  onlyKeys(reconnect, 'mqtt.reconnect', ['initialMs', 'maxMs']);
  const initialMs = int(reconnect, 'initialMs', 'mqtt.reconnect', 10, 600_000, 1000);
  const maxMs = int(reconnect, 'maxMs', 'mqtt.reconnect', initialMs, 3_600_000, Math.max(initialMs, 60_000));
  const password = env.KHU_EDGE_MQTT_PASSWORD ?? m.password;
  if (password !== undefined && typeof password !== 'string') fail('mqtt.password', 'a string', '[redacted]');
  const username = m.username;
  if (username !== undefined && (typeof username !== 'string' || username === '')) {
    fail('mqtt.username', 'a non-empty string', username);
  }
  const channels = int(root, 'channels', 'config', 1, MAX_EDGE_CHANNELS);
  const d = section(root, 'driver');
  let driver: DriverConfig;
  if (d.kind === 'file') {
    onlyKeys(d, 'driver', ['kind', 'path']);
    driver = { kind: 'file', path: str(d, 'path', 'driver') };
  } else if (d.kind === 'gpio') {
    onlyKeys(d, 'driver', ['kind', 'chip', 'lines', 'activeLow', 'gpioset']);
    const lines = d.lines;
    if (
      !Array.isArray(lines) ||
      lines.length !== channels ||
      !lines.every((l) => typeof l === 'number' && Number.isInteger(l) && l >= 0 && l < 1024)
    ) {
      fail('driver.lines', `a list of ${channels} line offsets (one per channel, 0–1023)`, lines);
    }
    if (new Set(lines as number[]).size !== (lines as number[]).length)
      fail('driver.lines', 'distinct lines', lines);
    const chip = str(d, 'chip', 'driver');
    if (!/^(\/dev\/)?gpiochip\d+$|^[A-Za-z0-9_.:-]+$/.test(chip))
      fail('driver.chip', 'a chip name such as gpiochip0', chip);
    if (d.activeLow !== undefined && typeof d.activeLow !== 'boolean')
      fail('driver.activeLow', 'true or false', d.activeLow);
    driver = {
      kind: 'gpio',
      chip,
      lines: lines as number[],
      activeLow: d.activeLow === true,
      gpioset: str(d, 'gpioset', 'driver', 'gpioset'),
    };
  } else {
    return fail('driver.kind', '"gpio" or "file"', d.kind);
  }
  const s = section(root, 'site');
  onlyKeys(s, 'site', ['latitude', 'longitude', 'timezone']);
  const timezone = str(s, 'timezone', 'site');
  if (parseUtcOffset(timezone) === undefined)
    fail('site.timezone', 'a UTC offset such as "+07:00"', timezone);
  return {
    mqtt: {
      host: str(m, 'host', 'mqtt'),
      port: int(m, 'port', 'mqtt', 1, 65535, 1883),
      username: username as string | undefined,
      password: password as string | undefined,
      topic,
      clientId: str(m, 'clientId', 'mqtt', `khu-edge-${topic}`),
      keepaliveSec: int(m, 'keepaliveSec', 'mqtt', 5, 600, 30),
      reconnect: { initialMs, maxMs },
    },
    channels,
    driver,
    stateDir: str(root, 'stateDir', 'config'),
    site: { latitude: num(s, 'latitude', 'site', 90), longitude: num(s, 'longitude', 'site', 180), timezone },
    telePeriodSec: int(root, 'telePeriodSec', 'config', 0, 86_400, 300),
  };
}

/** Read, parse and check the file; every error names the file. */
export async function loadEdgeConfig(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<EdgeConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new EdgeConfigError(
      `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new EdgeConfigError(`${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  try {
    return parseEdgeConfig(doc, env);
  } catch (err) {
    if (err instanceof EdgeConfigError) throw new EdgeConfigError(`${file}: ${err.message}`);
    throw err;
  }
}
