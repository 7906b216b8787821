/**
 * The recorder against a simulated camera over real RTSP, with real ffmpeg: contiguous segments
 * indexed as they close, and recording that comes back by itself after the camera does.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimRtspCamera } from '../../firmware-sim/camera/rtsp-server.js';
import { EventBus, type HubEvents } from '../../hub/src/core/event-bus.js';
import { CameraRecorder } from '../../hub/src/recording/recorder.js';
import { CamerasRepo } from '../../hub/src/store/cameras-repo.js';
import { type Db, openDatabase } from '../../hub/src/store/db.js';
import { waitFor } from '../helpers/wait.js';

let dir: string;
let db: Db;
let repo: CamerasRepo;
let bus: EventBus;
let camera: SimRtspCamera;
let recorder: CameraRecorder | undefined;
const segments: Array<HubEvents['segmentClosed']> = [];
const gaps: Array<HubEvents['recordingGap']> = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'khu-rec-'));
  db = openDatabase(join(dir, 'khu.db'));
  repo = new CamerasRepo(db);
  bus = new EventBus();
  segments.length = 0;
  gaps.length = 0;
  bus.on('test', 'segmentClosed', (s) => segments.push(s));
  bus.on('test', 'recordingGap', (g) => gaps.push(g));
  camera = new SimRtspCamera({
    username: 'admin',
    password: 'cam-pw',
    media: { clipSeconds: 4, keyframeSeconds: 1, main: { width: 640, height: 360, bitrateKbps: 400 } },
  });
  await camera.start();
  repo.insertCamera({
    id: 'gate',
    name: 'Cổng',
    kind: 'rtsp',
    onvifAddress: null,
    username: 'admin',
    password: 'cam-pw',
    mainUri: camera.url('/main'),
    subUri: null,
    snapshotUri: null,
    info: {},
    retentionDays: null,
    createdAt: new Date().toISOString(),
  });
});

afterEach(async () => {
  await recorder?.stop();
  recorder = undefined;
  await camera.stop();
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function startRecorder(): CameraRecorder {
  recorder = new CameraRecorder({
    options: {
      cameraId: 'gate',
      inputUrl: camera.url('/main', true),
      dir: join(dir, 'rec'),
      runDir: join(dir, 'run'),
      segmentSeconds: 2,
      fragmentMs: 500,
      ffmpegPath: 'ffmpeg',
      ioTimeoutMs: 2000,
    },
    repo,
    bus,
    log: pino({ level: 'silent' }),
  });
  recorder.start();
  return recorder;
}

const probe = (file: string) =>
  JSON.parse(
    execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'json', file], {
      encoding: 'utf8',
    }),
  ) as { format: { duration: string } };

describe('recording a camera', () => {
  it('writes contiguous segments, each indexed as it closes and playable on its own', async () => {
    startRecorder();
    await waitFor(() => segments.length >= 3, { timeoutMs: 20_000, message: 'three closed segments' });
    expect(recorder!.state).toBe('recording');
    for (const [i, s] of segments.entries()) {
      const file = join(dir, 'rec', s.path);
      expect(existsSync(file)).toBe(true);
      expect(Number(probe(file).format.duration)).toBeCloseTo(s.durationMs / 1000, 0);
      expect(s.durationMs).toBeGreaterThanOrEqual(1900);
      expect(s.durationMs).toBeLessThanOrEqual(3100);
      if (i > 0) {
        const hole = Date.parse(s.start) - Date.parse(segments[i - 1]!.end);
        expect(Math.abs(hole)).toBeLessThan(250);
      }
    }
    // Together they cover the wall clock: durations sum to the span within 1 %.
    const span = Date.parse(segments.at(-1)!.end) - Date.parse(segments[0]!.start);
    const sum = segments.reduce((n, s) => n + s.durationMs, 0);
    expect(Math.abs(sum - span) / span).toBeLessThan(0.01);
    const indexed = repo.segments('gate', '2000-01-01T00:00:00.000Z', '2100-01-01T00:00:00.000Z');
    expect(indexed.map((s) => s.path)).toEqual(segments.map((s) => s.path));
    // The segment being written is known too: it begins where the last closed one ended.
    const open = recorder!.openSegment();
    expect(open).toBeDefined();
    expect(Math.abs(Date.parse(open!.start) - Date.parse(segments.at(-1)!.end))).toBeLessThan(250);
  });

  it('marks the outage as a gap and resumes by itself within seconds of the camera’s return', async () => {
    startRecorder();
    await waitFor(() => segments.length >= 1, { timeoutMs: 20_000, message: 'first segment' });
    await camera.reboot(3000);
    await waitFor(() => gaps.some((g) => g.end === null), { timeoutMs: 10_000, message: 'gap opened' });
    const back = Date.now() + 3000; // reboot(ms) resolves once the camera is down
    await waitFor(() => gaps.some((g) => g.end !== null), {
      timeoutMs: 15_000,
      message: 'recording resumed',
    });
    const closed = gaps.find((g) => g.end !== null)!;
    expect(Date.parse(closed.end!) - back).toBeLessThan(3500);
    expect(Date.parse(closed.end!)).toBeGreaterThan(Date.parse(closed.start));
    const before = segments.length;
    await waitFor(() => segments.length > before, {
      timeoutMs: 10_000,
      message: 'a segment after the outage',
    });
  });

  it('restarts a recorder whose camera stalls without closing, and records again once it answers', async () => {
    startRecorder();
    await waitFor(() => segments.length >= 1, { timeoutMs: 20_000, message: 'first segment' });
    camera.stall('forever');
    // ffmpeg's I/O timeout (2 s here) or the progress watchdog ends the stuck run: a gap opens.
    await waitFor(() => gaps.some((g) => g.end === null), {
      timeoutMs: 25_000,
      message: 'gap for the stall',
    });
    expect(recorder!.state).not.toBe('recording');
    camera.resume();
    await waitFor(() => gaps.some((g) => g.end !== null), { timeoutMs: 20_000, message: 'recording again' });
    const before = segments.length;
    await waitFor(() => segments.length > before, {
      timeoutMs: 10_000,
      message: 'a segment after the stall',
    });
    const after = segments.at(-1)!;
    expect(existsSync(join(dir, 'rec', after.path))).toBe(true);
    expect(Number(probe(join(dir, 'rec', after.path)).format.duration)).toBeGreaterThan(1.5);
  });

  it('keeps even, contiguous segments when the camera’s clock jumps', async () => {
    startRecorder();
    await waitFor(() => segments.length >= 2, { timeoutMs: 20_000, message: 'two segments' });
    camera.jumpTimestamps(60_000);
    const from = segments.length;
    await waitFor(() => segments.length >= from + 3, {
      timeoutMs: 20_000,
      message: 'three segments after the jump',
    });
    camera.jumpTimestamps(-120_000);
    await waitFor(() => segments.length >= from + 6, {
      timeoutMs: 20_000,
      message: 'three more after a jump back',
    });
    expect(gaps).toEqual([]);
    for (const [i, s] of segments.entries()) {
      const seconds = Number(probe(join(dir, 'rec', s.path)).format.duration);
      expect(seconds, `segment ${i} in the file`).toBeGreaterThan(1.5);
      expect(seconds, `segment ${i} in the file`).toBeLessThan(3.5);
      expect(s.durationMs, `segment ${i} in the index`).toBeLessThan(3500);
      if (i > 0) expect(Math.abs(Date.parse(s.start) - Date.parse(segments[i - 1]!.end))).toBeLessThan(250);
    }
  });
});
