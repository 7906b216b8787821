/**
 * `GET /api/cameras/:id/snapshot.jpg`: from the camera's ONVIF snapshot address (no login,
 * Basic, Digest), else one frame of its main stream through real ffmpeg; one fetch however many
 * ask at once; hostile snapshot addresses (not a JPEG, too big, redirected elsewhere, silent)
 * fall back to the stream; a dead or hung camera is a 502 within a bound; logins never leak.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimOnvifCamera } from '../../firmware-sim/camera/onvif-camera.js';
import { SimRtspCamera } from '../../firmware-sim/camera/rtsp-server.js';
import { snapshotJpeg } from '../../firmware-sim/camera/snapshot.js';
import type { CameraView } from '../../hub/src/cameras/cameras-service.js';
import { digestAuthorization, parseChallenges } from '../../hub/src/cameras/snapshot.js';
import { TestHub } from '../helpers/hub.js';
import { waitFor } from '../helpers/wait.js';

const PASSWORD = 'cam-secret-pw';
const HOST = '127.0.0.2';

let t: TestHub;
let rtsp: SimRtspCamera;
let onvif: SimOnvifCamera;
const servers: Server[] = [];

beforeEach(async () => {
  rtsp = new SimRtspCamera({
    host: HOST,
    username: 'admin',
    password: PASSWORD,
    media: { clipSeconds: 4, keyframeSeconds: 1, main: { width: 640, height: 360, bitrateKbps: 400 } },
  });
  await rtsp.start();
  onvif = new SimOnvifCamera({
    host: HOST,
    username: 'admin',
    password: PASSWORD,
    name: 'Cổng chính',
    discovery: false,
    streamUris: { main: rtsp.url('/main'), sub: rtsp.url('/sub') },
  });
  await onvif.start();
  t = await TestHub.start({ recording: { segmentSeconds: 2 } });
  await t.createUser('bahoa', 'resident');
});

afterEach(async () => {
  await t?.close();
  await onvif.stop();
  await rtsp.stop();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

async function addOnvifCamera(name = 'Cổng chính'): Promise<string> {
  const res = await t.api<CameraView>('POST', '/api/cameras', {
    body: {
      name,
      onvif: { address: new URL(onvif.deviceServiceUrl).host, username: 'admin', password: PASSWORD },
    },
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

async function addRtspCamera(): Promise<string> {
  const res = await t.api<CameraView>('POST', '/api/cameras', {
    body: { name: 'Ngõ 3', rtsp: { url: rtsp.url('/main'), username: 'admin', password: PASSWORD } },
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

interface Shot {
  status: number;
  headers: Headers;
  body: Buffer;
  ms: number;
}

async function snapshot(id: string, auth: { as?: string; cookie?: string } = { as: 'bahoa' }): Promise<Shot> {
  const headers: Record<string, string> = {};
  if (auth.as) headers.authorization = `Bearer ${await t.token(auth.as)}`;
  if (auth.cookie) headers.cookie = auth.cookie;
  const started = Date.now();
  const res = await fetch(`${t.url}/api/cameras/${id}/snapshot.jpg`, { headers });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body, ms: Date.now() - started };
}

function expectJpeg(shot: Shot, source: 'onvif' | 'stream'): void {
  expect(shot.status, shot.body.toString().slice(0, 300)).toBe(200);
  expect(shot.headers.get('content-type')).toBe('image/jpeg');
  expect(shot.headers.get('cache-control')).toBe('no-store');
  expect(shot.headers.get('x-khu-snapshot-source')).toBe(source);
  expect(shot.body.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
  expect(shot.body.subarray(-2)).toEqual(Buffer.from([0xff, 0xd9]));
  expect(Number(shot.headers.get('content-length'))).toBe(shot.body.length);
}

async function ffprobe(jpeg: Buffer): Promise<{ codec_name: string; width: number; height: number }> {
  const file = join(t.dataDir, `probe-${Date.now()}.jpg`);
  await writeFile(file, jpeg);
  const { stdout } = await promisify(execFile)('ffprobe', [
    '-v',
    'error',
    '-show_entries',
    'stream=codec_name,width,height',
    '-of',
    'json',
    file,
  ]);
  return (JSON.parse(stdout) as { streams: Array<{ codec_name: string; width: number; height: number }> })
    .streams[0]!;
}

/** Nothing of the camera's login in the hub's logs (plain, or as a Basic header). */
function expectNoLoginInLogs(): void {
  const logs = JSON.stringify(t.logs);
  expect(logs).not.toContain(PASSWORD);
  expect(logs).not.toContain(Buffer.from(`admin:${PASSWORD}`).toString('base64'));
}

