/**
 * The simulated relay against the public Tasmota convention (https://tasmota.github.io/docs/MQTT/),
 * with topics and payloads written out literally: a plain aedes broker, and a plain mqtt.js
 * client playing the hub.
 */
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes, type AedesOptions, type ConnectPacket } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { CliUsageError, parseCliArgs } from '../../firmware-sim/cli.js';
import { SimFleet } from '../../firmware-sim/fleet.js';
import {
  type Provisioning,
  parseProvisioning,
  readProvisioningFile,
} from '../../firmware-sim/provisioning.js';
import { SimRelay, type SimRelayOptions } from '../../firmware-sim/relay.js';
import { onceWithTimeout, waitFor } from '../helpers/wait.js';

const teardown: (() => unknown)[] = [];
afterEach(async () => {
  for (let fn = teardown.pop(); fn; fn = teardown.pop()) await fn();
});

interface Seen {
  topic: string;
  payload: string;
  retain: boolean;
  qos: number;
  clientId: string | undefined;
}

interface TestBroker {
  port: number;
  aedes: Aedes;
  /** Everything clients published (and wills), in the broker's order; `$SYS` left out. */
  published: Seen[];
  subscribed: { topic: string; qos: number; clientId: string }[];
  /** `publish <topic> <payload>` and `subscribe <topic>` lines, in order of arrival. */
  log: string[];
  close(): Promise<void>;
}

async function startBroker(options: AedesOptions = {}, port = 0): Promise<TestBroker> {
  const aedes = await Aedes.createBroker(options);
  const server = createServer({ noDelay: true }, aedes.handle);
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const published: Seen[] = [];
  const subscribed: TestBroker['subscribed'] = [];
  const log: string[] = [];
  // Arrival order: aedes calls these hooks as packets come in, while its 'publish' event for a
  // retained message waits for the store.
  const { authorizePublish, authorizeSubscribe } = aedes;
  aedes.authorizePublish = (client, packet, done) => {
    if (client) log.push(`publish ${packet.topic} ${packet.payload.toString()}`);
    authorizePublish.call(aedes, client, packet, done);
  };
  aedes.authorizeSubscribe = (client, sub, done) => {
    log.push(`subscribe ${sub.topic}`);
    authorizeSubscribe.call(aedes, client, sub, done);
  };
  aedes.on('publish', (packet, client) => {
    if (packet.topic.startsWith('$SYS')) return;
    const payload = packet.payload.toString();
    published.push({
      topic: packet.topic,
      payload,
      retain: packet.retain,
      qos: packet.qos,
      clientId: client?.id,
    });
  });
  aedes.on('subscribe', (subs, client) => {
    for (const s of subs) {
      subscribed.push({ topic: s.topic, qos: s.qos, clientId: client.id });
    }
  });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  teardown.push(close);
  return { port: (server.address() as AddressInfo).port, aedes, published, subscribed, log, close };
}

interface Received {
  topic: string;
  payload: string;
}

interface Hub {
  client: MqttClient;
  messages: Received[];
  send(topic: string, payload: string): Promise<void>;
  /** The first message on `topic` received after index `after` (see `mark()`). */
  next(topic: string, after: number, timeoutMs?: number): Promise<Received>;
  mark(): number;
  since(after: number, topicPrefix: string): Received[];
}

let hubCount = 0;
async function connectHub(port: number): Promise<Hub> {
  const client = await mqtt.connectAsync({
    host: '127.0.0.1',
    port,
    clientId: `hub-${++hubCount}`,
    reconnectPeriod: 0,
  });
  teardown.push(() => client.endAsync(true));
  const messages: Received[] = [];
  client.on('message', (topic, payload) => messages.push({ topic, payload: payload.toString() }));
  await client.subscribeAsync(['stat/#', 'tele/#']);
  const find = (topic: string, after: number) => messages.slice(after).find((m) => m.topic === topic);
  return {
    client,
    messages,
    send: async (topic, payload) => {
      await client.publishAsync(topic, payload, { qos: 0 });
    },
    next: async (topic, after, timeoutMs = 2000) => {
      await waitFor(() => find(topic, after) !== undefined, { timeoutMs, message: `a message on ${topic}` });
      return find(topic, after)!;
    },
    mark: () => messages.length,
    since: (after, prefix) => messages.slice(after).filter((m) => m.topic.startsWith(prefix)),
  };
}

