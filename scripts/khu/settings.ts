import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CliError } from './errors.js';

/** What `khu login` keeps: the hub's address and a session token (a secret: the file is 0600). */
export interface Saved {
  hub?: string;
  username?: string;
  token?: string;
  expiresAt?: string;
}

export const DEFAULT_HUB = 'http://127.0.0.1:8080';

export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'khu');
}

export const configPath = (env: NodeJS.ProcessEnv = process.env) => join(configDir(env), 'config.json');

export function loadSaved(env: NodeJS.ProcessEnv = process.env): Saved {
  const file = configPath(env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    const s = parsed as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
    return { hub: str(s.hub), username: str(s.username), token: str(s.token), expiresAt: str(s.expiresAt) };
  } catch {
    throw new CliError(`${file} is not valid JSON`, { hint: `delete it and run: khu login` });
  }
}

/** Written to a temporary file with mode 0600 first, then renamed: never readable by others, never half written. */
export function saveSaved(saved: Saved, env: NodeJS.ProcessEnv = process.env): string {
  const dir = configDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = configPath(env);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(saved, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return file;
}

export function forget(env: NodeJS.ProcessEnv = process.env): void {
  const saved = loadSaved(env);
  if (!saved.token) return;
  saveSaved({ hub: saved.hub, username: saved.username }, env);
}

export function removeSaved(env: NodeJS.ProcessEnv = process.env): void {
  rmSync(configPath(env), { force: true });
}
