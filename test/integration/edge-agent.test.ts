/**
 * The edge agent against a real aedes broker and a plain mqtt.js client playing the hub, with
 * the file driver: Tasmota-style commands and replies, the stored PROGRAM, running it when the
 * hub dies, reconnecting, bad input. One suite runs the built agent as a child process.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EdgeAgent } from '../../edge/agent.js';
import { type EdgeConfig, loadEdgeConfig, parseEdgeConfig } from '../../edge/config.js';
import { gpiosetArgs, parseGpiodMajor } from '../../edge/drivers.js';
import { sunTimes } from '../../hub/src/protocol/sun.js';
import { edgeConfigDoc } from '../helpers/edge.js';
import { waitFor, waitForEvent } from '../helpers/wait.js';

const teardown: (() => unknown)[] = [];
afterEach(async () => {
  for (let fn = teardown.pop(); fn; fn = teardown.pop()) await fn();
});

async function startBroker(port = 0): Promise<{ port: number; close(): Promise<void> }> {
  const aedes = await Aedes.createBroker();
  const server: Server = createServer({ noDelay: true }, aedes.handle);
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  teardown.push(close);
  return { port: (server.address() as AddressInfo).port, close };
}

interface Msg {
  topic: string;
  payload: string;
  retain: boolean;
}

async function connectHub(port: number) {
  const client: MqttClient = await mqtt.connectAsync({ host: '127.0.0.1', port, reconnectPeriod: 0 });
  teardown.push(() => client.endAsync(true));
  const messages: Msg[] = [];
  client.on('message', (topic, p, packet) =>
    messages.push({ topic, payload: p.toString(), retain: packet.retain }),
  );
  await client.subscribeAsync(['stat/#', 'tele/#']);
  return {
    messages,
    send: (command: string, payload: string) => client.publishAsync(`cmnd/cab1/${command}`, payload),
    /** The first payload on `topic` after index `after` that starts with `prefix`. */
    async next(topic: string, after: number, prefix = '', timeoutMs = 2000): Promise<string> {
      const find = () => messages.slice(after).find((m) => m.topic === topic && m.payload.startsWith(prefix));
      await waitFor(() => find() !== undefined, { timeoutMs, message: `a message on ${topic}` });
      return find()!.payload;
    },
  };
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'khu-edge-'));
  teardown.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const configDoc = (dir: string, port: number) =>
  edgeConfigDoc(dir, { port, username: 'cab1', password: 'pw', topic: 'cab1' });

const silent = pino({ level: 'silent' });

function startAgent(config: EdgeConfig, clock?: () => number): EdgeAgent {
  const agent = new EdgeAgent({ config, log: silent, clock });
  teardown.push(() => agent.stop());
  return agent;
}

const outputs = async (dir: string) => JSON.parse(await readFile(join(dir, 'relays-out.json'), 'utf8'));

const PROGRAM = (rules: unknown[]) =>
  JSON.stringify({
    version: 1,
    site: { latitude: 21.32, longitude: 105.29, timezone: '+07:00' },
    channels: [
      { channel: 1, rules },
      { channel: 2, rules },
    ],
  });

