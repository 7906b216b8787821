/**
 * Recorded video through the hub: an HLS playlist over the segment index that a real HLS client
 * (ffmpeg's) plays across segment boundaries up to the segment being written, and clips saved
 * as one MP4 of the chosen length; every bad range refused.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimRtspCamera } from '../../firmware-sim/camera/rtsp-server.js';
import type { CameraView } from '../../hub/src/cameras/cameras-service.js';
import { TestHub } from '../helpers/hub.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);

let t: TestHub;
let camera: SimRtspCamera;
let dir: string;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'khu-play-'));
  camera = new SimRtspCamera({
    host: '127.0.0.6',
    username: 'admin',
    password: 'cam-pw',
    media: { clipSeconds: 4, keyframeSeconds: 1, main: { width: 640, height: 360, bitrateKbps: 400 } },
  });
  await camera.start();
  t = await TestHub.start({ recording: { segmentSeconds: 2, clipMaxMinutes: 5 } });
});

afterEach(async () => {
  await t?.close();
  await camera.stop();
  rmSync(dir, { recursive: true, force: true });
});

const iso = (ms: number) => new Date(ms).toISOString();
const q = (from: number, to: number) =>
  `from=${encodeURIComponent(iso(from))}&to=${encodeURIComponent(iso(to))}`;

async function recordFor(segments: number): Promise<{ id: string; firstStart: number }> {
  const res = await t.api<CameraView>('POST', '/api/cameras', {
    body: { name: 'Cổng', rtsp: { url: camera.url('/main'), username: 'admin', password: 'cam-pw' } },
  });
  expect(res.status).toBe(201);
  const id = res.body.id;
  let first = 0;
  await waitFor(
    async () => {
      const r = await t.api<{ segments: Array<{ start: string; bytes: number }> }>(
        'GET',
        `/api/cameras/${id}/recordings?${q(Date.now() - 120_000, Date.now() + 1000)}`,
      );
      first = Date.parse(r.body.segments[0]?.start ?? '');
      return r.body.segments.filter((s) => s.bytes > 0).length >= segments;
    },
    { timeoutMs: 30_000, intervalMs: 200, message: `${segments} closed segments` },
  );
  return { id, firstStart: first };
}

async function probe(input: string, extra: string[] = []): Promise<{ duration: number; frames: number }> {
  const { stdout } = await run('ffprobe', [
    '-v',
    'error',
    ...extra,
    '-select_streams',
    'v:0',
    '-count_frames',
    '-show_entries',
    'stream=nb_read_frames:format=duration',
    '-of',
    'json',
    input,
  ]);
  const j = JSON.parse(stdout) as {
    streams: Array<{ nb_read_frames: string }>;
    format: { duration: string };
  };
  return { duration: Number(j.format.duration), frames: Number(j.streams[0]?.nb_read_frames) };
}

describe('playback', () => {
  it('serves an HLS playlist that plays across segment boundaries, from the chosen second up to now', async () => {
    const { id, firstStart } = await recordFor(3);
    const from = firstStart + 1000;
    const to = Date.now() + 5000;
    const res = await fetch(`${t.url}/api/cameras/${id}/playback.m3u8?${q(from, to)}`, {
      headers: { authorization: `Bearer ${await t.token('admin')}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('mpegurl');
    const text = await res.text();
    expect(text).toMatch(/^#EXTM3U/);
    expect(text).toContain('#EXT-X-START:TIME-OFFSET=1.');
    expect(text).toContain('segments/open/media.m4s'); // the segment being written
    expect(text.match(/#EXT-X-DISCONTINUITY/g)?.length).toBeGreaterThanOrEqual(2);
    expect(text).toContain('#EXT-X-ENDLIST');
    // A real HLS client reads every piece: the whole stretch decodes.
    const token = await t.token('admin');
    const played = await probe(`${t.url}/api/cameras/${id}/playback.m3u8?${q(firstStart, to)}`, [
      '-headers',
      `Authorization: Bearer ${token}\r\n`,
      '-allowed_extensions',
      'ALL',
    ]);
    expect(played.frames).toBeGreaterThanOrEqual(25 * 5);
  });

  it('saves a clip of the chosen stretch as one MP4, the segment being written included', async () => {
    const { id, firstStart } = await recordFor(3);
    const token = await t.token('admin');
    const from = firstStart + 500;
    const to = firstStart + 4500;
    const res = await fetch(`${t.url}/api/cameras/${id}/clip.mp4?${q(from, to)}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(res.headers.get('content-disposition')).toMatch(
      /^attachment; filename="khu-cam-[0-9a-f]+-\d{4}-\d\d-\d\d_\d\d-\d\d\.mp4"$/,
    );
    const file = join(dir, 'clip.mp4');
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    const clip = await probe(file);
    // Codec copy starts at the key frame at or before `from` (1 s apart here).
    expect(clip.duration).toBeGreaterThan(3.8);
    expect(clip.duration).toBeLessThan(5.2);
    // "The last few seconds": up to now, so inside the segment being written.
    const now = Date.now();
    const last = await fetch(`${t.url}/api/cameras/${id}/clip.mp4?${q(now - 3000, now)}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(last.status).toBe(200);
    writeFileSync(join(dir, 'last.mp4'), Buffer.from(await last.arrayBuffer()));
    expect((await probe(join(dir, 'last.mp4'))).duration).toBeGreaterThan(1.5);
  });

  it('refuses reversed, too long, empty and malformed ranges, unknown cameras and segments, and anonymous viewers', async () => {
    const { id } = await recordFor(1);
    const now = Date.now();
    const bad = async (path: string, status: number, code: string, as: string | null = 'admin') => {
      const res = await t.api<{ error: { code: string; message: string } }>('GET', path, {
        token: as === null ? null : undefined,
      });
      expect(res.status, path).toBe(status);
      expect(res.body.error.code, path).toBe(code);
    };
    await bad(`/api/cameras/${id}/clip.mp4?${q(now, now - 60_000)}`, 400, 'KHU_BAD_REQUEST');
    await bad(`/api/cameras/${id}/clip.mp4?${q(now - 6 * 60_000, now)}`, 400, 'KHU_BAD_REQUEST');
    await bad(`/api/cameras/${id}/clip.mp4?${q(now - 86_400_000, now - 86_340_000)}`, 404, 'KHU_NOT_FOUND');
    await bad(`/api/cameras/${id}/clip.mp4?from=yesterday&to=now`, 400, 'KHU_BAD_REQUEST');
    await bad(`/api/cameras/${id}/clip.mp4`, 400, 'KHU_BAD_REQUEST');
    await bad(`/api/cameras/${id}/playback.m3u8?${q(now, now - 1)}`, 400, 'KHU_BAD_REQUEST');
    await bad(
      `/api/cameras/${id}/playback.m3u8?${q(now - 86_400_000, now - 86_340_000)}`,
      404,
      'KHU_NOT_FOUND',
    );
    await bad(`/api/cameras/cam-nope/playback.m3u8?${q(now - 60_000, now)}`, 404, 'KHU_NOT_FOUND');
    await bad(`/api/cameras/${id}/segments/999999/init.mp4`, 404, 'KHU_NOT_FOUND');
    await bad(`/api/cameras/${id}/segments/..%2F..%2Fkhu.db/init.mp4`, 400, 'KHU_BAD_REQUEST');
    await bad(`/api/cameras/${id}/segments/1/passwd`, 400, 'KHU_BAD_REQUEST');
    await bad(`/api/cameras/${id}/clip.mp4?${q(now - 60_000, now)}`, 401, 'KHU_UNAUTHORIZED', null);
    await bad(`/api/cameras/${id}/playback.m3u8?${q(now - 60_000, now)}`, 401, 'KHU_UNAUTHORIZED', null);
  });
});
