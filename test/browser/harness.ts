/**
 * What the browser suites share: Debian's Chromium through playwright-core at phone size, the
 * web app built from its sources, a hub with a simulated camera, and screenshots for humans
 * under test/artifacts/. Everything started here is stopped by `close()`.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { SimOnvifCamera } from '../../firmware-sim/camera/onvif-camera.js';
import { SimRtspCamera } from '../../firmware-sim/camera/rtsp-server.js';
import { buildWeb } from '../../scripts/build-web.js';

// Code passed to page.evaluate runs in the browser; the hub's tsconfig has no DOM types.
// biome-ignore lint/suspicious/noExplicitAny: the page's globals, typed by the browser
declare const document: any;

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));

let built: Promise<number> | undefined;
/** Builds the app from hub/web once per test file (tsc + copy; a few seconds). */
export function buildWebOnce(): Promise<number> {
  built ??= Promise.resolve().then(() => buildWeb().jsGzipBytes);
  return built;
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (scripts/preflight.sh --browser)`);
  }
  return chromium.launch({
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
}

/** A phone: 360×640, touch, in a time zone other than the area's (times must still show in ICT). */
export function phone(browser: Browser): Promise<BrowserContext> {
  return browser.newContext({
    viewport: { width: 360, height: 640 },
    isMobile: true,
    hasTouch: true,
    deviceScaleFactor: 1,
    timezoneId: 'UTC',
    acceptDownloads: true,
  });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
}

export interface SimCamera {
  rtsp: SimRtspCamera;
  onvif: SimOnvifCamera;
  address: string;
  stop(): Promise<void>;
}

export async function simCamera(host: string, name: string): Promise<SimCamera> {
  const rtsp = new SimRtspCamera({
    host,
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
  const onvif = new SimOnvifCamera({
    host,
    username: 'admin',
    password: 'cam-secret-pw',
    name,
    discovery: false,
    streamUris: { main: rtsp.url('/main'), sub: rtsp.url('/sub') },
  });
  await onvif.start();
  return {
    rtsp,
    onvif,
    address: new URL(onvif.deviceServiceUrl).host,
    stop: async () => {
      await onvif.stop();
      await rtsp.stop();
    },
  };
}

/**
 * A fingerprint of the picture a `<video>` shows now (drawn on a canvas, a grid of pixels
 * summed): two different fingerprints mean the frames changed.
 */
export function videoFingerprint(page: Page, selector: string): Promise<string> {
  return page.evaluate((sel) => {
    const video = document.querySelector(sel);
    if (!video || video.videoWidth === 0) return '';
    const canvas = document.createElement('canvas');
    canvas.width = 64;
    canvas.height = 36;
    const ctx = canvas.getContext('2d');
    if (!ctx) return '';
    ctx.drawImage(video, 0, 0, 64, 36);
    const data = ctx.getImageData(0, 0, 64, 36).data;
    let hash = 0;
    for (let i = 0; i < data.length; i += 4)
      hash = (hash * 31 + data[i]! + data[i + 1]! * 7 + data[i + 2]! * 13) >>> 0;
    return String(hash);
  }, selector);
}
