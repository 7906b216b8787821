/**
 * Schedule benchmarks, on one hub child process with a simulated fleet:
 *   schedule.transition_skew_ms   1000 lights in 30 zones, one program per zone, all switching at
 *                                 the same instant: programmed instant → last acknowledgement
 *   hub.boot_to_ready_ms          spawn → the API serving, with 1000 relays and 8 RTSP cameras
 *                                 configured (and the fleet reconnecting meanwhile)
 *
 * Run alone: `node dist/scripts/bench/schedule.js`. Smaller runs for a check:
 * KHU_BENCH_SCHEDULE_RELAYS=100 KHU_BENCH_SCHEDULE_CAMERAS=1.
 */
import { SimRtspCamera } from '../../firmware-sim/camera/rtsp-server.js';
import { SimFleet } from '../../firmware-sim/fleet.js';
import type { Provisioning } from '../../firmware-sim/provisioning.js';
import { SiteClock } from '../../hub/src/schedules/site-clock.js';
import {
  emit,
  figure,
  freePort,
  HttpClient,
  HubChild,
  type HubChildOptions,
  isMain,
  LOOPBACK,
  mapLimit,
  median,
  onCleanup,
  progress,
  runBench,
  tempDir,
  waitFor,
  withTimeout,
  writeBenchConfig,
} from './lib.js';

const RELAYS = Number(process.env.KHU_BENCH_SCHEDULE_RELAYS ?? 1000);
const CAMERAS = Number(process.env.KHU_BENCH_SCHEDULE_CAMERAS ?? 8);
const ZONES = 30;
const LEAD_MS = 8000;
const TRANSITIONS = 3;
const BOOTS = 3;
const CAM_USER = 'bench';
const CAM_PASSWORD = 'bench-pw';
const SITE_ZONE = 'Asia/Ho_Chi_Minh';

interface LightView {
  id: string;
  zone: string;
  reported: 'on' | 'off' | null;
  pending: boolean;
  online: boolean;
}

function cronAt(clock: SiteClock, ms: number): string {
  const p = clock.parts(ms);
  return `${p.second} ${p.minute} ${p.hour} * * *`;
}

