/**
 * Shared pieces of the benchmarks: result lines, free ports, a keep-alive HTTP client, the hub
 * as a child process, and cleanup that runs whatever happens.
 *
 * Contract of every bench file: one JSON line per figure on stdout
 * (`{"name","value","unit", …"target","ok","note"}`), human progress on stderr only, traffic on
 * 127.0.0.1 only, every loop bounded in count and time, and everything started stopped again.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Provisioning } from '../../firmware-sim/provisioning.js';

export const LOOPBACK = '127.0.0.1';

/** The project root: dist/scripts/bench/lib.js → three folders up. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const HUB_MAIN = join(ROOT, 'dist', 'hub', 'src', 'main.js');
/** `npm start` without its leading `node`: V8 flags, then the entry point. */
export const HUB_START_ARGS: string[] = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }
).scripts.start
  .split(/\s+/)
  .slice(1)
  .map((arg) => (arg.endsWith('.js') ? join(ROOT, arg) : arg));

// ---- result lines ------------------------------------------------------------------------------

export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** e.g. `<= 5`, `>= 0.5`: the DESIGN target, when there is one. */
  target?: string;
  ok?: boolean;
  note?: string;
  [extra: string]: unknown;
}

/** A target as DESIGN.md states it; `ok` is computed from it. */
export interface Target {
  max?: number;
  min?: number;
}

export function figure(
  name: string,
  value: number,
  unit: string,
  target?: Target,
  extra: Record<string, unknown> = {},
): Figure {
  const out: Figure = { name, value: round(value), unit };
  if (target) {
    out.target = target.max !== undefined ? `<= ${target.max}` : `>= ${target.min}`;
    out.ok =
      Number.isFinite(value) &&
      (target.max === undefined || value <= target.max) &&
      (target.min === undefined || value >= target.min);
  }
  return { ...out, ...extra };
}

/** Print one figure as a JSON line on stdout (the only thing a bench writes there). */
export function emit(f: Figure): void {
  process.stdout.write(`${JSON.stringify(f)}\n`);
}

/** Human progress: stderr only. */
export function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 23)}] ${message}\n`);
}

export function round(n: number, digits = 3): number {
  if (!Number.isFinite(n)) return n;
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Nearest-rank percentile of unsorted numbers (p in 0..100). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `promise`, or a rejection naming `what` after timeoutMs (the timer never outlives the race). */
export async function withTimeout<T>(what: string, promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${what}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Poll `check` every `everyMs` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  { timeoutMs, everyMs = 20 }: { timeoutMs: number; everyMs?: number },
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---- ports, temp dirs --------------------------------------------------------------------------

/** A port free on 127.0.0.1 right now: bind port 0, read it, close. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `khu-bench-${prefix}-`));
  onCleanup(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---- cleanup -----------------------------------------------------------------------------------

const cleanups: Array<{ what: string; fn: () => unknown }> = [];
const children = new Set<ChildProcess>();

/** Register something to undo at the end (run in reverse order, errors or not). */
export function onCleanup(what: string, fn: () => unknown): () => void {
  const entry = { what, fn };
  cleanups.push(entry);
  return () => {
    const i = cleanups.indexOf(entry);
    if (i >= 0) cleanups.splice(i, 1);
  };
}

async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) {
    const { what, fn } = cleanups.pop()!;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        fn(),
        new Promise<void>((r) => {
          timer = setTimeout(() => {
            progress(`cleanup timed out after 15 s: ${what}`);
            r();
          }, 15_000);
        }),
      ]);
    } catch (err) {
      progress(`cleanup failed (${what}): ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

