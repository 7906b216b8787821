/**
 * The simulated relay keeps its dusk-to-dawn program when the hub dies: timers, the arm switch
 * and Rule1 as Tasmota runs them (https://tasmota.github.io/docs/Timers/,
 * https://tasmota.github.io/docs/Rules/). A plain aedes broker and a plain mqtt.js client play
 * the hub; killing the broker is killing the hub.
 */
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { SimRelay } from '../../firmware-sim/relay.js';
import { fallbackProgramBacklog, timerMinuteOn } from '../../hub/src/protocol/tasmota-timers.js';
import { waitFor, waitForEvent } from '../helpers/wait.js';

const teardown: (() => unknown)[] = [];
afterEach(async () => {
  for (let fn = teardown.pop(); fn; fn = teardown.pop()) await fn();
});

interface Broker {
  port: number;
  close(): Promise<void>;
}

async function startBroker(port = 0): Promise<Broker> {
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

async function connectHub(port: number, topic: string) {
  const client: MqttClient = await mqtt.connectAsync({ host: '127.0.0.1', port, reconnectPeriod: 0 });
  teardown.push(() => client.endAsync(true));
  const results: string[] = [];
  client.on('message', (t, p) => {
    // Power reports (at boot, on switching) are not answers to the commands sent here.
    if (t === `stat/${topic}/RESULT` && !p.toString().startsWith('{"POWER')) results.push(p.toString());
  });
  await client.subscribeAsync(`stat/${topic}/#`);
  return {
    results,
    /** Send a command and wait for `count` RESULT messages. */
    async command(command: string, payload: string, count = 1): Promise<string[]> {
      const from = results.length;
      await client.publishAsync(`cmnd/${topic}/${command}`, payload);
      await waitFor(() => results.length >= from + count, { message: `${count} RESULT for ${command}` });
      return results.slice(from, from + count);
    },
  };
}

function makeRelay(port: number, clock?: () => number): SimRelay {
  const relay = new SimRelay({
    host: '127.0.0.1',
    port,
    topic: 'khu_c1',
    channels: 2,
    telePeriodSec: 0,
    reconnect: { initialMs: 50, maxMs: 200 },
    clock,
  });
  teardown.push(() => relay.stop());
  return relay;
}

const SITE = { latitude: 21.32, longitude: 105.29, timezoneHours: 7 };
const LOCAL_MIN = 7 * 60;

/** Push a Backlog program and wait for every command's RESULT. */
async function push(hub: Awaited<ReturnType<typeof connectHub>>, batches: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const b of batches) out.push(...(await hub.command('Backlog', b, b.split(';').length)));
  return out;
}

