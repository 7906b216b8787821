/**
 * Cameras through the hub's API: added by ONVIF login or RTSP address, recorded at once, their
 * recordings listed; every bad input refused with a clear error and nothing changed.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimOnvifCamera } from '../../firmware-sim/camera/onvif-camera.js';
import { SimRtspCamera } from '../../firmware-sim/camera/rtsp-server.js';
import type { CameraView } from '../../hub/src/cameras/cameras-service.js';
import { TestHub } from '../helpers/hub.js';
import { waitFor } from '../helpers/wait.js';

let t: TestHub;
let rtsp: SimRtspCamera;
let onvif: SimOnvifCamera;

beforeEach(async () => {
  rtsp = new SimRtspCamera({
    host: '127.0.0.2',
    username: 'admin',
    password: 'cam-secret-pw',
    media: { clipSeconds: 4, keyframeSeconds: 1, main: { width: 640, height: 360, bitrateKbps: 400 } },
  });
  await rtsp.start();
  onvif = new SimOnvifCamera({
    host: '127.0.0.2',
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
  await t?.close();
  await onvif.stop();
  await rtsp.stop();
});

const onvifAddress = () => new URL(onvif.deviceServiceUrl).host;

describe('adding cameras', () => {
  it('adds an ONVIF camera, records it at once, and lists what was recorded', async () => {
    const res = await t.api<CameraView>('POST', '/api/cameras', {
      body: {
        name: 'Cổng chính',
        onvif: { address: onvifAddress(), username: 'admin', password: 'cam-secret-pw' },
      },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: 'Cổng chính',
      kind: 'onvif',
      manufacturer: 'Khu Sim',
      hasSnapshot: true,
    });
    expect(res.body.mainUri).toBe(rtsp.url('/main'));
    const id = res.body.id;
    await waitFor(
      async () => (await t.api<CameraView[]>('GET', '/api/cameras')).body[0]?.lastSegmentAt !== null,
      { timeoutMs: 20_000, message: 'a first recorded segment' },
    );
    await t.createUser('bahoa', 'resident');
    const from = new Date(Date.now() - 60_000).toISOString();
    const to = new Date(Date.now() + 60_000).toISOString().replace('Z', '+00:00');
    const rec = await t.api<{ segments: Array<{ start: string; end: string }>; gaps: unknown[] }>(
      'GET',
      `/api/cameras/${id}/recordings?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
      { as: 'bahoa' },
    );
    expect(rec.status).toBe(200);
    // A closed segment and the one being written, which ends now.
    expect(rec.body.segments.length).toBeGreaterThanOrEqual(2);
    expect(rec.body.segments.at(-1)!.end).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    // The camera's login appears in no answer and no log line.
    const everything = JSON.stringify([
      res.body,
      rec.body,
      (await t.api('GET', '/api/cameras')).body,
      t.logs,
    ]);
    expect(everything).not.toContain('cam-secret-pw');

    expect((await t.api('DELETE', `/api/cameras/${id}`)).status).toBe(204);
    expect((await t.api<CameraView[]>('GET', '/api/cameras')).body).toEqual([]);
    expect(existsSync(join(t.dataDir, 'recordings', id))).toBe(false);
  });

  it('adds a camera without ONVIF by its RTSP address, keeping the login out of the stored address', async () => {
    const res = await t.api<CameraView>('POST', '/api/cameras', {
      body: { name: 'Ngõ 3', rtsp: { url: rtsp.url('/main', true) } },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ kind: 'rtsp', mainUri: rtsp.url('/main') });
    expect(JSON.stringify(res.body)).not.toContain('cam-secret-pw');
  });
});

describe('camera clocks', () => {
  it('sets the clock of a camera that is an hour off, once it is added, and logs it', async () => {
    onvif.clockOffsetMs = 3_600_000; // a camera back from a power cut, or never set
    const res = await t.api<CameraView>('POST', '/api/cameras', {
      body: {
        name: 'Cổng chính',
        onvif: { address: onvifAddress(), username: 'admin', password: 'cam-secret-pw' },
      },
    });
    expect(res.status).toBe(201);
    await waitFor(() => Math.abs(onvif.clockOffsetMs) < 3000, {
      timeoutMs: 15_000,
      message: 'the camera clock set to the hub’s',
    });
    // The event log writes in batches: wait for the entry.
    let driftMs = 0;
    await waitFor(
      async () => {
        const events = await t.api<{ events: Array<{ target: string; data: { driftMs: number } }> }>(
          'GET',
          '/api/events?type=camera.clock_set',
        );
        driftMs = events.body.events.find((e) => e.target === res.body.id)?.data.driftMs ?? 0;
        return driftMs > 0;
      },
      { timeoutMs: 5000, message: 'camera.clock_set in the event log' },
    );
    expect(driftMs).toBeGreaterThan(3_590_000);
  });
});

describe('bad camera input', () => {
  const count = async () => (await t.api<CameraView[]>('GET', '/api/cameras')).body.length;

  it('refuses a wrong ONVIF login, an unreachable camera and a hostile stream address, adding nothing', async () => {
    const wrong = await t.api<{ error: { code: string } }>('POST', '/api/cameras', {
      body: { name: 'x', onvif: { address: onvifAddress(), username: 'admin', password: 'nope' } },
    });
    expect(wrong.status).toBe(422);
    expect(wrong.body.error.code).toBe('KHU_CAMERA_LOGIN_REFUSED');

    const unreachable = await t.api<{ error: { code: string } }>('POST', '/api/cameras', {
      body: { name: 'x', rtsp: { url: 'rtsp://127.0.0.3:1/none' } },
    });
    expect(unreachable.status).toBe(502);
    expect(unreachable.body.error.code).toBe('KHU_CAMERA_UNREACHABLE');

    onvif.hostileStreamUri = 'file:///etc/passwd';
    const hostile = await t.api<{ error: { code: string; message: string } }>('POST', '/api/cameras', {
      body: { name: 'x', onvif: { address: onvifAddress(), username: 'admin', password: 'cam-secret-pw' } },
    });
    expect(hostile.status).toBe(422);
    expect(hostile.body.error).toMatchObject({
      code: 'KHU_CAMERA_UNUSABLE',
      message: expect.stringMatching(/rtsp/),
    });

    for (const url of ['concat:rtsp://a|file:///etc/shadow', 'http://127.0.0.2/x', 'file:///etc/passwd']) {
      const r = await t.api<{ error: { code: string } }>('POST', '/api/cameras', {
        body: { name: 'x', rtsp: { url } },
      });
      expect(r.status).toBe(422);
    }
    expect(await count()).toBe(0);
  });

  it('refuses malformed bodies and ranges, and cameras for residents', async () => {
    const both = await t.api('POST', '/api/cameras', {
      body: { name: 'x', rtsp: { url: rtsp.url() }, onvif: { address: 'a', username: 'b', password: 'c' } },
    });
    expect(both.status).toBe(400);
    expect((await t.api('POST', '/api/cameras', { body: { name: 'x' } })).status).toBe(400);
    expect((await t.api('POST', '/api/cameras', { body: { rtsp: { url: rtsp.url() } } })).status).toBe(400);
    await t.createUser('bahoa', 'resident');
    expect(
      (await t.api('POST', '/api/cameras', { as: 'bahoa', body: { name: 'x', rtsp: { url: rtsp.url() } } }))
        .status,
    ).toBe(403);
    expect(
      (
        await t.api(
          'GET',
          '/api/cameras/cam-000000/recordings?from=2026-11-26T00:00:00Z&to=2026-11-26T01:00:00Z',
        )
      ).status,
    ).toBe(404);
    const created = await t.api<CameraView>('POST', '/api/cameras', {
      body: { name: 'Ngõ 3', rtsp: { url: rtsp.url('/main', true) } },
    });
    const base = `/api/cameras/${created.body.id}/recordings`;
    for (const q of [
      '',
      '?from=yesterday&to=today',
      '?from=2026-11-26T10:00:00Z&to=2026-11-26T09:00:00Z',
      '?from=2026-01-01T00:00:00Z&to=2026-11-26T00:00:00Z',
    ]) {
      expect((await t.api('GET', base + q)).status).toBe(400);
    }
    expect(await count()).toBe(1);
  });
});