function makeRelay(port: number, options: Partial<SimRelayOptions> = {}): SimRelay {
  const relay = new SimRelay({
    host: '127.0.0.1',
    port,
    topic: 'khu_t1',
    telePeriodSec: 0,
    reconnect: { initialMs: 20, maxMs: 200 },
    ...options,
  });
  teardown.push(() => relay.stop());
  return relay;
}

/** Send a command and return the RESULT and POWER replies that follow it. */
async function command(
  hub: Hub,
  device: string,
  cmd: string,
  payload: string,
  statTopic = `stat/${device}/POWER`,
) {
  const mark = hub.mark();
  await hub.send(`cmnd/${device}/${cmd}`, payload);
  const result = await hub.next(`stat/${device}/RESULT`, mark);
  const power = await hub.next(statTopic, mark);
  return { result: JSON.parse(result.payload) as unknown, power: power.payload };
}

/**
 * A fence: `cmnd/<t>/Foo` is answered `{"Command":"Unknown"}`; replies to anything sent before
 * it would have arrived first. Returns the messages seen from `after` up to the fence's reply.
 */
async function fence(hub: Hub, device: string, after: number): Promise<Received[]> {
  const mark = hub.mark();
  await hub.send(`cmnd/${device}/Foo`, '');
  await waitFor(
    () =>
      hub.messages
        .slice(mark)
        .some((m) => m.topic === `stat/${device}/RESULT` && m.payload.includes('Unknown')),
    { message: `the reply to cmnd/${device}/Foo` },
  );
  const upTo = hub.messages.findIndex(
    (m, i) => i >= mark && m.topic === `stat/${device}/RESULT` && m.payload.includes('Unknown'),
  );
  return hub.messages.slice(after, upTo);
}

/** Start a relay and wait until the hub has seen everything it published at boot. */
async function startSettled(hub: Hub, relay: SimRelay): Promise<void> {
  const mark = hub.mark();
  await relay.start();
  await fence(hub, relay.topic, mark);
  // aedes stores a retained message before routing it, so Online may trail the fence.
  await hub.next(`tele/${relay.topic}/LWT`, mark);
}

