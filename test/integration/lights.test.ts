import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LightSnapshot } from '../../hub/src/core/event-bus.js';
import { TestHub } from '../helpers/hub.js';
import { waitFor, waitForEvent } from '../helpers/wait.js';

type Light = LightSnapshot;

let t: TestHub;
afterEach(async () => {
  await t?.close();
});

const eventsOf = async (type: string) =>
  (
    await t.api<{
      events: Array<{ type: string; target: string; actor: string; data: Record<string, unknown> }>;
    }>('GET', `/api/events?type=${type}&limit=500`)
  ).body.events;

describe('switching lights', () => {
  beforeEach(async () => {
    t = await TestHub.start();
  });

  it('switches one light on, off and toggle, answering with the acknowledged state', async () => {
    const relay = await t.onlineRelay({ id: 'r1', zone: 'pho-a' });
    let res = await t.api<Light>('POST', '/api/lights/r1/state', { body: { state: 'on' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: 'r1', desired: 'on', reported: 'on', pending: false, online: true });
    expect(relay.state(1)).toBe('on');

    res = await t.api<Light>('POST', '/api/lights/r1/state', { body: { state: 'off' } });
    expect(res.body).toMatchObject({ desired: 'off', reported: 'off', pending: false });
    expect(relay.state(1)).toBe('off');

    res = await t.api<Light>('POST', '/api/lights/r1/state', { body: { state: 'toggle' } });
    expect(res.body).toMatchObject({ desired: 'on', reported: 'on', pending: false });
    expect(relay.state(1)).toBe('on');

    const switched = await eventsOf('light.switched');
    expect(switched.map((e) => [e.actor, e.target, e.data.from, e.data.to])).toEqual([
      ['user:admin', 'r1', 'off', 'on'],
      ['user:admin', 'r1', 'on', 'off'],
      ['user:admin', 'r1', 'off', 'on'],
    ]);
  });

  it('switches each channel of a 2-channel relay on its own, and a cabinet feeding two streets', async () => {
    const relay = await t.onlineRelay({
      id: 'cab1',
      channels: [
        { name: 'Ngõ 3', zone: 'pho-a' },
        { name: 'Ngõ 4', zone: 'pho-b' },
      ],
    });
    const lights = (await t.api<Light[]>('GET', '/api/lights')).body;
    expect(lights.map((l) => [l.id, l.name, l.zone])).toEqual([
      ['cab1-1', 'Ngõ 3', 'pho-a'],
      ['cab1-2', 'Ngõ 4', 'pho-b'],
    ]);
    const res = await t.api<Light>('POST', '/api/lights/cab1-2/state', { body: { state: 'on' } });
    expect(res.body).toMatchObject({ reported: 'on', pending: false });
    expect(relay.states()).toEqual(['off', 'on']);
  });

  it('switches a whole street and every light, leaving other streets alone', async () => {
    const a1 = await t.onlineRelay({ id: 'a1', zone: 'pho-a' });
    const a2 = await t.onlineRelay({ id: 'a2', zone: 'pho-a', channels: 2 });
    const b1 = await t.onlineRelay({ id: 'b1', zone: 'pho-b' });

    const res = await t.api<{ lights: Light[] }>('POST', '/api/zones/pho-a/state', { body: { state: 'on' } });
    expect(res.status).toBe(200);
    expect(res.body.lights).toHaveLength(3);
    expect(res.body.lights.every((l) => l.reported === 'on' && !l.pending)).toBe(true);
    expect([a1.state(1), ...a2.states(), b1.state(1)]).toEqual(['on', 'on', 'on', 'off']);

    // A street toggles as one switch: some on → all off.
    await t.api('POST', '/api/lights/a1/state', { body: { state: 'off' } });
    await t.api('POST', '/api/zones/pho-a/state', { body: { state: 'toggle' } });
    expect([a1.state(1), ...a2.states()]).toEqual(['off', 'off', 'off']);

    const all = await t.api<{ lights: Light[] }>('POST', '/api/lights/state', { body: { state: 'on' } });
    expect(all.body.lights).toHaveLength(4);
    expect([a1.state(1), ...a2.states(), b1.state(1)]).toEqual(['on', 'on', 'on', 'on']);
  });

  it('switches a street whose name has Vietnamese diacritics and spaces', async () => {
    const relay = await t.onlineRelay({ id: 'nc1', zone: 'Ngõ Chùa' });
    const res = await t.api<{ lights: Light[] }>(
      'POST',
      `/api/zones/${encodeURIComponent('Ngõ Chùa')}/state`,
      {
        body: { state: 'on' },
      },
    );
    expect(res.status).toBe(200);
    expect(res.body.lights).toMatchObject([{ id: 'nc1', zone: 'Ngõ Chùa', reported: 'on' }]);
    expect(relay.state(1)).toBe('on');
    const zones = await t.api<Array<{ zone: string; lights: number; on: number }>>('GET', '/api/zones');
    expect(zones.body).toEqual([{ zone: 'Ngõ Chùa', lights: 1, on: 1 }]);
  });

  it('answers pending after the wait bound when the relay does not confirm, and raises an alarm', async () => {
    await t.close();
    t = await TestHub.start({ lights: { commandWaitMs: 200, ackTimeoutMs: 400 } });
    const relay = await t.onlineRelay({ id: 'stuck1' });
    relay.stuck = true;
    const res = await t.api<Light>('POST', '/api/lights/stuck1/state', { body: { state: 'on' } });
    expect(res.body).toMatchObject({ desired: 'on', pending: true, online: true });
    expect(relay.state(1)).toBe('off');
    await waitFor(async () => (await eventsOf('alarm.relay_no_ack')).length > 0, {
      timeoutMs: 3000,
      message: 'relay_no_ack alarm',
    });
    const [ev] = await eventsOf('alarm.relay_no_ack');
    expect(ev).toMatchObject({ target: 'stuck1', data: { desired: 'on', deviceId: 'stuck1' } });
  });

  it('keeps a command to an offline relay as desired state and sends only the latest when it returns', async () => {
    const login = await t.provision({ id: 'off1' });
    let res = await t.api<Light>('POST', '/api/lights/off1/state', { body: { state: 'on' } });
    expect(res.body).toMatchObject({ desired: 'on', reported: null, online: false, pending: true });
    res = await t.api<Light>('POST', '/api/lights/off1/state', { body: { state: 'off' } });
    res = await t.api<Light>('POST', '/api/lights/off1/state', { body: { state: 'on' } });

    const relay = t.relay(login, { powerOnState: 0 });
    const commands: string[] = [];
    relay.on('command', (c) => commands.push(`${c.command}=${c.payload}`));
    await relay.start();
    await waitFor(() => relay.state(1) === 'on', { message: 'relay switched on after reconnecting' });
    const light = (await t.api<Light>('GET', '/api/lights/off1')).body;
    expect(light).toMatchObject({ desired: 'on', reported: 'on', pending: false, online: true });
    // A query first, then only the latest desired state: never the stale on → off → on queue.
    expect(commands.filter((c) => c !== 'POWER=')).toEqual(['POWER=ON']);
    expect(relay.switches).toBe(1);
  });

  it('reaches a relay that announces Online before it subscribes, as real Tasmota does', async () => {
    const login = await t.provision({ id: 'slow1' });
    await t.api('POST', '/api/lights/slow1/state', { body: { state: 'on' } });
    const relay = t.relay(login, { subscribeDelayMs: 300 });
    const online = waitForEvent(relay, 'connected', { timeoutMs: 3000 });
    const started = relay.start();
    await online;
    expect(relay.state(1)).toBe('off');
    await started;
    await waitFor(() => relay.state(1) === 'on', { message: 'relay on after its late subscription' });
  });

  it('takes two quick commands (on, then off) without false alarms, ending at the last one', async () => {
    const relay = await t.onlineRelay({ id: 'q1' });
    relay.ackDelayMs = 150; // the relay answers ON only after OFF was sent
    const on = t.api<Light>('POST', '/api/lights/q1/state', { body: { state: 'on' } });
    await waitFor(() => relay.commandsReceived >= 2, { message: 'ON reached the relay' });
    const off = await t.api<Light>('POST', '/api/lights/q1/state', { body: { state: 'off' } });
    await on;
    expect(off.status).toBe(200);
    await waitFor(
      async () => {
        const l = (await t.api<Light>('GET', '/api/lights/q1')).body;
        return l.reported === 'off' && !l.pending && relay.state(1) === 'off';
      },
      { message: 'light off and confirmed' },
    );
    const light = (await t.api<Light>('GET', '/api/lights/q1')).body;
    expect(light).toMatchObject({ desired: 'off', desiredBy: 'user:admin' });
    expect(await eventsOf('alarm.relay_unexpected_state')).toEqual([]);
    expect((await eventsOf('light.switched')).map((e) => [e.actor, e.data.to])).toEqual([
      ['user:admin', 'off'],
      ['user:admin', 'on'],
    ]);
  });

  it('takes a state switched at the cabinet as the new state, with an alarm', async () => {
    const relay = await t.onlineRelay({ id: 'btn1' });
    await t.api('POST', '/api/lights/btn1/state', { body: { state: 'on' } });
    // Someone presses the button in the cabinet: Tasmota reports the new state by itself.
    relay.press(1);
    await waitFor(async () => (await t.api<Light>('GET', '/api/lights/btn1')).body.reported === 'off', {
      message: 'reported off after the button press',
    });
    const light = (await t.api<Light>('GET', '/api/lights/btn1')).body;
    expect(light).toMatchObject({ desired: 'off', pending: false });
    expect(relay.state(1)).toBe('off');
    const alarms = await eventsOf('alarm.relay_unexpected_state');
    expect(alarms).toHaveLength(1);
    expect(alarms[0]).toMatchObject({ target: 'btn1', data: { desired: 'on', reported: 'off' } });
  });

  it('streams light changes to a phone as server-sent events', async () => {
    const relay = await t.onlineRelay({ id: 'sse1' });
    const res = await fetch(`${t.url}/api/events/stream`, {
      headers: { authorization: `Bearer ${await t.token('admin')}` },
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    const readUntil = async (needle: string) => {
      const deadline = Date.now() + 3000;
      while (!text.includes(needle)) {
        if (Date.now() > deadline) throw new Error(`no ${needle} in stream: ${text}`);
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        text += new TextDecoder().decode(value);
      }
    };
    await readUntil('event: lights');
    await t.api('POST', '/api/lights/sse1/state', { body: { state: 'on' } });
    await readUntil('"reported":"on"');
    expect(relay.state(1)).toBe('on');
    await reader.cancel();
  });
});

describe('restarts and reconnects', () => {
  it('keeps every desired state across a hub restart and toggles nothing', async () => {
    t = await TestHub.start();
    const r1 = await t.onlineRelay({ id: 'k1', zone: 'pho-a' });
    const r2 = await t.onlineRelay({ id: 'k2', zone: 'pho-a', channels: 2 });
    await t.api('POST', '/api/lights/k1/state', { body: { state: 'on' } });
    await t.api('POST', '/api/lights/k2-2/state', { body: { state: 'on' } });
    const switchesBefore = r1.switches + r2.switches;
    const commandsBefore = r1.commandsReceived + r2.commandsReceived;

    await t.restart();
    await waitFor(() => t.hub.broker.connectedDevices === 2, { timeoutMs: 5000, message: 'relays back' });
    const lights = (await t.api<Light[]>('GET', '/api/lights')).body;
    await waitFor(async () => (await t.api<Light[]>('GET', '/api/lights')).body.every((l) => l.online), {
      message: 'all online',
    });
    expect(lights.map((l) => [l.id, l.desired, l.reported])).toEqual([
      ['k1', 'on', 'on'],
      ['k2-1', 'off', 'off'],
      ['k2-2', 'on', 'on'],
    ]);
    // The hub asked for state after the restart, and sent nothing that switches.
    await waitFor(() => r1.commandsReceived + r2.commandsReceived >= commandsBefore + 3, {
      message: 'queries',
    });
    expect(r1.switches + r2.switches).toBe(switchesBefore);
    expect([r1.state(1), ...r2.states()]).toEqual(['on', 'off', 'on']);
  });

  it('restores the desired state on a relay that came back from a power cut while the hub was down', async () => {
    t = await TestHub.start();
    const relay = await t.onlineRelay({ id: 'pc1' }, { powerOnState: 0 });
    await t.api('POST', '/api/lights/pc1/state', { body: { state: 'on' } });
    await t.restart(async () => {
      await relay.reboot(); // power cut at the cabinet: PowerOnState 0 boots it off
    });
    await waitFor(() => relay.state(1) === 'on', { timeoutMs: 5000, message: 'relay on again' });
    const events = await eventsOf('alarm.relay_unexpected_state');
    expect(events).toHaveLength(0);
  });
});