describe('edge agent (in process)', () => {
  it('switches on commands and answers like Tasmota', async () => {
    const dir = await tempDir();
    const broker = await startBroker();
    const hub = await connectHub(broker.port);
    const agent = startAgent(parseEdgeConfig(configDoc(dir, broker.port)));
    const subscribed = waitForEvent(agent, 'subscribed');
    await agent.start();
    await subscribed;
    await hub.next('tele/cab1/LWT', 0, 'Online');
    // Retained: a hub that subscribes later still learns it is online.
    const later = await connectHub(broker.port);
    await later.next('tele/cab1/LWT', 0);
    expect(later.messages.find((m) => m.topic === 'tele/cab1/LWT')).toMatchObject({
      payload: 'Online',
      retain: true,
    });

    let mark = hub.messages.length;
    await hub.send('POWER1', 'ON');
    expect(await hub.next('stat/cab1/RESULT', mark)).toBe('{"POWER1":"ON"}');
    expect(await hub.next('stat/cab1/POWER1', mark)).toBe('ON');
    expect(await outputs(dir)).toEqual({ 1: 'on', 2: 'off' });

    mark = hub.messages.length;
    await hub.send('POWER2', 'TOGGLE');
    expect(await hub.next('stat/cab1/POWER2', mark)).toBe('ON');
    mark = hub.messages.length;
    await hub.send('POWER1', '');
    expect(await hub.next('stat/cab1/RESULT', mark)).toBe('{"POWER1":"ON"}');
    mark = hub.messages.length;
    await hub.send('POWER3', 'ON');
    expect(await hub.next('stat/cab1/RESULT', mark)).toBe('{"Command":"Error"}');
    mark = hub.messages.length;
    await hub.send('FOO', '1');
    expect(await hub.next('stat/cab1/RESULT', mark)).toBe('{"Command":"Unknown"}');
    expect(await outputs(dir)).toEqual({ 1: 'on', 2: 'on' });

    // Restart: the last states are back on the relays before the hub is even reached.
    await agent.stop();
    await writeFile(join(dir, 'relays-out.json'), '{}');
    const again = startAgent(parseEdgeConfig(configDoc(dir, broker.port)));
    const report = waitForEvent(again, 'subscribed');
    mark = hub.messages.length;
    await again.start();
    expect(await outputs(dir)).toEqual({ 1: 'on', 2: 'on' });
    await report;
    expect(await hub.next('stat/cab1/POWER1', mark)).toBe('ON');
  });

  it('stores a PROGRAM on disk, keeps it across a restart, and refuses bad ones without change', async () => {
    const dir = await tempDir();
    const broker = await startBroker();
    const hub = await connectHub(broker.port);
    const agent = startAgent(parseEdgeConfig(configDoc(dir, broker.port)));
    const subscribed = waitForEvent(agent, 'subscribed');
    await agent.start();
    await subscribed;
    let mark = hub.messages.length;
    await hub.send(
      'PROGRAM',
      PROGRAM([
        { state: 'on', sun: 'sunset', offsetMin: -15 },
        { state: 'off', sun: 'sunrise', offsetMin: 15 },
      ]),
    );
    expect(JSON.parse(await hub.next('stat/cab1/RESULT', mark, '{"PROGRAM'))).toEqual({
      PROGRAM: { Status: 'Stored', Version: 1, Channels: [1, 2] },
    });
    const stored = await readFile(join(dir, 'state', 'program.json'), 'utf8');

    for (const [payload, message] of [
      ['{"version":1', /not valid JSON/],
      [
        PROGRAM([{ state: 'on', sun: 'sunset', offsetMin: 900 }]),
        /channels\[0\]\.rules\[0\]\.offsetMin must be an integer/,
      ],
      [
        JSON.stringify({
          version: 1,
          site: { latitude: 21.32, longitude: 105.29, timezone: '+07:00' },
          channels: [{ channel: 3, rules: [{ state: 'on', time: '18:00' }] }],
        }),
        /channel 3 is not on this cabinet \(it has 2 channels\)/,
      ],
    ] as const) {
      mark = hub.messages.length;
      await hub.send('PROGRAM', payload);
      const reply = JSON.parse(await hub.next('stat/cab1/RESULT', mark, '{"PROGRAM'));
      expect(reply.PROGRAM.Status).toBe('Error');
      expect(reply.PROGRAM.Error).toMatch(message);
    }
    expect(await readFile(join(dir, 'state', 'program.json'), 'utf8')).toBe(stored);

    await agent.stop();
    const again = startAgent(parseEdgeConfig(configDoc(dir, broker.port)));
    const back = waitForEvent(again, 'subscribed');
    await again.start();
    await back;
    mark = hub.messages.length;
    await hub.send('PROGRAM', '');
    expect(JSON.parse(await hub.next('stat/cab1/RESULT', mark, '{"PROGRAM'))).toEqual({
      PROGRAM: { Status: 'Active', Version: 1, Channels: [1, 2] },
    });
  });

  it('runs the program when the hub dies (sunset seconds away), not while it is back; reconnects with backoff', async () => {
    const dir = await tempDir();
    const broker = await startBroker();
    const hub = await connectHub(broker.port);
    // The agent's clock is moved, just before the hub dies, to 2 s before sunset − 15 min on Tết 2026 at Lâm Thao.
    const sunset = sunTimes({ year: 2026, month: 2, day: 17 }, 21.32, 105.29).sunset!.getTime();
    let offset = 0;
    const agent = startAgent(parseEdgeConfig(configDoc(dir, broker.port)), () => Date.now() + offset);
    const subscribed = waitForEvent(agent, 'subscribed');
    await agent.start();
    await subscribed;
    const mark = hub.messages.length;
    await hub.send(
      'PROGRAM',
      PROGRAM([
        { state: 'on', sun: 'sunset', offsetMin: -15 },
        { state: 'off', sun: 'sunrise', offsetMin: 15 },
      ]),
    );
    await hub.next('stat/cab1/RESULT', mark, '{"PROGRAM');

    const delays: number[] = [];
    agent.on('reconnecting', (ms) => delays.push(ms));
    const switched = waitForEvent<[number, string, string]>(agent, 'switched', {
      timeoutMs: 8000,
      filter: (ch) => ch === 2,
    });
    offset = sunset - 15 * 60_000 - 2000 - Date.now();
    await broker.close();
    const [, state, reason] = await switched;
    expect([state, reason]).toEqual(['on', 'program']);
    expect(await outputs(dir)).toEqual({ 1: 'on', 2: 'on' });
    await waitFor(() => delays.length >= 4, { message: 'four reconnect attempts' });
    expect(delays.slice(0, 4)).toEqual([50, 100, 200, 200]);

    // The hub comes back: the agent listens to it again, and the program stops running.
    await startBroker(broker.port);
    await waitForEvent(agent, 'subscribed', { timeoutMs: 3000 });
    expect(agent.connected).toBe(true);
  });

  it('refuses a bad configuration with a message naming the path', async () => {
    const dir = await tempDir();
    const good = configDoc(dir, 1883);
    for (const [doc, message] of [
      [null, /the configuration must be a YAML mapping/],
      [
        { ...good, mqtt: { ...good.mqtt, port: 70000 } },
        /mqtt\.port must be an integer from 1 to 65535 \(got 70000\)/,
      ],
      [{ ...good, mqtt: { ...good.mqtt, topic: 'cmnd/#' } }, /mqtt\.topic must be letters, digits/],
      [
        { ...good, mqtt: { ...good.mqtt, reconnect: { initialMs: 500, maxMs: 100 } } },
        /mqtt\.reconnect\.maxMs must be an integer from 500/,
      ],
      [{ ...good, channels: 0 }, /config\.channels must be an integer from 1 to 16/],
      [{ ...good, driver: { kind: 'relay' } }, /driver\.kind must be "gpio" or "file"/],
      [
        { ...good, driver: { kind: 'gpio', chip: 'gpiochip0', lines: [17] } },
        /driver\.lines must be a list of 2 line offsets/,
      ],
      [
        { ...good, driver: { kind: 'gpio', chip: 'gpiochip0', lines: [17, 17] } },
        /driver\.lines must be distinct lines/,
      ],
      [
        { ...good, site: { ...good.site, timezone: 'Asia/Ho_Chi_Minh' } },
        /site\.timezone must be a UTC offset/,
      ],
      [{ ...good, site: { ...good.site, latitude: 100 } }, /site\.latitude must be a number from -90 to 90/],
      [{ ...good, stateDir: '' }, /config\.stateDir must be a non-empty string/],
      [{ ...good, colour: 'blue' }, /config\.colour is not a known setting/],
    ] as const) {
      expect(() => parseEdgeConfig(doc)).toThrow(message);
    }
    expect(parseEdgeConfig(good, { KHU_EDGE_MQTT_PASSWORD: 'from-env' }).mqtt.password).toBe('from-env');
    await writeFile(join(dir, 'bad.yaml'), 'mqtt: [');
    await expect(loadEdgeConfig(join(dir, 'bad.yaml'), {})).rejects.toThrow(/bad\.yaml is not valid YAML/);
    await expect(loadEdgeConfig(join(dir, 'none.yaml'), {})).rejects.toThrow(
      /cannot read config file .*none\.yaml: ENOENT/,
    );
  });

  it('builds gpioset command lines for libgpiod 1 and 2', () => {
    const config = { chip: 'gpiochip0', lines: [17, 27], activeLow: true };
    expect(gpiosetArgs(2, config, ['on', 'off'])).toEqual(['-c', 'gpiochip0', '-l', '17=1', '27=0']);
    expect(gpiosetArgs(1, config, ['off', 'on'])).toEqual([
      '--mode=signal',
      '-l',
      'gpiochip0',
      '17=0',
      '27=1',
    ]);
    expect(parseGpiodMajor('gpioset (libgpiod) v1.6.3\nCopyright')).toBe(1);
    expect(parseGpiodMajor('gpioset (libgpiod) v2.1.3')).toBe(2);
    expect(parseGpiodMajor('bash: gpioset: not found')).toBeUndefined();
  });
});