describe('SimRelay connecting', () => {
  it('connects as Tasmota does: will, Online retained, empty cmnd POWER, then its three subscriptions', async () => {
    let connect: ConnectPacket | undefined;
    const broker = await startBroker({
      preConnect: (_client, packet, done) => {
        connect = packet;
        done(null, true);
      },
    });
    const hub = await connectHub(broker.port);
    const relay = makeRelay(broker.port, { clientId: 'DVES_ABC123', telePeriodSec: 300 });
    await relay.start();
    await waitFor(() => broker.log.includes('subscribe cmnd/DVES_ABC123_fb/#'), {
      message: 'fallback subscription',
    });

    expect(connect?.clientId).toBe('DVES_ABC123');
    expect(connect?.keepalive).toBe(30);
    expect(connect?.will).toMatchObject({ topic: 'tele/khu_t1/LWT', qos: 1, retain: true });
    expect(connect?.will?.payload.toString()).toBe('Offline');

    const at = (line: string) => broker.log.indexOf(line);
    expect(at('publish tele/khu_t1/LWT Online')).toBeGreaterThanOrEqual(0);
    expect(at('publish tele/khu_t1/LWT Online')).toBeLessThan(at('publish cmnd/khu_t1/POWER '));
    expect(at('publish cmnd/khu_t1/POWER ')).toBeLessThan(at('subscribe cmnd/khu_t1/#'));
    expect(at('subscribe cmnd/tasmotas/#')).toBeGreaterThan(at('publish cmnd/khu_t1/POWER '));
    expect(at('subscribe cmnd/DVES_ABC123_fb/#')).toBeGreaterThan(at('publish cmnd/khu_t1/POWER '));

    // At boot: the power state on stat/, then the telemetry.
    const result = await hub.next('stat/khu_t1/RESULT', 0);
    expect(JSON.parse(result.payload)).toEqual({ POWER: 'OFF' });
    expect((await hub.next('stat/khu_t1/POWER', 0)).payload).toBe('OFF');
    const state = JSON.parse((await hub.next('tele/khu_t1/STATE', 0)).payload);
    expect(state).toMatchObject({ POWER: 'OFF', UptimeSec: expect.any(Number) });
    expect(state.Time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/);
    expect(state.Uptime).toMatch(/^\d+T\d\d:\d\d:\d\d$/);
    expect(state.Wifi).toMatchObject({ RSSI: expect.any(Number), Signal: expect.any(Number) });

    // Nothing but the LWT is retained.
    const fromRelay = broker.published.filter((p) => p.clientId === 'DVES_ABC123');
    expect(fromRelay.filter((p) => p.retain).map((p) => p.topic)).toEqual(['tele/khu_t1/LWT']);
    expect(relay.connected).toBe(true);
  });

  it('names itself DVES_<6 hex> by default', () => {
    const relay = new SimRelay({ host: '127.0.0.1', port: 1, topic: 'khu_x' });
    expect(relay.clientId).toMatch(/^DVES_[0-9A-F]{6}$/);
  });

  it('stays connected when the broker refuses its group and fallback subscriptions (SUBACK 0x80)', async () => {
    const broker = await startBroker({
      authorizeSubscribe: (client, sub, done) => {
        const allowed = client.id.startsWith('hub-') || sub.topic === 'cmnd/khu_t1/#';
        done(null, allowed ? sub : null);
      },
    });
    const hub = await connectHub(broker.port);
    const relay = makeRelay(broker.port, { clientId: 'DVES_000001' });
    let disconnects = 0;
    relay.on('disconnected', () => disconnects++);
    await startSettled(hub, relay);
    await waitFor(() => broker.subscribed.some((s) => s.topic === 'cmnd/DVES_000001_fb/#'), {
      message: 'the refused fallback subscription',
    });
    const refused = broker.subscribed.filter((s) => s.clientId === 'DVES_000001' && s.qos === 128);
    expect(refused.map((s) => s.topic).sort()).toEqual(['cmnd/DVES_000001_fb/#', 'cmnd/tasmotas/#']);

    const { result, power } = await command(hub, 'khu_t1', 'POWER', 'ON');
    expect(result).toEqual({ POWER: 'ON' });
    expect(power).toBe('ON');
    expect(relay.connected).toBe(true);
    expect(disconnects).toBe(0);
  });

  it('rejects start() with a clear error when the broker refuses its login, and does not retry', async () => {
    let attempts = 0;
    const broker = await startBroker({
      authenticate: (_client, username, password, done) => {
        attempts++;
        done(null, username === 'khu_t1' && password?.toString() === 'right');
      },
    });
    const bad = makeRelay(broker.port, { username: 'khu_t1', password: 'wrong' });
    await expect(bad.start()).rejects.toThrow(/khu_t1.*refused the connection.*Not authorized/);
    expect(bad.connected).toBe(false);

    const good = makeRelay(broker.port, { topic: 'khu_t2', username: 'khu_t1', password: 'right' });
    await good.start();
    expect(good.connected).toBe(true);
    expect(attempts).toBe(2);
  });

  it('rejects start() when the broker refuses its own command subscription', async () => {
    const broker = await startBroker({ authorizeSubscribe: (_client, _sub, done) => done(null, null) });
    const relay = makeRelay(broker.port);
    await expect(relay.start()).rejects.toThrow(
      'SimRelay khu_t1: the broker refused the subscription to cmnd/khu_t1/#',
    );
  });

  it('a connection lost before the SUBACK is retried, not taken for a refusal', async () => {
    let held = false;
    const broker = await startBroker({
      authorizeSubscribe: (_client, sub, done) => {
        if (sub.topic === 'cmnd/khu_t1/#' && !held) {
          held = true; // never answered: the relay drops while waiting
          void relay.dropFor(10);
          return;
        }
        done(null, sub);
      },
    });
    const relay = makeRelay(broker.port);
    await relay.start();
    expect(relay.connectCount).toBe(2);
    expect(relay.connected).toBe(true);
  });

  it('with subscribeDelayMs, a query sent the instant Online arrives is lost (the race real devices have)', async () => {
    const broker = await startBroker();
    const hub = await connectHub(broker.port);
    const relay = makeRelay(broker.port, { subscribeDelayMs: 150 });
    hub.client.on('message', (topic, payload) => {
      if (topic === 'tele/khu_t1/LWT' && payload.toString() === 'Online') {
        hub.client.publish('cmnd/khu_t1/POWER', 'ON');
      }
    });
    await relay.start();
    const seen = await fence(hub, 'khu_t1', 0);
    expect(relay.state(1)).toBe('off');
    // Only the boot report: no reply to the lost command.
    expect(seen.filter((m) => m.topic === 'stat/khu_t1/POWER').map((m) => m.payload)).toEqual(['OFF']);
  });
});