describe('SimRelay timers and rules', () => {
  it('keeps the program: switches at the programmed instant after the hub dies, disarms when it is back', async () => {
    const broker = await startBroker();
    const relay = makeRelay(broker.port);
    await relay.start();
    const hub = await connectHub(broker.port, 'khu_c1');
    const targetMin = Math.floor(Date.now() / 60_000) + 2;
    const onMinute = (targetMin + LOCAL_MIN) % 1440;
    const replies = await push(
      hub,
      fallbackProgramBacklog({
        ...SITE,
        channels: 2,
        on: { mode: 'clock', offsetMin: onMinute },
        off: { mode: 'clock', offsetMin: (onMinute + 600) % 1440 },
      }),
    );
    expect(replies).toContain('{"Latitude":21.320000}');
    expect(replies).toContain('{"Longitude":105.290000}');
    expect(replies).toContain('{"Timezone":"+07:00"}');
    expect(replies).toContain('{"Timers":"OFF"}');
    expect(replies).toContain(
      '{"Timer5":{"Enable":0,"Mode":0,"Time":"00:00","Window":0,"Days":"0000000","Repeat":0,"Output":1,"Action":0}}',
    );
    expect(JSON.parse(replies.at(-1)!)).toMatchObject({ Rule1: { State: 'ON', Once: 'OFF' } });
    expect(relay.timersArmed).toBe(false);
    expect(relay.states()).toEqual(['off', 'off']);

    // The relay's clock is set (Time) 2 s before the programmed minute; then the hub dies:
    // Mqtt#Disconnected arms the timers, and the lights come on at the instant.
    expect(JSON.parse((await hub.command('Time', String(targetMin * 60 - 2)))[0]!)).toMatchObject({
      Epoch: targetMin * 60 - 2,
    });
    const switched = waitForEvent<[number, string]>(relay, 'switched', {
      timeoutMs: 8000,
      filter: (ch) => ch === 2,
    });
    await broker.close();
    await waitFor(() => relay.timersArmed, { message: 'timers armed by Mqtt#Disconnected' });
    await switched;
    expect(relay.states()).toEqual(['on', 'on']);
    expect(Math.floor(relay.now() / 60_000)).toBe(targetMin);

    // The hub is back: Mqtt#Connected disarms them again.
    await startBroker(broker.port);
    await waitForEvent(relay, 'subscribed', { timeoutMs: 3000 });
    expect(relay.timersArmed).toBe(false);
  });

  it('does not switch while the hub is connected (the rule keeps the timers disarmed)', async () => {
    const broker = await startBroker();
    const relay = makeRelay(broker.port);
    await relay.start();
    const hub = await connectHub(broker.port, 'khu_c1');
    const targetMin = Math.floor(Date.now() / 60_000) + 2;
    const onMinute = (targetMin + LOCAL_MIN) % 1440;
    await push(
      hub,
      fallbackProgramBacklog({
        ...SITE,
        channels: 1,
        on: { mode: 'clock', offsetMin: onMinute },
        off: { mode: 'clock', offsetMin: 0 },
      }),
    );
    // The relay's clock 1 s before the programmed minute, the hub still connected.
    const due = waitForEvent<[number, boolean]>(relay, 'timer', { timeoutMs: 5000, filter: (i) => i === 1 });
    await hub.command('Time', String(targetMin * 60 - 1));
    const [index, executed] = await due;
    expect([index, executed]).toEqual([1, false]);
    expect(relay.states()).toEqual(['off', 'off']);
    expect(relay.switches).toBe(0);
  });

  it('switches at sunset when the hub is dead (sim clock moved to seconds before sunset)', async () => {
    const broker = await startBroker();
    // Tết 2026 at Lâm Thao: the sunset timer fires at its minute; put the clock 2 s before it.
    const date = { year: 2026, month: 2, day: 17 };
    const site = { latitude: SITE.latitude, longitude: SITE.longitude, timezoneMin: LOCAL_MIN };
    const sunsetTimer = {
      enable: true,
      mode: 2 as const,
      minutes: 0,
      window: 0,
      days: Array(7).fill(true),
      repeat: true,
      output: 1,
      action: 1 as const,
    };
    const minute = timerMinuteOn(sunsetTimer, date, site)!;
    const instant = Date.UTC(2026, 1, 17) - LOCAL_MIN * 60_000 + minute * 60_000;
    let offset = 0;
    const relay = makeRelay(broker.port, () => Date.now() + offset);
    await relay.start();
    const hub = await connectHub(broker.port, 'khu_c1');
    await push(
      hub,
      fallbackProgramBacklog({
        ...SITE,
        channels: 2,
        on: { mode: 'sunset', offsetMin: 0 },
        off: { mode: 'sunrise', offsetMin: 0 },
      }),
    );
    const switched = waitForEvent(relay, 'switched', { timeoutMs: 6000 });
    offset = instant - 2000 - Date.now();
    relay.console('Time 0'); // re-plan the minute ticks on the moved clock, as a clock step does
    await broker.close();
    await switched;
    expect(relay.state(1)).toBe('on');
    expect(new Date(relay.now()).toISOString()).toMatch(/^2026-02-17T10:5/); // 17:5x local
  });

  it('keeps timers, rules and the site in flash across a reboot, and answers queries', async () => {
    const broker = await startBroker();
    const relay = makeRelay(broker.port);
    await relay.start();
    const hub = await connectHub(broker.port, 'khu_c1');
    await push(
      hub,
      fallbackProgramBacklog({
        ...SITE,
        channels: 2,
        on: { mode: 'sunset', offsetMin: -15 },
        off: { mode: 'sunrise', offsetMin: 15 },
      }),
    );
    const timer1 = relay.timer(1);
    const back = waitForEvent(relay, 'subscribed', { timeoutMs: 3000 });
    await relay.reboot();
    await back;
    expect(relay.timer(1)).toEqual(timer1);
    expect(relay.rule(1).enabled).toBe(true);
    expect(relay.site).toEqual({ latitude: 21.32, longitude: 105.29, timezoneMin: 420 });
    expect(await hub.command('Timer1', '')).toEqual([
      '{"Timer1":{"Enable":1,"Mode":2,"Time":"-00:15","Window":0,"Days":"1111111","Repeat":1,"Output":1,"Action":1}}',
    ]);
    expect(await hub.command('Timers', '')).toEqual(['{"Timers":"OFF"}']);
  });

  it('refuses bad commands like Tasmota and changes nothing', async () => {
    const broker = await startBroker();
    const relay = makeRelay(broker.port);
    await relay.start();
    const hub = await connectHub(broker.port, 'khu_c1');
    await hub.command('Timer1', '{"Enable":1,"Time":"18:00","Days":"1111111","Action":1}');
    const before = relay.timer(1);
    expect(await hub.command('Timer1', '{"Enable":1,')).toEqual(['{"Timer1":"Invalid JSON"}']);
    expect(await hub.command('Timer1', '{"Time":"25:00"}')).toEqual(['{"Timer1":"Invalid JSON"}']);
    expect(await hub.command('Timer17', '{}')).toEqual(['{"Command":"Error"}']);
    expect(await hub.command('Timers', 'maybe')).toEqual(['{"Command":"Error"}']);
    expect(await hub.command('Timezone', '+25:00')).toEqual(['{"Command":"Error"}']);
    expect(await hub.command('Latitude', '95')).toEqual(['{"Command":"Error"}']);
    expect(await hub.command('Time', '12345')).toEqual(['{"Command":"Error"}']);
    expect(await hub.command('Rule4', '1')).toEqual(['{"Command":"Error"}']);
    expect(relay.timer(1)).toEqual(before);
    expect(relay.site.timezoneMin).toBe(60);
    // Backlog runs at most 30 commands; the rest is dropped, as on Tasmota.
    const long = Array.from({ length: 31 }, (_, i) => `Timer${(i % 16) + 1} 0`).join('; ');
    const replies = await hub.command('Backlog', long, 30);
    expect(replies).toHaveLength(30);
    expect(relay.timer(1).enable).toBe(false);
  });
});
