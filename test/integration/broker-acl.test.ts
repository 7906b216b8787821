/**
 * The embedded broker as a device sees it: who may log in, what a relay may publish and
 * subscribe to, packet limits, bad payloads, and the will. Raw mqtt.js clients log in with the
 * logins the hub hands out; everything a device can do wrong, it does on a real socket.
 */
import { randomBytes } from 'node:crypto';
import { createConnection } from 'node:net';
import { type IClientOptions, MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { LightSnapshot } from '../../hub/src/core/event-bus.js';
import { TestHub } from '../helpers/hub.js';
import { waitFor } from '../helpers/wait.js';

type Light = LightSnapshot;
interface HubEvent {
  type: string;
  target: string | null;
  data: Record<string, unknown> | null;
}
interface DeviceView {
  id: string;
  online: boolean;
}

/** A raw MQTT connection as a device would open it. */
interface RawClient {
  client: MqttClient;
  /** Every message delivered to it, in order. */
  received: Array<{ topic: string; payload: string; retain: boolean }>;
  readonly closed: boolean;
}

let t: TestHub;
const clients: MqttClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => {})));
  await t?.close();
});

/** Connects with a login (any part of it may be missing or wrong); rejects with mqtt.js' error on a refused CONNACK. */
function open(
  login: { username?: string; password?: string },
  options: IClientOptions = {},
): Promise<RawClient> {
  const port = t.mqttPort;
  const client = new MqttClient(() => createConnection({ host: '127.0.0.1', port, noDelay: true }), {
    clientId: `raw_${randomBytes(4).toString('hex')}`,
    username: login.username,
    password: login.password,
    protocolVersion: 4,
    clean: true,
    keepalive: 30,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...options,
  });
  clients.push(client);
  let closed = false;
  const raw: RawClient = {
    client,
    received: [],
    get closed() {
      return closed;
    },
  };
  client.on('message', (topic, payload, packet) =>
    raw.received.push({ topic, payload: payload.toString('utf8'), retain: packet.retain }),
  );
  return new Promise((resolve, reject) => {
    let connected = false;
    client.on('connect', () => {
      connected = true;
      resolve(raw);
    });
    // mqtt.js reports a refused CONNACK and socket errors here; after the connect they are
    // expected (the broker closing on us) and only the close matters.
    client.on('error', (err) => {
      if (!connected) reject(err);
    });
    client.on('close', () => {
      closed = true;
      if (!connected) reject(new Error('connection closed before CONNACK'));
    });
  });
}

/** SUBSCRIBE one filter and answer the granted codes of the SUBACK (128 = refused). */
function subscribe(c: RawClient, filter: string, qos: 0 | 1 = 0): Promise<number[]> {
  return new Promise((resolve, reject) => {
    c.client.subscribe(filter, { qos }, (err, _granted, packet) => {
      if (packet && Array.isArray(packet.granted)) resolve(packet.granted.map(Number));
      else reject(err ?? new Error(`no SUBACK for ${filter}`));
    });
  });
}

/** A CONNECT packet written by hand: mqtt.js will not build one with an empty id and clean session off. */
function connectPacket(p: {
  clientId: string;
  clean: boolean;
  username?: string;
  password?: string;
}): Buffer {
  const str = (s: string) => {
    const bytes = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16BE(bytes.length);
    return Buffer.concat([len, bytes]);
  };
  let flags = p.clean ? 0x02 : 0;
  const payload = [str(p.clientId)];
  if (p.username !== undefined) {
    flags |= 0x80;
    payload.push(str(p.username));
  }
  if (p.password !== undefined) {
    flags |= 0x40;
    payload.push(str(p.password));
  }
  // Protocol name MQTT, level 4 (3.1.1), flags, keepalive 30 s.
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, flags, 0, 30]), ...payload]);
  const length: number[] = [];
  let n = body.length;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    length.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x10, ...length]), body]);
}