// Last resort: a child we started never outlives us (crash, process.exit).
process.on('exit', () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** Is this module the script node was started with? */
export function isMain(importMetaUrl: string): boolean {
  return !!process.argv[1] && importMetaUrl === pathToFileURL(resolve(process.argv[1])).href;
}

/**
 * Run a bench: its figures go to stdout as they come; whatever it started is stopped at the end,
 * after an error too, and on Ctrl+C. Exit status 0 unless the bench itself failed.
 */
export async function runBench(name: string, main: () => Promise<void>): Promise<void> {
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    progress(`${name}: ${signal}, cleaning up`);
    void runCleanups().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const started = performance.now();
  let failed = false;
  try {
    await main();
  } catch (err) {
    failed = true;
    progress(`${name} FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  } finally {
    await runCleanups();
  }
  progress(`${name}: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (process.env.KHU_BENCH_DEBUG_HANDLES) {
    const handles = (process as unknown as { _getActiveHandles(): object[] })._getActiveHandles();
    progress(`${name}: active handles: ${handles.map((h) => h.constructor.name).join(', ')}`);
  }
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.exitCode = failed ? 1 : 0;
}

// ---- HTTP (keep-alive, Nagle off) ---------------------------------------------------------------

export interface HttpAnswer<T = unknown> {
  status: number;
  body: T;
}

export class HttpClient {
  readonly base: string;
  readonly agent: Agent;
  token: string | undefined;

  constructor(base: string, { maxSockets = 1 }: { maxSockets?: number } = {}) {
    this.base = base;
    this.agent = new Agent({ keepAlive: true, maxSockets, keepAliveMsecs: 10_000 });
    onCleanup(`close HTTP agent ${base}`, () => this.agent.destroy());
  }

  /** One request; rejects on a network error or after timeoutMs, resolves with any status. */
  request<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    { timeoutMs = 10_000 }: { timeoutMs?: number } = {},
  ): Promise<HttpAnswer<T>> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = {};
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = payload.length;
    }
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    return new Promise((resolveAnswer, reject) => {
      const req = request(`${this.base}${path}`, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          if ((res.headers['content-type'] ?? '').includes('json') && text) {
            try {
              parsed = JSON.parse(text);
            } catch {
              // keep the text
            }
          }
          resolveAnswer({ status: res.statusCode ?? 0, body: parsed as T });
        });
      });
      const timer = setTimeout(
        () => req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)),
        timeoutMs,
      );
      req.on('socket', (socket) => socket.setNoDelay(true));
      req.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end(payload);
    });
  }

  /** A request that must answer `expect`; its body otherwise. */
  async call<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    expect = 200,
    timeoutMs = 10_000,
  ): Promise<T> {
    const res = await this.request<T>(method, path, body, { timeoutMs });
    if (res.status !== expect) {
      throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
    }
    return res.body;
  }

  async login(username: string, password: string): Promise<void> {
    const res = await this.call<{ token: string }>('POST', '/api/auth/login', { username, password });
    this.token = res.token;
  }
}

// ---- kernel counters -----------------------------------------------------------------------------

/** sysconf(_SC_CLK_TCK): 100 on Linux. */
const CLOCK_TICKS = 100;

/** CPU time (user + system, all threads) a process has used so far, in ms; 10 ms resolution. */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the `(comm)`: state is field 3; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

export interface TcpCounters {
  /** Connections dropped because a listener's accept queue was full (TcpExt ListenOverflows). */
  listenOverflows: number;
  /** SYNs sent again (TcpExt TCPSynRetrans): a dropped SYN costs the client 1 s, then 2 s more… */
  synRetrans: number;
}

/** TCP counters of this network namespace (the whole box, other processes included). */
export function tcpCounters(): TcpCounters | undefined {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    for (let i = 0; i + 1 < lines.length; i++) {
      if (!lines[i]!.startsWith('TcpExt:') || !lines[i + 1]!.startsWith('TcpExt:')) continue;
      const keys = lines[i]!.split(/\s+/);
      const values = lines[i + 1]!.split(/\s+/).map(Number);
      const get = (k: string) => values[keys.indexOf(k)] ?? Number.NaN;
      return { listenOverflows: get('ListenOverflows'), synRetrans: get('TCPSynRetrans') };
    }
  } catch {
    // not Linux, or no /proc
  }
  return undefined;
}

