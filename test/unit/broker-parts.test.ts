import { type AddressInfo, createConnection, createServer, type Server, type Socket } from 'node:net';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { hearsPowerCommands, mayPublish, maySubscribe } from '../../hub/src/broker/acl.js';
import { Broker } from '../../hub/src/broker/broker.js';
import {
  generateDeviceSecret,
  hashDeviceSecret,
  verifyDeviceSecret,
} from '../../hub/src/broker/device-secrets.js';
import { guardPacketSize } from '../../hub/src/broker/packet-guard.js';
import { EventBus } from '../../hub/src/core/event-bus.js';
import { onceWithTimeout, waitFor } from '../helpers/wait.js';

describe('acl: what a relay may publish', () => {
  it('allows its own tele/, stat/ and cmnd/ topics', () => {
    for (const topic of ['tele/a/STATE', 'tele/a/LWT', 'stat/a/RESULT', 'stat/a/POWER2', 'cmnd/a/POWER']) {
      expect(mayPublish('a', topic), topic).toBe(true);
    }
  });

  it("refuses another device's topics, including one whose name starts with its own", () => {
    for (const topic of [
      'tele/b/STATE',
      'tele/ab/STATE',
      'stat/ab/RESULT',
      'cmnd/ab/POWER',
      'cmnd/tasmotas/POWER',
    ]) {
      expect(mayPublish('a', topic), topic).toBe(false);
    }
  });

  it('refuses the bare prefix, other prefixes and look-alikes', () => {
    for (const topic of [
      'tele/a',
      'tele/a/',
      'cmnd/a',
      'a/tele/STATE',
      'tele',
      '',
      'telex/a/STATE',
      '/tele/a/STATE',
      'Tele/a/STATE',
    ]) {
      expect(mayPublish('a', topic), topic).toBe(false);
    }
  });
});

describe('acl: what a relay may subscribe to', () => {
  it('allows cmnd/<t>/# and a concrete command of its own', () => {
    expect(maySubscribe('a', 'cmnd/a/#')).toBe(true);
    expect(maySubscribe('a', 'cmnd/a/POWER')).toBe(true);
    expect(maySubscribe('a', 'cmnd/a/POWER2')).toBe(true);
  });

  it('refuses wildcards that reach other devices', () => {
    for (const filter of [
      '#',
      '+/a/POWER',
      'cmnd/#',
      'cmnd/+/POWER',
      'cmnd/+/#',
      '+/+/+',
      'cmnd/a/+',
      'cmnd/a/+/x',
      'cmnd/a/POWER/#',
    ]) {
      expect(maySubscribe('a', filter), filter).toBe(false);
    }
  });

  it("refuses cmnd/<t> without a trailing part, other devices' topics and Tasmota's group and fallback topics", () => {
    for (const filter of [
      'cmnd/a',
      'cmnd/a/',
      'cmnd/ab/#',
      'cmnd/ab/POWER',
      'cmnd/tasmotas/#',
      'cmnd/DVES_A1B2C3_fb/#',
      'stat/a/#',
      'tele/a/#',
    ]) {
      expect(maySubscribe('a', filter), filter).toBe(false);
    }
  });

  it('knows which granted subscriptions hear power commands', () => {
    expect(hearsPowerCommands('a', 'cmnd/a/#')).toBe(true);
    expect(hearsPowerCommands('a', 'cmnd/a/POWER')).toBe(true);
    expect(hearsPowerCommands('a', 'cmnd/a/POWER2')).toBe(true);
    expect(hearsPowerCommands('a', 'cmnd/a/STATUS')).toBe(false);
    expect(hearsPowerCommands('a', 'cmnd/ab/#')).toBe(false);
    expect(hearsPowerCommands('a', 'cmnd/a/+')).toBe(false);
    expect(hearsPowerCommands('a', 'cmnd/tasmotas/#')).toBe(false);
  });
});

