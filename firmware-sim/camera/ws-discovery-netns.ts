/**
 * Runs a function of one of our TypeScript modules in a fresh user + network namespace
 * (`unshare --user --map-root-user --net`, no root needed). There the only interface is a
 * loopback, brought up with multicast on and a route for 239.0.0.0/8 (FACTS.md): WS-Discovery
 * multicast sent there cannot reach any real network, and nothing else on the machine (another
 * test worker's cameras, a real WS-Discovery daemon) can answer or interfere.
 *
 * The child loads the module with Vite's module runner (vitest's own TypeScript loader) and
 * prints the function's JSON result; it refuses to run if the namespace has any other interface.
 */
import { spawn } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface NetnsRun<T> {
  value: T;
  /** `net:[inode]` of the namespace the function ran in. */
  netns: string;
  /** Every network interface that namespace had (checked to be just `lo`). */
  links: string[];
}

export interface NetnsRunOptions {
  /** Default 30 s; the child is killed after it. */
  timeoutMs?: number;
}

const MARK = '@@khu-netns-result@@';
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runs as `node --input-type=module -e` inside the namespace; argv: module file, export name. */
const BOOTSTRAP = `
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
const [file, name] = process.argv.slice(1);
const report = (result) =>
  new Promise((resolve) => process.stdout.write('\\n${MARK}' + JSON.stringify(result) + '\\n', resolve));
try {
  const ip = (...args) => execFileSync('ip', args, { encoding: 'utf8' });
  const links = ip('-o', 'link', 'show').split('\\n').filter(Boolean).map((l) => l.split(':')[1].trim().split('@')[0]);
  if (links.join(',') !== 'lo') throw new Error('not a fresh network namespace, interfaces: ' + links.join(', '));
  ip('link', 'set', 'lo', 'up');
  ip('link', 'set', 'lo', 'multicast', 'on');
  ip('route', 'add', '239.0.0.0/8', 'dev', 'lo', 'src', '127.0.0.1');
  const { runnerImport } = await import('vite');
  const { module } = await runnerImport(file);
  if (typeof module[name] !== 'function') throw new Error(file + ' exports no function ' + name);
  const value = await module[name](JSON.parse(process.env.KHU_NETNS_INPUT ?? 'null'));
  await report({ ok: true, value, netns: readlinkSync('/proc/self/ns/net'), links });
  process.exit(0);
} catch (err) {
  await report({ ok: false, error: String(err?.stack ?? err) });
  process.exit(1);
}
`;

/** The network namespace of this process, to compare with the one a run used. */
export function currentNetns(): string {
  return readlinkSync('/proc/self/ns/net');
}

export function runInLoopbackNetns<T>(
  moduleFile: string | URL,
  exportName: string,
  input: unknown,
  options: NetnsRunOptions = {},
): Promise<NetnsRun<T>> {
  const file = moduleFile instanceof URL ? fileURLToPath(moduleFile) : moduleFile;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const env: NodeJS.ProcessEnv = { KHU_NETNS_INPUT: JSON.stringify(input) };
  for (const key of ['PATH', 'HOME', 'TMPDIR', 'LANG']) if (process.env[key]) env[key] = process.env[key];
  return new Promise((resolve, reject) => {
    const child = spawn(
      'unshare',
      [
        '--user',
        '--map-root-user',
        '--net',
        '--',
        process.execPath,
        '--input-type=module',
        '-e',
        BOOTSTRAP,
        '--',
        file,
        exportName,
      ],
      { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(
        new Error(
          `cannot start unshare (util-linux), needed for a private network namespace: ${err.message}`,
        ),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(MARK));
      const tail = `\n--- stderr ---\n${stderr.slice(-4000)}\n--- stdout ---\n${stdout.slice(-2000)}`;
      if (!line) {
        const why =
          signal === 'SIGKILL'
            ? `timed out after ${timeoutMs} ms`
            : `exited ${code ?? signal} without a result`;
        reject(new Error(`network namespace run of ${exportName}: ${why}${tail}`));
        return;
      }
      const result = JSON.parse(line.slice(MARK.length)) as
        | { ok: true; value: T; netns: string; links: string[] }
        | { ok: false; error: string };
      if (!result.ok)
        reject(new Error(`network namespace run of ${exportName} failed: ${result.error}${tail}`));
      else resolve({ value: result.value, netns: result.netns, links: result.links });
    });
  });
}
