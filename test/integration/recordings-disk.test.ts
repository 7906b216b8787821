/**
 * The recordings disk, for real: the hub runs in a mount namespace of its own (`unshare -rm`,
 * no root needed) where its recordings folder is a 4 MB tmpfs. The camera sends ~250 kB/s, so
 * the disk would be full in seconds: the free-space floor must keep it from filling, oldest
 * first, with recording carrying on; and with no floor the hub must survive a full disk.
 * The test sees the tmpfs only through the hub's API (it is not mounted out here).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimRtspCamera } from '../../firmware-sim/camera/rtsp-server.js';
import { waitFor } from '../helpers/wait.js';

const MAIN = new URL('../../dist/hub/src/main.js', import.meta.url).pathname;
const PASSWORD = 'disk-admin-pw';
const TMPFS_MB = 4;
const FLOOR_MB = 1;

let data: string;
let camera: SimRtspCamera;
let hub: ChildProcess | undefined;
let output = '';

beforeEach(async () => {
  data = mkdtempSync(join(tmpdir(), 'khu-disk-'));
  camera = new SimRtspCamera({
    username: 'admin',
    password: 'cam-pw',
    // ~2 Mbit/s: 4 MB of disk is about 16 s of video, 3 MB over a 1 MB floor about 12 s.
    media: { clipSeconds: 4, keyframeSeconds: 1, main: { width: 640, height: 360, bitrateKbps: 2000 } },
  });
  await camera.start();
});

afterEach(async () => {
  if (hub && hub.exitCode === null && hub.signalCode === null) {
    const exited = new Promise((r) => hub!.once('exit', r));
    process.kill(-hub.pid!, 'SIGKILL'); // the namespace dies with its processes, the tmpfs too
    await exited;
  }
  hub = undefined;
  await camera.stop();
  rmSync(data, { recursive: true, force: true });
});

/** The hub in its own mount namespace with a TMPFS_MB tmpfs on its recordings folder. */
async function startHub(minFreeMb: number): Promise<string> {
  const recordings = join(data, 'recordings');
  writeFileSync(
    join(data, 'site.yaml'),
    `http:\n  host: 127.0.0.1\nmqtt:\n  host: 127.0.0.1\nrecording:\n  segmentSeconds: 2\n  minFreeMb: ${minFreeMb}\n`,
  );
  const script = `mkdir -p "$1" && mount -t tmpfs -o size=${TMPFS_MB}m khu-recordings "$1" && exec "$2" "$3"`;
  hub = spawn(
    'unshare',
    ['-rm', '--propagation', 'private', 'sh', '-c', script, 'sh', recordings, process.execPath, MAIN],
    {
      env: {
        PATH: process.env.PATH ?? '',
        KHU_DATA_DIR: data,
        KHU_HTTP_PORT: '0',
        KHU_MQTT_PORT: '0',
        KHU_ADMIN_PASSWORD: PASSWORD,
        KHU_CONFIG: join(data, 'site.yaml'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  );
  output = '';
  for (const s of [hub.stdout!, hub.stderr!]) s.on('data', (d: Buffer) => (output += d.toString()));
  hub.once('exit', (code, signal) => {
    output += `\n[hub exited: ${code ?? signal}]`;
  });
  await waitFor(() => /"url":"(http:[^"]+)"/.test(output) || /\[hub exited/.test(output), {
    timeoutMs: 15_000,
    message: 'the hub to start',
  });
  const url = /"url":"(http:[^"]+)"/.exec(output)?.[1];
  if (!url) throw new Error(`the hub did not start:\n${output}`);
  return url;
}

async function client(url: string) {
  const login = await fetch(`${url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: PASSWORD }),
  });
  const { token } = (await login.json()) as { token: string };
  return async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return (await res.json()) as T;
  };
}

interface Recordings {
  segments: Array<{ start: string; end: string; bytes: number }>;
  gaps: Array<{ start: string; end: string | null }>;
}

const range = () =>
  `from=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}&to=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`;

describe('a small recordings disk', () => {
  it('never fills: the oldest recordings go under the floor, and recording carries on', async () => {
    const api = await client(await startHub(FLOOR_MB));
    const cam = await api<{ id: string }>('POST', '/api/cameras', {
      name: 'Cổng chính',
      rtsp: { url: camera.url('/main'), username: 'admin', password: 'cam-pw' },
    });
    expect(cam.id).toBeTruthy();
    const recordings = () => api<Recordings>('GET', `/api/cameras/${cam.id}/recordings?${range()}`);
    await waitFor(async () => (await recordings()).segments.length > 0, {
      timeoutMs: 20_000,
      message: 'a first segment',
    });
    const first = (await recordings()).segments[0]!;
    // Far more than the disk holds goes through it: the first segments were deleted on the way.
    const written = new Set<string>();
    await waitFor(
      async () => {
        const r = await recordings();
        for (const s of r.segments) written.add(s.start);
        return written.size >= 15 && r.segments.length > 0 && r.segments[0]!.start !== first.start;
      },
      {
        timeoutMs: 60_000,
        intervalMs: 250,
        message: 'fifteen 2 s segments through a disk that holds about six over its floor',
      },
    );
    const now = await recordings();
    const kept = now.segments.reduce((n, s) => n + s.bytes, 0);
    expect(kept).toBeLessThanOrEqual((TMPFS_MB - FLOOR_MB) * 1024 * 1024 + 700_000);
    // Deleting for space never stopped recording: no gap since the first segment.
    expect(now.gaps.filter((g) => Date.parse(g.start) > Date.parse(first.end))).toEqual([]);
    expect(output).toContain('old recordings deleted');
    expect(output).not.toMatch(/No space left on device/i);
  });

  it('survives a full disk: the API answers, the camera shows as not recording, nothing crashes', async () => {
    const url = await startHub(0); // no floor: the disk will fill
    const api = await client(url);
    const cam = await api<{ id: string }>('POST', '/api/cameras', {
      name: 'Cổng phụ',
      rtsp: { url: camera.url('/main'), username: 'admin', password: 'cam-pw' },
    });
    await waitFor(() => /No space left on device/i.test(output), {
      timeoutMs: 40_000,
      message: 'ffmpeg reporting the full disk',
    });
    const health = await fetch(`${url}/api/health`);
    expect(health.status).toBe(200);
    await waitFor(
      async () =>
        (await api<Array<{ id: string; status: string }>>('GET', '/api/cameras')).find((c) => c.id === cam.id)
          ?.status !== 'recording',
      { timeoutMs: 20_000, message: 'the camera shown as not recording' },
    );
    const r = await api<Recordings>('GET', `/api/cameras/${cam.id}/recordings?${range()}`);
    expect(r.segments.length).toBeGreaterThan(0); // what was recorded before is still listed
    expect(hub!.exitCode).toBeNull();
  });
});
