/**
 * Live video and clip benchmarks, against a hub child process and a simulated 1080p camera
 * (~2 Mbit/s, replayed) whose picture flips between red and blue at every key frame (1 s):
 *   live.glass_to_glass_ms     the camera hands the first frame of a new colour to its RTSP
 *                              session → a headless Chromium page playing the live view (Media
 *                              Source over the hub's WebSocket) sees that colour in a decoded
 *                              frame (canvas pixel read); median over the switches
 *   live.first_frame_ms        opening the live view (WebSocket created) → first decoded frame
 *   live.viewers_50.hub_cpu_pct  the hub's CPU with 50 WebSocket viewers reading a second camera
 *                              (a moving 1080p test picture, ~2 Mbit/s, as real as the sim gets)
 *   live.camera_sessions       RTSP sessions the camera saw for its main stream meanwhile (1)
 *   clip.export_1h.ms          GET clip.mp4 for one hour of 1080p recording (an index of 360
 *                              copies of a real 10 s segment), first byte to last
 *
 * Run alone: `node dist/scripts/bench/live.js`. Needs Debian's chromium (preflight --browser).
 */
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { join, relative } from 'node:path';
import Database from 'better-sqlite3';
import { chromium } from 'playwright-core';
import { WebSocket } from 'ws';
import { SimRtspCamera } from '../../firmware-sim/camera/rtsp-server.js';
import {
  emit,
  figure,
  freePort,
  HttpClient,
  HubChild,
  type HubChildOptions,
  isMain,
  median,
  onCleanup,
  processCpuMs,
  progress,
  round,
  runBench,
  sleep,
  tempDir,
  waitFor,
  writeBenchConfig,
} from './lib.js';

const CAM_USER = 'bench';
const CAM_PASSWORD = 'bench-pass-1';
const FPS = 25;
const SWITCHES = Number(process.env.KHU_BENCH_G2G_SWITCHES) || 15;
const FIRST_FRAME_RUNS = 10;
const VIEWERS = 50;
const VIEWERS_SEC = Number(process.env.KHU_BENCH_VIEWERS_SEC) || 30;
const CHROMIUM = '/usr/bin/chromium';

/** A page of the hub's origin that plays a camera's live WebSocket with Media Source, and watches pixels. */
const PLAYER_PAGE = `<!doctype html><html><body style="margin:0;background:#000">
<video id="v" muted playsinline autoplay style="width:320px;height:180px"></video>
<canvas id="c" width="4" height="4" style="display:none"></canvas>
<script>
window.startLive = (url) => new Promise((started) => {
  const t0 = performance.now();
  const video = document.getElementById('v');
  const ctx = document.getElementById('c').getContext('2d', { willReadFrequently: true });
  window.firstFrameMs = null;
  window.changes = [];
  let last = null;
  const onFrame = () => {
    if (window.firstFrameMs === null) window.firstFrameMs = performance.now() - t0;
    ctx.drawImage(video, 0, 0, 4, 4);
    const [r, , b] = ctx.getImageData(2, 2, 1, 1).data;
    const colour = r > b ? 'red' : 'blue';
    if (colour !== last) { window.changes.push({ colour, at: Date.now() }); last = colour; }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  const ms = new MediaSource();
  video.src = URL.createObjectURL(ms);
  ms.addEventListener('sourceopen', () => {
    const ws = new WebSocket(url);
    window.liveSocket = ws;
    ws.binaryType = 'arraybuffer';
    let sb = null;
    const queue = [];
    const pump = () => { if (sb && !sb.updating && queue.length) sb.appendBuffer(queue.shift()); };
    ws.onmessage = (e) => {
      if (typeof e.data === 'string') {
        const m = JSON.parse(e.data);
        if (m.type === 'init' && !sb) {
          sb = ms.addSourceBuffer('video/mp4; codecs="' + m.codec + '"');
          sb.addEventListener('updateend', () => {
            const b = video.buffered;
            if (b.length) {
              const end = b.end(b.length - 1);
              if (end - video.currentTime > 0.3) video.currentTime = Math.max(b.start(b.length - 1), end - 0.05);
            }
            pump();
          });
        }
        return;
      }
      queue.push(e.data);
      pump();
    };
    video.play().catch(() => {});
    started(true);
  }, { once: true });
});
</script></body></html>`;

