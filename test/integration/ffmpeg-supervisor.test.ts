/**
 * The ffmpeg module and its supervisor with the real ffmpeg: progress, the stop ladder (`q`,
 * SIGTERM twice, SIGKILL) on ffmpegs that ignore each step, restarts after exit 0, the stall
 * watchdog, backoff, the probe gate, pidfiles and orphans, and 100 restarts that leave no zombie
 * and no descriptor behind. Stalled cameras are TCP servers of the test's own that stop sending.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../hub/src/core/log.js';
import { type FfmpegProcess, type FfmpegProgress, spawnFfmpeg } from '../../hub/src/media/ffmpeg.js';
import { readProcCmdline, readProcStat, writePidfile } from '../../hub/src/media/pidfiles.js';
import {
  FfmpegSupervisor,
  type FfmpegSupervisorOptions,
  type SupervisorExit,
} from '../../hub/src/media/supervisor.js';
import { waitFor, waitForEvent } from '../helpers/wait.js';

/** In every ffmpeg command line of this file: what the leftover scan looks for. */
const MARKER = `khu-ffmpeg-test-${randomBytes(4).toString('hex')}`;
const OUT = ['-metadata', `comment=${MARKER}`, '-f', 'null', '-'];
const LAVFI = ['-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=10'];

const dir = mkdtempSync(join(tmpdir(), 'khu-ffmpeg-'));
const tsFile = join(dir, 'one-second.ts');
const logLines: string[] = [];
const log = createLogger({
  level: 'debug',
  destination: new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  }),
});

const procs: FfmpegProcess[] = [];
const supervisors: FfmpegSupervisor[] = [];
const servers: Array<{ server: Server; sockets: Set<Socket> }> = [];

beforeAll(async () => {
  const probe = spawnSync('ffmpeg', ['-hide_banner', '-version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      'ffmpeg is missing: these tests need the real ffmpeg on PATH (npm run preflight installs it)',
    );
  }
  // One second of MPEG-TS: what a "camera" sends before it stalls.
  await promisify(execFile)('ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10'],
    ...['-t', '1', '-c:v', 'mpeg2video', '-g', '10', '-f', 'mpegts', tsFile],
  ]);
});

afterEach(async () => {
  await Promise.all(supervisors.splice(0).map((s) => s.stop()));
  await Promise.all(procs.splice(0).map((p) => p.kill()));
  for (const { server, sockets } of servers.splice(0)) {
    for (const s of sockets) s.destroy();
    server.close();
  }
  expect(leftovers(), 'ffmpeg processes left running').toEqual([]);
  expect(zombies(), 'child processes left unreaped').toEqual([]);
  expect(logLines.join('')).not.toMatch(/s3cret/);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Live processes whose command line holds this file's marker. */
function leftovers(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter(
      (pid) => readProcCmdline(pid).some((a) => a.includes(MARKER)) && readProcStat(pid)?.state !== 'Z',
    );
}

/** Children of this process that exited and were never reaped. */
function zombies(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      const stat = readFileSafe(`/proc/${pid}/stat`);
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return rest[0] === 'Z' && Number(rest[1]) === process.pid;
    });
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

const openFds = () => readdirSync('/proc/self/fd').length;

function track(p: FfmpegProcess): FfmpegProcess {
  procs.push(p);
  return p;
}

function supervise(
  options: Omit<FfmpegSupervisorOptions, 'log' | 'name'> & { name?: string },
): FfmpegSupervisor {
  const s = new FfmpegSupervisor({ name: `cam-${supervisors.length}`, log, ...options });
  supervisors.push(s);
  return s;
}

/** A TCP "camera" that accepts and then sends `payload` (maybe nothing) and never anything more. */
async function stallingServer(payload?: Buffer): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    if (payload) s.write(payload);
  });
  servers.push({ server, sockets });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