describe('device secrets', () => {
  it('generates long random secrets, distinct each time', () => {
    const a = generateDeviceSecret();
    const b = generateDeviceSecret();
    expect(a).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(a).not.toBe(b);
  });

  it('verifies the right secret, as a string or as the Buffer the broker hands over', () => {
    const secret = generateDeviceSecret();
    const stored = hashDeviceSecret(secret);
    expect(stored).toMatch(/^sha256\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/);
    expect(stored).not.toContain(secret);
    expect(verifyDeviceSecret(secret, stored)).toBe(true);
    expect(verifyDeviceSecret(Buffer.from(secret), stored)).toBe(true);
  });

  it('refuses a wrong, truncated or empty secret', () => {
    const secret = generateDeviceSecret();
    const stored = hashDeviceSecret(secret);
    expect(verifyDeviceSecret(generateDeviceSecret(), stored)).toBe(false);
    expect(verifyDeviceSecret(secret.slice(0, -1), stored)).toBe(false);
    expect(verifyDeviceSecret(`${secret}x`, stored)).toBe(false);
    expect(verifyDeviceSecret('', stored)).toBe(false);
  });

  it('salts each hash: the same secret hashes differently, and both verify', () => {
    const secret = generateDeviceSecret();
    const h1 = hashDeviceSecret(secret);
    const h2 = hashDeviceSecret(secret);
    expect(h1).not.toBe(h2);
    expect(verifyDeviceSecret(secret, h1) && verifyDeviceSecret(secret, h2)).toBe(true);
  });

  it('refuses every login against a malformed stored hash instead of throwing', () => {
    const secret = generateDeviceSecret();
    const [, salt, digest] = hashDeviceSecret(secret).split('$');
    for (const stored of [
      '',
      'sha256',
      'sha256$',
      `sha256$${salt}`,
      `sha256$${salt}$`,
      `md5$${salt}$${digest}`,
      `sha256$${salt}$${digest!.slice(0, 10)}`,
      `scrypt$32768$8$1$${salt}$${digest}`,
    ]) {
      expect(verifyDeviceSecret(secret, stored), stored).toBe(false);
    }
  });
});

/** A server socket with the guard on, read the way aedes reads it: `read()` on 'readable'. */
interface Pair {
  client: Socket;
  server: Socket;
  received: Buffer[];
  receivedBytes(): number;
  tooLarge: number[];
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (let fn = cleanups.pop(); fn; fn = cleanups.pop()) await fn();
});

async function socketPair(maxBytes: number): Promise<Pair> {
  const listener: Server = createServer({ noDelay: true });
  listener.listen(0, '127.0.0.1');
  await onceWithTimeout(listener, 'listening');
  cleanups.push(() => new Promise<void>((resolve) => listener.close(() => resolve())));
  const accepted = onceWithTimeout<[Socket]>(listener, 'connection');
  const client = createConnection({
    port: (listener.address() as AddressInfo).port,
    host: '127.0.0.1',
    noDelay: true,
  });
  // The far end of a cut connection sees a reset or an end; either is fine for these tests.
  client.on('error', () => {});
  cleanups.push(() => {
    client.destroy();
  });
  const [server] = await accepted;
  cleanups.push(() => {
    server.destroy();
  });
  const pair: Pair = {
    client,
    server,
    received: [],
    receivedBytes: () => pair.received.reduce((n, b) => n + b.length, 0),
    tooLarge: [],
  };
  guardPacketSize(server, maxBytes, (size) => pair.tooLarge.push(size));
  server.on('readable', () => {
    for (let chunk = server.read() as Buffer | null; chunk !== null; chunk = server.read() as Buffer | null) {
      pair.received.push(chunk);
    }
  });
  return pair;
}

/** Write, then wait until the guarded side has read it all, so the next write is a chunk of its own. */
async function send(pair: Pair, bytes: Buffer | number[]): Promise<void> {
  const before = pair.receivedBytes();
  const buf = Buffer.from(bytes);
  pair.client.write(buf);
  await waitFor(() => pair.receivedBytes() === before + buf.length || pair.server.destroyed, {
    message: `${buf.length} bytes read by the guarded side`,
  });
}

/** MQTT 3.1.1 §2.2.3 Remaining Length encoding. */
function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** A QoS 0 PUBLISH of `payloadBytes` bytes on topic `t`. */
function publishPacket(payloadBytes: number): Buffer {
  const body = Buffer.concat([Buffer.from([0x00, 0x01, 0x74]), Buffer.alloc(payloadBytes, 0x61)]);
  return Buffer.concat([Buffer.from([0x30, ...remainingLength(body.length)]), body]);
}

const PINGREQ = [0xc0, 0x00];