interface Switch {
  colour: 'red' | 'blue';
  at: number;
}

export async function benchLive(): Promise<void> {
  const switches: Switch[] = [];
  const gop = FPS; // 1 s key frames, the colour flips at each
  const camera = new SimRtspCamera({
    name: 'khu-bench-flash',
    host: '127.0.0.10',
    username: CAM_USER,
    password: CAM_PASSWORD,
    media: { pattern: 'flash', clipSeconds: 10, keyframeSeconds: 1, audio: false },
    onVideoFrame: (stream, index) => {
      if (stream !== 'main' || index % gop !== 0) return;
      switches.push({ colour: Math.floor(index / gop) % 2 === 0 ? 'red' : 'blue', at: Date.now() });
    },
  });
  onCleanup('stop the flash camera', () => camera.stop());
  // A camera with a real picture (the moving test pattern at ~2 Mbit/s) for the viewers and the clip.
  const busy = new SimRtspCamera({
    name: 'khu-bench-busy',
    host: '127.0.0.11',
    username: CAM_USER,
    password: CAM_PASSWORD,
  });
  onCleanup('stop the busy camera', () => busy.stop());
  await Promise.all([camera.start(), busy.start()]);

  const dataDir = tempDir('live');
  const opts: HubChildOptions = {
    dataDir,
    httpPort: await freePort(),
    mqttPort: await freePort(),
    adminPassword: `bench-${Date.now()}`,
    configFile: writeBenchConfig(dataDir, 'recording:\n  clipMaxMinutes: 61\n'),
    label: 'hub-live',
    // For investigations: a V8 CPU profile of each hub process into this folder.
    cpuProfDir: process.env.KHU_BENCH_CPU_PROF || undefined,
  };
  const hub = new HubChild(opts);
  const http = new HttpClient(hub.url, { maxSockets: 2 });
  await hub.waitHealthy(http);
  await http.login('admin', opts.adminPassword);
  const cam = await http.call<{ id: string }>(
    'POST',
    '/api/cameras',
    { name: 'Bench flash', rtsp: { url: camera.url('/main'), username: CAM_USER, password: CAM_PASSWORD } },
    201,
  );
  const busyCam = await http.call<{ id: string }>(
    'POST',
    '/api/cameras',
    { name: 'Bench busy', rtsp: { url: busy.url('/main'), username: CAM_USER, password: CAM_PASSWORD } },
    201,
  );
  await waitFor(
    'both cameras recording',
    async () => {
      const list = await http.call<Array<{ id: string; status: string }>>('GET', '/api/cameras');
      return list.filter((c) => c.status === 'recording').length === 2 ? true : undefined;
    },
    { timeoutMs: 30_000, everyMs: 200 },
  );
  await sleep(3000); // past a few key frames: a viewer joins mid-stream, as on a real site
  const liveUrl = `${hub.url.replace('http', 'ws')}/api/cameras/${cam.id}/live`;

  // ---- the browser --------------------------------------------------------------------------------
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: run bash scripts/preflight.sh --browser`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  onCleanup('close chromium', () => browser.close());
  const context = await browser.newContext();
  const host = new URL(hub.url).hostname;
  await context.addCookies([{ name: 'khu_session', value: http.token!, domain: host, path: '/' }]);
  const openPlayer = async () => {
    const page = await context.newPage();
    await page.goto(`${hub.url}/api/health`);
    await page.setContent(PLAYER_PAGE);
    await page.evaluate(
      (url) => (globalThis as unknown as { startLive(u: string): Promise<boolean> }).startLive(url),
      liveUrl,
    );
    return page;
  };

  // ---- 1. first frame ---------------------------------------------------------------------------------
  const firsts: number[] = [];
  for (let i = 0; i < FIRST_FRAME_RUNS; i++) {
    const page = await openPlayer();
    const ms = await page
      .waitForFunction(
        () => (globalThis as unknown as { firstFrameMs: number | null }).firstFrameMs,
        undefined,
        {
          timeout: 15_000,
          polling: 20,
        },
      )
      .then((h) => h.jsonValue() as Promise<number>);
    firsts.push(ms);
    await page.close();
  }
  emit(
    figure(
      'live.first_frame_ms',
      median(firsts),
      'ms',
      { max: 1000 },
      {
        runs: firsts.map((v) => round(v, 0)),
        note: 'headless Chromium, Media Source over the live WebSocket: new WebSocket() → first requestVideoFrameCallback; median of fresh page loads',
      },
    ),
  );

  // ---- 2. glass to glass ------------------------------------------------------------------------------
  const page = await openPlayer();
  progress(`live: watching ${SWITCHES} colour switches`);
  await page.waitForFunction(
    (n) => (globalThis as unknown as { changes: unknown[] }).changes.length >= n,
    SWITCHES + 1,
    { timeout: (SWITCHES + 15) * 1000, polling: 100 },
  );
  const seen = (await page.evaluate(
    () => (globalThis as unknown as { changes: Switch[] }).changes,
  )) as Switch[];
  const delays: number[] = [];
  for (const change of seen.slice(1)) {
    // The latest switch to that colour the camera made before the page saw it.
    const cause = switches.filter((s) => s.colour === change.colour && s.at <= change.at).at(-1);
    if (cause) delays.push(change.at - cause.at);
  }
  await page.close();
  emit(
    figure(
      'live.glass_to_glass_ms',
      median(delays),
      'ms',
      { max: 1000 },
      {
        stretch_target_ms: 500,
        switches: delays.length,
        runs: delays.map((v) => round(v, 0)),
        max_ms: round(Math.max(...delays), 0),
        note: 'sim camera hands the first frame of a new colour to its RTSP session → Chromium sees it in a decoded frame (canvas pixel); loopback',
      },
    ),
  );
  await browser.close();

  // ---- 3. fifty viewers on the busy camera ---------------------------------------------------------------
  const busyUrl = `${hub.url.replace('http', 'ws')}/api/cameras/${busyCam.id}/live`;
  const sockets: WebSocket[] = [];
  onCleanup('close the viewers', () => {
    for (const s of sockets) s.terminate();
  });
  let bytes = 0;
  for (let i = 0; i < VIEWERS; i++) {
    const s = new WebSocket(busyUrl, { headers: { authorization: `Bearer ${http.token}` } });
    s.on('message', (data: Buffer) => {
      bytes += data.length;
    });
    sockets.push(s);
  }
  await waitFor(
    'every viewer open',
    () => (sockets.every((s) => s.readyState === s.OPEN) ? true : undefined),
    {
      timeoutMs: 15_000,
      everyMs: 50,
    },
  );
  await sleep(2000);
  const cpu0 = processCpuMs(hub.pid);
  const bytes0 = bytes;
  const t0 = performance.now();
  await sleep(VIEWERS_SEC * 1000);
  const cpuMs = processCpuMs(hub.pid) - cpu0;
  const wallMs = performance.now() - t0;
  const mainSessions = busy.stats().active.filter((s) => s.stream === 'main').length;
  emit(
    figure('live.viewers_50.hub_cpu_pct', (cpuMs / wallMs) * 100, '%', undefined, {
      viewers: VIEWERS,
      period_s: round(wallMs / 1000, 1),
      mb_per_s_out: round((bytes - bytes0) / 1024 / 1024 / (wallMs / 1000), 2),
      note: 'utime+stime of the hub Node process over the period, % of one core, recording both cameras as well',
    }),
  );
  emit(
    figure(
      'live.camera_sessions',
      mainSessions,
      'sessions',
      { max: 1 },
      {
        note: 'RTSP sessions open on the camera for its main stream with 50 live viewers and recording; must be exactly 1',
      },
    ),
  );
  for (const s of sockets) s.terminate();

  // ---- 4. a one-hour clip -----------------------------------------------------------------------------
  await sleep(12_000); // a closed 10 s segment of 1080p to copy
  await hub.stop();
  const seg = fixtureHour(dataDir, busyCam.id);
  const hub2 = new HubChild({ ...opts, label: 'hub-clip' });
  const http2 = new HttpClient(hub2.url, { maxSockets: 2 });
  await hub2.waitHealthy(http2);
  await http2.login('admin', opts.adminPassword);
  await Promise.all([camera.stop(), busy.stop()]); // the fixture alone: the recorders idle
  const q = `from=${encodeURIComponent(seg.from)}&to=${encodeURIComponent(seg.to)}`;
  const runs: number[] = [];
  let size = 0;
  for (let i = 0; i < 3; i++) {
    const tc = performance.now();
    // node:http, not fetch: fetch's web streams read a gigabyte at a fraction of the socket's speed.
    size = await new Promise<number>((resolve, reject) => {
      const req = httpGet(
        `${hub2.url}/api/cameras/${busyCam.id}/clip.mp4?${q}`,
        { headers: { authorization: `Bearer ${http2.token}` } },
        (res) => {
          if (res.statusCode !== 200) {
            reject(new Error(`clip.mp4 answered ${res.statusCode}`));
            res.resume();
            return;
          }
          let n = 0;
          res.on('data', (chunk: Buffer) => {
            n += chunk.length;
          });
          res.on('end', () => resolve(n));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
    });
    runs.push(performance.now() - tc);
  }
  emit(
    figure(
      'clip.export_1h.ms',
      median(runs),
      'ms',
      { max: 5000 },
      {
        runs: runs.map((v) => round(v, 0)),
        mb: round(size / 1024 / 1024, 1),
        segments: seg.count,
        segment_mb: round(seg.bytes / 1024 / 1024, 2),
        note: 'GET clip.mp4 for 1 h (an index of 360 copies of one real 10 s 1080p segment), request → last byte read (node:http client); median of 3',
      },
    ),
  );
  await hub2.stop();
}

/** An hour of index: the first closed 10 s segment copied 360 times, back to back. */
function fixtureHour(
  dataDir: string,
  cameraId: string,
): { from: string; to: string; count: number; bytes: number } {
  const db = new Database(join(dataDir, 'khu.db'));
  try {
    const first = db
      .prepare<[string], { path: string; duration_ms: number; bytes: number }>(
        'SELECT path, duration_ms, bytes FROM segments WHERE camera_id = ? AND complete = 1 AND duration_ms >= 9000 ORDER BY start LIMIT 1',
      )
      .get(cameraId);
    if (!first) throw new Error('no closed 10 s segment to copy');
    const recordings = join(dataDir, 'recordings');
    const source = join(recordings, first.path);
    const dir = join(recordings, cameraId, 'fixture');
    // Two hours ago: inside the retention period, and before anything recorded since.
    const startMs = Math.floor((Date.now() - 7_200_000) / 60_000) * 60_000;
    const insert = db.prepare(
      'INSERT INTO segments (camera_id, start, end, duration_ms, bytes, path, complete) VALUES (?, ?, ?, ?, ?, ?, 1)',
    );
    const count = 360;
    mkdirSync(dir, { recursive: true });
    db.transaction(() => {
      for (let i = 0; i < count; i++) {
        const file = join(dir, `fixture-${String(i).padStart(4, '0')}.mp4`);
        copyFileSync(source, file);
        const s = startMs + i * 10_000;
        insert.run(
          cameraId,
          new Date(s).toISOString(),
          new Date(s + 10_000).toISOString(),
          10_000,
          statSync(file).size,
          relative(recordings, file),
        );
      }
    })();
    return {
      from: new Date(startMs).toISOString(),
      to: new Date(startMs + count * 10_000).toISOString(),
      count,
      bytes: first.bytes,
    };
  } finally {
    db.close();
  }
}

if (isMain(import.meta.url)) await runBench('live', benchLive);