/** An HTTP server on a loopback address of its own, torn down after the test. */
async function httpServer(
  host: string,
  handler: Parameters<typeof createServer>[1],
): Promise<{ server: Server; url: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    handler?.(req, res);
  });
  servers.push(server);
  server.listen(0, host);
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  return { server, url: `http://${host}:${(server.address() as AddressInfo).port}`, hits };
}

describe('snapshot from the ONVIF snapshot address', () => {
  it.each(['none', 'basic', 'digest'] as const)('with snapshot login %s', async (mode) => {
    onvif.snapshotAuth = mode;
    const id = await addOnvifCamera();
    const before = onvif.stats.snapshots;
    const shot = await snapshot(id);
    expectJpeg(shot, 'onvif');
    // The sim's picture is the main profile's size (1920×1080), not the stream's 640×360.
    expect(await ffprobe(shot.body)).toMatchObject({ codec_name: 'mjpeg', width: 1920, height: 1080 });
    expect(onvif.stats.snapshots).toBe(before + 1);
    expectNoLoginInLogs();
  });

  it('works with the web app session cookie too', async () => {
    const id = await addOnvifCamera();
    const login = await fetch(`${t.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'bahoa', password: 'bahoa-pw' }),
    });
    const cookie = login.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    expect(cookie).toContain('khu_session=');
    expectJpeg(await snapshot(id, { cookie }), 'onvif');
  });

  it('shares one fetch between concurrent requests and serves it again briefly', async () => {
    onvif.snapshotAuth = 'digest';
    const id = await addOnvifCamera();
    const before = onvif.stats.snapshots;
    const [a, b] = await Promise.all([snapshot(id), snapshot(id, { as: 'admin' })]);
    expectJpeg(a, 'onvif');
    expectJpeg(b, 'onvif');
    expect(a.body.equals(b.body)).toBe(true);
    expect(onvif.stats.snapshots).toBe(before + 1);
    // Asked again at once: the same picture, no new fetch.
    expectJpeg(await snapshot(id), 'onvif');
    expect(onvif.stats.snapshots).toBe(before + 1);
  });
});

describe('snapshot from the stream', () => {
  it('takes a frame of the main stream for a camera without ONVIF', async () => {
    const id = await addRtspCamera();
    const shot = await snapshot(id);
    expectJpeg(shot, 'stream');
    expect(await ffprobe(shot.body)).toMatchObject({ codec_name: 'mjpeg', width: 640, height: 360 });
    expectNoLoginInLogs();
  });

  it('opens one RTSP session for concurrent requests', async () => {
    const id = await addRtspCamera();
    // The recorder's own session first, so that it is not counted.
    await waitFor(() => rtsp.stats().active.some((s) => s.firstFrameAt !== undefined), {
      timeoutMs: 20_000,
      message: "the recorder's session streaming",
    });
    let opened = 0;
    const count = () => {
      opened++;
    };
    rtsp.on('sessionOpened', count);
    try {
      const shots = await Promise.all([snapshot(id), snapshot(id), snapshot(id, { as: 'admin' })]);
      for (const s of shots) expectJpeg(s, 'stream');
      expect(opened).toBe(1);
      expectJpeg(await snapshot(id), 'stream');
      expect(opened).toBe(1);
    } finally {
      rtsp.off('sessionOpened', count);
    }
  });

  it('falls back to the stream when the snapshot address refuses the login', async () => {
    onvif.snapshotAuth = 'digest';
    const id = await addOnvifCamera();
    onvif.setCredentials({ password: 'changed-on-the-camera' });
    const shot = await snapshot(id);
    expectJpeg(shot, 'stream');
    expect(await ffprobe(shot.body)).toMatchObject({ codec_name: 'mjpeg', width: 640, height: 360 });
    expect(t.logs.some((l) => /snapshot address gave no picture/.test(String(l.msg)))).toBe(true);
    expectNoLoginInLogs();
  });

  it('refuses what a hostile snapshot address answers, and falls back to the stream', async () => {
    const picture = (await snapshotJpeg(16, 16)).jpeg;
    const elsewhere = await httpServer('127.0.0.6', (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/jpeg' }).end(picture);
    });
    const hostile = await httpServer('127.0.0.5', (req, res) => {
      switch (req.url) {
        case '/html':
          res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
          break;
        case '/huge': {
          // Chunked, no length announced: the hub must stop reading past 5 MB itself.
          res.writeHead(200, { 'content-type': 'image/jpeg' });
          res.write(picture.subarray(0, 4));
          const mb = Buffer.alloc(1024 * 1024, 0x55);
          let sent = 0;
          const more = () => {
            while (sent < 7 && res.write(mb)) sent++;
            if (sent < 7) res.once('drain', more);
            else res.end();
          };
          res.on('error', () => {});
          more();
          break;
        }
        case '/elsewhere':
          res.writeHead(302, { location: `${elsewhere.url}/snap.jpg` }).end();
          break;
        case '/here':
          res.writeHead(301, { location: '/ok.jpg' }).end();
          break;
        case '/ok.jpg':
          res.writeHead(200, { 'content-type': 'image/jpeg' }).end(picture);
          break;
        default:
          res.writeHead(404).end();
      }
    });
    const ids: Record<string, string> = {};
    for (const path of ['/html', '/huge', '/elsewhere', '/here']) {
      onvif.hostileSnapshotUri = hostile.url + path;
      ids[path] = await addOnvifCamera(`cam ${path}`);
    }
    const shots = await Promise.all(Object.values(ids).map((id) => snapshot(id)));
    const [html, huge, redirectedAway, redirectedHere] = shots as [Shot, Shot, Shot, Shot];
    expectJpeg(html, 'stream');
    expectJpeg(huge, 'stream');
    expectJpeg(redirectedAway, 'stream');
    expect(elsewhere.hits).toEqual([]);
    // A redirect on the same host is followed.
    expectJpeg(redirectedHere, 'onvif');
    expect(redirectedHere.body.equals(picture)).toBe(true);
    expect(hostile.hits).toEqual(
      expect.arrayContaining(['/html', '/huge', '/elsewhere', '/here', '/ok.jpg']),
    );
    expectNoLoginInLogs();
  });
});

describe('cameras that give no picture, and bad requests', () => {
  it('answers 502 within a few seconds when the camera is down', async () => {
    const id = await addOnvifCamera();
    await onvif.stop();
    await rtsp.stop();
    const shot = await snapshot(id);
    expect(shot.status).toBe(502);
    expect(shot.headers.get('content-type')).toMatch(/application\/json/);
    const body = JSON.parse(shot.body.toString()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('KHU_CAMERA_UNREACHABLE');
    expect(body.error.message).not.toContain(PASSWORD);
    expect(shot.ms).toBeLessThan(5000);
    expectNoLoginInLogs();
  });

  it('answers 502 within its bounds when the camera hangs without closing', async () => {
    const silent = await httpServer('127.0.0.5', () => {}); // accepts, never answers
    onvif.hostileSnapshotUri = `${silent.url}/snapshot.jpg`;
    const id = await addOnvifCamera();
    rtsp.stall();
    const shot = await snapshot(id);
    expect(shot.status).toBe(502);
    expect((JSON.parse(shot.body.toString()) as { error: { code: string } }).error.code).toBe(
      'KHU_CAMERA_UNREACHABLE',
    );
    // ~3 s on the snapshot address, then ffmpeg's I/O timeout (~3 s) or its kill bound (8 s).
    expect(shot.ms).toBeGreaterThanOrEqual(2900);
    expect(shot.ms).toBeLessThan(12_500);
    expect(silent.hits).toEqual(['/snapshot.jpg']);
  }, 20_000);

  it('answers 404 for an unknown camera and 401 without a login', async () => {
    const id = await addOnvifCamera();
    const unknown = await snapshot('cam-000000');
    expect(unknown.status).toBe(404);
    expect((JSON.parse(unknown.body.toString()) as { error: { code: string } }).error.code).toBe(
      'KHU_NOT_FOUND',
    );
    const anonymous = await snapshot(id, {});
    expect(anonymous.status).toBe(401);
    expect((JSON.parse(anonymous.body.toString()) as { error: { code: string } }).error.code).toBe(
      'KHU_UNAUTHORIZED',
    );
  });

  it('answers a Digest challenge as RFC 2617 says (its own example), next to a Basic one', () => {
    const [digest, basic] = parseChallenges([
      'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41", Basic realm="x"',
    ]);
    expect(basic?.scheme).toBe('basic');
    const value = digestAuthorization(
      digest!,
      { username: 'Mufasa', password: 'Circle Of Life' },
      'GET',
      '/dir/index.html',
      '0a4f113b',
    );
    expect(value).toContain('response="6629fae49393a05397450978507c4ef1"');
    expect(value).toContain('opaque="5ccc069c403ebaf9f0171e9517f40e41"');
    expect(value).toContain('qop=auth, nc=00000001, cnonce="0a4f113b"');
  });

  it('documents the JPEG answer in /docs', async () => {
    const doc = await t.api<{
      paths: Record<string, { get?: { responses: Record<string, { content?: Record<string, unknown> }> } }>;
    }>('GET', '/docs/json', { token: null });
    const route = doc.body.paths['/api/cameras/{id}/snapshot.jpg']?.get;
    expect(route?.responses['200']?.content).toEqual({
      'image/jpeg': { schema: { type: 'string', format: 'binary' } },
    });
  });
});