async function main(): Promise<void> {
  const dir = tempDir('khu-bench-schedule-');
  const opts: HubChildOptions = {
    dataDir: dir,
    httpPort: await freePort(),
    mqttPort: await freePort(),
    adminPassword: 'bench-admin-pw',
    configFile: writeBenchConfig(dir, `site:\n  timezone: ${SITE_ZONE}\n`),
    label: 'hub',
  };
  let hub = new HubChild(opts);
  const http = new HttpClient(hub.url, { maxSockets: 4 });
  await hub.waitHealthy(http);
  await http.login('admin', opts.adminPassword);

  // ---- relays in 30 streets, every tenth a 2-channel cabinet -----------------------------------
  const specs = Array.from({ length: RELAYS }, (_, i) => ({
    id: `sched${String(i + 1).padStart(4, '0')}`,
    name: `Pole ${i + 1}`,
    zone: `street-${(i % ZONES) + 1}`,
    channels: (i + 1) % 10 === 0 ? 2 : 1,
  }));
  const logins = await mapLimit(specs, 16, (spec) =>
    http.call<{ mqtt: { username: string; password: string; topic: string } }>(
      'POST',
      '/api/devices/relays',
      spec,
      201,
    ),
  );
  const provisioning: Provisioning = {
    broker: { host: LOOPBACK, port: opts.mqttPort },
    relays: logins.map((l, i) => ({ ...l.mqtt, channels: specs[i]!.channels })),
  };
  const fleet = new SimFleet(provisioning, {
    host: LOOPBACK,
    port: opts.mqttPort,
    telePeriodSec: 0,
    concurrency: 100,
    relay: { reconnect: { initialMs: 100, maxMs: 1000 } },
  });
  onCleanup('stop the fleet', () => fleet.stop());
  const started = await withTimeout('the fleet connecting', fleet.start(), 60_000);
  if (started.failed.length > 0) throw new Error(`${started.failed.length} relays failed to connect`);
  const lightsAre = async (want: 'on' | 'off' | 'known') => {
    const lights = (await http.call<LightView[]>('GET', '/api/lights', undefined, 200)).filter((l) =>
      l.zone.startsWith('street-'),
    );
    return lights.every(
      (l) => l.online && !l.pending && (want === 'known' ? l.reported !== null : l.reported === want),
    );
  };
  await waitFor('every light reported', async () => ((await lightsAre('known')) ? true : undefined), {
    timeoutMs: 30_000,
  });
  const lightCount = specs.reduce((n, s) => n + s.channels, 0);
  progress(`schedule: ${RELAYS} relays (${lightCount} lights) in ${ZONES} streets online`);

  // ---- transition skew: one program per street, all switching at the same instant --------------
  const clock = new SiteClock(SITE_ZONE);
  const skews: number[] = [];
  for (let run = 0; run < TRANSITIONS; run++) {
    const want = run % 2 === 0 ? 'on' : 'off';
    const other = want === 'on' ? 'off' : 'on';
    const at = Math.ceil((Date.now() + LEAD_MS) / 1000) * 1000;
    for (let z = 1; z <= ZONES; z++) {
      const body = {
        name: `Street ${z}`,
        rules: [
          { state: other, cron: cronAt(clock, Date.now() - 3_600_000) },
          { state: want, cron: cronAt(clock, at) },
        ],
      };
      if (run === 0) await http.call('POST', '/api/schedule/programs', { id: `street-${z}`, ...body }, 201);
      else await http.call('PUT', `/api/schedule/programs/street-${z}`, body, 200);
    }
    if (run === 0) {
      const zones = Object.fromEntries(
        Array.from({ length: ZONES }, (_, z) => [`street-${z + 1}`, `street-${z + 1}`]),
      );
      await http.call('PUT', '/api/schedule/defaults', { program: null, zones, lights: {} }, 200);
    }
    await waitFor(
      `every light ${other} before the instant`,
      async () => ((await lightsAre(other)) ? true : undefined),
      {
        timeoutMs: 10_000,
      },
    );
    if (Date.now() >= at - 500) throw new Error('set-up took longer than the lead time; raise LEAD_MS');
    // The last acknowledgement: the hub's view, polled every 10 ms (the poll adds ≤ 10 ms).
    await waitFor(
      `every light ${want} after the instant`,
      async () => ((await lightsAre(want)) ? true : undefined),
      {
        timeoutMs: LEAD_MS + 10_000,
        everyMs: 10,
      },
    );
    skews.push(Date.now() - at);
    progress(
      `schedule: run ${run + 1}: all ${lightCount} lights ${want} ${skews.at(-1)} ms after the instant`,
    );
  }
  emit(
    figure(
      'schedule.transition_skew_ms',
      median(skews),
      'ms',
      { max: 1000 },
      {
        note: `median of ${TRANSITIONS}: ${lightCount} lights on ${RELAYS} relays in ${ZONES} streets, one program each, same instant → every light acknowledged (hub view, 10 ms polls)`,
        runs: skews,
      },
    ),
  );

  // ---- boot to ready with relays and cameras configured ------------------------------------------
  const cameras = Array.from(
    { length: CAMERAS },
    (_, i) =>
      new SimRtspCamera({
        name: `sched-cam-${i + 1}`,
        host: `127.0.0.${i + 2}`,
        username: CAM_USER,
        password: CAM_PASSWORD,
      }),
  );
  for (const cam of cameras) onCleanup(`stop camera ${cam.host}`, () => cam.stop());
  if (cameras.length > 0) {
    await withTimeout('the first camera preparing its media', cameras[0]!.start(), 180_000);
    await withTimeout('the cameras starting', Promise.all(cameras.slice(1).map((c) => c.start())), 60_000);
  }
  for (const [i, cam] of cameras.entries()) {
    await http.call(
      'POST',
      '/api/cameras',
      { name: `Gate ${i + 1}`, rtsp: { url: cam.url('/main'), username: CAM_USER, password: CAM_PASSWORD } },
      201,
    );
  }
  const boots: number[] = [];
  for (let i = 0; i < BOOTS; i++) {
    await hub.stop();
    hub = new HubChild(opts);
    const probe = new HttpClient(hub.url, { maxSockets: 1 });
    boots.push(await hub.waitHealthy(probe, 20_000, 5));
    probe.agent.destroy();
    progress(`schedule: boot ${i + 1}: API serving ${boots.at(-1)!.toFixed(0)} ms after spawn`);
  }
  emit(
    figure(
      'hub.boot_to_ready_ms',
      median(boots),
      'ms',
      { max: 3000 },
      {
        note: `median of ${BOOTS}: spawn of the hub → GET /api/health answers; ${RELAYS} relays (reconnecting meanwhile), ${CAMERAS} RTSP cameras configured, programs for ${ZONES} streets`,
        runs: boots.map((b) => Math.round(b)),
      },
    ),
  );
  http.agent.destroy();
  await hub.stop();
}

if (isMain(import.meta.url)) void runBench('schedule', main);
