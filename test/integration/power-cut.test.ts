/**
 * A power cut at the cultural house: the hub and its ffmpegs die at once (SIGKILL of the whole
 * process group). After the restart every earlier segment plays, the index matches the files,
 * and no ffmpeg of the dead hub is left. A hub killed alone leaves its ffmpeg running: the next
 * start stops it, so a camera never gets two recorder sessions.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimRtspCamera } from '../../firmware-sim/camera/rtsp-server.js';
import { waitFor } from '../helpers/wait.js';

const MAIN = new URL('../../dist/hub/src/main.js', import.meta.url).pathname;
const PASSWORD = 'power-cut-admin';

let data: string;
let camera: SimRtspCamera;
const hubs: ChildProcess[] = [];

beforeEach(async () => {
  data = mkdtempSync(join(tmpdir(), 'khu-cut-'));
  camera = new SimRtspCamera({
    username: 'admin',
    password: 'cam-pw',
    media: { clipSeconds: 4, keyframeSeconds: 1, main: { width: 640, height: 360, bitrateKbps: 400 } },
  });
  await camera.start();
});

afterEach(async () => {
  for (const h of hubs.splice(0)) {
    try {
      process.kill(-h.pid!, 'SIGKILL');
    } catch {}
  }
  for (const pid of ffmpegsOf(data)) process.kill(pid, 'SIGKILL');
  await camera.stop();
  rmSync(data, { recursive: true, force: true });
});

/** ffmpeg processes recording into this test's data dir. */
function ffmpegsOf(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      const state = readFileSync(`/proc/${name}/stat`, 'utf8').split(') ')[1]?.[0];
      if (cmd.startsWith('ffmpeg') && cmd.includes(dir) && state !== 'Z') out.push(Number(name));
    } catch {}
  }
  return out;
}

async function startHub(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      KHU_DATA_DIR: data,
      KHU_HTTP_PORT: '0',
      KHU_MQTT_PORT: '0',
      KHU_ADMIN_PASSWORD: PASSWORD,
      KHU_CONFIG: join(data, 'site.yaml'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: the "power" of this hub and its children
  });
  hubs.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  await waitFor(() => /"url":"(http:[^"]+)"/.test(out), {
    timeoutMs: 15_000,
    message: `hub started: ${out}`,
  });
  return { child, url: /"url":"(http:[^"]+)"/.exec(out)![1]! };
}

async function api<T>(url: string, method: string, path: string, body?: unknown): Promise<T> {
  const login = await fetch(`${url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: PASSWORD }),
  });
  const { token } = (await login.json()) as { token: string };
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return (await res.json()) as T;
}

const plays = (file: string) =>
  Number(
    execFileSync(
      'ffprobe',
      ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', file],
      {
        encoding: 'utf8',
      },
    ).trim(),
  ) > 0;

function filesOnDisk(): string[] {
  const root = join(data, 'recordings');
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.mp4')) out.push(relative(root, join(d, e.name)));
    }
  };
  walk(root);
  return out.sort();
}

const RANGE = () =>
  `from=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}&to=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`;

describe('power cut', () => {
  it('keeps every earlier segment playable and indexed, and leaves no ffmpeg behind', async () => {
    // Short segments, so that a few close before the cut.
    writeFileSync(
      join(data, 'site.yaml'),
      'recording:\n  segmentSeconds: 2\nhttp:\n  host: 127.0.0.1\nmqtt:\n  host: 127.0.0.1\n',
    );
    const first = await startHub();
    const cam = await api<{ id: string }>(first.url, 'POST', '/api/cameras', {
      name: 'Cổng',
      rtsp: { url: camera.url('/main', true) },
    });
    await waitFor(
      async () =>
        (await api<{ segments: unknown[] }>(first.url, 'GET', `/api/cameras/${cam.id}/recordings?${RANGE()}`))
          .segments.length >= 4,
      { timeoutMs: 20_000, message: 'three closed segments (and the open one) before the cut' },
    );
    expect(ffmpegsOf(data)).toHaveLength(1);
    process.kill(-first.child.pid!, 'SIGKILL');
    await waitFor(() => ffmpegsOf(data).length === 0, { message: 'the power is off' });

    const second = await startHub();
    const rec = await api<{ segments: Array<{ start: string; end: string }> }>(
      second.url,
      'GET',
      `/api/cameras/${cam.id}/recordings?${RANGE()}`,
    );
    // Every file on disk from before the cut plays (the one cut mid-way too, unless the cut came
    // before its first fragment: then it held nothing and was removed) and is indexed.
    const onDisk = filesOnDisk();
    expect(onDisk.length).toBeGreaterThanOrEqual(3);
    for (const f of onDisk) expect(plays(join(data, 'recordings', f))).toBe(true);
    expect(rec.segments.length).toBeGreaterThanOrEqual(onDisk.length);
    await waitFor(() => ffmpegsOf(data).length === 1, { timeoutMs: 10_000, message: 'recording again' });
  });

  it('stops the ffmpeg a killed hub left running, so the camera has one recorder', async () => {
    writeFileSync(join(data, 'site.yaml'), 'http:\n  host: 127.0.0.1\nmqtt:\n  host: 127.0.0.1\n');
    const first = await startHub();
    await api(first.url, 'POST', '/api/cameras', { name: 'Cổng', rtsp: { url: camera.url('/main', true) } });
    await waitFor(() => ffmpegsOf(data).length === 1, { timeoutMs: 10_000, message: 'recording' });
    const orphan = ffmpegsOf(data)[0]!;
    process.kill(first.child.pid!, 'SIGKILL'); // the hub alone
    await new Promise((resolve) => first.child.once('exit', resolve));
    expect(ffmpegsOf(data)).toEqual([orphan]);

    await startHub();
    await waitFor(() => ffmpegsOf(data).length === 1 && ffmpegsOf(data)[0] !== orphan, {
      timeoutMs: 20_000,
      message: `the orphan stopped and one new recorder (orphan ${orphan}, now ${ffmpegsOf(data).join(',')})`,
    });
  });
});
