/**
 * Broker benchmark: QoS 1 publish throughput of the hub's embedded broker (aedes, with device
 * logins and the per-device ACL on) against Debian's Mosquitto on the same box in the same run.
 *
 *   broker.qos1_msgs_per_s            the hub (its own process), median of the rounds
 *   broker.mosquitto.qos1_msgs_per_s  Mosquitto, same clients, same load
 *   broker.vs_mosquitto.ratio         hub / Mosquitto (DESIGN target >= 0.5)
 *
 * Load: CLIENTS device clients (mqtt.js, TCP_NODELAY), each publishing MESSAGES QoS 1 messages
 * to its own `tele/<t>/SENSOR` (allowed by the ACL, ignored by the lights service) with at most
 * WINDOW publishes awaiting their PUBACK; time from the first publish to the last PUBACK. The
 * rounds alternate hub, Mosquitto, hub, Mosquitto… Run alone: `node dist/scripts/bench/broker.js`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { MqttClient } from 'mqtt';
import {
  emit,
  figure,
  freePort,
  HttpClient,
  HubChild,
  isMain,
  LOOPBACK,
  median,
  processCpuMs,
  progress,
  round,
  runBench,
  spawnTool,
  tempDir,
  waitFor,
  withTimeout,
  writeBenchConfig,
} from './lib.js';

const CLIENTS = 10;
const MESSAGES = 5000;
const WARMUP_MESSAGES = 1000;
const WINDOW = 100;
const ROUNDS = 5;
const RUN_TIMEOUT_MS = 15_000;
const PAYLOAD = Buffer.from('{"Time":"2026-11-26T19:00:00","ANALOG":{"Temperature":31.2},"TempUnit":"C"}');
const MOSQUITTO_PATHS = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto'];

interface Login {
  username?: string;
  password?: string;
  topic: string;
}

function connect(port: number, clientId: string, login: Login): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    // Our own stream builder, as firmware-sim/relay.ts does: mqtt.js's TCP builder leaves Nagle on.
    const client = new MqttClient(() => createConnection({ host: LOOPBACK, port, noDelay: true }), {
      clientId,
      username: login.username,
      password: login.password,
      clean: true,
      keepalive: 60,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      protocolVersion: 4,
    });
    const fail = (err: Error) => {
      client.end(true);
      reject(err);
    };
    client.once('connect', () => {
      client.off('error', fail);
      client.on('error', (err) => progress(`broker: client ${clientId}: ${err.message}`));
      resolve(client);
    });
    client.once('error', fail);
  });
}

function end(client: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.end(true);
      resolve();
    }, 2000);
    client.end(false, {}, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Publish `count` QoS 1 messages with at most `window` awaiting PUBACK; resolves at the last PUBACK. */
function pump(client: MqttClient, topic: string, count: number, window: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let acked = 0;
    let inflight = 0;
    let failed = false;
    const more = () => {
      while (!failed && inflight < window && sent < count) {
        sent++;
        inflight++;
        client.publish(topic, PAYLOAD, { qos: 1 }, (err) => {
          if (failed) return;
          if (err) {
            failed = true;
            reject(err);
            return;
          }
          inflight--;
          acked++;
          if (acked === count) resolve();
          else more();
        });
      }
    };
    more();
  });
}

/** One round against one broker: connect the clients, publish, disconnect. Messages per second. */
async function round1(port: number, logins: Login[], messages = MESSAGES): Promise<number> {
  const clients = await Promise.all(
    logins.map((login, i) => connect(port, `bench-${i}-${randomBytes(3).toString('hex')}`, login)),
  );
  try {
    const t0 = performance.now();
    await withTimeout(
      `${CLIENTS} × ${messages} QoS 1 publishes`,
      Promise.all(clients.map((c, i) => pump(c, `tele/${logins[i]!.topic}/SENSOR`, messages, WINDOW))),
      RUN_TIMEOUT_MS,
    );
    const seconds = (performance.now() - t0) / 1000;
    return (CLIENTS * messages) / seconds;
  } finally {
    await Promise.all(clients.map(end));
  }
}

/** Debian's Mosquitto on a loopback port of its own, no persistence, anonymous (it has no ACL here). */
async function startMosquitto(dir: string): Promise<{ port: number; pid: number }> {
  const bin = MOSQUITTO_PATHS.find((p) => existsSync(p));
  if (!bin)
    throw new Error(
      'mosquitto not found: run `bash scripts/preflight.sh --bench` (Debian package mosquitto)',
    );
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      '# written by scripts/bench/broker.ts',
      `listener ${port} ${LOOPBACK}`,
      'allow_anonymous true',
      'persistence false',
      // Nagle off, as on the hub's broker sockets: the same rules for both.
      'set_tcp_nodelay true',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      '',
    ].join('\n'),
  );
  const child = spawnTool('mosquitto', bin, ['-c', conf]);
  await waitFor(
    'mosquitto to accept connections',
    async () => {
      if (child.exitCode !== null) throw new Error(`mosquitto exited with status ${child.exitCode}`);
      return new Promise<true | undefined>((resolve) => {
        const s = createConnection({ host: LOOPBACK, port });
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(undefined));
      });
    },
    { timeoutMs: 10_000, everyMs: 50 },
  );
  return { port, pid: child.pid ?? -1 };
}

