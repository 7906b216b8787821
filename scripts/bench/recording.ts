/**
 * Recording benchmarks: 8 simulated 1080p cameras (~2 Mbit/s main stream, replayed from a cached
 * clip, on 127.0.0.2 … 127.0.0.9) recorded by one hub child process.
 *   recording.hub_cpu_pct_per_camera   CPU of the hub's Node process alone over the period / 8
 *   recording.cpu_ratio                hub + its ffmpeg children, over the very same ffmpeg command
 *                                      lines run bare (by this bench) against the same cameras
 *   recording.resume_ms                a camera's return after an outage → first new media recorded
 *   recording.boundary_lost_frames     frames a 2 s-segment recorder loses at its cuts
 *   recording.kill_lost_ms             media lost when the hub and its ffmpegs are SIGKILLed
 *   hub.rss_mb.full                    the hub's RSS with the 8 cameras recording and 1000 relays
 *
 * Run alone: `node dist/scripts/bench/recording.js`. KHU_BENCH_RECORD_SEC (default 120) sets the
 * measured period, KHU_BENCH_OUTAGE_SEC (default 60) the camera outage.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { SimRtspCamera } from '../../firmware-sim/camera/rtsp-server.js';
import { SimFleet } from '../../firmware-sim/fleet.js';
import {
  emit,
  figure,
  freePort,
  HttpClient,
  HubChild,
  type HubChildOptions,
  isMain,
  LOOPBACK,
  mapLimit,
  onCleanup,
  processCpuMs,
  progress,
  provisionBenchRelays,
  round,
  runBench,
  sleep,
  tempDir,
  waitFor,
  withTimeout,
  writeBenchConfig,
} from './lib.js';

const CAMERAS = 8;
const RELAYS = 1000;
const RECORD_SEC = envSeconds('KHU_BENCH_RECORD_SEC', 120);
const OUTAGE_SEC = envSeconds('KHU_BENCH_OUTAGE_SEC', 60);
/** 2 s segments: at least 30 boundaries. */
const BOUNDARY_SEC = envSeconds('KHU_BENCH_BOUNDARY_SEC', 64);
/** Let every ffmpeg get past its start (connect, probe, first segment) before measuring. */
const WARMUP_MS = 5000;
const CAM_USER = 'bench';
const CAM_PASSWORD = 'bench-pass-1';

function envSeconds(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

interface CameraView {
  id: string;
  name: string;
}

interface Recordings {
  segments: Array<{ start: string; end: string; durationMs: number; bytes: number }>;
}

/** Pids whose parent is `ppid` and whose command is ffmpeg, from /proc/<pid>/stat. */
function ffmpegChildren(ppid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid && comm.startsWith('ffmpeg')) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out.sort((a, b) => a - b);
}

/** ffmpegs the hub started (pid → cmdline), killed at the end if the hub left them behind. */
const tracked = new Map<number, string>();

function killLeftovers(): void {
  for (const [pid, line] of tracked) {
    try {
      if (cmdline(pid).join('\0') === line) {
        progress(`recording: ffmpeg ${pid} outlived the hub: SIGKILL`);
        process.kill(pid, 'SIGKILL');
      }
    } catch {
      // gone: good
    }
  }
}

function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
}

function cpuOf(pids: readonly number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const pid of pids) {
    try {
      m.set(pid, processCpuMs(pid));
    } catch {
      // exited
    }
  }
  return m;
}

/**
 * The hub's ffmpeg command line, made to run bare: no `-progress pipe:3` (nobody reads fd 3),
 * the segment list into a file instead of fd 4, the segments into `dir`.
 */
function bareArgs(args: readonly string[], dir: string, index: number): string[] {
  const out: string[] = [];
  for (let i = 1; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-progress' && args[i + 1] === 'pipe:3') {
      i++;
      continue;
    }
    if (a === '-segment_list' && args[i + 1] === 'pipe:4') {
      out.push(a, join(dir, `list-${index}.csv`));
      i++;
      continue;
    }
    out.push(a);
  }
  // The segment pattern goes into our folder (live viewers read the recording: there is no
  // other output).
  const pattern = out.findIndex((a) => a.endsWith('-%05d.mp4'));
  if (pattern < 0) throw new Error('no segment pattern in the recorder command line');
  out[pattern] = join(dir, `cam${index}-${basename(out[pattern]!)}`);
  return out;
}