export function tcpDelta(before: TcpCounters | undefined): Record<string, number> {
  const after = tcpCounters();
  if (!before || !after) return {};
  return {
    listen_overflows: after.listenOverflows - before.listenOverflows,
    syn_retransmits: after.synRetrans - before.synRetrans,
  };
}

// ---- the hub as a child process ------------------------------------------------------------------

export interface HubChildOptions {
  dataDir: string;
  httpPort: number;
  mqttPort: number;
  adminPassword: string;
  /** The KHU_CONFIG file (log level, loopback hosts). */
  configFile: string;
  /** Folder for `--cpu-prof` profiles, when profiling the hub. */
  cpuProfDir?: string;
  label?: string;
  /** Its own process group, so a power cut (SIGKILL of the group) takes its ffmpegs too. */
  detached?: boolean;
}

/** A YAML KHU_CONFIG for the benches: quiet logs, loopback only. */
export function writeBenchConfig(dir: string, extra = ''): string {
  const file = join(dir, 'khu-bench.yaml');
  writeFileSync(
    file,
    `# written by scripts/bench\nlog:\n  level: warn\nhttp:\n  host: ${LOOPBACK}\nmqtt:\n  host: ${LOOPBACK}\n${extra}`,
  );
  return file;
}

/** `node dist/hub/src/main.js` in its own process; its output goes to our stderr, prefixed. */
export class HubChild {
  readonly options: HubChildOptions;
  readonly child: ChildProcess;
  /** performance.now() at spawn. */
  readonly spawnedAt: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #removeCleanup: () => void;

  constructor(options: HubChildOptions) {
    this.options = options;
    const args: string[] = [];
    // For investigations, e.g. KHU_BENCH_HUB_NODE_ARGS="--trace-gc" (its output lands on our stderr).
    const extra = process.env.KHU_BENCH_HUB_NODE_ARGS?.trim();
    if (extra) args.push(...extra.split(/\s+/));
    if (options.cpuProfDir) args.push('--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`);
    // The same command line as `npm start` (its V8 flags included), so the figures are the product's.
    args.push(...HUB_START_ARGS);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KHU_DATA_DIR: options.dataDir,
      KHU_HTTP_PORT: String(options.httpPort),
      KHU_MQTT_PORT: String(options.mqttPort),
      KHU_ADMIN_PASSWORD: options.adminPassword,
      KHU_CONFIG: options.configFile,
      KHU_LOG_LEVEL: 'warn',
    };
    this.spawnedAt = performance.now();
    this.child = spawn(process.execPath, args, {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: options.detached ?? false,
    });
    children.add(this.child);
    const label = options.label ?? 'hub';
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      let buffered = '';
      stream.setEncoding('utf8');
      stream.on('data', (text: string) => {
        buffered += text;
        let nl = buffered.indexOf('\n');
        while (nl >= 0) {
          process.stderr.write(`[${label}] ${buffered.slice(0, nl)}\n`);
          buffered = buffered.slice(nl + 1);
          nl = buffered.indexOf('\n');
        }
      });
    }
    this.exited = new Promise((resolveExit) =>
      this.child.once('exit', (code, signal) => {
        children.delete(this.child);
        resolveExit({ code, signal });
      }),
    );
    this.#removeCleanup = onCleanup(`stop ${label} (pid ${this.child.pid})`, () => this.stop());
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get url(): string {
    return `http://${LOOPBACK}:${this.options.httpPort}`;
  }