describe('SimRelay commands', () => {
  it('accepts ON/OFF/TOGGLE, 1/0/2, true/false, and queries with an empty payload or ?', async () => {
    const broker = await startBroker();
    const hub = await connectHub(broker.port);
    const relay = makeRelay(broker.port);
    await startSettled(hub, relay);
    const before = relay.commandsReceived;
    const cases: [string, 'ON' | 'OFF'][] = [
      ['ON', 'ON'],
      ['OFF', 'OFF'],
      ['TOGGLE', 'ON'],
      ['0', 'OFF'],
      ['1', 'ON'],
      ['2', 'OFF'],
      ['true', 'ON'],
      ['false', 'OFF'],
      ['on', 'ON'],
      ['', 'ON'],
      ['?', 'ON'],
    ];
    for (const [payload, expected] of cases) {
      const { result, power } = await command(hub, 'khu_t1', 'POWER', payload);
      expect({ payload, result, power }).toEqual({ payload, result: { POWER: expected }, power: expected });
      expect(relay.state(1)).toBe(expected.toLowerCase());
    }
    // Command names are case-insensitive, and POWER1 is channel 1 of a single relay.
    expect(await command(hub, 'khu_t1', 'power', 'OFF')).toEqual({ result: { POWER: 'OFF' }, power: 'OFF' });
    expect(await command(hub, 'khu_t1', 'POWER1', 'ON')).toEqual({ result: { POWER: 'ON' }, power: 'ON' });
    expect(relay.commandsReceived - before).toBe(cases.length + 2);
  });

  it('uses POWER1/POWER2 on a two-channel device', async () => {
    const broker = await startBroker();
    const hub = await connectHub(broker.port);
    const relay = makeRelay(broker.port, { topic: 'khu_t2', channels: 2, telePeriodSec: 300 });
    await startSettled(hub, relay);
    expect((await hub.next('stat/khu_t2/POWER1', 0)).payload).toBe('OFF');
    expect((await hub.next('stat/khu_t2/POWER2', 0)).payload).toBe('OFF');
    expect(JSON.parse((await hub.next('tele/khu_t2/STATE', 0)).payload)).toMatchObject({
      POWER1: 'OFF',
      POWER2: 'OFF',
    });

    expect(await command(hub, 'khu_t2', 'POWER2', 'ON', 'stat/khu_t2/POWER2')).toEqual({
      result: { POWER2: 'ON' },
      power: 'ON',
    });
    expect(relay.states()).toEqual(['off', 'on']);
    // Plain POWER addresses channel 1, answered as POWER1.
    expect(await command(hub, 'khu_t2', 'POWER', 'TOGGLE', 'stat/khu_t2/POWER1')).toEqual({
      result: { POWER1: 'ON' },
      power: 'ON',
    });
    expect(relay.states()).toEqual(['on', 'on']);

    const mark = hub.mark();
    await hub.send('cmnd/khu_t2/POWER3', 'ON');
    expect(JSON.parse((await hub.next('stat/khu_t2/RESULT', mark)).payload)).toEqual({ Command: 'Error' });
    expect(relay.states()).toEqual(['on', 'on']);
  });

  it('answers unknown commands with {"Command":"Unknown"} and a bad payload with the unchanged state', async () => {
    const broker = await startBroker();
    const hub = await connectHub(broker.port);
    const relay = makeRelay(broker.port);
    await startSettled(hub, relay);
    await command(hub, 'khu_t1', 'POWER', 'ON');
    const switches = relay.switches;

    let mark = hub.mark();
    await hub.send('cmnd/khu_t1/Foo', 'bar');
    expect(JSON.parse((await hub.next('stat/khu_t1/RESULT', mark)).payload)).toEqual({ Command: 'Unknown' });

    // Tasmota's CmndPower shows the state for a payload it cannot read.
    expect(await command(hub, 'khu_t1', 'POWER', 'BANANA')).toEqual({ result: { POWER: 'ON' }, power: 'ON' });
    expect(relay.state(1)).toBe('on');
    expect(relay.switches).toBe(switches);

    mark = hub.mark();
    const seen = await fence(hub, 'khu_t1', mark);
    expect(seen).toEqual([]);
  });

  it('obeys the group topic cmnd/tasmotas/ and the fallback topic cmnd/<clientid>_fb/', async () => {
    const broker = await startBroker();
    const hub = await connectHub(broker.port);
    const a = makeRelay(broker.port, { topic: 'khu_a', clientId: 'DVES_00000A' });
    const b = makeRelay(broker.port, { topic: 'khu_b', clientId: 'DVES_00000B', channels: 2 });
    await Promise.all([startSettled(hub, a), startSettled(hub, b)]);

    const mark = hub.mark();
    await hub.send('cmnd/tasmotas/POWER', 'ON');
    expect((await hub.next('stat/khu_a/POWER', mark)).payload).toBe('ON');
    expect((await hub.next('stat/khu_b/POWER1', mark)).payload).toBe('ON');
    expect([a.state(1), b.state(1), b.state(2)]).toEqual(['on', 'on', 'off']);

    const mark2 = hub.mark();
    await hub.send('cmnd/DVES_00000A_fb/POWER', 'OFF');
    expect((await hub.next('stat/khu_a/POWER', mark2)).payload).toBe('OFF');
    expect(a.state(1)).toBe('off');
  });

  it('a stuck relay neither switches nor replies', async () => {
    const broker = await startBroker();
    const hub = await connectHub(broker.port);
    const relay = makeRelay(broker.port);
    await startSettled(hub, relay);
    relay.stuck = true;
    const before = relay.commandsReceived;
    const mark = hub.mark();
    await hub.send('cmnd/khu_t1/POWER', 'ON');
    const seen = await fence(hub, 'khu_t1', mark);
    expect(seen).toEqual([]);
    expect(relay.state(1)).toBe('off');
    expect(relay.commandsReceived - before).toBe(2); // the command and the fence

    relay.stuck = false;
    expect((await command(hub, 'khu_t1', 'POWER', 'ON')).power).toBe('ON');
  });

  it('press() toggles at the device, which reports the new state by itself', async () => {
    const broker = await startBroker();
    const hub = await connectHub(broker.port);
    const relay = makeRelay(broker.port, { topic: 'khu_t2', channels: 2 });
    await startSettled(hub, relay);
    const mark = hub.mark();
    relay.press(2);
    expect(JSON.parse((await hub.next('stat/khu_t2/RESULT', mark)).payload)).toEqual({ POWER2: 'ON' });
    expect((await hub.next('stat/khu_t2/POWER2', mark)).payload).toBe('ON');
    expect(relay.states()).toEqual(['off', 'on']);
    expect(relay.switches).toBe(1);
  });

  it('ackDelayMs delays the replies', async () => {
    const broker = await startBroker();
    const hub = await connectHub(broker.port);
    const relay = makeRelay(broker.port);
    await startSettled(hub, relay);
    relay.ackDelayMs = 150;
    const t0 = performance.now();
    const { power } = await command(hub, 'khu_t1', 'POWER', 'ON');
    expect(power).toBe('ON');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });
});

