/**
 * Relays coming back: a whole fleet after a hub restart, a flapping relay, a relay that was away
 * while commands arrived. Real hub, real sockets, simulated Tasmota relays.
 */
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { SimFleet } from '../../firmware-sim/fleet.js';
import type { LightSnapshot } from '../../hub/src/core/event-bus.js';
import { type MqttLogin, TestHub } from '../helpers/hub.js';
import { waitFor, waitForEvent } from '../helpers/wait.js';

type Light = LightSnapshot;

let t: TestHub | undefined;
let fleet: SimFleet | undefined;

afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
  await t?.close();
  t = undefined;
});

const FLEET_SIZE = 1000;

/** Provision relays through the API, `concurrency` requests at a time. */
async function provisionMany(hub: TestHub, ids: string[], concurrency = 50): Promise<MqttLogin[]> {
  const logins: MqttLogin[] = new Array(ids.length);
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const i = next++;
      logins[i] = await hub.provision({ id: ids[i]!, zone: `zone-${i % 10}` });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return logins;
}

describe('a fleet of relays', () => {
  it(`brings ${FLEET_SIZE} relays back after a hub restart with every light as it was, switching none`, {
    timeout: 60_000,
  }, async () => {
    const hub = await TestHub.start();
    t = hub;
    const ids = Array.from({ length: FLEET_SIZE }, (_, i) => `fl${String(i).padStart(4, '0')}`);
    await hub.token('admin'); // one login, before the parallel requests
    const provisionStart = performance.now();
    const logins = await provisionMany(hub, ids);
    const provisionedAt = performance.now();
    const provisioning = {
      broker: { host: '127.0.0.1', port: hub.mqttPort },
      relays: logins.map((l) => ({
        topic: l.topic,
        username: l.username,
        password: l.password,
        channels: 1,
      })),
    };
    const options = { telePeriodSec: 0, relay: { reconnect: { initialMs: 150, maxMs: 1000 } } };
    // Client ids are Tasmota's random DVES_<6 hex>: a shared one now and then is part of the test.
    fleet = new SimFleet(provisioning, options);
    const relays = fleet.relays;
    /** Which relays the hub does not count as connected: said when a wait below times out. */
    const notConnected = () =>
      relays.filter((r) => !hub.hub.broker.isConnected(r.topic)).map((r) => `${r.topic}(${r.clientId})`);
    const started = await fleet.start();
    const fleetUpAt = performance.now();
    expect(started.failed).toEqual([]);
    expect(started.started).toBe(FLEET_SIZE);
    await waitFor(() => hub.hub.broker.connectedDevices === FLEET_SIZE, {
      timeoutMs: 10_000,
      message: `${FLEET_SIZE} relays connected`,
    }).catch((err: Error) => {
      throw new Error(`${err.message}; not connected: ${notConnected().join(' ')}`);
    });

    const all = await hub.api<{ lights: Light[] }>('POST', '/api/lights/state', { body: { state: 'on' } });
    expect(all.status).toBe(200);
    expect(all.body.lights).toHaveLength(FLEET_SIZE);
    await waitFor(() => relays.every((r) => r.state(1) === 'on'), {
      timeoutMs: 10_000,
      message: `all ${FLEET_SIZE} relays on`,
    });
    const switchesBefore = relays.reduce((n, r) => n + r.switches, 0);
    expect(switchesBefore).toBe(FLEET_SIZE);

    const stopAt = performance.now();
    const backAt: number[] = [];
    await hub.restart(async () => {
      // The hub is down: every relay has lost its connection and is retrying.
      await waitFor(() => fleet!.connectedCount === 0, {
        timeoutMs: 5000,
        message: 'every relay disconnected',
      });
      for (const r of relays) r.once('connected', () => backAt.push(performance.now()));
    });
    const upAt = performance.now();
    await waitFor(() => hub.hub.broker.connectedDevices === FLEET_SIZE, {
      timeoutMs: 10_000,
      intervalMs: 10,
      message: `${FLEET_SIZE} relays connected again`,
    }).catch((err: Error) => {
      throw new Error(`${err.message}; not connected: ${notConnected().join(' ')}`);
    });
    const connectedAt = performance.now();
    await waitFor(
      async () => {
        const lights = (await hub.api<Light[]>('GET', '/api/lights')).body;
        return (
          lights.length === FLEET_SIZE &&
          lights.every((l) => l.online && l.desired === 'on' && l.reported === 'on' && !l.pending)
        );
      },
      { timeoutMs: 10_000, intervalMs: 50, message: 'every light online, on and confirmed' },
    );
    const settledAt = performance.now();
    const after = backAt.map((at) => at - upAt).sort((a, b) => a - b);
    const pct = (p: number) =>
      (after[Math.min(after.length - 1, Math.floor((p / 100) * after.length))] ?? Number.NaN).toFixed(0);
    console.log(
      `[reconnect-fleet] provisioned ${FLEET_SIZE} via the API in ${(provisionedAt - provisionStart).toFixed(0)} ms, ` +
        `fleet connected in ${(fleetUpAt - provisionedAt).toFixed(0)} ms; ` +
        `hub down+up ${(upAt - stopAt).toFixed(0)} ms; ` +
        `all connected ${(connectedAt - upAt).toFixed(0)} ms after the hub was serving; ` +
        `every light online and confirmed ${(settledAt - upAt).toFixed(0)} ms after ` +
        `(per relay, CONNACK after the hub was serving: p50 ${pct(50)} ms, p90 ${pct(90)} ms, max ${pct(100)} ms)`,
    );

    expect(relays.reduce((n, r) => n + r.switches, 0)).toBe(switchesBefore);
    expect(relays.filter((r) => r.state(1) !== 'on').map((r) => r.topic)).toEqual([]);
    const lights = (await hub.api<Light[]>('GET', '/api/lights')).body;
    expect(
      lights.filter((l) => !(l.online && l.desired === 'on' && l.reported === 'on' && !l.pending)),
    ).toEqual([]);
  });

  // Real Tasmota's default client id is DVES_ + the MAC's last 3 bytes: in a fleet of 1000 two
  // relays share one now and then, and each must keep its own session.
  it('keeps two relays that share a Tasmota client id both online', async () => {
    const hub = await TestHub.start();
    t = hub;
    const a = await hub.onlineRelay({ id: 'twin-a' }, { clientId: 'DVES_ABCDEF' });
    const b = await hub.onlineRelay({ id: 'twin-b' }, { clientId: 'DVES_ABCDEF' });
    const ra = await hub.api<Light>('POST', '/api/lights/twin-a/state', { body: { state: 'on' } });
    const rb = await hub.api<Light>('POST', '/api/lights/twin-b/state', { body: { state: 'on' } });
    const offline = await hub.api<{ events: Array<{ target: string }> }>(
      'GET',
      '/api/events?type=device.offline',
    );
    expect(offline.body.events.map((e) => e.target)).toEqual([]);
    expect([a.connectCount, b.connectCount]).toEqual([1, 1]);
    expect([ra.body, rb.body]).toMatchObject([
      { reported: 'on', pending: false, online: true },
      { reported: 'on', pending: false, online: true },
    ]);
    expect(hub.hub.broker.connectedDevices).toBe(2);
  });
});