/** A port nothing listens on: a camera that refuses connections. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Input from a TCP camera that stalls after its first second; small probing so ffmpeg starts before that. */
const stalledAfterStart = (port: number) => [
  ...['-probesize', '32768', '-analyzeduration', '500000', '-re', '-i', `tcp://127.0.0.1:${port}`],
  ...['-c', 'copy', ...OUT],
];

function collect<T>(emitter: { on(e: string, f: (v: T) => void): unknown }, event: string): T[] {
  const got: T[] = [];
  emitter.on(event, (v: T) => got.push(v));
  return got;
}

describe('spawnFfmpeg', () => {
  it('reports progress from fd 3 and stops with q, exit code 0', async () => {
    const p = track(spawnFfmpeg({ args: [...LAVFI, ...OUT], progressPeriodMs: 100 }));
    const progress = collect<FfmpegProgress>(p, 'progress');
    await waitFor(() => (progress.at(-1)?.frame ?? 0) >= 3, { timeoutMs: 5000, message: 'three frames' });
    expect(progress[0]?.progress).toBe('continue');
    expect(progress.at(-1)?.outTimeMs).toBeGreaterThan(0);
    const t0 = Date.now();
    const exit = await p.stop({ graceMs: 3000 });
    const ms = Date.now() - t0;
    expect(exit).toEqual({ code: 0, signal: null }); // q, not a signal (255)
    expect(progress.at(-1)?.progress).toBe('end');
    console.info(`[measured] q stop of a running lavfi ffmpeg: ${ms} ms, exit 0`);
  });

  it('keeps a bounded, masked stderr tail', async () => {
    const url = `tcp://admin:s3cret@127.0.0.1:${await closedPort()}`; // refused
    const p = track(spawnFfmpeg({ args: ['-i', url, ...OUT], loglevel: 'debug', stderrLines: 5 }));
    const exit = await p.exited;
    expect(exit.code).toBe(1);
    const tail = p.stderrTail();
    expect(tail.length).toBe(5);
    expect(tail.join('\n')).toContain('tcp://***@127.0.0.1');
    expect(tail.join('\n')).not.toContain('s3cret');
  });

  it('throws a clear error when ffmpeg cannot be started', () => {
    expect(() => spawnFfmpeg({ args: OUT, ffmpegPath: join(dir, 'no-such-ffmpeg') })).toThrow(
      /cannot start ffmpeg/,
    );
  });

  it('stops an ffmpeg stuck opening its input (q ignored) with the first SIGTERM', async () => {
    const port = await stallingServer();
    const p = track(spawnFfmpeg({ args: ['-i', `tcp://127.0.0.1:${port}`, ...OUT] }));
    await waitFor(() => servers[0]!.sockets.size === 1, { message: 'ffmpeg connected' });
    const t0 = Date.now();
    const exit = await p.stop({ graceMs: 300, termMs: 1000 });
    const ms = Date.now() - t0;
    expect(exit).toEqual({ code: 1, signal: null }); // "Immediate exit requested"
    expect(ms).toBeGreaterThanOrEqual(300); // q did nothing
    expect(ms).toBeLessThan(1300); // the first SIGTERM did
    console.info(`[measured] stalled before start: q ignored, SIGTERM → exit 1 after ${ms - 300} ms`);
  });

  it('stops an ffmpeg blocked on a stalled input after start (q and 1st SIGTERM ignored) with the 2nd', async () => {
    const port = await stallingServer(readFileSync(tsFile));
    const p = track(spawnFfmpeg({ args: stalledAfterStart(port), progressPeriodMs: 100 }));
    let last = { frame: 0, at: Date.now() };
    p.on('progress', (pr) => {
      last = { frame: pr.frame ?? 0, at: Date.now() };
    });
    // Frames written, then no progress (printed every 100 ms) for 400 ms: it is blocked reading
    // the silent socket (the demuxer holds the last frames of the 10 sent).
    await waitFor(() => last.frame >= 5 && Date.now() - last.at > 400, {
      timeoutMs: 5000,
      message: 'ffmpeg to write the frames sent and block',
    });
    const t0 = Date.now();
    const exit = await p.stop({ graceMs: 300, termMs: 400 });
    const ms = Date.now() - t0;
    expect(exit).toEqual({ code: 255, signal: null }); // a SIGTERM, not the SIGKILL at 1100 ms
    expect(ms).toBeGreaterThanOrEqual(700); // neither q nor the first SIGTERM did it
    console.info(`[measured] stalled after start: q and SIGTERM ignored, 2nd SIGTERM → exit 255 (${ms} ms)`);
  });

  it('SIGKILLs an ffmpeg that handles no signal at all (stopped with SIGSTOP)', async () => {
    const p = track(spawnFfmpeg({ args: [...LAVFI, ...OUT], progressPeriodMs: 100 }));
    await waitForEvent(p, 'progress', { timeoutMs: 5000 });
    process.kill(p.pid, 'SIGSTOP');
    const t0 = Date.now();
    const exit = await p.stop({ graceMs: 200, termMs: 200 });
    expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(600);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

describe('FfmpegSupervisor', () => {
  it('restarts after exit 0, with a constant short delay while runs are healthy', async () => {
    const s = supervise({
      args: [...LAVFI, '-t', '0.5', ...OUT],
      progressPeriodMs: 100,
      backoffInitialMs: 50,
      healthyAfterMs: 150,
    });
    const exits = collect<SupervisorExit>(s, 'exited');
    const delays = collect<{ delayMs: number }>(s, 'restarting');
    await s.start();
    await waitFor(() => s.restarts >= 2, { timeoutMs: 8000, message: 'two restarts' });
    expect(exits.slice(0, 2).map((e) => [e.code, e.signal, e.reason])).toEqual([
      [0, null, 'exited'],
      [0, null, 'exited'],
    ]);
    expect(exits[0]!.runMs).toBeGreaterThanOrEqual(400);
    expect(delays.map((d) => d.delayMs)).toEqual(delays.map(() => 50));
    await s.stop();
    expect(s.pid).toBeUndefined();
  });

  it('restart() ends the running ffmpeg with q and starts it again', async () => {
    const s = supervise({ args: [...LAVFI, ...OUT], backoffInitialMs: 10 });
    await Promise.all([waitForEvent(s, 'started'), s.start()]);
    const first = s.pid;
    expect(s.restart('no new segment')).toBe(true);
    const [exit] = await waitForEvent<[SupervisorExit]>(s, 'exited', { timeoutMs: 3000 });
    expect(exit).toMatchObject({ code: 0, reason: 'restarted' });
    await waitForEvent(s, 'started', { timeoutMs: 3000 });
    expect(s.pid).not.toBe(first);
    expect(s.restarts).toBe(1);
  });

  it('backs off exponentially up to the cap while ffmpeg keeps failing', async () => {
    const s = supervise({
      args: ['-f', 'lavfi', '-i', 'nosuchsource', ...OUT],
      backoffInitialMs: 20,
      backoffMaxMs: 80,
    });
    const delays = collect<{ delayMs: number; attempt: number }>(s, 'restarting');
    const exits = collect<SupervisorExit>(s, 'exited');
    await s.start();
    await waitFor(() => delays.length >= 5, { timeoutMs: 8000, message: 'five restarts' });
    expect(delays.slice(0, 5)).toEqual([
      { delayMs: 20, attempt: 1 },
      { delayMs: 40, attempt: 2 },
      { delayMs: 80, attempt: 3 },
      { delayMs: 80, attempt: 4 },
      { delayMs: 80, attempt: 5 },
    ]);
    expect(exits[0]?.code).toBe(1);
    expect(exits[0]?.stderrTail.join('\n')).toMatch(/nosuchsource/);
  });

  it('restarts a stalled ffmpeg (watchdog), whether it never started or stopped advancing', async () => {
    const silent = await stallingServer();
    const s1 = supervise({
      args: ['-i', `tcp://127.0.0.1:${silent}`, ...OUT],
      stallMs: 400,
      stopGraceMs: 100,
      stopTermMs: 100,
      backoffInitialMs: 10,
    });
    await s1.start();
    const [stall] = await waitForEvent<[{ sinceMs: number }]>(s1, 'stalled', { timeoutMs: 3000 });
    expect(stall.sinceMs).toBeGreaterThanOrEqual(400);
    const [exit] = await waitForEvent<[SupervisorExit]>(s1, 'exited', { timeoutMs: 3000 });
    expect(exit.reason).toBe('stalled');
    await waitForEvent(s1, 'started', { timeoutMs: 3000 });
    await s1.stop();

    const sending = await stallingServer(readFileSync(tsFile));
    const s2 = supervise({
      args: stalledAfterStart(sending),
      // Start-up counts too: under load ffmpeg took more than 600 ms to its first frame, and the
      // watchdog ended that run before it had advanced at all (a CI flake).
      stallMs: 2000,
      progressPeriodMs: 100,
      stopGraceMs: 200,
      stopTermMs: 200,
      backoffInitialMs: 10,
    });
    const progress = collect<FfmpegProgress>(s2, 'progress');
    await s2.start();
    const [exit2] = await waitForEvent<[SupervisorExit]>(s2, 'exited', { timeoutMs: 8000 });
    expect(exit2.reason).toBe('stalled');
    expect(Math.max(...progress.map((p) => p.frame ?? 0))).toBeGreaterThanOrEqual(5);
    await waitForEvent(s2, 'started', { timeoutMs: 3000 });
  });

  it('spawns nothing while the probe says the camera is down, and within a second once it is back', async () => {
    let up = false;
    const s = supervise({ args: [...LAVFI, ...OUT], probe: async () => up });
    const probes = collect<{ ok: boolean }>(s, 'probe');
    const started = collect<{ pid: number }>(s, 'started');
    const delays = collect<{ delayMs: number }>(s, 'restarting');
    await s.start();
    await waitFor(() => probes.length >= 4, { timeoutMs: 5000, message: 'four failed probes' });
    expect(started).toEqual([]);
    expect(leftovers()).toEqual([]);
    // The probe is cheap: asked again every 500 ms while the camera is down, never backing off.
    expect(new Set(delays.map((d) => d.delayMs))).toEqual(new Set([500]));
    up = true;
    const t0 = Date.now();
    await waitForEvent(s, 'started', { timeoutMs: 2500 });
    expect(Date.now() - t0).toBeLessThanOrEqual(900);
    expect(probes.at(-1)).toMatchObject({ ok: true });
  });

  it('a probe that hangs keeps nothing alive after stop()', async () => {
    let aborted = false;
    const s = supervise({
      args: OUT,
      probe: (signal) =>
        new Promise<boolean>(() => {
          signal.addEventListener('abort', () => {
            aborted = true;
          });
        }),
      probeTimeoutMs: 60_000,
    });
    await s.start();
    await s.stop();
    expect(aborted).toBe(true);
  });

  it('writes <runDir>/<name>.pid while ffmpeg runs and removes it on exit', async () => {
    const runDir = mkdtempSync(join(dir, 'run-'));
    const s = supervise({ name: 'gate-1', runDir, args: [...LAVFI, ...OUT] });
    const [{ pid }] = await Promise.all([waitForEvent<[{ pid: number }]>(s, 'started'), s.start()]).then(
      ([args]) => args,
    );
    const content = JSON.parse(readFileSync(join(runDir, 'gate-1.pid'), 'utf8'));
    expect(content).toEqual({ pid, startTicks: readProcStat(pid)?.startTicks });
    await s.stop();
    expect(existsSync(join(runDir, 'gate-1.pid'))).toBe(false);
    expect(() => supervise({ name: '../escape', args: OUT })).toThrow(/safe file name/);
  });

  it('reapOrphans kills an ffmpeg left by a dead hub and leaves other processes alone', async () => {
    const runDir = mkdtempSync(join(dir, 'run-'));
    // What a hub killed with SIGKILL leaves: a detached ffmpeg and its pidfile.
    const orphan = spawn('ffmpeg', ['-nostdin', '-loglevel', 'error', ...LAVFI, ...OUT], {
      detached: true,
      stdio: 'ignore',
    });
    orphan.unref();
    const orphanPid = orphan.pid!;
    const orphanGone = new Promise((resolve) => orphan.once('exit', resolve));
    writePidfile(join(runDir, 'gate-1.pid'), orphanPid);
    // A pidfile whose pid now belongs to something else (this very process), one whose start
    // time does not match (a recycled pid), one for a pid that is gone, and a torn one.
    writePidfile(join(runDir, 'gate-2.pid'), process.pid);
    writeFileSync(join(runDir, 'gate-3.pid'), JSON.stringify({ pid: orphanPid, startTicks: '1' }));
    writeFileSync(join(runDir, 'gate-4.pid'), JSON.stringify({ pid: 2 ** 22 + 1, startTicks: '1' }));
    writeFileSync(join(runDir, 'gate-5.pid'), '{"pid":');
    writeFileSync(join(runDir, 'notes.txt'), 'not a pidfile');
    const outcome = await FfmpegSupervisor.reapOrphans(runDir, log);
    expect(outcome['gate-1.pid']).toBe('killed');
    expect(outcome['gate-2.pid']).toBe('foreign');
    expect(['foreign', 'stale']).toContain(outcome['gate-3.pid']);
    expect(outcome['gate-4.pid']).toBe('stale');
    expect(outcome['gate-5.pid']).toBe('stale');
    await orphanGone;
    expect(readdirSync(runDir)).toEqual(['notes.txt']);
    expect(await FfmpegSupervisor.reapOrphans(join(dir, 'no-such-dir'), log)).toEqual({});
  });

  it('logs masked arguments and stderr, never the camera password', async () => {
    const s = supervise({
      args: ['-i', `tcp://admin:s3cret@127.0.0.1:${await closedPort()}`, ...OUT],
      backoffInitialMs: 10,
    });
    await s.start();
    await waitForEvent(s, 'exited', { timeoutMs: 3000 });
    await s.stop();
    const text = logLines.join('');
    expect(text).toContain('tcp://***@127.0.0.1');
    expect(text).toContain('ffmpeg exited');
  });

  // The slowest test: each ffmpeg start costs ~190 ms of CPU here (the dynamic linking of its
  // ~215 shared libraries), so 100 starts take 10–25 s on two cores; a leak per restart shows plainly at 100.
  it('100 quick restarts leave no zombie, no ffmpeg and no open descriptor behind', async () => {
    const warm = supervise({
      args: ['-f', 'lavfi', '-i', 'nullsrc=size=16x16:rate=10', '-t', '0.05', ...OUT],
    });
    await warm.start();
    await waitForEvent(warm, 'exited', { timeoutMs: 10_000 });
    await warm.stop();
    const fdsBefore = openFds();
    const group = Array.from({ length: 4 }, () =>
      supervise({
        args: ['-f', 'lavfi', '-i', 'nullsrc=size=16x16:rate=10', '-t', '0.05', ...OUT],
        backoffInitialMs: 1,
        backoffMaxMs: 1,
      }),
    );
    await Promise.all(group.map((s) => s.start()));
    await waitFor(() => group.reduce((n, s) => n + s.restarts, 0) >= 100, {
      timeoutMs: 120_000,
      intervalMs: 50,
      message: '100 restarts',
    });
    await Promise.all(group.map((s) => s.stop()));
    expect(zombies()).toEqual([]);
    expect(leftovers()).toEqual([]);
    expect(openFds()).toBeLessThanOrEqual(fdsBefore);
  }, 150_000);
});