describe('SimRelay faults and reconnects', () => {
  it('kill() ends the socket without DISCONNECT: the broker publishes the will, Offline, retained', async () => {
    const broker = await startBroker();
    const hub = await connectHub(broker.port);
    const relay = makeRelay(broker.port);
    await startSettled(hub, relay);
    const mark = hub.mark();
    await relay.kill();
    expect((await hub.next('tele/khu_t1/LWT', mark)).payload).toBe('Offline');
    expect(broker.published.find((p) => p.payload === 'Offline')).toMatchObject({
      topic: 'tele/khu_t1/LWT',
      retain: true,
      qos: 1,
    });
    expect(relay.connected).toBe(false);
  });

  it('stop() disconnects gracefully: no will', async () => {
    const broker = await startBroker();
    const hub = await connectHub(broker.port);
    const relay = makeRelay(broker.port);
    await startSettled(hub, relay);
    const gone = onceWithTimeout(broker.aedes, 'clientDisconnect');
    await relay.stop();
    await gone;
    // A fence through the broker: a will would have been published before this comes back.
    const mark = hub.mark();
    await hub.send('tele/fence/LWT', 'x');
    await hub.next('tele/fence/LWT', mark);
    expect(broker.published.some((p) => p.payload === 'Offline')).toBe(false);
  });

  it('dropFor(): will fires, it comes back with its state and does not republish it', async () => {
    const broker = await startBroker();
    const hub = await connectHub(broker.port);
    const relay = makeRelay(broker.port);
    await startSettled(hub, relay);
    await command(hub, 'khu_t1', 'POWER', 'ON');
    const mark = hub.mark();
    const back = onceWithTimeout(relay, 'subscribed');
    await relay.dropFor(50);
    expect((await hub.next('tele/khu_t1/LWT', mark)).payload).toBe('Offline');
    await back;
    const seen = await fence(hub, 'khu_t1', mark);
    expect(seen.map((m) => `${m.topic} ${m.payload}`)).toEqual([
      'tele/khu_t1/LWT Offline',
      'tele/khu_t1/LWT Online',
    ]);
    expect(relay.state(1)).toBe('on');
    expect(relay.connectCount).toBe(2);
    expect((await command(hub, 'khu_t1', 'POWER', '')).power).toBe('ON');
  });

  it('reconnects with backoff after the broker restarts, keeping its state', async () => {
    const first = await startBroker();
    const relay = makeRelay(first.port);
    await relay.start();
    let hub = await connectHub(first.port);
    await command(hub, 'khu_t1', 'POWER', 'ON');

    const down = onceWithTimeout(relay, 'disconnected');
    await first.close();
    await down;
    const second = await startBroker({}, first.port);
    hub = await connectHub(second.port);
    await onceWithTimeout(relay, 'subscribed', 3000);
    const seen = await fence(hub, 'khu_t1', 0);
    expect(seen.filter((m) => m.topic.startsWith('stat/'))).toEqual([]);
    expect(second.log.filter((line) => line.includes('khu_t1')).slice(0, 3)).toEqual([
      'publish tele/khu_t1/LWT Online',
      'publish cmnd/khu_t1/POWER ',
      'subscribe cmnd/khu_t1/#',
    ]);
    expect(relay.state(1)).toBe('on');
  });

  it('flap() drops and reconnects repeatedly', async () => {
    const broker = await startBroker();
    const relay = makeRelay(broker.port);
    await relay.start();
    await relay.flap({ periodMs: 30, count: 3 });
    expect(relay.connectCount).toBe(4);
    expect(broker.published.filter((p) => p.payload === 'Offline')).toHaveLength(3);
    expect(relay.connected).toBe(true);
  });

  it('reboot() applies PowerOnState and reports the state again', async () => {
    const broker = await startBroker();
    const hub = await connectHub(broker.port);
    const keeps = makeRelay(broker.port, { topic: 'khu_keep', powerOnState: 3 });
    const offs = makeRelay(broker.port, { topic: 'khu_off', powerOnState: 0 });
    const ons = makeRelay(broker.port, { topic: 'khu_on', powerOnState: 1 });
    await Promise.all([keeps, offs, ons].map((r) => startSettled(hub, r)));
    expect(ons.state(1)).toBe('on');
    await command(hub, 'khu_keep', 'POWER', 'ON');
    await command(hub, 'khu_off', 'POWER', 'ON');

    const mark = hub.mark();
    await Promise.all([keeps.reboot(), offs.reboot()]);
    expect((await hub.next('stat/khu_keep/POWER', mark)).payload).toBe('ON');
    expect((await hub.next('stat/khu_off/POWER', mark)).payload).toBe('OFF');
    await waitFor(() => hub.since(mark, 'tele/khu_keep/LWT').length === 2, { message: 'Offline, Online' });
    expect(hub.since(mark, 'tele/khu_keep/LWT').map((m) => m.payload)).toEqual(['Offline', 'Online']);
    expect(keeps.switches + offs.switches).toBe(2); // the two commands: PowerOnState is not a switch
  });

  it('publishes tele/<t>/STATE every TelePeriod', async () => {
    const broker = await startBroker();
    const hub = await connectHub(broker.port);
    const relay = makeRelay(broker.port, { telePeriodSec: 0.1 });
    await relay.start();
    await waitFor(() => hub.since(0, 'tele/khu_t1/STATE').length >= 3, { message: 'three STATE messages' });
  });
});