describe('one relay coming and going', () => {
  it('ends up online with its desired state after flapping while commands arrive', async () => {
    // Commands answer at once (no wait for the ack): the point is what the relay ends up with.
    const hub = await TestHub.start({ lights: { commandWaitMs: 0 } });
    t = hub;
    const relay = await hub.onlineRelay({ id: 'flap1' });
    const setState = async (state: 'on' | 'off') =>
      (await hub.api<Light>('POST', '/api/lights/flap1/state', { body: { state } })).body;
    await setState('on');
    await waitFor(() => relay.state(1) === 'on', { message: 'flap1 on' });

    const flapping = relay.flap({ periodMs: 100, count: 5 });
    // While it is down, then while it is back, then down again: off, on, off.
    await waitForEvent(relay, 'disconnected', { timeoutMs: 3000 });
    await setState('off');
    await waitForEvent(relay, 'subscribed', { timeoutMs: 3000 });
    await setState('on');
    await waitForEvent(relay, 'disconnected', { timeoutMs: 3000 });
    const last = await setState('off');
    expect(last).toMatchObject({ desired: 'off' });
    await flapping;

    await waitFor(
      async () => {
        const l = (await hub.api<Light>('GET', '/api/lights/flap1')).body;
        return l.online && l.desired === 'off' && l.reported === 'off' && !l.pending;
      },
      { timeoutMs: 5000, message: 'flap1 online, off and confirmed' },
    );
    expect(relay.state(1)).toBe('off');
    expect(relay.connected).toBe(true);
    expect(hub.hub.broker.isConnected('flap1')).toBe(true);
  });

  it('gives a relay that was away only the latest of the commands sent meanwhile', async () => {
    const hub = await TestHub.start();
    t = hub;
    const relay = await hub.onlineRelay({ id: 'drop1' });
    await hub.token('admin'); // logged in already, so that the commands below are quick
    const commands: string[] = [];
    relay.on('command', (c) => commands.push(`${c.command}=${c.payload}`));
    const switchesBefore = relay.switches;

    await relay.dropFor(300);
    await waitFor(() => !hub.hub.broker.isConnected('drop1'), { message: 'the hub seeing drop1 gone' });
    const answers: Light[] = [];
    for (const state of ['on', 'off', 'on'] as const) {
      answers.push((await hub.api<Light>('POST', '/api/lights/drop1/state', { body: { state } })).body);
    }
    // All three were sent while the relay was away (else this test proves nothing).
    expect(answers.map((a) => [a.desired, a.online])).toEqual([
      ['on', false],
      ['off', false],
      ['on', false],
    ]);
    expect(commands).toEqual([]);

    await waitFor(() => relay.state(1) === 'on', { timeoutMs: 3000, message: 'drop1 on after it returned' });
    await waitFor(
      async () => {
        const l = (await hub.api<Light>('GET', '/api/lights/drop1')).body;
        return l.online && l.reported === 'on' && !l.pending;
      },
      { message: 'drop1 online, on and confirmed' },
    );
    // Queries (empty POWER) apart, the relay heard one command: the latest.
    expect(commands.filter((c) => c !== 'POWER=')).toEqual(['POWER=ON']);
    expect(relay.switches).toBe(switchesBefore + 1);
  });
});
