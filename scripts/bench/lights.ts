/**
 * Lights benchmarks, all on one hub child process and one simulated fleet of 1000 relays:
 *   lights.command.p50_ms / p99_ms   phone API → relay → acknowledged state, one light at a time
 *   lights.all_1000.ms               one command to every light until each is acknowledged
 *   hub.rss_mb.idle / relays_1000    the hub's Node process RSS (its own process: /proc/<pid>/status)
 *   lights.reconnect_1000.ms         graceful hub restart → every relay online again
 *   hub.start_ms.relays_1000         spawn → /api/health answers, 1000 relays configured
 *
 * Run alone: `node dist/scripts/bench/lights.js`. For investigations: KHU_BENCH_CPU_PROF=<dir>
 * writes `--cpu-prof` profiles of the hub processes there, KHU_BENCH_HUB_NODE_ARGS adds node
 * flags to the hub (e.g. `--trace-gc`), KHU_BENCH_DUMP_LATENCIES=<file> writes every measured
 * command as [epoch ms, latency ms, light id] (to line up with `strace -ttt`).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { SimFleet } from '../../firmware-sim/fleet.js';
import type { PowerState } from '../../hub/src/protocol/tasmota.js';
import {
  emit,
  figure,
  freePort,
  HttpClient,
  HubChild,
  type HubChildOptions,
  isMain,
  LOOPBACK,
  median,
  onCleanup,
  percentile,
  progress,
  provisionBenchRelays,
  round,
  runBench,
  sleep,
  tcpCounters,
  tcpDelta,
  tempDir,
  waitFor,
  withTimeout,
  writeBenchConfig,
} from './lib.js';

const RELAYS = 1000;
// Every 10th relay is a 2-channel cabinet (provisionBenchRelays): 1000 relays, 1100 lights.
const WARMUP_COMMANDS = 100;
const COMMANDS = 1000;
const COMMAND_BUDGET_MS = 60_000;
const ALL_RUNS = 5;
const RECONNECT = { initialMs: 100, maxMs: 1000 };
const RESTARTS = 3;

interface LightView {
  id: string;
  zone: string;
  desired: PowerState | null;
  reported: PowerState | null;
  online: boolean;
  pending: boolean;
}

interface Health {
  mqtt: { devicesOnline: number };
}

interface BenchLight {
  id: string;
  relay: string;
  channel: number;
}

export async function benchLights(): Promise<void> {
  const dataDir = tempDir('lights');
  const opts: HubChildOptions = {
    dataDir,
    httpPort: await freePort(),
    mqttPort: await freePort(),
    adminPassword: randomBytes(18).toString('base64url'),
    configFile: writeBenchConfig(dataDir),
    cpuProfDir: process.env.KHU_BENCH_CPU_PROF || undefined,
  };
  progress(`lights: hub child on http ${opts.httpPort}, mqtt ${opts.mqttPort}, data ${dataDir}`);

  // ---- start, idle memory -----------------------------------------------------------------------
  let hub = new HubChild(opts);
  const http = new HttpClient(hub.url, { maxSockets: 1 });
  const startEmptyMs = await hub.waitHealthy(http);
  progress(`lights: hub (pid ${hub.pid}) up in ${startEmptyMs.toFixed(0)} ms (no devices)`);
  await http.login('admin', opts.adminPassword);
  await sleep(500);
  const idle = hub.memory();
  emit(
    figure('hub.rss_mb.idle', idle.rssMb, 'MB', undefined, {
      peak_mb: round(idle.peakMb, 1),
      note: 'VmRSS/1024 of the hub process, started, no devices',
    }),
  );

  // ---- provision 1000 relays through the API -----------------------------------------------------
  const t0 = performance.now();
  const { specs, provisioning } = await provisionBenchRelays(
    hub.url,
    http.token!,
    opts.mqttPort,
    RELAYS,
    'bench',
  );
  progress(`lights: provisioned ${RELAYS} relays in ${(performance.now() - t0).toFixed(0)} ms`);

  const lights: BenchLight[] = specs.flatMap((s) =>
    s.channels === 1
      ? [{ id: s.id, relay: s.id, channel: 1 }]
      : Array.from({ length: s.channels }, (_, c) => ({
          id: `${s.id}-${c + 1}`,
          relay: s.id,
          channel: c + 1,
        })),
  );

  // ---- the fleet, in this process ---------------------------------------------------------------
  const fleet = new SimFleet(provisioning, {
    host: LOOPBACK,
    port: opts.mqttPort,
    telePeriodSec: 0,
    concurrency: 100,
    relay: { reconnect: RECONNECT },
  });
  let fleetStopped = false;
  onCleanup('stop the fleet', () => (fleetStopped ? undefined : fleet.stop()));
  const t1 = performance.now();
  const cpuBeforeFleet = hub.cpuMs();
  const tcpBeforeFleet = tcpCounters();
  const started = await withTimeout('the fleet connecting', fleet.start(), 60_000);
  if (started.failed.length > 0) {
    throw new Error(`${started.failed.length} relays failed to connect: ${started.failed[0]!.error.message}`);
  }
  progress(
    `lights: ${started.started} relays subscribed in ${(performance.now() - t1).toFixed(0)} ms (100 at a time), hub CPU ${(hub.cpuMs() - cpuBeforeFleet).toFixed(0)} ms, ${JSON.stringify(tcpDelta(tcpBeforeFleet))}`,
  );
  const relayOf = (l: BenchLight) => fleet.get(l.relay)!;
  const simState = (l: BenchLight) => relayOf(l).state(l.channel);

  // Every light known: online and reported (the hub queries each relay when it subscribes).
  const state = new Map<string, PowerState>();
  await waitFor(
    'every light to be online with a reported state',
    async () => {
      const list = await http.call<LightView[]>('GET', '/api/lights');
      const ready = list.length === lights.length && list.every((l) => l.online && l.reported && !l.pending);
      if (!ready) return undefined;
      for (const l of list) state.set(l.id, l.reported!);
      return true;
    },
    { timeoutMs: 30_000, everyMs: 100 },
  );

  const connectedMem = hub.memory();

  // ---- 1. one light at a time ------------------------------------------------------------------
  const latencies: number[] = [];
  const failures: string[] = [];
  /** [epoch ms of the request, latency ms, light]: KHU_BENCH_DUMP_LATENCIES=<file> writes them out. */
  const samples: Array<[number, number, string]> = [];
  const commandOne = async (i: number, record: boolean) => {
    const target: PowerState = i % 2 === 0 ? 'on' : 'off';
    // A random light that is not already in the target state (else the hub has nothing to do).
    let light: BenchLight | undefined;
    for (let tries = 0; tries < 100 && !light; tries++) {
      const l = lights[Math.floor(Math.random() * lights.length)]!;
      if (state.get(l.id) !== target) light = l;
    }
    light ??= lights.find((l) => state.get(l.id) !== target);
    if (!light) throw new Error(`no light left to switch ${target}`);
    const t = performance.now();
    const res = await http.request<LightView>('POST', `/api/lights/${light.id}/state`, { state: target });
    const ms = performance.now() - t;
    const ok = res.status === 200 && res.body.pending === false && res.body.reported === target;
    if (!ok) failures.push(`${light.id}: ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
    else if (simState(light) !== target) failures.push(`${light.id}: the sim is ${simState(light)}`);
    state.set(light.id, target);
    if (record) {
      latencies.push(ms);
      samples.push([round(performance.timeOrigin + t, 1), round(ms, 3), light.id]);
    }
  };
  progress(`lights: ${WARMUP_COMMANDS} warm-up commands, then ${COMMANDS} measured`);
  for (let i = 0; i < WARMUP_COMMANDS; i++) await commandOne(i, false);
  failures.length = 0;
  const budgetEnd = performance.now() + COMMAND_BUDGET_MS;
  for (let i = 0; i < COMMANDS && performance.now() < budgetEnd; i++) await commandOne(i, true);
  if (process.env.KHU_BENCH_DUMP_LATENCIES) {
    writeFileSync(
      process.env.KHU_BENCH_DUMP_LATENCIES,
      `${JSON.stringify({
        benchTimeOrigin: performance.timeOrigin,
        // CLOCK_MONOTONIC at performance.now() = 0, in µs: the clock of `--cpu-prof` timestamps.
        monotonicOriginUs: Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000,
        samples,
      })}\n`,
    );
  }
  const commandExtra = {
    commands: latencies.length,
    failed: failures.length,
    mean_ms: round(latencies.reduce((a, b) => a + b, 0) / latencies.length),
    max_ms: round(Math.max(...latencies)),
    relays: RELAYS,
    ...(failures.length > 0 ? { ok: false } : {}),
    note: 'HTTP keep-alive round trip of POST /api/lights/:id/state; the answer carries the ack',
  };
  if (failures.length > 0)
    progress(`lights: ${failures.length} commands not acknowledged, e.g. ${failures[0]}`);
  emit(figure('lights.command.p50_ms', percentile(latencies, 50), 'ms', { max: 5 }, commandExtra));
  emit(figure('lights.command.p99_ms', percentile(latencies, 99), 'ms', { max: 15 }, commandExtra));

  // ---- 2. every light at once ------------------------------------------------------------------
  const switchAll = async (target: PowerState) => {
    const t = performance.now();
    const res = await http.request<{ lights: LightView[] }>(
      'POST',
      '/api/lights/state',
      { state: target },
      { timeoutMs: 15_000 },
    );
    const ms = performance.now() - t;
    if (res.status !== 200) throw new Error(`POST /api/lights/state answered ${res.status}`);
    const answered = res.body.lights;
    const notAcked = answered.filter((l) => l.pending || l.reported !== target).length;
    const simsWrong = lights.filter((l) => simState(l) !== target).length;
    for (const l of lights) state.set(l.id, target);
    return { ms, answered: answered.length, notAcked, simsWrong };
  };
  // Untimed: every light off first, so that each timed run switches every light.
  await switchAll('off');
  await sleep(200);
  const runs: number[] = [];
  let allProblems = 0;
  let answeredCount = 0;
  for (let r = 0; r < ALL_RUNS; r++) {
    const target: PowerState = r % 2 === 0 ? 'on' : 'off';
    const run = await switchAll(target);
    runs.push(round(run.ms, 1));
    answeredCount = run.answered;
    allProblems += run.notAcked + run.simsWrong + (run.answered === lights.length ? 0 : 1);
    progress(
      `lights: all ${target}: ${run.ms.toFixed(1)} ms, ${run.answered} lights, ${run.notAcked} not acked, ${run.simsWrong} sims differ`,
    );
    await sleep(200);
  }
  emit(
    figure(
      'lights.all_1000.ms',
      median(runs),
      'ms',
      { max: 250 },
      {
        runs,
        lights: answeredCount,
        relays: RELAYS,
        ...(allProblems > 0 ? { ok: false, problems: allProblems } : {}),
        note: `median of ${ALL_RUNS} runs alternating on/off; POST /api/lights/state until all ${lights.length} lights acknowledged (checked in the answer and on the sims)`,
      },
    ),
  );

  // ---- 3. memory with the relays ----------------------------------------------------------------
  await sleep(500);
  const loaded = hub.memory();
  emit(
    figure(
      'hub.rss_mb.relays_1000',
      loaded.rssMb,
      'MB',
      { max: 150 },
      {
        peak_mb: round(loaded.peakMb, 1),
        before_commands_mb: round(connectedMem.rssMb, 1),
        lights: lights.length,
        note: 'VmRSS/1024 of the hub process, 1000 relays connected, after the commands; peak_mb = VmHWM',
      },
    ),
  );

  // ---- 4. restart: every relay back -------------------------------------------------------------
  const restarts: Array<{
    ms: number;
    startMs: number;
    fleetMs: number;
    stopMs: number;
    cpuMs: number;
    tcp: Record<string, number>;
  }> = [];
  for (let r = 0; r < RESTARTS; r++) {
    const stopped = await hub.stop();
    const tcpBefore = tcpCounters();
    hub = new HubChild({ ...opts, label: `hub#${r + 2}` });
    const startMs = await hub.waitHealthy(http, 20_000, 20);
    const cpuAtStart = hub.cpuMs();
    let fleetMs = Number.NaN;
    let hubMs = Number.NaN;
    const fleetCheck = () => {
      if (Number.isNaN(fleetMs) && fleet.connectedCount === RELAYS)
        fleetMs = performance.now() - hub.spawnedAt;
    };
    await waitFor(
      'every relay online again',
      async () => {
        fleetCheck();
        const res = await http.request<Health>('GET', '/api/health', undefined, { timeoutMs: 2000 });
        if (Number.isNaN(hubMs) && res.status === 200 && res.body.mqtt.devicesOnline >= RELAYS) {
          hubMs = performance.now() - hub.spawnedAt;
        }
        fleetCheck();
        return Number.isNaN(hubMs) || Number.isNaN(fleetMs) ? undefined : true;
      },
      { timeoutMs: 30_000, everyMs: 20 },
    );
    const run = {
      ms: hubMs,
      startMs,
      fleetMs,
      stopMs: stopped.ms,
      cpuMs: hub.cpuMs() - cpuAtStart,
      tcp: tcpDelta(tcpBefore),
    };
    restarts.push(run);
    progress(
      `lights: restart ${r + 1}: stop ${run.stopMs.toFixed(0)} ms; spawn → API ${startMs.toFixed(0)} ms, → ${RELAYS} relays online ${hubMs.toFixed(0)} ms; hub CPU meanwhile ${run.cpuMs.toFixed(0)} ms; ${JSON.stringify(run.tcp)}`,
    );
    if (r < RESTARTS - 1) await sleep(1000);
  }
  const sum = (key: string) => restarts.reduce((a, r) => a + (r.tcp[key] ?? 0), 0);
  emit(
    figure(
      'hub.start_ms.relays_1000',
      median(restarts.map((r) => r.startMs)),
      'ms',
      { max: 3000 },
      {
        runs: restarts.map((r) => round(r.startMs, 1)),
        note: `median of ${RESTARTS}: spawn of node dist/hub/src/main.js → GET /api/health answers, 1000 relays (1100 lights) configured, no cameras yet`,
      },
    ),
  );
  emit(
    figure(
      'lights.reconnect_1000.ms',
      median(restarts.map((r) => r.ms)),
      'ms',
      { max: 5000 },
      {
        runs: restarts.map((r) => round(r.ms, 1)),
        relays: RELAYS,
        fleet_connected_ms: restarts.map((r) => round(r.fleetMs, 1)),
        hub_cpu_ms: restarts.map((r) => round(r.cpuMs)),
        stop_ms: restarts.map((r) => round(r.stopMs, 1)),
        listen_overflows: sum('listen_overflows'),
        syn_retransmits: sum('syn_retransmits'),
        note: `median of ${RESTARTS} graceful restarts (SIGTERM, spawn again on the same ports and data): spawn → /api/health mqtt.devicesOnline = ${RELAYS}, polled every 20 ms; hub_cpu_ms = hub CPU from the API answering to all online; TCP counters are box-wide; sims reconnect with backoff ${RECONNECT.initialMs} ms doubling to ${RECONNECT.maxMs} ms (real Tasmota waits 10 s and more)`,
      },
    ),
  );

  // ---- the end: fleet first, then the hub --------------------------------------------------------
  await fleet.stop();
  fleetStopped = true;
  await hub.stop();
}

if (isMain(import.meta.url)) await runBench('lights', benchLights);