describe('SimFleet', () => {
  it('starts every provisioned relay with bounded concurrency; a refused login fails alone', async () => {
    const broker = await startBroker({
      authenticate: (_client, username, password, done) =>
        done(null, password?.toString() === `pw-${username}`),
    });
    const provisioning: Provisioning = {
      broker: { host: '127.0.0.1', port: broker.port },
      relays: [
        { topic: 'khu_a01', username: 'khu_a01', password: 'pw-khu_a01', channels: 2, powerOnState: 1 },
        { topic: 'khu_a02', username: 'khu_a02', password: 'wrong', channels: 1 },
        { topic: 'khu_a03', username: 'khu_a03', password: 'pw-khu_a03', channels: 1 },
      ],
    };
    const fleet = new SimFleet(provisioning, { concurrency: 2, telePeriodSec: 0 });
    teardown.push(() => fleet.stop());
    const result = await fleet.start();
    expect(result.started).toBe(2);
    expect(result.failed.map((f) => f.topic)).toEqual(['khu_a02']);
    expect(result.failed[0]?.error.message).toMatch(/refused/);
    expect(fleet.connectedCount).toBe(2);
    expect(fleet.get('khu_a01')?.states()).toEqual(['on', 'on']);
    expect(fleet.get('nope')).toBeUndefined();
  });
});