  /** Memory of the hub's Node process from /proc/<pid>/status, in MiB: VmRSS now, VmHWM peak. */
  memory(): { rssMb: number; peakMb: number } {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = (key: string) => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
      if (!m) throw new Error(`no ${key} in /proc/${this.pid}/status`);
      return Number(m[1]) / 1024;
    };
    return { rssMb: kb('VmRSS'), peakMb: kb('VmHWM') };
  }

  /** CPU time (user + system) the hub process has used so far, in ms (/proc/<pid>/stat, 100 Hz ticks). */
  cpuMs(): number {
    return processCpuMs(this.pid);
  }

  /** Wait until GET /api/health answers; the time from spawn to that answer, in ms. */
  async waitHealthy(http: HttpClient, timeoutMs = 20_000, everyMs = 20): Promise<number> {
    await waitFor(
      'the hub to answer /api/health',
      async () => {
        if (!this.running)
          throw new Error(`the hub exited (${this.child.exitCode ?? this.child.signalCode})`);
        try {
          const res = await http.request('GET', '/api/health', undefined, { timeoutMs: 2000 });
          return res.status === 200 ? true : undefined;
        } catch {
          return undefined;
        }
      },
      { timeoutMs, everyMs },
    );
    return performance.now() - this.spawnedAt;
  }

  /** SIGTERM (graceful: the hub stops its modules), SIGKILL after timeoutMs. Resolves on exit. */
  /** A power cut: SIGKILL of the hub's process group (needs `detached`), its ffmpegs included. */
  async powerCut(): Promise<void> {
    if (!this.options.detached) throw new Error('powerCut needs a hub started with detached: true');
    this.#removeCleanup();
    if (this.running) process.kill(-this.pid, 'SIGKILL');
    await this.exited;
  }

  async stop(
    timeoutMs = 12_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
    this.#removeCleanup();
    const t0 = performance.now();
    if (this.running) {
      this.child.kill('SIGTERM');
      const killer = setTimeout(() => {
        progress(`${this.options.label ?? 'hub'} did not stop within ${timeoutMs} ms: SIGKILL`);
        this.child.kill('SIGKILL');
      }, timeoutMs);
      const result = await this.exited;
      clearTimeout(killer);
      return { ...result, ms: performance.now() - t0 };
    }
    return { ...(await this.exited), ms: 0 };
  }
}

/** A child process that is not the hub (mosquitto): stopped at cleanup, output to our stderr. */
export function spawnTool(label: string, command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      for (const line of text.split('\n')) if (line.trim()) process.stderr.write(`[${label}] ${line}\n`);
    });
  }
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.once('exit', () => children.delete(child));
  onCleanup(`stop ${label} (pid ${child.pid})`, async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(killer);
  });
  return child;
}

/** Run `fn` over `items` with at most `concurrency` at a time. */
export async function mapLimit<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return out;
}

export interface BenchRelaySpec {
  id: string;
  name: string;
  zone: string;
  channels: number;
}

/**
 * The benchmarks' fleet: `count` relays in 10 streets, every tenth a 2-channel cabinet,
 * provisioned through the hub's API (16 at a time) with the given token. Answers the specs and
 * the provisioning document a SimFleet runs.
 */
export async function provisionBenchRelays(
  hubUrl: string,
  token: string,
  mqttPort: number,
  count: number,
  idPrefix: string,
): Promise<{ specs: BenchRelaySpec[]; provisioning: Provisioning }> {
  const specs: BenchRelaySpec[] = Array.from({ length: count }, (_, i) => ({
    id: `${idPrefix}${String(i + 1).padStart(4, '0')}`,
    name: `Bench pole ${i + 1}`,
    zone: `Bench street ${(i % 10) + 1}`,
    channels: (i + 1) % 10 === 0 ? 2 : 1,
  }));
  const bulk = new HttpClient(hubUrl, { maxSockets: 16 });
  bulk.token = token;
  try {
    const logins = await mapLimit(specs, 16, (spec) =>
      bulk.call<{ mqtt: { username: string; password: string; topic: string } }>(
        'POST',
        '/api/devices/relays',
        spec,
        201,
      ),
    );
    const provisioning: Provisioning = {
      broker: { host: LOOPBACK, port: mqttPort },
      relays: logins.map((l, i) => ({
        topic: l.mqtt.topic,
        username: l.mqtt.username,
        password: l.mqtt.password,
        channels: specs[i]!.channels,
      })),
    };
    return { specs, provisioning };
  } finally {
    bulk.agent.destroy();
  }
}