export async function benchBroker(): Promise<void> {
  const dir = tempDir('broker');
  const adminPassword = randomBytes(18).toString('base64url');
  const hub = new HubChild({
    dataDir: dir,
    httpPort: await freePort(),
    mqttPort: await freePort(),
    adminPassword,
    configFile: writeBenchConfig(dir),
    cpuProfDir: process.env.KHU_BENCH_CPU_PROF || undefined,
  });
  const http = new HttpClient(hub.url, { maxSockets: 1 });
  await hub.waitHealthy(http);
  await http.login('admin', adminPassword);
  const logins: Login[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const id = `bbench${String(i + 1).padStart(2, '0')}`;
    const res = await http.call<{ mqtt: Login }>(
      'POST',
      '/api/devices/relays',
      { id, name: `Broker bench ${i + 1}`, zone: 'Broker bench' },
      201,
    );
    logins.push(res.mqtt);
  }
  const mosquitto = await startMosquitto(dir);
  const mosquittoPort = mosquitto.port;
  const anonymous: Login[] = logins.map((l) => ({ topic: l.topic }));
  progress(
    `broker: hub mqtt ${hub.options.mqttPort}, mosquitto ${mosquittoPort}; ${CLIENTS} clients × ${MESSAGES} QoS 1, window ${WINDOW}, ${ROUNDS} rounds`,
  );

  // Warm-up (JIT in both processes), not counted.
  await round1(hub.options.mqttPort, logins, WARMUP_MESSAGES);
  await round1(mosquittoPort, anonymous, WARMUP_MESSAGES);

  const hubRuns: number[] = [];
  const mosquittoRuns: number[] = [];
  // CPU per message of each broker, and of the clients (this process) under each.
  const cpu = { hub: 0, mosquitto: 0, clientsHub: 0, clientsMosquitto: 0 };
  const ownCpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  for (let r = 0; r < ROUNDS; r++) {
    const c0 = hub.cpuMs();
    const o0 = ownCpuMs();
    hubRuns.push(round(await round1(hub.options.mqttPort, logins), 0));
    cpu.hub += hub.cpuMs() - c0;
    cpu.clientsHub += ownCpuMs() - o0;
    const m0 = processCpuMs(mosquitto.pid);
    const o1 = ownCpuMs();
    mosquittoRuns.push(round(await round1(mosquittoPort, anonymous), 0));
    cpu.mosquitto += processCpuMs(mosquitto.pid) - m0;
    cpu.clientsMosquitto += ownCpuMs() - o1;
    progress(`broker: round ${r + 1}: hub ${hubRuns.at(-1)} msg/s, mosquitto ${mosquittoRuns.at(-1)} msg/s`);
  }
  const perMsg = (ms: number) => round((ms * 1000) / (ROUNDS * CLIENTS * MESSAGES), 2);
  const hubRate = median(hubRuns);
  const mosquittoRate = median(mosquittoRuns);
  const load = {
    clients: CLIENTS,
    messages_per_client: MESSAGES,
    window: WINDOW,
    payload_bytes: PAYLOAD.length,
  };
  emit(
    figure('broker.qos1_msgs_per_s', hubRate, 'msg/s', undefined, {
      runs: hubRuns,
      ...load,
      cpu_us_per_msg: perMsg(cpu.hub),
      clients_cpu_us_per_msg: perMsg(cpu.clientsHub),
      note: 'hub process (aedes with device logins and ACL), QoS 1 publish to tele/<t>/SENSOR until PUBACK; median of the rounds',
    }),
  );
  emit(
    figure('broker.mosquitto.qos1_msgs_per_s', mosquittoRate, 'msg/s', undefined, {
      runs: mosquittoRuns,
      ...load,
      cpu_us_per_msg: perMsg(cpu.mosquitto),
      clients_cpu_us_per_msg: perMsg(cpu.clientsMosquitto),
      note: 'Debian mosquitto, anonymous, persistence false, set_tcp_nodelay true; same clients and load',
    }),
  );
  emit(
    figure(
      'broker.vs_mosquitto.ratio',
      hubRate / mosquittoRate,
      'ratio',
      { min: 0.5 },
      {
        // Throughput alone says little when the clients are the bottleneck: CPU per message
        // (both brokers are single-threaded) compares what each could carry on its own core.
        cpu_ratio: round(cpu.mosquitto / cpu.hub, 3),
        note: `hub / mosquitto, medians of ${ROUNDS} interleaved rounds (hub, mosquitto, …); clients in one Node process (see clients_cpu_us_per_msg: near 1 core means client-bound); cpu_ratio = mosquitto CPU per message / hub CPU per message`,
      },
    ),
  );
  await hub.stop();
}

if (isMain(import.meta.url)) await runBench('broker', benchBroker);