describe('provisioning file', () => {
  const good = {
    broker: { host: '127.0.0.1', port: 1883 },
    relays: [{ topic: 'khu_a01', username: 'khu_a01', password: 's3cret', channels: 2, powerOnState: 3 }],
  };
  const withRelay = (patch: Record<string, unknown>) => ({
    ...good,
    relays: [{ ...good.relays[0], ...patch }],
  });

  it('accepts the documented shape', () => {
    expect(parseProvisioning(good)).toEqual(good);
  });

  it.each([
    [null, /the document must be a JSON object/],
    [{ relays: [] }, /broker must be an object/],
    [{ ...good, broker: { host: '', port: 1883 } }, /broker\.host must be a non-empty string/],
    [
      { ...good, broker: { host: 'h', port: 70000 } },
      /broker\.port must be an integer from 1 to 65535 \(got 70000\)/,
    ],
    [{ ...good, relays: {} }, /relays must be an array/],
    [withRelay({ topic: 'cmnd/#' }), /relays\[0\]\.topic must be/],
    [withRelay({ username: 3 }), /relays\[0\]\.username must be a non-empty string/],
    [withRelay({ password: undefined }), /relays\[0\]\.password must be a non-empty string$/],
    [withRelay({ channels: 9 }), /relays\[0\]\.channels must be an integer from 1 to 8 \(got 9\)/],
    [withRelay({ powerOnState: 7 }), /relays\[0\]\.powerOnState must be 0/],
    [
      { ...good, relays: [good.relays[0], good.relays[0]] },
      /relays\[1\]\.topic duplicates relays\[0\]\.topic/,
    ],
  ])('rejects %j', (input, message) => {
    expect(() => parseProvisioning(input)).toThrow(message);
  });

  it('names the file when it is missing or not JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'khu-sim-'));
    teardown.push(() => rm(dir, { recursive: true, force: true }));
    await expect(readProvisioningFile(join(dir, 'none.json'))).rejects.toThrow(
      /cannot read provisioning file .*none\.json: ENOENT/,
    );
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"broker":');
    await expect(readProvisioningFile(bad)).rejects.toThrow(/bad\.json is not valid JSON/);
    const ok = join(dir, 'ok.json');
    await writeFile(ok, JSON.stringify(withRelay({ channels: 0 })));
    await expect(readProvisioningFile(ok)).rejects.toThrow(/ok\.json: relays\[0\]\.channels/);
  });
});

describe('sim CLI arguments', () => {
  it('accepts the documented flags', () => {
    expect(
      parseCliArgs(['--provisioning', 'p.json', '--host', 'h', '--port', '1884', '--tele-period', '0']),
    ).toEqual({
      provisioning: 'p.json',
      host: 'h',
      port: 1884,
      telePeriodSec: 0,
      concurrency: undefined,
      help: false,
    });
  });

  it.each([
    [['--provisioning', 'p.json', '--bogus'], /Unknown option '--bogus'/],
    [[], /--provisioning <file> is required/],
    [['--provisioning', 'p.json', '--port', '99999'], /--port must be an integer from 1 to 65535/],
    [['--provisioning', 'p.json', '--port', 'abc'], /--port must be an integer/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseCliArgs(argv)).toThrow(CliUsageError);
    expect(() => parseCliArgs(argv)).toThrow(message);
  });
});
