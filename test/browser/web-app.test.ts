/**
 * The residents' web app in a real browser (Debian's Chromium at 360×640, touch): an area head
 * invites a household, the household joins through the QR link with a PIN, watches the entry
 * camera live (tile and full screen), goes back in time on the timeline, saves a clip, switches
 * its street's lights and sees a change made elsewhere; Vietnamese and English; a resident never
 * reaches the head's pages. One hub, camera and set of relays for the whole file, in order.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimRelay } from '../../firmware-sim/relay.js';
import type { CameraView } from '../../hub/src/cameras/cameras-service.js';
import { TestHub } from '../helpers/hub.js';
import { waitFor } from '../helpers/wait.js';
import {
  ARTIFACTS,
  buildWebOnce,
  launchBrowser,
  phone,
  type SimCamera,
  screenshot,
  simCamera,
  videoFingerprint,
} from './harness.js';

// Code passed to page.evaluate runs in the browser; the hub's tsconfig has no DOM types.
// biome-ignore lint/suspicious/noExplicitAny: the page's globals, typed by the browser
declare const document: any;

const STREET = 'Ngõ Chùa';
const OTHER_STREET = 'Xóm Đình';
const PIN = '482915';

let t: TestHub;
let cam: SimCamera;
let camera: CameraView;
let browser: Browser;
let headCtx: BrowserContext;
let residentCtx: BrowserContext;
let head: Page;
let resident: Page;
let residentName = '';
const relays: Record<string, SimRelay> = {};
const pageErrors: string[] = [];

async function login(page: Page, username: string, password: string): Promise<void> {
  await page.goto(`${t.url}/#/login`);
  await page.getByLabel('Tên đăng nhập').fill(username);
  await page.locator('input[name=password]').fill(password);
  await page.getByRole('button', { name: 'Đăng nhập' }).click();
  await page.waitForSelector('nav.bottom', { timeout: 5000 });
}

function watchErrors(page: Page, who: string): void {
  page.on('pageerror', (err) => pageErrors.push(`${who}: ${err.message}`));
}

beforeAll(async () => {
  const [, camera_] = await Promise.all([buildWebOnce(), simCamera('127.0.0.7', 'Cổng chính')]);
  cam = camera_;
  t = await TestHub.start({ recording: { segmentSeconds: 2 } });
  await t.createUser('truongkhu', 'head');
  relays.hv01 = await t.onlineRelay({ id: 'hv01', name: 'Đèn số 1', zone: STREET });
  relays.hv02 = await t.onlineRelay({ id: 'hv02', name: 'Đèn số 2', zone: STREET });
  relays.xd01 = await t.onlineRelay({ id: 'xd01', name: 'Đèn đầu xóm', zone: OTHER_STREET });
  const res = await t.api<CameraView>('POST', '/api/cameras', {
    body: {
      name: 'Cổng chính',
      onvif: { address: cam.address, username: 'admin', password: 'cam-secret-pw' },
    },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  camera = res.body;
  browser = await launchBrowser();
  headCtx = await phone(browser);
  residentCtx = await phone(browser);
  head = await headCtx.newPage();
  resident = await residentCtx.newPage();
  watchErrors(head, 'head');
  watchErrors(resident, 'resident');
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  await cam?.stop();
  expect(pageErrors).toEqual([]);
});

describe.sequential('the residents’ web app', () => {
  it('serves the app shell with its manifest, hls.js, and Vietnamese declared', async () => {
    const html = await fetch(`${t.url}/`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await html.text()).toContain('<html lang="vi">');
    const manifest = await fetch(`${t.url}/manifest.webmanifest`);
    expect(manifest.headers.get('content-type')).toContain('application/manifest+json');
    expect(((await manifest.json()) as { icons: unknown[] }).icons.length).toBeGreaterThanOrEqual(2);
    const hls = await fetch(`${t.url}/vendor/hls.min.js`);
    expect(hls.status).toBe(200);
    expect((await hls.text()).length).toBeGreaterThan(100_000);
    // The API keeps its JSON 404 beside the static files.
    const missing = await fetch(`${t.url}/api/nothing-here`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'KHU_NOT_FOUND' } });
  });

  it('lets the head invite a household: a QR code and a link; the household joins with a PIN and is home', async () => {
    await head.goto(`${t.url}/`);
    await head.waitForSelector('input[name=username]');
    await screenshot(head, 'login');
    await login(head, 'truongkhu', 'truongkhu-pw');
    await head.goto(`${t.url}/#/head/invites`);
    await head.getByLabel('Tên hộ gia đình').fill('Nhà ông Ba, xóm 2');
    await head.getByLabel('Đường').selectOption(STREET);
    await head.getByRole('button', { name: 'Tạo lời mời' }).click();
    const qr = head.locator('.qr-img');
    await qr.waitFor({ timeout: 5000 });
    await head.waitForFunction(() => {
      const img = document.querySelector('.qr-img');
      return !!img && img.complete && img.naturalWidth > 0;
    });
    const link = await head.locator('.join-link').getAttribute('href');
    expect(link).toMatch(new RegExp(`^${t.url}/#/join/[A-Za-z0-9_-]{32,}$`));
    await head.locator('.invite-list .invite.pending').first().waitFor();
    await screenshot(head, 'head-invite-qr');

    await resident.goto(link!);
    await resident.getByText('Lời mời cho: Nhà ông Ba, xóm 2').waitFor({ timeout: 5000 });
    await resident.locator('input[name=secret]').fill(PIN);
    await resident.locator('input[name=again]').fill(PIN);
    await screenshot(resident, 'join');
    await resident.getByRole('button', { name: 'Vào khu' }).click();
    const notice = resident.locator('.notice');
    await notice.waitFor({ timeout: 5000 });
    residentName = (/: ([a-z0-9._-]+)\./.exec((await notice.textContent()) ?? '') ?? [])[1] ?? '';
    expect(residentName).not.toBe('');
    const me = await resident.evaluate(() => fetch('/api/auth/me').then((r) => r.json()));
    expect(me).toMatchObject({ username: residentName, role: 'resident', zones: [STREET] });

    // The same link again: used, said plainly.
    const again = await browser.newPage({ viewport: { width: 360, height: 640 } });
    await again.goto(link!);
    await again.getByText('Lời mời này đã được dùng rồi', { exact: false }).waitFor({ timeout: 5000 });
    await again.close();
  });

  it('plays the entry camera live in a tile on the home screen: time advances and the picture changes', async () => {
    const sockets: string[] = [];
    resident.on('websocket', (ws) => sockets.push(ws.url()));
    await resident.goto(`${t.url}/#/`);
    await resident.reload();
    const tile = resident.locator(`.tile[data-camera="${camera.id}"]`);
    await tile.waitFor({ timeout: 5000 });
    await resident.waitForFunction(
      () => {
        const v = document.querySelector('.tile video');
        return !!v && v.currentTime > 0.5 && v.readyState >= 2;
      },
      null,
      { timeout: 20_000 },
    );
    const t0 = await resident.evaluate(() => document.querySelector('.tile video').currentTime);
    const first = await videoFingerprint(resident, '.tile video');
    await resident.waitForFunction(
      (start) => document.querySelector('.tile video').currentTime > start + 1,
      t0,
      { timeout: 5000 },
    );
    await waitFor(async () => (await videoFingerprint(resident, '.tile video')) !== first, {
      timeoutMs: 5000,
      message: 'the tile’s picture to change',
    });
    expect(sockets.some((u) => u.endsWith(`/api/cameras/${camera.id}/live?stream=sub`))).toBe(true);
    // It stays near the live edge.
    const lag = await resident.evaluate(() => {
      const v = document.querySelector('.tile video');
      return v.buffered.end(v.buffered.length - 1) - v.currentTime;
    });
    expect(lag).toBeLessThan(1.5);
    expect(await tile.getAttribute('data-state')).toBe('playing');
    await resident.locator('.zone[data-zone="Ngõ Chùa"]').waitFor();
    await screenshot(resident, 'home');
  });

  it('opens the camera full screen on the main stream', async () => {
    const sockets: string[] = [];
    resident.on('websocket', (ws) => sockets.push(ws.url()));
    await resident.locator(`.tile[data-camera="${camera.id}"]`).tap();
    await resident.waitForURL(/#\/camera\//);
    await resident.waitForFunction(
      () => {
        const v = document.querySelector('.stage video');
        return !!v && v.currentTime > 0.5 && v.videoWidth === 640;
      },
      null,
      { timeout: 15_000 },
    );
    expect(sockets.some((u) => u.endsWith(`/api/cameras/${camera.id}/live`))).toBe(true);
    await expect.poll(() => resident.locator('h1').textContent(), { timeout: 5000 }).toBe('Cổng chính');
    await screenshot(resident, 'camera-live');
    await resident.getByRole('button', { name: 'Toàn màn hình' }).click();
    await resident.waitForFunction(
      () => document.fullscreenElement?.classList.contains('stage') === true,
      null,
      {
        timeout: 5000,
      },
    );
    await resident.evaluate(() => document.exitFullscreen());
  });

  it('switches a light and its street, and shows within a second a change made from another session', async () => {
    await resident.goto(`${t.url}/#/lights`);
    const row = (id: string) => resident.locator(`.light[data-light="${id}"]`);
    await row('hv01').waitFor({ timeout: 5000 });
    // Only the resident's street.
    expect(await resident.locator(`.zone[data-zone="${OTHER_STREET}"]`).count()).toBe(0);
    await screenshot(resident, 'lights');

    await row('hv01').getByRole('switch').tap();
    await resident.waitForFunction(
      () => {
        const li = document.querySelector('.light[data-light="hv01"]');
        return (
          li?.querySelector('[role=switch]')?.getAttribute('aria-checked') === 'true' &&
          !li.classList.contains('is-pending')
        );
      },
      null,
      { timeout: 5000 },
    );
    expect(relays.hv01!.state(1)).toBe('on');
    expect(await row('hv01').locator('.light-status').textContent()).toBe('Đang bật');

    // Someone else (the head, through the API) switches hv02: the page shows it within a second
    // of the request, the relay's acknowledgement included.
    const shown = resident.waitForFunction(
      () =>
        document.querySelector('.light[data-light="hv02"] [role=switch]')?.getAttribute('aria-checked') ===
        'true',
      null,
      { timeout: 1000 },
    );
    const res = await t.api('POST', '/api/lights/hv02/state', { as: 'truongkhu', body: { state: 'on' } });
    expect(res.status).toBe(200);
    await shown;

    await resident.getByRole('button', { name: 'Tắt cả đường' }).tap();
    await waitFor(() => relays.hv01!.state(1) === 'off' && relays.hv02!.state(1) === 'off', {
      timeoutMs: 5000,
      message: 'the street off',
    });
    await resident.waitForFunction(
      () =>
        [...document.querySelectorAll('.light [role=switch]')].every(
          (s) => s.getAttribute('aria-checked') === 'false',
        ),
      null,
      { timeout: 2000 },
    );
    expect(relays.xd01!.state(1)).toBe('off');
  });

  it('renders Vietnamese and English, one tap apart, and remembers the choice', async () => {
    await resident.goto(`${t.url}/#/lights`);
    await resident.locator('.light').first().waitFor();
    expect(await resident.getAttribute('html', 'lang')).toBe('vi');
    expect(await resident.locator('h1').textContent()).toBe('Đèn đường');
    expect(await resident.locator('nav.bottom').textContent()).toContain('Trang chủ');
    await resident.getByRole('button', { name: 'English' }).tap();
    await resident.waitForFunction(() => document.documentElement.lang === 'en');
    await resident.locator('h1', { hasText: 'Street lights' }).waitFor();
    expect(await resident.locator('nav.bottom').textContent()).toContain('Home');
    // The street card renders once its lights are loaded again: wait for it, then count.
    await resident.getByRole('button', { name: 'All off' }).first().waitFor({ timeout: 10_000 });
    expect(await resident.getByRole('button', { name: 'All off' }).count()).toBe(1);
    await resident.locator('.light').first().waitFor();
    await screenshot(resident, 'lights-en');
    await resident.reload();
    await resident.locator('h1', { hasText: 'Street lights' }).waitFor();
    expect(await resident.getAttribute('html', 'lang')).toBe('en');
    await resident.getByRole('button', { name: 'Tiếng Việt' }).tap();
    await resident.locator('h1', { hasText: 'Đèn đường' }).waitFor();
    expect(await resident.getAttribute('html', 'lang')).toBe('vi');
  });

  it('keeps a resident out of the head’s pages, and the API refuses them too', async () => {
    expect(await resident.locator('nav.bottom a[href="#/head"]').count()).toBe(0);
    await resident.goto(`${t.url}/#/head/invites`);
    await resident.getByText('Trang này dành cho trưởng khu').waitFor({ timeout: 10_000 });
    expect(await resident.locator('form').count()).toBe(0);
    await screenshot(resident, 'resident-forbidden');
    const statuses = await resident.evaluate(async () => {
      const csrf = /khu_csrf=([^;]+)/.exec(document.cookie)?.[1] ?? '';
      const get = (path: string) => fetch(path).then((r) => r.status);
      return {
        events: await get('/api/events'),
        invites: await get('/api/invites'),
        users: await get('/api/users'),
        create: await fetch('/api/invites', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
          body: JSON.stringify({ role: 'resident', household: 'x' }),
        }).then((r) => r.status),
      };
    });
    expect(statuses).toEqual({ events: 403, invites: 403, users: 403, create: 403 });
  });

  it('shows the head the event log and the residents', async () => {
    await head.goto(`${t.url}/#/head/events`);
    await head.locator('.event[data-type="light.switched"]').first().waitFor({ timeout: 5000 });
    expect(await head.locator('.event-list').textContent()).toContain(residentName);
    await screenshot(head, 'head-events');
    await head.goto(`${t.url}/#/head/residents`);
    await head.locator(`.resident[data-user="${residentName}"]`).waitFor({ timeout: 5000 });
    expect(await head.locator(`.resident[data-user="${residentName}"]`).textContent()).toContain(
      'Nhà ông Ba, xóm 2',
    );
    await screenshot(head, 'head-residents');
  });

  it('goes back in time: a tap on the timeline plays the recording from that moment', async () => {
    // At least 50 s recorded, so that a moment 45 s ago and a 30 s clip after it exist.
    const recordedSince = async () => {
      const now = Date.now();
      const res = await t.api<{ segments: Array<{ start: string }> }>(
        'GET',
        `/api/cameras/${camera.id}/recordings?from=${new Date(now - 600_000).toISOString()}&to=${new Date(now).toISOString()}`,
      );
      return res.body.segments.length ? Date.parse(res.body.segments[0]!.start) : now;
    };
    await waitFor(async () => (await recordedSince()) <= Date.now() - 52_000, {
      timeoutMs: 70_000,
      intervalMs: 1000,
      message: '52 s of recording',
    });
    const playlists: string[] = [];
    resident.on('request', (r) => {
      if (r.url().includes('/playback.m3u8')) playlists.push(r.url());
    });
    await resident.goto(`${t.url}/#/camera/${camera.id}/replay`);
    await resident.locator('button[data-zoom="tenmin"]').tap();
    const timeline = resident.locator('.timeline');
    await resident.locator('.tl-rec').first().waitFor({ timeout: 5000 });
    const target = Date.now() - 45_000;
    const box = (await resident.locator('.tl-track').boundingBox())!;
    const start = Date.parse((await timeline.getAttribute('data-start'))!);
    const end = Date.parse((await timeline.getAttribute('data-end'))!);
    const x = box.x + ((target - start) / (end - start)) * box.width;
    await resident.touchscreen.tap(x, box.y + box.height / 2);
    const pxMs = (end - start) / box.width;

    await waitFor(
      () =>
        playlists.some(
          (u) => Math.abs(Date.parse(new URL(u).searchParams.get('from')!) - target) < pxMs + 1000,
        ),
      {
        timeoutMs: 5000,
        message: 'a playlist from the tapped moment',
      },
    );
    await resident.waitForFunction(
      () => {
        const v = document.querySelector('.stage video');
        return !!v && v.readyState >= 2 && !v.paused && v.currentTime > 0;
      },
      null,
      { timeout: 15_000 },
    );
    const position = async () =>
      Date.parse((await resident.locator('.stage').getAttribute('data-position')) ?? '');
    await waitFor(async () => !Number.isNaN(await position()), {
      timeoutMs: 5000,
      message: 'a playing position',
    });
    const p1 = await position();
    expect(Math.abs(p1 - target)).toBeLessThan(pxMs + 3000);
    await waitFor(async () => (await position()) > p1 + 1000, {
      timeoutMs: 5000,
      message: 'playback to advance',
    });
    await screenshot(resident, 'replay');
  }, 120_000);

  it('saves a clip of the chosen stretch as a valid MP4 of the right length', async () => {
    await resident.locator('button[data-length="30"]').tap();
    const link = resident.locator('a[data-clip="chosen"]');
    const [download] = await Promise.all([
      resident.waitForEvent('download', { timeout: 30_000 }),
      link.tap(),
    ]);
    const href = new URL((await link.getAttribute('href'))!, t.url);
    const expected =
      (Date.parse(href.searchParams.get('to')!) - Date.parse(href.searchParams.get('from')!)) / 1000;
    expect(expected).toBeGreaterThan(25);
    const file = join(ARTIFACTS, 'clip.mp4');
    await download.saveAs(file);
    expect(await download.failure()).toBeNull();
    const probe = JSON.parse(
      execFileSync(
        'ffprobe',
        [
          '-v',
          'error',
          '-show_entries',
          'format=duration,format_name:stream=codec_name',
          '-of',
          'json',
          file,
        ],
        {
          encoding: 'utf8',
        },
      ),
    ) as { format: { duration: string; format_name: string }; streams: Array<{ codec_name: string }> };
    expect(probe.format.format_name).toContain('mp4');
    expect(probe.streams.map((s) => s.codec_name)).toContain('h264');
    // Codec copy: the clip starts at the key frame at or before `from` (1 s apart here) and ends
    // with the fragment (0.5 s) that reaches `to`; the audio of that fragment may run a little on.
    const duration = Number(probe.format.duration);
    expect(duration).toBeGreaterThan(expected - 0.5);
    expect(duration).toBeLessThan(expected + 2);
  }, 60_000);
});