describe('packet guard (a real socket pair)', () => {
  it('lets normal packets through unchanged', async () => {
    const pair = await socketPair(1024);
    const packets = [Buffer.from(PINGREQ), publishPacket(100), publishPacket(1024 - 6), Buffer.from(PINGREQ)];
    for (const p of packets) await send(pair, p);
    expect(Buffer.concat(pair.received)).toEqual(Buffer.concat(packets));
    expect(pair.server.destroyed).toBe(false);
    expect(pair.tooLarge).toEqual([]);
  });

  it('lets many packets in one chunk through', async () => {
    const pair = await socketPair(1024);
    const batch = Buffer.concat([
      publishPacket(10),
      Buffer.from(PINGREQ),
      publishPacket(500),
      publishPacket(0),
    ]);
    await send(pair, batch);
    expect(Buffer.concat(pair.received)).toEqual(batch);
    expect(pair.server.destroyed).toBe(false);
  });

  it('cuts the connection on a packet announcing more than the limit, before its body arrives', async () => {
    const pair = await socketPair(1024);
    await send(pair, PINGREQ);
    const closed = onceWithTimeout(pair.client, 'close');
    // Only the fixed header of a 200 000-byte PUBLISH: the guard must not wait for the body.
    pair.client.write(Buffer.from([0x30, ...remainingLength(200_000)]));
    await closed;
    expect(pair.server.destroyed).toBe(true);
    expect(pair.tooLarge).toEqual([1 + 3 + 200_000]);
    // What reached the reader is the ping only: the oversized header is swallowed.
    expect(Buffer.concat(pair.received)).toEqual(Buffer.from(PINGREQ));
  });

  it('cuts a packet one byte over the limit and passes one exactly at it', async () => {
    const atLimit = await socketPair(1024);
    await send(atLimit, publishPacket(1024 - 6)); // 1 + 2 length bytes + 3 topic bytes + payload = 1024
    expect(atLimit.server.destroyed).toBe(false);

    const over = await socketPair(1024);
    const closed = onceWithTimeout(over.client, 'close');
    over.client.write(publishPacket(1024 - 5));
    await closed;
    expect(over.tooLarge).toEqual([1025]);
  });

  it('follows headers and bodies split across chunks', async () => {
    const pair = await socketPair(1024);
    const first = publishPacket(300); // 0x30, 2 length bytes, body
    const second = publishPacket(50);
    // Type byte alone, then the first length byte, then the second with part of the body, …
    await send(pair, first.subarray(0, 1));
    await send(pair, first.subarray(1, 2));
    await send(pair, first.subarray(2, 10));
    // … the end of the body together with the start of the next packet's header.
    await send(pair, Buffer.concat([first.subarray(10), second.subarray(0, 1)]));
    await send(pair, second.subarray(1));
    expect(pair.server.destroyed).toBe(false);
    expect(Buffer.concat(pair.received)).toEqual(Buffer.concat([first, second]));

    // A split header that announces too much is still caught.
    const closed = onceWithTimeout(pair.client, 'close');
    const big = [0x30, ...remainingLength(70_000)];
    await send(pair, big.slice(0, 2));
    expect(pair.server.destroyed).toBe(false);
    pair.client.write(Buffer.from(big.slice(2)));
    await closed;
    expect(pair.tooLarge).toEqual([1 + 3 + 70_000]);
  });

  it('cuts a malformed Remaining Length of more than four bytes', async () => {
    const pair = await socketPair(1 << 30);
    const closed = onceWithTimeout(pair.client, 'close');
    pair.client.write(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]));
    await closed;
    expect(pair.server.destroyed).toBe(true);
  });
});

describe('packet guard inside the broker', () => {
  it('cuts a logged-in client that sends an oversized PUBLISH, and keeps serving the others', async () => {
    const bus = new EventBus();
    const secret = generateDeviceSecret();
    const stored = hashDeviceSecret(secret);
    const broker = new Broker({
      options: { host: '127.0.0.1', port: 0, maxPacketBytes: 1024, maxTopicLevels: 8 },
      bus,
      log: pino({ level: 'silent' }),
      logins: {
        verify: (username, password) => (verifyDeviceSecret(password, stored) ? username : undefined),
      },
    });
    await broker.start();
    cleanups.push(() => broker.stop());
    const messages: string[] = [];
    bus.on('test', 'deviceMessage', (m) => messages.push(`${m.deviceId} ${m.command} ${m.payload.length}`));
    const connect = async (name: string) => {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, {
        username: name,
        password: secret,
        clientId: name,
        reconnectPeriod: 0,
      });
      cleanups.push(() => client.endAsync(true));
      return client;
    };
    const big = await connect('big');
    const small = await connect('small');

    await small.publishAsync('tele/small/STATE', 'x'.repeat(900), { qos: 1 });
    await waitFor(() => messages.includes('small STATE 900'), { message: 'the 900-byte STATE routed' });

    const closed = onceWithTimeout(big, 'close');
    big.publish('tele/big/STATE', 'x'.repeat(5000), { qos: 0 });
    await closed;
    expect(messages.some((m) => m.startsWith('big'))).toBe(false);
    await waitFor(() => !broker.isConnected('big'), { message: 'big disconnected on the broker side' });

    // The other device is untouched.
    await small.publishAsync('tele/small/STATE', '{"POWER":"ON"}', { qos: 1 });
    expect(small.connected).toBe(true);
    expect(broker.isConnected('small')).toBe(true);
  });
});