/** Sends a raw CONNECT and answers the CONNACK return code, once the broker has also closed the socket. */
function rawConnect(packet: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port: t.mqttPort, noDelay: true });
    let data = Buffer.alloc(0);
    let returnCode: number | undefined;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no CONNACK and close within 2000 ms (got ${data.toString('hex')})`));
    }, 2000);
    socket.on('connect', () => socket.write(packet));
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (data.length >= 4) {
        if (data[0] !== 0x20 || data[1] !== 0x02) reject(new Error(`not a CONNACK: ${data.toString('hex')}`));
        returnCode = data[3];
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      if (returnCode === undefined) reject(new Error(`closed without CONNACK (got ${data.toString('hex')})`));
      else resolve(returnCode);
    });
  });
}

const light = async (id: string) => (await t.api<Light>('GET', `/api/lights/${id}`)).body;
const device = async (id: string) =>
  (await t.api<DeviceView[]>('GET', '/api/devices')).body.find((d) => d.id === id);
const eventsOf = async (type: string) =>
  (await t.api<{ events: HubEvent[] }>('GET', `/api/events?type=${type}&limit=500`)).body.events;

describe('logging in', () => {
  it("refuses a wrong password, another device's password, no login and an unknown user", async () => {
    t = await TestHub.start();
    const a = await t.provision({ id: 'login-a' });
    const b = await t.provision({ id: 'login-b' });
    const wrong = `wrong-${randomBytes(8).toString('hex')}`;

    await expect(open({ username: a.username, password: wrong })).rejects.toMatchObject({
      code: 4,
      message: expect.stringMatching(/bad username or password/i),
    });
    // A device cannot log in as another with its own password.
    await expect(open({ username: b.username, password: a.password })).rejects.toMatchObject({ code: 4 });
    // MQTT 3.1.1 allows 4 (bad user name or password) or 5 (not authorized) for anonymous clients.
    const anonymous = await open({}).then(
      () => undefined,
      (err: { code?: number }) => err.code,
    );
    expect([4, 5]).toContain(anonymous);
    await expect(open({ username: 'nobody', password: a.password })).rejects.toMatchObject({ code: 4 });

    // None of it made a device look online, and no password reached the logs.
    expect(await device('login-a')).toMatchObject({ online: false });
    expect(await device('login-b')).toMatchObject({ online: false });
    expect(t.hub.broker.connectedDevices).toBe(0);
    const logText = JSON.stringify(t.logs);
    expect(logText).toContain('MQTT login refused');
    expect(logText).not.toContain(wrong);
    expect(logText).not.toContain(a.password);

    // The right login still works after the refusals.
    const ok = await open({ username: a.username, password: a.password });
    expect(ok.client.connected).toBe(true);
    await waitFor(async () => (await device('login-a'))?.online === true, { message: 'login-a online' });
  });

  it('refuses an empty client id without a clean session (identifier rejected) [MQTT-3.1.3-8]', async () => {
    t = await TestHub.start();
    const login = await t.provision({ id: 'noid1' });
    const refused = await rawConnect(
      connectPacket({ clientId: '', clean: false, username: login.username, password: login.password }),
    );
    expect(refused).toBe(2);
    expect(await device('noid1')).toMatchObject({ online: false });

    // The same empty id with a clean session is fine: the broker assigns one.
    const badPassword = await rawConnect(
      connectPacket({ clientId: '', clean: true, username: login.username, password: `${login.password}x` }),
    );
    expect(badPassword).toBe(4); // and it still checks the login
    const c = await open(login, { clientId: '', clean: true });
    expect(c.client.connected).toBe(true);
    await waitFor(async () => (await device('noid1'))?.online === true, { message: 'noid1 online' });
    expect((await light('noid1')).online).toBe(true);
  });
});

describe('what a device may publish', () => {
  it('closes a device that publishes as another device or outside Tasmota topics, changing nothing', async () => {
    t = await TestHub.start();
    const other = await t.onlineRelay({ id: 'other1' });
    const otherCommands: string[] = [];
    other.on('command', (c) => otherCommands.push(`${c.command}=${c.payload}`));
    await waitFor(async () => (await light('other1')).reported === 'off', { message: 'other1 reported off' });
    const login = await t.provision({ id: 'rogue1' });

    const attempts: Array<[string, string]> = [
      ['stat/other1/RESULT', '{"POWER":"ON"}'],
      ['stat/other1/POWER', 'ON'],
      ['cmnd/other1/POWER', 'ON'],
      ['cmnd/tasmotas/POWER', 'ON'],
      ['tele/other1/LWT', 'Offline'],
      ['foo/bar', 'ON'],
    ];
    for (const [topic, payload] of attempts) {
      const rogue = await open(login);
      rogue.client.publish(topic, payload, { qos: 0 });
      await waitFor(() => rogue.closed, {
        message: `the broker closing rogue1 after it published on ${topic}`,
      });
    }

    expect(await light('other1')).toMatchObject({
      desired: 'off',
      reported: 'off',
      online: true,
      pending: false,
    });
    const refused = await eventsOf('alarm.mqtt_refused');
    expect(refused.map((e) => [e.target, e.data?.topic]).sort()).toEqual(
      attempts.map(([topic]) => ['rogue1', topic]).sort(),
    );
    expect(await eventsOf('alarm.relay_unexpected_state')).toEqual([]);

    // A command the hub sends now reaches other1 after anything rogue1 could have slipped through:
    // only the hub's ON arrives, and the relay switches once.
    const res = await t.api<Light>('POST', '/api/lights/other1/state', { body: { state: 'on' } });
    expect(res.body).toMatchObject({ reported: 'on', pending: false });
    expect(otherCommands.filter((c) => c !== 'POWER=')).toEqual(['POWER=ON']);
    expect(other.switches).toBe(1);
  });

  it('accepts and ignores the empty cmnd/<t>/POWER real Tasmota sends on every connect', async () => {
    t = await TestHub.start();
    const login = await t.provision({ id: 'echo1' });
    const c = await open(login, {
      will: { topic: 'tele/echo1/LWT', payload: Buffer.from('Offline'), qos: 1, retain: true },
    });
    // Tasmota's MqttConnected(): LWT Online, the empty POWER, then the subscriptions.
    c.client.publish('tele/echo1/LWT', 'Online', { qos: 0, retain: true });
    c.client.publish('cmnd/echo1/POWER', '', { qos: 0 });
    expect(await subscribe(c, 'cmnd/echo1/#')).toEqual([0]);
    // The device's own report, sent after the echo on the same connection, is what sets the state.
    await c.client.publishAsync('stat/echo1/POWER', 'OFF', { qos: 1 });
    await waitFor(async () => (await light('echo1')).reported === 'off', { message: 'echo1 reported off' });

    expect(c.closed).toBe(false);
    expect(c.client.connected).toBe(true);
    expect(await light('echo1')).toMatchObject({
      desired: 'off',
      reported: 'off',
      pending: false,
      online: true,
    });
    expect(await eventsOf('alarm.*')).toEqual([]);
    expect(t.logs.filter((l) => (l.level as number) >= 40 && l.deviceId === 'echo1')).toEqual([]);
  });

  it('never retains command topics: a fresh subscriber gets no old command', async () => {
    t = await TestHub.start();
    const login = await t.provision({ id: 'ret1' });
    const relay = t.relay(login);
    await relay.start();
    const on = await t.api<Light>('POST', '/api/lights/ret1/state', { body: { state: 'on' } });
    expect(on.body).toMatchObject({ reported: 'on', pending: false });
    await relay.stop();

    // Only the device itself may subscribe to its command topic: the fresh subscriber logs in as
    // ret1. A retained ON would reach it the moment it subscribes ("ghost switching").
    const fresh = await open(login);
    expect(await subscribe(fresh, 'cmnd/ret1/#')).toEqual([0]);
    const off = t.api<Light>('POST', '/api/lights/ret1/state', { body: { state: 'off' } });
    await waitFor(() => fresh.received.some((m) => m.topic === 'cmnd/ret1/POWER' && m.payload === 'OFF'), {
      message: 'the OFF reaching the fresh subscriber',
    });
    await off;
    // What arrived: the hub's state queries (empty) and the OFF, none of them retained, no ON.
    expect(fresh.received.filter((m) => m.retain)).toEqual([]);
    expect(fresh.received.filter((m) => m.payload === 'ON')).toEqual([]);
    expect(new Set(fresh.received.map((m) => m.payload))).toEqual(new Set(['', 'OFF']));
  });
});

describe('what a device may subscribe to', () => {
  it('answers a foreign subscription with SUBACK 128 and keeps the device connected', async () => {
    t = await TestHub.start();
    const neighbour = await t.onlineRelay({ id: 'nb1' });
    const login = await t.provision({ id: 'sub1' });
    const c = await open(login);
    c.client.on('message', (topic, payload) => {
      const text = payload.toString('utf8');
      if (topic === 'cmnd/sub1/POWER' && text !== '') c.client.publish('stat/sub1/POWER', text, { qos: 0 });
    });

    // Real Tasmota subscribes to its group and fallback topics too; these and any wider filter are refused.
    for (const filter of [
      'cmnd/tasmotas/#',
      'cmnd/nb1/#',
      'cmnd/+/POWER',
      '#',
      'stat/#',
      'tele/nb1/#',
      '$SYS/#',
    ]) {
      expect(await subscribe(c, filter), filter).toEqual([128]);
    }
    expect(c.closed).toBe(false);
    expect(await subscribe(c, 'cmnd/sub1/#')).toEqual([0]);

    // The neighbour's command does not reach sub1; sub1's own command, sent after it, does.
    const nb = await t.api<Light>('POST', '/api/lights/nb1/state', { body: { state: 'on' } });
    expect(nb.body).toMatchObject({ reported: 'on', pending: false });
    expect(neighbour.state(1)).toBe('on');
    const own = await t.api<Light>('POST', '/api/lights/sub1/state', { body: { state: 'on' } });
    expect(own.body).toMatchObject({ desired: 'on', reported: 'on', pending: false, online: true });
    expect(c.received.some((m) => m.topic === 'cmnd/sub1/POWER' && m.payload === 'ON')).toBe(true);
    expect(c.received.filter((m) => !m.topic.startsWith('cmnd/sub1/'))).toEqual([]);
    expect(c.closed).toBe(false);
  });
});

describe('packet limits', () => {
  it('closes a connection whose packet is over mqtt.maxPacketBytes and keeps serving the others', async () => {
    t = await TestHub.start({ mqtt: { maxPacketBytes: 2048 } });
    const fine = await t.onlineRelay({ id: 'fine1' });
    const login = await t.provision({ id: 'big1' });
    const c = await open(login);

    // Under the limit: accepted and read.
    const small = JSON.stringify({ POWER: 'OFF', Pad: 'x'.repeat(1500) });
    await c.client.publishAsync('tele/big1/STATE', small, { qos: 1 });
    await waitFor(async () => (await light('big1')).reported === 'off', { message: 'big1 reported off' });

    const large = JSON.stringify({ POWER: 'ON', Pad: 'x'.repeat(4000) });
    c.client.publish('tele/big1/STATE', large, { qos: 0 });
    await waitFor(() => c.closed, { message: 'the broker closing big1 after a 4 KB packet' });
    expect(t.logs.some((l) => l.msg === 'MQTT packet over the size limit: connection closed')).toBe(true);
    await waitFor(async () => (await light('big1')).online === false, { message: 'big1 offline' });
    expect(await light('big1')).toMatchObject({ reported: 'off' });

    // Everyone else is still served.
    const res = await t.api<Light>('POST', '/api/lights/fine1/state', { body: { state: 'on' } });
    expect(res.body).toMatchObject({ reported: 'on', pending: false, online: true });
    expect(fine.state(1)).toBe('on');
    const again = await open(login);
    expect(again.client.connected).toBe(true);
  });

  it('closes a connection that publishes on a topic deeper than mqtt.maxTopicLevels', async () => {
    t = await TestHub.start();
    const levels = t.hub.config.mqtt.maxTopicLevels;
    const login = await t.provision({ id: 'deep1' });
    const c = await open(login);
    const topic = (n: number) =>
      ['stat', 'deep1', ...Array.from({ length: n - 2 }, (_, i) => `l${i}`)].join('/');

    await c.client.publishAsync(topic(levels), 'x', { qos: 1 }); // at the limit: accepted (and ignored)
    expect(c.closed).toBe(false);
    c.client.publish(topic(levels + 1), 'x', { qos: 0 });
    await waitFor(() => c.closed, { message: `the broker closing deep1 after a ${levels + 1}-level topic` });
    expect(t.logs.some((l) => l.msg === 'client error' && String(l.err).includes('too many levels'))).toBe(
      true,
    );
    expect(await light('deep1')).toMatchObject({ reported: null, desired: null });
  });
});

describe('bad payloads from a device', () => {
  it('logs malformed reports and changes nothing; a valid report after them on the same connection counts', async () => {
    t = await TestHub.start();
    const login = await t.provision({ id: 'bad2', channels: 2 });
    const c = await open(login);
    const malformed: Array<[string, string]> = [
      ['stat/bad2/RESULT', 'not json'],
      ['stat/bad2/RESULT', '[1,2]'],
      ['stat/bad2/POWER', 'MAYBE'],
      ['tele/bad2/STATE', 'garbage{"POWER1":"ON"'],
    ];
    const ignored: Array<[string, string]> = [
      ['stat/bad2/RESULT', '{"POWER":"BANANA"}'],
      ['stat/bad2/POWER5', 'ON'], // a channel this 2-channel relay has no light on
      ['stat/bad2/RESULT', '{"POWER5":"ON"}'],
    ];
    for (const [topic, payload] of [...malformed, ...ignored]) {
      await c.client.publishAsync(topic, payload, { qos: 1 });
    }
    // Processed after all of the above, on the same connection.
    await c.client.publishAsync('stat/bad2/POWER2', 'ON', { qos: 1 });
    await waitFor(async () => (await light('bad2-2')).reported === 'on', { message: 'bad2-2 reported on' });

    expect(c.closed).toBe(false);
    expect(await light('bad2-1')).toMatchObject({
      desired: null,
      reported: null,
      pending: false,
      online: true,
    });
    expect(await light('bad2-2')).toMatchObject({ desired: 'on', reported: 'on', pending: false });

    const warned = t.logs.filter(
      (l) => l.level === 40 && l.msg === 'malformed payload ignored' && l.deviceId === 'bad2',
    );
    for (const [topic] of malformed) {
      expect(
        warned.filter((l) => l.topic === topic).length,
        `warn lines for ${topic}`,
      ).toBeGreaterThanOrEqual(malformed.filter(([tp]) => tp === topic).length);
    }
    const alarms = await eventsOf('alarm.bad_payload');
    expect(alarms.every((a) => a.target === 'bad2')).toBe(true);
    expect(alarms.map((a) => a.data?.payload)).toEqual(expect.arrayContaining(malformed.map(([, p]) => p)));
    expect(
      t.logs.some(
        (l) => l.msg === 'report for a channel with no light' && l.deviceId === 'bad2' && l.channel === 5,
      ),
    ).toBe(true);
    expect(await eventsOf('alarm.relay_unexpected_state')).toEqual([]);
    expect(await eventsOf('light.switched')).toEqual([]);
  });

  // DESIGN "Bad input": a bad value gets the same treatment inside JSON as on its own topic.
  it('treats an unreadable POWER value in a JSON report as malformed, like the same value on stat/<t>/POWER', async () => {
    t = await TestHub.start();
    const login = await t.provision({ id: 'ban1' });
    const c = await open(login);
    await c.client.publishAsync('stat/ban1/RESULT', '{"POWER":"BANANA"}', { qos: 1 });
    await c.client.publishAsync('stat/ban1/POWER', 'MAYBE', { qos: 1 });
    await c.client.publishAsync('stat/ban1/POWER', 'ON', { qos: 1 });
    await waitFor(async () => (await light('ban1')).reported === 'on', { message: 'ban1 reported on' });

    const warned = t.logs
      .filter((l) => l.level === 40 && l.msg === 'malformed payload ignored' && l.deviceId === 'ban1')
      .map((l) => l.topic);
    expect(warned).toEqual(['stat/ban1/RESULT', 'stat/ban1/POWER']);
    const payloads = (await eventsOf('alarm.bad_payload')).map((a) => a.data?.payload).sort();
    expect(payloads).toEqual(['MAYBE', '{"POWER":"BANANA"}']);
  });
});

describe('the will', () => {
  it('takes a device offline when its socket dies, and lets its own LWT Offline through', async () => {
    t = await TestHub.start();
    const login = await t.provision({ id: 'will1' });
    const c = await open(login, {
      will: { topic: 'tele/will1/LWT', payload: Buffer.from('Offline'), qos: 1, retain: true },
    });
    c.client.publish('tele/will1/LWT', 'Online', { qos: 0, retain: true });
    expect(await subscribe(c, 'cmnd/will1/#')).toEqual([0]);
    await waitFor(async () => (await device('will1'))?.online === true, { message: 'will1 online' });
    expect((await light('will1')).online).toBe(true);
    const lwt: string[] = [];
    t.hub.bus.on('test-will', 'deviceMessage', (m) => {
      if (m.deviceId === 'will1' && m.prefix === 'tele' && m.command === 'LWT')
        lwt.push(m.payload.toString());
    });

    c.client.stream.destroy(); // power cut: no DISCONNECT, so the broker publishes the will
    await waitFor(async () => (await device('will1'))?.online === false, { message: 'will1 offline' });
    expect(await light('will1')).toMatchObject({ online: false });
    await waitFor(async () => (await eventsOf('device.offline')).some((e) => e.target === 'will1'), {
      message: 'device.offline event for will1',
    });
    await waitFor(() => lwt.includes('Offline'), { message: 'the will published' });
    expect(await eventsOf('alarm.mqtt_refused')).toEqual([]);
  });
});

describe('one connection per relay login', () => {
  it('closes an older connection with the same login, and a rotated password leaves nothing connected', async () => {
    t = await TestHub.start();
    const login = await t.provision({ id: 'own1' });
    const thief = await open(login, { clientId: 'thief' });
    const device = await open(login, { clientId: 'DVES_0A0B0C' });
    await waitFor(() => thief.closed, { message: 'the older connection closed' });
    expect(device.closed).toBe(false);

    const rotated = await t.api<{ mqtt: { password: string } }>('POST', '/api/devices/own1/password');
    expect(rotated.status).toBe(200);
    await waitFor(() => device.closed, { message: 'the connection with the old password closed' });
    await expect(open(login)).rejects.toThrow(/Bad username or password|Not authorized/i);
    expect(t.hub.broker.connectedDevices).toBe(0);
  });

  it('reaches a relay whose session the broker kept (clean=false) without a new SUBSCRIBE', async () => {
    t = await TestHub.start();
    const login = await t.provision({ id: 'kept1' });
    const first = await open(login, { clientId: 'DVES_KEPT01', clean: false });
    await first.client.subscribeAsync('cmnd/kept1/#', { qos: 1 });
    await first.client.endAsync();
    // Back with the same session: its subscription is restored by the broker, not sent again.
    const again = await open(login, { clientId: 'DVES_KEPT01', clean: false });
    await waitFor(() => again.received.some((m) => m.topic === 'cmnd/kept1/POWER' && m.payload === ''), {
      message: 'the hub asked the restored session for its state',
    });
    await again.client.publishAsync('stat/kept1/POWER', 'OFF', { qos: 1 });
    const command = t.api('POST', '/api/lights/kept1/state', { body: { state: 'on' } });
    await waitFor(() => again.received.some((m) => m.topic === 'cmnd/kept1/POWER' && m.payload === 'ON'), {
      message: 'the command reached the restored session',
    });
    await again.client.publishAsync('stat/kept1/POWER', 'ON', { qos: 1 });
    expect((await command).body).toMatchObject({ reported: 'on', pending: false });
  });
});
