/**
 * Lighting programs end to end: a real hub (TestHub), simulated Tasmota relays over real
 * sockets. Program instants are set a few seconds ahead with 6-field cron expressions (seconds
 * first), so nothing waits for a real dusk.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { LightSnapshot } from '../../hub/src/core/event-bus.js';
import { TestHub } from '../helpers/hub.js';
import { waitFor, waitForEvent } from '../helpers/wait.js';

let t: TestHub;
afterEach(async () => {
  await t?.close();
});

const TZ_MS = 7 * 3_600_000; // Asia/Ho_Chi_Minh, the default site
/** A daily cron expression (with seconds) for the local time of an instant. */
function cronAt(ms: number): string {
  const d = new Date(ms + TZ_MS);
  return `${d.getUTCSeconds()} ${d.getUTCMinutes()} ${d.getUTCHours()} * * *`;
}

interface EventRow {
  type: string;
  target: string;
  actor: string;
  data: Record<string, unknown>;
}
/** Oldest first (the API answers newest first). */
const eventsOf = async (type: string) =>
  (await t.api<{ events: EventRow[] }>('GET', `/api/events?type=${type}&limit=500`)).body.events.reverse();

async function program(id: string, rules: unknown[], extra: Record<string, unknown> = {}) {
  const res = await t.api('POST', '/api/schedule/programs', { body: { id, name: id, rules, ...extra } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

async function setDefault(programId: string) {
  const res = await t.api('PUT', '/api/schedule/defaults', {
    body: { program: programId, zones: {}, lights: {} },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

describe('lighting programs', () => {
  it('switches a zone at a programmed instant, with the program as the reason, and no alarms', async () => {
    t = await TestHub.start();
    const relay = await t.onlineRelay({ id: 'p1', zone: 'pho-a', channels: 2 });
    const now = Date.now();
    const at = now + 3000;
    await program('evening', [
      { state: 'off', cron: cronAt(now - 3_600_000) },
      { state: 'on', cron: cronAt(at) },
    ]);
    await setDefault('evening');
    // Off now: nothing to switch yet.
    expect(relay.states()).toEqual(['off', 'off']);
    const preview = await t.api<{
      zones: Array<{ zone: string; transitions: Array<{ at: string; state: string; reason: string }> }>;
    }>('GET', '/api/schedule/preview?days=1');
    expect(preview.status).toBe(200);
    const first = preview.body.zones.find((z) => z.zone === 'pho-a')!.transitions[0]!;
    expect(first).toMatchObject({
      at: new Date(Math.floor(at / 1000) * 1000).toISOString(),
      state: 'on',
      reason: 'program:evening',
    });

    await waitFor(() => relay.states().every((s) => s === 'on'), {
      timeoutMs: 6000,
      message: 'program switch-on',
    });
    const switchedAt = Date.now();
    expect(switchedAt).toBeGreaterThanOrEqual(Math.floor(at / 1000) * 1000);
    const switched = await eventsOf('light.switched');
    expect(switched.map((e) => [e.target, e.actor, e.data.to])).toEqual([
      ['p1-1', 'program:evening', 'on'],
      ['p1-2', 'program:evening', 'on'],
    ]);
    const lights = (await t.api<LightSnapshot[]>('GET', '/api/lights')).body;
    expect(lights.every((l) => l.desiredBy === 'program:evening' && !l.pending)).toBe(true);
    // The fallback timers stay disarmed while the hub is alive: no fight, no alarm.
    expect(relay.timersArmed).toBe(false);
    expect(await eventsOf('alarm.relay_unexpected_state')).toEqual([]);
    const stats = await t.api<Array<{ id: string; switches: number; on: boolean }>>(
      'GET',
      '/api/lights/stats',
      {
        as: 'admin',
      },
    );
    await waitFor(async () => {
      const s = (await t.api<Array<{ id: string; switches: number }>>('GET', '/api/lights/stats')).body;
      return s.every((x) => x.switches === 1);
    });
    expect(stats.status).toBe(200);
  });

  it('catches up at start, and a restart switches nothing needlessly', async () => {
    t = await TestHub.start();
    const relay = await t.onlineRelay({ id: 'c1', zone: 'pho-b' });
    // The relay's own fallback timer (minutes, armed while the hub is down) would switch it at
    // the start of the instant's minute: keep the whole down time inside one minute, so that
    // what switches the light on is the hub catching up.
    await waitFor(() => Date.now() % 60_000 < 45_000, { timeoutMs: 20_000, message: 'a fresh minute' });
    const now = Date.now();
    const at = now + 1500;
    await program('late', [
      { state: 'off', cron: cronAt(now - 3_600_000) },
      { state: 'on', cron: cronAt(at) },
    ]);
    await setDefault('late');
    // The hub is down across the instant; when it comes back it sets what the program says now.
    await t.restart(async () => {
      await waitFor(() => Date.now() > at + 1000, { timeoutMs: 5000, message: 'the instant to pass' });
      expect(relay.state(1)).toBe('off');
    });
    await waitFor(() => relay.state(1) === 'on', { timeoutMs: 5000, message: 'catch-up' });
    let switched = await eventsOf('light.switched');
    expect(switched.map((e) => [e.target, e.actor, e.data.to])).toEqual([['c1', 'program:late', 'on']]);

    const switches = relay.switches;
    const back = waitForEvent(relay, 'subscribed', { timeoutMs: 5000 });
    await t.restart();
    await back;
    await waitFor(() => t.hub.lights.get('c1').online && !t.hub.lights.get('c1').pending);
    switched = await eventsOf('light.switched');
    expect(switched).toHaveLength(1);
    expect(relay.switches).toBe(switches);
  });

  it('a manual switch holds until the next program transition, then the program takes over', async () => {
    t = await TestHub.start();
    await t.createUser('lan', 'resident', ['pho-c']);
    const relay = await t.onlineRelay({ id: 'm1', zone: 'pho-c' });
    const now = Date.now();
    const offAt = now + 2500;
    const onAt = now + 5000;
    await program('busy', [
      { state: 'on', cron: cronAt(now - 3_600_000) },
      { state: 'off', cron: cronAt(offAt) },
      { state: 'on', cron: cronAt(onAt) },
    ]);
    await setDefault('busy');
    await waitFor(() => relay.state(1) === 'on', { message: 'program on' });

    const res = await t.api<LightSnapshot>('POST', '/api/lights/m1/state', {
      as: 'lan',
      body: { state: 'off' },
    });
    expect(res.body).toMatchObject({ reported: 'off', desiredBy: 'user:lan' });
    await waitFor(async () => (await t.api<unknown[]>('GET', '/api/schedule/overrides')).body.length === 1);
    const [o] = (
      await t.api<Array<{ light: string; kind: string; until: string; state: string }>>(
        'GET',
        '/api/schedule/overrides',
      )
    ).body;
    expect(o).toMatchObject({
      light: 'm1',
      kind: 'manual',
      state: 'off',
      until: new Date(Math.floor(offAt / 1000) * 1000).toISOString(),
    });

    // The next transition (off) ends the hold; the one after (on) switches the light again.
    await waitForEvent(relay, 'switched', {
      timeoutMs: 8000,
      filter: (_ch: number, s: string) => s === 'on',
    });
    expect(Date.now()).toBeGreaterThanOrEqual(Math.floor(onAt / 1000) * 1000);
    const switched = await eventsOf('light.switched');
    expect(switched.map((e) => [e.actor, e.data.to])).toEqual([
      ['program:busy', 'on'],
      ['user:lan', 'off'],
      ['program:busy', 'on'],
    ]);
  });

  it('a head override keeps a zone on until its end; then the program takes over', async () => {
    t = await TestHub.start();
    const relay = await t.onlineRelay({ id: 'o1', zone: 'pho-d' });
    await program('dark', [{ state: 'off', cron: cronAt(Date.now() - 3_600_000) }]);
    await setDefault('dark');
    const until = new Date(Date.now() + 2000).toISOString();
    const res = await t.api<{ id: number }>('POST', '/api/schedule/overrides', {
      body: { zone: 'pho-d', state: 'on', until, note: 'lễ hội' },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    await waitFor(() => relay.state(1) === 'on', { message: 'override on' });
    await waitFor(() => relay.state(1) === 'off', {
      timeoutMs: 5000,
      message: 'program back after the override',
    });
    const switched = await eventsOf('light.switched');
    expect(switched.map((e) => [e.actor, e.data.to])).toEqual([
      [`override:${res.body.id}`, 'on'],
      ['program:dark', 'off'],
    ]);
  });

  it('pushes the fallback to a Tasmota relay, which keeps switching when the hub is killed', async () => {
    t = await TestHub.start();
    const relay = await t.onlineRelay({ id: 'f1', zone: 'pho-e', channels: 2 });
    const now = Date.now();
    // A fixed time 10 minutes ahead, on the minute (Tasmota timers have minute resolution).
    const onMinute = Math.floor(now / 60_000) + 10;
    const offMinute = onMinute + 360;
    await program('fixed', [
      { state: 'off', cron: cronAt(offMinute * 60_000) },
      { state: 'on', cron: cronAt(onMinute * 60_000) },
    ]);
    await setDefault('fixed');
    await waitFor(() => relay.timer(1).enable && relay.rule(1).enabled, {
      message: 'fallback timers pushed',
    });
    expect(relay.site).toEqual({ latitude: 21.32, longitude: 105.29, timezoneMin: 420 });
    expect(relay.timer(1)).toMatchObject({ mode: 0, output: 1, action: 1, minutes: (onMinute + 420) % 1440 });
    expect(relay.timer(3)).toMatchObject({ mode: 0, output: 2, action: 1 });
    expect(relay.timersArmed).toBe(false);
    expect(Math.abs(relay.now() - Date.now())).toBeLessThan(2000);

    // The hub dies: Mqtt#Disconnected arms the timers. The relay's own clock is moved to 2 s
    // before the programmed minute (as if the minutes had passed), and the lights come on.
    await t.hub.stop();
    await waitFor(() => relay.timersArmed, { timeoutMs: 5000, message: 'timers armed after the hub died' });
    const on = waitForEvent(relay, 'switched', { timeoutMs: 6000, filter: (ch: number) => ch === 2 });
    relay.console(`Time ${onMinute * 60 - 2}`);
    await on;
    expect(relay.states()).toEqual(['on', 'on']);
  });

  it('refuses bad input with a clear error and changes nothing; residents may read only', async () => {
    t = await TestHub.start();
    await t.onlineRelay({ id: 'v1', zone: 'pho-v' });
    await t.createUser('hoa', 'resident');
    await program(
      'dusk',
      [
        { state: 'on', sun: 'sunset', offsetMin: -15 },
        { state: 'off', sun: 'sunrise', offsetMin: 15 },
      ],
      { nightCut: { from: '23:00', to: '04:30' } },
    );
    const before = (await t.api('GET', '/api/schedule')).body;

    const bad: Array<[string, string, unknown, number, RegExp]> = [
      [
        'POST',
        '/api/schedule/programs',
        { id: 'x', name: 'x', rules: [{ state: 'on', cron: '61 * * * *' }] },
        400,
        /cron.*61/,
      ],
      [
        'POST',
        '/api/schedule/programs',
        { id: 'x', name: 'x', rules: [{ state: 'on', cron: '* * * * *' }] },
        400,
        /at most 48/,
      ],
      [
        'POST',
        '/api/schedule/programs',
        { id: 'x', name: 'x', rules: [{ state: 'on', sun: 'sunset', offsetMin: 181 }] },
        400,
        /offsetMin.*-180 to 180/,
      ],
      [
        'POST',
        '/api/schedule/programs',
        { id: 'x', name: 'x', rules: [{ state: 'on', sun: 'sunset', cron: '0 18 * * *' }] },
        400,
        /either "cron".*or "sun"/,
      ],
      [
        'POST',
        '/api/schedule/programs',
        { id: 'x', name: 'x', rules: [{ state: 'on', sun: 'noon' }] },
        400,
        /sun must be one of/,
      ],
      ['POST', '/api/schedule/programs', { id: 'x', name: 'x', rules: [] }, 400, /rules/],
      [
        'POST',
        '/api/schedule/programs',
        {
          id: 'x',
          name: 'x',
          rules: [{ state: 'on', sun: 'sunset' }],
          nightCut: { from: '11:00', to: '13:00' },
        },
        400,
        /within one night/,
      ],
      [
        'POST',
        '/api/schedule/programs',
        {
          id: 'x',
          name: 'x',
          rules: [{ state: 'on', sun: 'sunset' }],
          nightCut: { from: '25:00', to: '04:00' },
        },
        400,
        /nightCut.from/,
      ],
      [
        'POST',
        '/api/schedule/programs',
        { id: 'Bad Id', name: 'x', rules: [{ state: 'on', sun: 'sunset' }] },
        400,
        /id/,
      ],
      [
        'POST',
        '/api/schedule/programs',
        { id: 'dusk', name: 'x', rules: [{ state: 'on', sun: 'sunset' }] },
        409,
        /exists/,
      ],
      [
        'PUT',
        '/api/schedule/programs/nope',
        { name: 'x', rules: [{ state: 'on', sun: 'sunset' }] },
        404,
        /program nope/,
      ],
      [
        'POST',
        '/api/schedule/calendar',
        { id: 'r', name: 'r', program: 'dusk', dates: ['2026-02-30'] },
        400,
        /dates\[0\].*YYYY-MM-DD/,
      ],
      [
        'POST',
        '/api/schedule/calendar',
        { id: 'r', name: 'r', program: 'dusk', from: '2026-03-01', to: '2026-02-01' },
        400,
        /before from/,
      ],
      [
        'POST',
        '/api/schedule/calendar',
        { id: 'r', name: 'r', program: 'dusk', from: '2026-03-01' },
        400,
        /both "from" and "to"/,
      ],
      [
        'POST',
        '/api/schedule/calendar',
        { id: 'r', name: 'r', program: 'dusk', weekdays: [7] },
        400,
        /weekdays/,
      ],
      ['POST', '/api/schedule/calendar', { id: 'r', name: 'r', program: 'dusk' }, 400, /needs "dates"/],
      [
        'POST',
        '/api/schedule/calendar',
        { id: 'r', name: 'r', program: 'nope', weekdays: [0] },
        400,
        /unknown program nope/,
      ],
      [
        'POST',
        '/api/schedule/calendar',
        { id: 'r', name: 'r', program: 'dusk', weekdays: [0], zones: ['atlantis'] },
        400,
        /unknown zone atlantis/,
      ],
      [
        'POST',
        '/api/schedule/calendar',
        { id: 'r', name: 'r', program: 'dusk', weekdays: [0], lights: ['ghost'] },
        400,
        /unknown light ghost/,
      ],
      [
        'PUT',
        '/api/schedule/defaults',
        { program: 'nope', zones: {}, lights: {} },
        400,
        /unknown program nope/,
      ],
      [
        'PUT',
        '/api/schedule/defaults',
        { program: null, zones: { atlantis: 'dusk' }, lights: {} },
        400,
        /unknown zone atlantis/,
      ],
      [
        'POST',
        '/api/schedule/overrides',
        { zone: 'pho-v', state: 'on', until: '2020-01-01T00:00:00Z' },
        400,
        /already past/,
      ],
      ['POST', '/api/schedule/overrides', { zone: 'pho-v', state: 'on', until: 'tomorrow' }, 400, /ISO 8601/],
      [
        'POST',
        '/api/schedule/overrides',
        { zone: 'pho-v', light: 'v1', state: 'on', until: new Date(Date.now() + 60_000).toISOString() },
        400,
        /either "zone" or "light"/,
      ],
      [
        'POST',
        '/api/schedule/overrides',
        { zone: 'atlantis', state: 'on', until: new Date(Date.now() + 60_000).toISOString() },
        400,
        /unknown zone/,
      ],
      [
        'POST',
        '/api/schedule/overrides',
        { zone: 'pho-v', state: 'on', until: new Date(Date.now() + 40 * 86_400_000).toISOString() },
        400,
        /within 31 days/,
      ],
      ['DELETE', '/api/schedule/overrides/99', undefined, 404, /override 99/],
      ['DELETE', '/api/schedule/calendar/nope', undefined, 404, /calendar rule nope/],
    ];
    for (const [method, path, body, status, message] of bad) {
      const res = await t.api<{ error: { code: string; message: string } }>(method, path, { body });
      expect(res.status, `${method} ${path} ${JSON.stringify(body)} → ${JSON.stringify(res.body)}`).toBe(
        status,
      );
      expect(res.body.error.message).toMatch(message);
    }
    const days = await t.api<{ error: { message: string } }>('GET', '/api/schedule/preview?days=90');
    expect(days.status).toBe(400);
    expect(days.body.error.message).toMatch(/days/);

    // A resident reads, but may not change.
    expect((await t.api('GET', '/api/schedule', { as: 'hoa' })).status).toBe(200);
    expect((await t.api('GET', '/api/schedule/preview', { as: 'hoa' })).status).toBe(200);
    const refused = await t.api('DELETE', '/api/schedule/programs/dusk', { as: 'hoa' });
    expect(refused.status).toBe(403);
    expect((await t.api('GET', '/api/schedule')).body).toEqual(before);
  });

  it('orders calendar rules, reports overlaps and refuses a rule that could never apply', async () => {
    t = await TestHub.start();
    await t.onlineRelay({ id: 'k1', zone: 'pho-k' });
    await program(
      'dusk',
      [
        { state: 'on', sun: 'sunset' },
        { state: 'off', sun: 'sunrise' },
      ],
      { nightCut: { from: '23:00', to: '04:30' } },
    );
    await program('festival', [
      { state: 'on', sun: 'civilDusk' },
      { state: 'off', sun: 'civilDawn' },
    ]);
    let res = await t.api<{ overlaps: unknown[] }>('POST', '/api/schedule/calendar', {
      body: { id: 'tet', name: 'Tết', program: 'festival', from: '2027-02-05', to: '2027-02-10' },
    });
    expect(res.status).toBe(201);
    res = await t.api('POST', '/api/schedule/calendar', {
      body: { id: 'weekends', name: 'Weekends', program: 'dusk', weekdays: [0, 6], zones: ['pho-k'] },
    });
    expect(res.status).toBe(201);
    expect(res.body.overlaps).toEqual([
      { rule: 'tet', nights: 2, first: '2027-02-06', last: '2027-02-07', wins: 'tet' },
    ]);
    const shadow = await t.api<{ error: { message: string } }>('POST', '/api/schedule/calendar', {
      body: { id: 'tet-eve', name: 'Tết eve', program: 'dusk', dates: ['2027-02-06'] },
    });
    expect(shadow.status).toBe(409);
    expect(shadow.body.error.message).toMatch(/tet-eve would never apply.*tet/);
    // Placed first, it applies.
    res = await t.api('POST', '/api/schedule/calendar', {
      body: { id: 'tet-eve', name: 'Tết eve', program: 'dusk', dates: ['2027-02-06'], position: 0 },
    });
    expect(res.status).toBe(201);
    const order = (await t.api<Array<{ id: string }>>('GET', '/api/schedule/calendar')).body.map((r) => r.id);
    expect(order).toEqual(['tet-eve', 'tet', 'weekends']);
    const del = await t.api<{ error: { message: string } }>('DELETE', '/api/schedule/programs/festival');
    expect(del.status).toBe(409);
    expect(del.body.error.message).toMatch(/in use by calendar rule tet/);
  });
});
