/**
 * Live video through the hub: WebSocket viewers get fragmented MP4 from the recorder's own
 * ffmpeg (one RTSP session on the camera for recording and every full-screen viewer), start at
 * a key frame at once, and a viewer that stops reading is left behind without stalling
 * recording. Tiles open the sub stream only while watched.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { SimOnvifCamera } from '../../firmware-sim/camera/onvif-camera.js';
import { SimRtspCamera } from '../../firmware-sim/camera/rtsp-server.js';
import type { CameraView } from '../../hub/src/cameras/cameras-service.js';
import type { HubEvents } from '../../hub/src/core/event-bus.js';
import { Fmp4Splitter } from '../../hub/src/live/fmp4.js';
import { TestHub } from '../helpers/hub.js';
import { waitFor } from '../helpers/wait.js';

let t: TestHub;
let rtsp: SimRtspCamera;
let onvif: SimOnvifCamera;
const sockets: WebSocket[] = [];

beforeEach(async () => {
  rtsp = new SimRtspCamera({
    host: '127.0.0.4',
    username: 'admin',
    password: 'cam-secret-pw',
    media: {
      clipSeconds: 4,
      keyframeSeconds: 1,
      main: { width: 640, height: 360, bitrateKbps: 400 },
      sub: { width: 320, height: 180, bitrateKbps: 150 },
    },
  });
  await rtsp.start();
  onvif = new SimOnvifCamera({
    host: '127.0.0.4',
    username: 'admin',
    password: 'cam-secret-pw',
    name: 'Cổng chính',
    discovery: false,
    streamUris: { main: rtsp.url('/main'), sub: rtsp.url('/sub') },
  });
  await onvif.start();
  t = await TestHub.start({ recording: { segmentSeconds: 2 } });
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  await t?.close();
  await onvif.stop();
  await rtsp.stop();
});

async function addCamera(): Promise<CameraView> {
  const res = await t.api<CameraView>('POST', '/api/cameras', {
    body: {
      name: 'Cổng chính',
      onvif: { address: new URL(onvif.deviceServiceUrl).host, username: 'admin', password: 'cam-secret-pw' },
    },
    as: 'admin',
  });
  expect(res.status).toBe(201);
  return res.body;
}

interface Watch {
  socket: WebSocket;
  texts: Array<{ type: string; codec?: string | null }>;
  inits: number;
  initBytes: Buffer[];
  fragments: Array<{ key: boolean; bytes: number; startSec: number; durationSec: number }>;
  opened: Promise<void>;
}

async function watch(
  cameraId: string,
  options: { stream?: 'main' | 'sub'; as?: string } = {},
): Promise<Watch> {
  const token = await t.token(options.as ?? 'admin');
  const url = `${t.url.replace('http', 'ws')}/api/cameras/${cameraId}/live${options.stream ? `?stream=${options.stream}` : ''}`;
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  sockets.push(socket);
  const w: Watch = {
    socket,
    texts: [],
    inits: 0,
    initBytes: [],
    fragments: [],
    opened: new Promise(() => {}),
  };
  const splitter = new Fmp4Splitter();
  socket.on('message', (data, isBinary) => {
    if (!isBinary) {
      w.texts.push(JSON.parse(data.toString()));
      return;
    }
    for (const piece of splitter.push(data as Buffer)) {
      if (piece.kind === 'init') {
        w.inits++;
        w.initBytes.push(piece.data);
      } else {
        const { key, startSec, durationSec } = piece;
        w.fragments.push({ key, bytes: piece.data.length, startSec, durationSec });
      }
    }
  });
  w.opened = new Promise((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  await w.opened;
  return w;
}

async function segmentsOf(cameraId: string): Promise<number> {
  const from = encodeURIComponent(new Date(Date.now() - 60_000).toISOString());
  const to = encodeURIComponent(new Date(Date.now() + 60_000).toISOString());
  const res = await t.api<{ segments: unknown[] }>(
    'GET',
    `/api/cameras/${cameraId}/recordings?from=${from}&to=${to}`,
  );
  return res.body.segments.length;
}

const mainSessions = () =>
  [...rtsp.stats().active, ...rtsp.stats().closed].filter((s) => s.stream === 'main' && s.framesSent > 25);

describe('live video', () => {
  it('starts a viewer at a key frame at once from the recording, and follows it across segments on one timeline', async () => {
    const cam = await addCamera();
    await waitFor(() => t.hub.cameras.get(cam.id).status === 'recording', {
      timeoutMs: 15_000,
      message: 'recording',
    });
    // With nobody watching, the hub reads nothing of the stream.
    await waitFor(async () => (await segmentsOf(cam.id)) >= 2, {
      timeoutMs: 15_000,
      message: 'two segments',
    });
    expect(t.hub.live.following(cam.id)).toBe(false);
    expect(t.hub.live.main(cam.id).stats().fragments).toBe(0);

    const w = await watch(cam.id);
    await waitFor(() => w.inits === 1 && w.fragments.length >= 1, {
      timeoutMs: 2000,
      message: 'init and a fragment',
    });
    expect(w.texts[0]).toMatchObject({ type: 'init', codec: expect.stringMatching(/^avc1\.[0-9a-f]{6}$/) });
    expect(w.fragments[0]!.key).toBe(true);
    // Video only: the camera's audio, which is recorded, is not in the live stream.
    const dir = t.hub.cameras.recordingsDir;
    const recorded = readdirSync(join(dir, cam.id), { recursive: true, encoding: 'utf8' }).find((f) =>
      f.endsWith('.mp4'),
    );
    expect(readFileSync(join(dir, cam.id, recorded!)).includes('soun', 0, 'latin1')).toBe(true);
    expect(w.initBytes[0]!.includes('soun', 0, 'latin1')).toBe(false);
    expect(w.initBytes[0]!.includes('vide', 0, 'latin1')).toBe(true);
    // Six seconds: three segment boundaries (2 s segments), one init, one unbroken timeline.
    const seconds = () => w.fragments.reduce((n, f) => n + f.durationSec, 0);
    await waitFor(() => seconds() >= 6, { timeoutMs: 12_000, message: 'six seconds of live video' });
    expect(w.inits).toBe(1);
    for (let i = 1; i < w.fragments.length; i++) {
      const prev = w.fragments[i - 1]!;
      expect(w.fragments[i]!.startSec).toBeCloseTo(prev.startSec + prev.durationSec, 3);
    }
    expect(w.fragments.filter((f) => f.key).length).toBeGreaterThanOrEqual(3);
    expect(t.hub.live.following(cam.id)).toBe(true);
  });

  it('serves 20 viewers from one camera session, and a viewer that stops reading stalls neither recording nor others', async () => {
    const cam = await addCamera();
    const gaps: Array<HubEvents['recordingGap']> = [];
    t.hub.bus.on('test', 'recordingGap', (g) => gaps.push(g));
    await waitFor(() => t.hub.cameras.get(cam.id).status === 'recording', {
      timeoutMs: 15_000,
      message: 'recording',
    });
    const viewers = await Promise.all(Array.from({ length: 20 }, () => watch(cam.id)));
    const stuck = await watch(cam.id);
    // Stop reading: the hub's socket to it fills up.
    (stuck.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const segmentsBefore = (
      await t.api<{ segments: unknown[] }>(
        'GET',
        `/api/cameras/${cam.id}/recordings?from=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}&to=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
      )
    ).body.segments.length;
    const seconds = (v: Watch) => v.fragments.reduce((n, f) => n + f.durationSec, 0);
    await waitFor(() => viewers.every((v) => seconds(v) >= 8), {
      timeoutMs: 20_000,
      message: 'every reading viewer eight seconds in',
    });
    // One RTSP session for the main stream in all (the short one when the camera was added aside).
    expect(mainSessions().length).toBe(1);
    const live = t.hub.live.main(cam.id).stats();
    expect(live.viewers).toBe(21);
    const after = await t.api<{ segments: unknown[] }>(
      'GET',
      `/api/cameras/${cam.id}/recordings?from=${encodeURIComponent(new Date(Date.now() - 60_000).toISOString())}&to=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
    );
    expect(after.body.segments.length).toBeGreaterThan(segmentsBefore + 2);
    expect(gaps).toEqual([]);
    expect(t.hub.cameras.get(cam.id).status).toBe('recording');
  });

  it('drops a slow viewer back to the newest key frame: memory per viewer stays bounded', async () => {
    // ~3 Mbit/s, so the stalled viewer's socket buffers fill within seconds.
    const fast = new SimRtspCamera({
      host: '127.0.0.5',
      username: 'admin',
      password: 'cam-secret-pw',
      media: { clipSeconds: 4, keyframeSeconds: 1, main: { width: 1280, height: 720, bitrateKbps: 3000 } },
    });
    await fast.start();
    try {
      const res = await t.api<CameraView>('POST', '/api/cameras', {
        body: {
          name: 'Cổng sau',
          rtsp: { url: fast.url('/main'), username: 'admin', password: 'cam-secret-pw' },
        },
      });
      expect(res.status).toBe(201);
      const id = res.body.id;
      const stuck = await watch(id);
      const reading = await watch(id);
      (stuck.socket as unknown as { _socket: { pause(): void } })._socket.pause();
      await waitFor(() => t.hub.live.main(id).stats().droppedFragments > 0, {
        timeoutMs: 60_000,
        message: 'fragments skipped for the stalled viewer',
      });
      // The reading viewer got everything, in order, from a key frame.
      const got = reading.fragments.length;
      expect(got).toBeGreaterThan(20);
      expect(reading.fragments[0]!.key).toBe(true);
      expect(t.hub.live.main(id).stats().viewers).toBe(2);
    } finally {
      await fast.stop();
    }
  }, 90_000);

  it('opens the sub stream only while a tile watches it, and closes it after the last viewer leaves', async () => {
    const cam = await addCamera();
    expect(cam.subUri).not.toBeNull();
    const subSessions = () => rtsp.stats().active.filter((s) => s.stream === 'sub').length;
    expect(subSessions()).toBe(0);
    const tile = await watch(cam.id, { stream: 'sub', as: 'admin' });
    await waitFor(() => tile.fragments.length >= 3, { timeoutMs: 15_000, message: 'the tile playing' });
    expect(subSessions()).toBe(1);
    tile.socket.close();
    await waitFor(() => subSessions() === 0, { timeoutMs: 20_000, message: 'the sub stream closed' });
  });

  it('serves live HLS to phones without Media Source: segments from key frames that a player reads', async () => {
    const cam = await addCamera();
    await waitFor(() => t.hub.cameras.get(cam.id).status === 'recording', {
      timeoutMs: 15_000,
      message: 'recording',
    });
    const token = await t.token('admin');
    const res = await fetch(`${t.url}/api/cameras/${cam.id}/live.m3u8`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/#EXT-X-MAP:URI="live\/init-\d+\.mp4"/);
    const seg = /^(live\/\d+\.m4s)$/m.exec(text)?.[1];
    expect(seg).toBeDefined();
    const piece = await fetch(`${t.url}/api/cameras/${cam.id}/${seg}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(piece.status).toBe(200);
    const splitter = new Fmp4Splitter();
    const init = /#EXT-X-MAP:URI="(live\/init-\d+\.mp4)"/.exec(text)![1]!;
    const initBytes = Buffer.from(
      await (
        await fetch(`${t.url}/api/cameras/${cam.id}/${init}`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).arrayBuffer(),
    );
    const pieces = splitter.push(Buffer.concat([initBytes, Buffer.from(await piece.arrayBuffer())]));
    expect(pieces[0]?.kind).toBe('init');
    expect(pieces[1]).toMatchObject({ kind: 'fragment', key: true });
    expect(pieces.length).toBeGreaterThan(3);
    const missing = await fetch(`${t.url}/api/cameras/${cam.id}/live/99999.m4s`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(missing.status).toBe(404);
    const hostile = await fetch(`${t.url}/api/cameras/${cam.id}/live/..%2Fkhu.db`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(hostile.status).toBe(400);
    expect((await fetch(`${t.url}/api/cameras/${cam.id}/live.m3u8`)).status).toBe(401);
  });

  it('closes a live socket when its session ends (the account is removed)', async () => {
    const cam = await addCamera();
    await t.createUser('bacu', 'resident');
    const w = await watch(cam.id, { as: 'bacu' });
    const closed = new Promise<number>((resolve) => w.socket.once('close', (code) => resolve(code)));
    await waitFor(() => w.fragments.length > 0, { timeoutMs: 15_000, message: 'the resident watching' });
    expect((await t.api('DELETE', '/api/users/bacu')).status).toBe(204);
    const code = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]);
    expect(code).toBe(4401);
  });

  it('refuses a live socket without a session, from another site, or for an unknown camera', async () => {
    const cam = await addCamera();
    const base = `${t.url.replace('http', 'ws')}/api/cameras`;
    const refused = (url: string, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve) => {
        const s = new WebSocket(url, { headers });
        s.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        s.on('open', () => resolve(101));
        s.on('error', () => {});
      });
    expect(await refused(`${base}/${cam.id}/live`)).toBe(401);
    expect(await refused(`${base}/${cam.id}/live`, { authorization: 'Bearer forged.token' })).toBe(401);
    const token = await t.token('admin');
    expect(
      await refused(`${base}/${cam.id}/live`, {
        authorization: `Bearer ${token}`,
        origin: 'http://evil.example',
      }),
    ).toBe(403);
    expect(await refused(`${base}/cam-nope/live`, { authorization: `Bearer ${token}` })).toBe(404);
    expect(await refused(`${base}/${cam.id}/live?stream=huge`, { authorization: `Bearer ${token}` })).toBe(
      400,
    );
  });
});