describe('edge agent (child process: node dist/edge/main.js)', () => {
  beforeAll(async () => {
    // tsc emits even when some other part of the tree has a type error; only ours must be clean.
    try {
      await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: process.cwd() });
    } catch (err) {
      const out = String((err as { stdout?: string }).stdout ?? err);
      if (/^(edge|hub\/src\/protocol|hub\/src\/core)\//m.test(out) || !/error TS/.test(out)) throw err;
    }
  }, 120_000);

  function spawnAgent(configFile: string) {
    const child = spawn(process.execPath, ['dist/edge/main.js', '--config', configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KHU_LOG_LEVEL: 'info' },
    });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    const exited = once(child, 'exit') as Promise<[number | null]>;
    teardown.push(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    });
    return { child, exited, output: () => ({ stderr, stdout }) };
  }

  it('exits 2 with the path of a bad setting', async () => {
    const dir = await tempDir();
    const file = join(dir, 'edge.yaml');
    await writeFile(file, 'mqtt:\n  host: 127.0.0.1\n  topic: cab1\nchannels: 99\n');
    const agent = spawnAgent(file);
    const [code] = await agent.exited;
    expect(code).toBe(2);
    expect(agent.output().stderr).toMatch(
      /edge\.yaml: config\.channels must be an integer from 1 to 16 \(got 99\)/,
    );
  });

  it('switches the lights at the programmed instant after the hub is killed', async () => {
    const dir = await tempDir();
    const broker = await startBroker();
    const hub = await connectHub(broker.port);
    const file = join(dir, 'edge.yaml');
    await writeFile(file, JSON.stringify(configDoc(dir, broker.port))); // JSON is YAML
    const agent = spawnAgent(file);
    await waitFor(() => hub.messages.some((m) => m.topic === 'stat/cab1/POWER1'), {
      timeoutMs: 10_000,
      message: 'the agent reporting its relays',
    });
    // Switch on 6 s from now (local time, +07:00), off an hour later.
    const local = (ms: number) => new Date(ms + 7 * 3600_000).toISOString().slice(11, 19);
    const onAt = Date.now() + 6000;
    const mark = hub.messages.length;
    await hub.send(
      'PROGRAM',
      PROGRAM([
        { state: 'on', time: local(onAt) },
        { state: 'off', time: local(onAt + 3600_000) },
      ]),
    );
    expect(JSON.parse(await hub.next('stat/cab1/RESULT', mark, '{"PROGRAM')).PROGRAM.Status).toBe('Stored');
    await broker.close();
    await waitFor(async () => (await outputs(dir))[1] === 'on', {
      timeoutMs: 8000,
      intervalMs: 50,
      message: 'channel 1 on',
    });
    // The program says hh:mm:ss: the instant is onAt cut to the second.
    expect(Date.now()).toBeGreaterThanOrEqual(Math.floor(onAt / 1000) * 1000);
    expect(await outputs(dir)).toEqual({ 1: 'on', 2: 'on' });
    expect(agent.output().stdout).toMatch(/lost the hub/);
    agent.child.kill('SIGTERM');
    const [code] = await agent.exited;
    expect(code).toBe(0);
  });
});