export async function benchRecording(): Promise<void> {
  const dataDir = tempDir('recording');
  const bareDir = tempDir('recording-bare');
  const opts: HubChildOptions = {
    dataDir,
    httpPort: await freePort(),
    mqttPort: await freePort(),
    adminPassword: randomBytes(18).toString('base64url'),
    configFile: writeBenchConfig(dataDir),
    cpuProfDir: process.env.KHU_BENCH_CPU_PROF || undefined,
  };
  progress(
    `recording: ${CAMERAS} cameras, period ${RECORD_SEC} s, outage ${OUTAGE_SEC} s, hub http ${opts.httpPort}`,
  );

  // ---- cameras ----------------------------------------------------------------------------------
  const cameras = Array.from(
    { length: CAMERAS },
    (_, i) =>
      new SimRtspCamera({
        name: `khu-bench-cam-${i + 1}`,
        host: `127.0.0.${i + 2}`,
        username: CAM_USER,
        password: CAM_PASSWORD,
      }),
  );
  for (const cam of cameras) onCleanup(`stop camera ${cam.host}`, () => cam.stop());
  const tc = performance.now();
  // The first one encodes (or loads) the cached clip; the others find it cached.
  await withTimeout('the first camera preparing its media', cameras[0]!.start(), 180_000);
  await withTimeout('the cameras starting', Promise.all(cameras.slice(1).map((c) => c.start())), 60_000);
  progress(`recording: cameras listening in ${(performance.now() - tc).toFixed(0)} ms`);

  // ---- hub, cameras added through the API ---------------------------------------------------------
  // Registered before the hub, so it runs after the hub is stopped: any of its ffmpegs still alive.
  onCleanup('kill leftover hub ffmpegs', killLeftovers);
  const hub = new HubChild(opts);
  const http = new HttpClient(hub.url, { maxSockets: 1 });
  await hub.waitHealthy(http);
  await http.login('admin', opts.adminPassword);
  const ids: string[] = [];
  for (const [i, cam] of cameras.entries()) {
    const c = await http.call<CameraView>(
      'POST',
      '/api/cameras',
      {
        name: `Bench gate ${i + 1}`,
        rtsp: { url: cam.url('/main'), username: CAM_USER, password: CAM_PASSWORD },
      },
      201,
    );
    ids.push(c.id);
  }
  const pids = await waitFor(
    `${CAMERAS} ffmpeg children of the hub with media flowing`,
    () => {
      const kids = ffmpegChildren(hub.pid);
      const streaming = cameras.every((c) => c.stats().active.some((s) => s.framesSent > 0));
      return kids.length === CAMERAS && streaming ? kids : undefined;
    },
    { timeoutMs: 30_000, everyMs: 200 },
  );
  const cmdlines = pids.map(cmdline);
  for (const [i, pid] of pids.entries()) tracked.set(pid, cmdlines[i]!.join('\0'));
  progress(`recording: hub pid ${hub.pid}, ffmpeg children ${pids.join(' ')}; warm-up ${WARMUP_MS} ms`);
  await sleep(WARMUP_MS);

  // ---- 1. the hub recording: its CPU and its ffmpegs' --------------------------------------------
  const hubCpu0 = hub.cpuMs();
  const ff0 = cpuOf(pids);
  const framesBefore = cameras.reduce((n, c) => n + c.stats().framesSent, 0);
  const t0 = performance.now();
  await sleep(RECORD_SEC * 1000);
  const hubCpu1 = hub.cpuMs();
  const ff1 = cpuOf(pids);
  const hubWallMs = performance.now() - t0;
  const framesHub = cameras.reduce((n, c) => n + c.stats().framesSent, 0) - framesBefore;
  const samePids = ffmpegChildren(hub.pid).join(' ') === pids.join(' ') && ff1.size === pids.length;
  const hubNodeMs = hubCpu1 - hubCpu0;
  let hubFfmpegMs = 0;
  for (const [pid, ms] of ff1) hubFfmpegMs += ms - (ff0.get(pid) ?? ms);
  const hubPct = (hubNodeMs / hubWallMs) * 100;
  emit(
    figure(
      'recording.hub_cpu_pct_per_camera',
      hubPct / CAMERAS,
      '%',
      { max: 0.25 },
      {
        hub_cpu_ms: round(hubNodeMs, 0),
        period_s: round(hubWallMs / 1000, 1),
        cameras: CAMERAS,
        frames_sent: framesHub,
        note: 'utime+stime of the hub Node process (/proc/<pid>/stat) over the period, % of one core, / cameras',
      },
    ),
  );
  progress(
    `recording: hub ${hubNodeMs.toFixed(0)} ms CPU, its ffmpegs ${hubFfmpegMs.toFixed(0)} ms over ${(hubWallMs / 1000).toFixed(1)} s${samePids ? '' : ' (an ffmpeg was restarted during the period!)'}`,
  );

  // For investigations: KHU_BENCH_CPU_ONLY=1 stops here.
  if (process.env.KHU_BENCH_CPU_ONLY === '1') {
    await hub.stop();
    return;
  }

  // ---- 2. resume after an outage ------------------------------------------------------------------
  const cam = cameras[0]!;
  const camId = ids[0]!;
  const downAt = Date.now();
  let backAt = 0;
  let backPerf = 0;
  let streamingPerf = 0;
  const onListening = () => {
    backAt = Date.now();
    backPerf = performance.now();
  };
  const onStreaming = () => {
    if (backPerf && !streamingPerf) streamingPerf = performance.now();
  };
  cam.on('listening', onListening);
  cam.on('streaming', onStreaming);
  progress(`recording: rebooting ${cam.host} for ${OUTAGE_SEC} s`);
  const rebooted = cam.reboot(OUTAGE_SEC * 1000);
  await withTimeout('the camera reboot', rebooted, OUTAGE_SEC * 1000 + 10_000);
  const resume = await waitFor(
    'a new segment after the camera returned',
    async () => {
      const from = new Date(downAt - 60_000).toISOString();
      const to = new Date(Date.now() + 60_000).toISOString();
      const r = await http.call<Recordings>(
        'GET',
        `/api/cameras/${camId}/recordings?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
      );
      const seg = r.segments.find((s) => Date.parse(s.start) > downAt);
      return seg ? { seg, perf: performance.now() } : undefined;
    },
    { timeoutMs: 60_000, everyMs: 50 },
  );
  cam.off('listening', onListening);
  cam.off('streaming', onStreaming);
  const resumeMs = resume.perf - backPerf;
  emit(
    figure(
      'recording.resume_ms',
      resumeMs,
      'ms',
      { max: 3000 },
      {
        outage_s: OUTAGE_SEC,
        first_frame_sent_ms: streamingPerf ? round(streamingPerf - backPerf, 0) : null,
        segment_start_after_return_ms: Date.parse(resume.seg.start) - backAt,
        note: 'camera listening again → the recordings API lists a segment (open or closed) begun after the outage; polled every 50 ms',
      },
    ),
  );

  // ---- 3. memory with 1000 relays as well --------------------------------------------------------
  const { provisioning } = await provisionBenchRelays(hub.url, http.token!, opts.mqttPort, RELAYS, 'rbench');
  const fleet = new SimFleet(provisioning, {
    host: LOOPBACK,
    port: opts.mqttPort,
    telePeriodSec: 0,
    concurrency: 100,
    relay: { reconnect: { initialMs: 100, maxMs: 1000 } },
  });
  onCleanup('stop the fleet', () => fleet.stop());
  const started = await withTimeout('the fleet connecting', fleet.start(), 60_000);
  if (started.failed.length > 0) throw new Error(`${started.failed.length} relays failed to connect`);
  await waitFor(
    'every relay online',
    async () => {
      const h = await http.call<{ mqtt: { devicesOnline: number } }>('GET', '/api/health');
      return h.mqtt.devicesOnline >= RELAYS ? true : undefined;
    },
    { timeoutMs: 30_000, everyMs: 100 },
  );
  await sleep(3000);
  const recordingNow = ffmpegChildren(hub.pid).length;
  const mem = hub.memory();
  emit(
    figure(
      'hub.rss_mb.full',
      mem.rssMb,
      'MB',
      { max: 200 },
      {
        peak_mb: round(mem.peakMb, 1),
        cameras_recording: recordingNow,
        relays: RELAYS,
        note: 'VmRSS/1024 of the hub process with the cameras recording and 1000 relays connected',
      },
    ),
  );
  await fleet.stop();

  // ---- 4. the same ffmpeg command lines, bare -----------------------------------------------------
  await hub.stop();
  progress(`recording: hub stopped; running its ${cmdlines.length} ffmpeg command lines bare`);
  const bare: ChildProcess[] = [];
  const stopBare = async () => {
    await Promise.all(
      bare.map(async (p) => {
        if (p.exitCode !== null || p.signalCode !== null) return;
        const exited = new Promise<void>((r) => p.once('exit', () => r()));
        p.kill('SIGTERM');
        const killer = setTimeout(() => p.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(killer);
      }),
    );
  };
  onCleanup('stop the bare ffmpegs', stopBare);
  for (const [i, args] of cmdlines.entries()) {
    const p = spawn(args[0]!, bareArgs(args, bareDir, i), { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr!.setEncoding('utf8');
    p.stderr!.on('data', (t: string) => {
      for (const line of t.split('\n')) if (line.trim()) process.stderr.write(`[bare ffmpeg ${i}] ${line}\n`);
    });
    bare.push(p);
  }
  await sleep(WARMUP_MS);
  const barePids = bare.map((p) => p.pid ?? -1);
  const b0 = cpuOf(barePids);
  const framesBare0 = cameras.reduce((n, c) => n + c.stats().framesSent, 0);
  const tb = performance.now();
  await sleep(RECORD_SEC * 1000);
  const b1 = cpuOf(barePids);
  const bareWallMs = performance.now() - tb;
  const framesBare = cameras.reduce((n, c) => n + c.stats().framesSent, 0) - framesBare0;
  let bareMs = 0;
  for (const [pid, ms] of b1) bareMs += ms - (b0.get(pid) ?? ms);
  const bareAlive = bare.filter((p) => p.exitCode === null && p.signalCode === null).length;
  const bareFiles = readdirSync(bareDir).filter((f) => f.endsWith('.mp4'));
  const bareBytes = bareFiles.reduce((n, f) => n + statSync(join(bareDir, f)).size, 0);
  await stopBare();
  // Per second of wall time, in case the periods differ by a few ms.
  const hubRate = (hubNodeMs + hubFfmpegMs) / hubWallMs;
  const bareRate = bareMs / bareWallMs;
  emit(
    figure(
      'recording.cpu_ratio',
      hubRate / bareRate,
      'ratio',
      { max: 1.5 },
      {
        hub_cpu_ms: round(hubNodeMs, 0),
        hub_ffmpeg_cpu_ms: round(hubFfmpegMs, 0),
        bare_ffmpeg_cpu_ms: round(bareMs, 0),
        hub_period_s: round(hubWallMs / 1000, 1),
        bare_period_s: round(bareWallMs / 1000, 1),
        frames_sent_hub: framesHub,
        frames_sent_bare: framesBare,
        bare_alive: bareAlive,
        bare_mb_written: round(bareBytes / 1024 / 1024, 1),
        hub_ffmpegs_unchanged: samePids,
        note: 'hub run then bare run, one after the other; bare = the hub ffmpeg cmdlines without -progress pipe:3, segment list to a file',
      },
    ),
  );

  // ---- 5. frames lost at segment boundaries (a second hub, 2 s segments, one camera) ---------------
  await boundaryLoss(cameras[1]!);

  // ---- 6. media lost in a power cut ---------------------------------------------------------------
  await killLoss(cameras[2]!);
}

/** The segment files under a hub's recordings folder, grouped by recorder run (one ffmpeg each), oldest run first. */
function segmentRuns(dataDir: string): string[][] {
  const files: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 5) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name), depth + 1);
      else if (e.name.endsWith('.mp4')) files.push(join(dir, e.name));
    }
  };
  walk(join(dataDir, 'recordings'), 0);
  // `<run tag>-<nnnnn>.mp4`, the run tag sorting by time.
  const runs = new Map<string, string[]>();
  for (const f of files.sort()) {
    const name = basename(f);
    const tag = name.slice(0, name.lastIndexOf('-'));
    runs.set(tag, [...(runs.get(tag) ?? []), f]);
  }
  return [...runs.keys()].sort().map((k) => runs.get(k)!);
}

async function framesIn(files: readonly string[]): Promise<{ frames: number; unreadable: number }> {
  let frames = 0;
  let unreadable = 0;
  await mapLimit(files, 2, async (file) => {
    const n = await countFrames(file);
    if (Number.isFinite(n)) frames += n;
    else unreadable++;
  });
  return { frames, unreadable };
}

/** A hub child with one camera added; resolves once the recorder's session streams. */
async function oneCameraHub(
  cam: SimRtspCamera,
  label: string,
  config: string,
  detached = false,
): Promise<{ hub: HubChild; dataDir: string; session: () => string | undefined }> {
  const dataDir = tempDir(label);
  const opts: HubChildOptions = {
    dataDir,
    httpPort: await freePort(),
    mqttPort: await freePort(),
    adminPassword: randomBytes(18).toString('base64url'),
    configFile: writeBenchConfig(dataDir, config),
    label,
    detached,
  };
  onCleanup('kill leftover hub ffmpegs', killLeftovers);
  const hub = new HubChild(opts);
  const http = new HttpClient(hub.url, { maxSockets: 1 });
  await hub.waitHealthy(http);
  await http.login('admin', opts.adminPassword);
  // Sessions open before this point (another hub's) are not ours.
  const before = new Set(cam.stats().active.map((s) => s.id));
  await http.call(
    'POST',
    '/api/cameras',
    { name: `Bench ${label}`, rtsp: { url: cam.url('/main'), username: CAM_USER, password: CAM_PASSWORD } },
    201,
  );
  // The recorder's session is the one that keeps streaming (the check when adding is short).
  const id = await waitFor(
    `the ${label} recorder streaming`,
    () =>
      cam
        .stats()
        .active.find(
          (s) => !before.has(s.id) && s.framesSent > 0 && Date.now() - (s.firstFrameAt ?? Date.now()) > 1000,
        )?.id,
    { timeoutMs: 30_000, everyMs: 100 },
  );
  for (const pid of ffmpegChildren(hub.pid)) tracked.set(pid, cmdline(pid).join('\0'));
  return { hub, dataDir, session: () => id };
}

/**
 * Frames lost at segment boundaries: a hub records one camera in 2 s segments; then the camera
 * closes the connection (as a camera does when it goes away), so ffmpeg reads everything the
 * camera sent, writes it and ends that run. Frames of that session (the sim counts) minus frames
 * in that run's segments (ffprobe) is what the cuts lost: nothing is in flight at the end.
 */
async function boundaryLoss(cam: SimRtspCamera): Promise<void> {
  const { hub, dataDir, session } = await oneCameraHub(cam, 'hub-seg', 'recording:\n  segmentSeconds: 2\n');
  const sessionId = session()!;
  progress(`recording: boundaries: recording ${BOUNDARY_SEC} s in 2 s segments from ${cam.host}`);
  await sleep(BOUNDARY_SEC * 1000);
  const firstRun = segmentRuns(dataDir)[0] ?? [];
  cam.dropConnections('close');
  const closed = await waitFor(
    'the recorder session to close',
    () => cam.stats().closed.find((s) => s.id === sessionId),
    { timeoutMs: 15_000, everyMs: 50 },
  );
  // That ffmpeg drains its socket, writes the last segment and exits; the supervisor starts the next run.
  await waitFor('the first recorder run to end', () => (segmentRuns(dataDir).length > 1 ? true : undefined), {
    timeoutMs: 15_000,
    everyMs: 100,
  });
  await hub.stop();
  const files = segmentRuns(dataDir)[0] ?? [];
  const { frames, unreadable } = await framesIn(files);
  emit(
    figure(
      'recording.boundary_lost_frames',
      closed.framesSent - frames,
      'frames',
      { max: 0 },
      {
        frames_sent: closed.framesSent,
        frames_in_segments: frames,
        segments: files.length,
        boundaries: Math.max(0, files.length - 1),
        segments_seen_before_close: firstRun.length,
        unreadable_segments: unreadable,
        recorded_s: BOUNDARY_SEC,
        note: "one recorder session (segmentSeconds 2) ended by the camera closing the connection, so ffmpeg drains all it was sent: video frames the sim sent in it minus video frames ffprobe -count_frames finds in that run's segments",
      },
    ),
  );
}

/**
 * Media lost in a power cut: a hub records one camera with the product's segment settings, and
 * is SIGKILLed with its ffmpegs (the process group) at different points of a segment. Frames the
 * camera sent in that session minus frames that play from the files, in ms of video. The hub is
 * then started again on the same data, as after the power returns.
 */
async function killLoss(cam: SimRtspCamera): Promise<void> {
  const fps = 25;
  const killAfterMs = [12_300, 15_100, 18_700];
  const lostMs: number[] = [];
  const details: Array<Record<string, number>> = [];
  for (const after of killAfterMs) {
    const { hub, dataDir, session } = await oneCameraHub(cam, 'hub-kill', '', true);
    const sessionId = session()!;
    const opened = cam.stats().active.find((s) => s.id === sessionId)!;
    await sleep(Math.max(0, after - (Date.now() - (opened.firstFrameAt ?? Date.now()))));
    await hub.powerCut();
    const closed = await waitFor(
      'the camera to see the recorder gone',
      () => cam.stats().closed.find((s) => s.id === sessionId),
      { timeoutMs: 15_000, everyMs: 50 },
    );
    const files = segmentRuns(dataDir).flat();
    const { frames, unreadable } = await framesIn(files);
    const lost = closed.framesSent - frames;
    lostMs.push((lost * 1000) / fps);
    details.push({
      after_ms: after,
      frames_sent: closed.framesSent,
      frames_found: frames,
      segments: files.length,
      unreadable,
    });
  }
  emit(
    figure(
      'recording.kill_lost_ms',
      Math.max(...lostMs),
      'ms',
      { max: 1000 },
      {
        runs_ms: lostMs.map((v) => round(v, 0)),
        runs: details,
        fps,
        note: 'SIGKILL of the hub process group (hub + ffmpeg) 12.3/15.1/18.7 s into recording (10 s segments, 500 ms fragments); (frames the sim sent − frames ffprobe finds in the files) × 40 ms; the worst run',
      },
    ),
  );
}

function countFrames(file: string): Promise<number> {
  return new Promise((resolveCount) => {
    const p = spawn(
      'ffprobe',
      [
        '-v',
        'error',
        '-select_streams',
        'v:0',
        '-count_frames',
        '-show_entries',
        'stream=nb_read_frames',
        '-of',
        'csv=p=0',
        file,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    p.stdout!.setEncoding('utf8');
    p.stdout!.on('data', (t: string) => {
      out += t;
    });
    p.stderr!.resume();
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.once('close', () => {
      clearTimeout(timer);
      const n = Number.parseInt(out.trim(), 10);
      resolveCount(Number.isFinite(n) ? n : Number.NaN);
    });
    p.once('error', () => {
      clearTimeout(timer);
      resolveCount(Number.NaN);
    });
  });
}

if (isMain(import.meta.url)) await runBench('recording', benchRecording);
