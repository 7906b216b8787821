import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { KhuError } from '../core/errors.js';
import { type Config, ConfigSchema } from './schema.js';

/** The project root: the nearest folder above this file holding `config/default.yaml`. */
export function projectRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'config', 'default.yaml'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`config/default.yaml not found above ${from}`);
    dir = parent;
  }
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile<Config>(ConfigSchema);

function readYaml(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw configError(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
  try {
    return parseYaml(text) ?? {};
  } catch (err) {
    throw configError(`${what} ${file} is not valid YAML: ${(err as Error).message}`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Deep merge: objects merge key by key, anything else replaces. */
export function merge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v);
  return out;
}

function configError(message: string): KhuError {
  return new KhuError('KHU_CONFIG_INVALID', `config: ${message}`);
}

const envKeys: Array<{ env: string; path: [string, string?]; kind: 'port' | 'string' }> = [
  { env: 'KHU_HTTP_PORT', path: ['http', 'port'], kind: 'port' },
  { env: 'KHU_MQTT_PORT', path: ['mqtt', 'port'], kind: 'port' },
  { env: 'KHU_DATA_DIR', path: ['dataDir'], kind: 'string' },
];

function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, Record<string, unknown> | unknown> = {};
  for (const { env: name, path, kind } of envKeys) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    let value: unknown = raw;
    if (kind === 'port') {
      if (!/^\d+$/.test(raw))
        throw configError(`${name}=${JSON.stringify(raw)} is not a port number (0–65535)`);
      value = Number(raw);
    }
    const [a, b] = path;
    if (b === undefined) out[a] = value;
    else out[a] = { ...((out[a] as Record<string, unknown>) ?? {}), [b]: value };
  }
  return out;
}

/**
 * Load the configuration: defaults, then `KHU_CONFIG`, then the environment. A bad value
 * throws a KhuError naming the key and the problem; nothing starts.
 */
export function loadConfig(
  options: { env?: NodeJS.ProcessEnv; overrides?: unknown; root?: string } = {},
): Config {
  const env = options.env ?? process.env;
  const root = options.root ?? projectRoot();
  let raw = readYaml(join(root, 'config', 'default.yaml'), 'defaults');
  if (env.KHU_CONFIG) {
    const site = readYaml(resolve(env.KHU_CONFIG), 'KHU_CONFIG');
    if (!isObject(site)) throw configError(`KHU_CONFIG ${env.KHU_CONFIG} must hold a YAML mapping`);
    raw = merge(raw, site);
  }
  raw = merge(raw, envOverrides(env));
  if (options.overrides !== undefined) raw = merge(raw, options.overrides);
  if (!validate(raw)) {
    const problems = (validate.errors ?? []).map((e) => {
      const key = (e.instancePath || '/').slice(1).replaceAll('/', '.') || '(top level)';
      if (e.keyword === 'additionalProperties') {
        const extra = (e.params as { additionalProperty: string }).additionalProperty;
        return `${key === '(top level)' ? extra : `${key}.${extra}`}: unknown key`;
      }
      return `${key}: ${e.message}`;
    });
    throw configError([...new Set(problems)].join('; '));
  }
  const config = raw as Config;
  if (config.http.publicUrl) {
    const url = URL.canParse(config.http.publicUrl) ? new URL(config.http.publicUrl) : undefined;
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) {
      throw configError('http.publicUrl: an address such as http://<the box address>:8080, or empty');
    }
  }
  if (config.lights.retryMaxMs < config.lights.retryInitialMs) {
    throw configError('lights.retryMaxMs: must not be smaller than lights.retryInitialMs');
  }
  return config;
}
