/**
 * The hub as an operator runs it: `node dist/hub/src/main.js` (built by `npm test` first), with
 * configuration from the environment and a YAML file, stopped by a signal.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';

const MAIN = new URL('../../dist/hub/src/main.js', import.meta.url).pathname;

interface Run {
  child: ChildProcess;
  out: string;
  err: string;
  exit: Promise<number | null>;
}

const children: ChildProcess[] = [];
const dirs: string[] = [];
const servers: Server[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  for (const s of servers.splice(0)) s.close();
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'khu-proc-'));
  dirs.push(d);
  return d;
}

function run(env: Record<string, string>): Run {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', KHU_HTTP_PORT: '0', KHU_MQTT_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const r: Run = {
    child,
    out: '',
    err: '',
    exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  };
  child.stdout!.on('data', (d: Buffer) => {
    r.out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    r.err += d.toString();
  });
  return r;
}

const started = (r: Run) =>
  waitFor(() => r.out.includes('"hub started"'), {
    timeoutMs: 10_000,
    message: `hub started; got ${r.out}${r.err}`,
  });

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('the hub process', () => {
  it('prints a generated admin password on the first start only, and stops cleanly on SIGTERM', async () => {
    const data = tempDir();
    const first = run({ KHU_DATA_DIR: data });
    await started(first);
    // The password line is written right after the "hub started" log line: wait for it.
    await waitFor(() => /admin {2}\/ {2}[A-Za-z0-9]{14}\n/.test(first.out), {
      timeoutMs: 5_000,
      message: `the admin password line; got ${first.out}${first.err}`,
    });
    const password = /admin {2}\/ {2}([A-Za-z0-9]{14})/.exec(first.out)![1]!;
    // The password is on the console once, never in a log line.
    const logLines = first.out.split('\n').filter((l) => l.startsWith('{'));
    expect(logLines.join('\n')).not.toContain(password);
    first.child.kill('SIGTERM');
    expect(await withTimeout(first.exit, 10_000, 'exit after SIGTERM')).toBe(0);
    expect(first.out).toContain('"stopping"');

    const second = run({ KHU_DATA_DIR: data });
    await started(second);
    second.child.kill('SIGINT');
    expect(await withTimeout(second.exit, 10_000, 'exit after SIGINT')).toBe(0);
    // Checked after the exit, so a line written late cannot slip past.
    expect(second.out).not.toContain('admin  /');
  });

  it('refuses to start on a bad setting, naming it, and creates nothing', async () => {
    const data = join(tempDir(), 'never');
    const badEnv = run({ KHU_DATA_DIR: data, KHU_HTTP_PORT: 'eighty' });
    expect(await withTimeout(badEnv.exit, 10_000, 'exit')).toBe(1);
    expect(badEnv.err).toContain('KHU_HTTP_PORT');

    const file = join(tempDir(), 'site.yaml');
    writeFileSync(file, 'http:\n  port: 99999\nlights:\n  ackTimeoutMs: fast\n');
    // KHU_HTTP_PORT would win over the file: leave it unset here.
    const badFile = run({ KHU_DATA_DIR: data, KHU_CONFIG: file, KHU_HTTP_PORT: '' });
    expect(await withTimeout(badFile.exit, 10_000, 'exit')).toBe(1);
    expect(badFile.err).toMatch(/http\.port/);
    expect(badFile.err).toMatch(/lights\.ackTimeoutMs/);

    const missing = run({ KHU_DATA_DIR: data, KHU_CONFIG: join(data, 'nope.yaml') });
    expect(await withTimeout(missing.exit, 10_000, 'exit')).toBe(1);
    expect(missing.err).toMatch(/cannot read KHU_CONFIG/);
    expect(existsSync(data)).toBe(false);
  });

  it('exits with a clear error when its MQTT port is taken', async () => {
    const blocker = createServer();
    servers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    const r = run({ KHU_DATA_DIR: tempDir(), KHU_MQTT_PORT: String(port) });
    expect(await withTimeout(r.exit, 10_000, 'exit')).toBe(1);
    expect(r.err).toMatch(/EADDRINUSE/);
  });
});
