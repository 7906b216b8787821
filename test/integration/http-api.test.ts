/**
 * The HTTP contract of docs DESIGN.md, over real HTTP on loopback against a whole hub (SQLite in
 * a temp dir, the embedded broker on port 0): logins, sessions, the role ladder, bad input,
 * provisioning and device logins, the event log and accounts.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { LightSnapshot } from '../../hub/src/core/event-bus.js';
import type { EventRecord } from '../../hub/src/store/events-repo.js';
import { ADMIN_PASSWORD, type ApiResult, type MqttLogin, TestHub } from '../helpers/hub.js';
import { onceWithTimeout, waitFor } from '../helpers/wait.js';

type Light = LightSnapshot;
interface ErrorAnswer {
  error: { code: string; message: string; retryAfterSec?: number };
}
type EventView = EventRecord;
interface EventPage {
  events: EventView[];
  next: number | null;
}
interface DeviceView {
  id: string;
  name: string;
  channels: number;
  online: boolean;
  lights: string[];
}
interface UserView {
  username: string;
  role: string;
  zones: string[];
}

const ISO_UTC_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

let t: TestHub | undefined;
const clients: MqttClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  await t?.close();
  t = undefined;
});

async function hub(overrides: Parameters<typeof TestHub.start>[0] = {}): Promise<TestHub> {
  t = await TestHub.start(overrides);
  return t;
}

const login = (h: TestHub, username: string, password: string) =>
  h.api<{ token: string; expiresAt: string; csrfToken: string; user: UserView } & ErrorAnswer>(
    'POST',
    '/api/auth/login',
    { token: null, body: { username, password } },
  );

const events = async (h: TestHub, query = '') =>
  (await h.api<EventPage>('GET', `/api/events?limit=500${query ? `&${query}` : ''}`)).body.events;

const errorOf = (res: ApiResult) => (res.body as ErrorAnswer).error;

/** Expect an error answer with this status and code. */
function expectError(res: ApiResult, status: number, code: string): ErrorAnswer['error'] {
  expect({ status: res.status, code: errorOf(res)?.code }).toEqual({ status, code });
  expect(typeof errorOf(res).message).toBe('string');
  return errorOf(res);
}

/** An MQTT login as a relay would make it; rejects when the broker refuses it (CONNACK code). */
async function mqttConnect(h: TestHub, login: MqttLogin, password = login.password): Promise<MqttClient> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${h.mqttPort}`, {
    username: login.username,
    password,
    clientId: `test-${login.username}-${Math.random().toString(16).slice(2)}`,
    reconnectPeriod: 0,
    connectTimeout: 3000,
  });
  client.on('error', () => {});
  clients.push(client);
  return client;
}

/** `2026-11-26T07:00:00.000Z` → `2026-11-26T14:00:00.000+07:00`, the same instant as Hanoi writes it. */
const inHanoi = (iso: string) =>
  new Date(Date.parse(iso) + 7 * 3600_000).toISOString().replace('Z', '+07:00');

describe('health and API docs', () => {
  it('answers /api/health without a login', async () => {
    const h = await hub();
    const res = await h.api<{ status: string; time: string; mqtt: { port: number } }>('GET', '/api/health', {
      token: null,
    });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ok');
    expect(res.body.time).toMatch(ISO_UTC_MS);
    expect(res.body.mqtt.port).toBe(h.mqttPort);
  });

  it('serves the OpenAPI UI at /docs and the document listing the routes at /docs/json', async () => {
    const h = await hub();
    const ui = await fetch(`${h.url}/docs`);
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-type')).toMatch(/text\/html/);
    expect(await ui.text()).toMatch(/swagger/i);

    const doc = await h.api<{ openapi: string; paths: Record<string, unknown> }>('GET', '/docs/json', {
      token: null,
    });
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        '/api/health',
        '/api/auth/login',
        '/api/lights',
        '/api/lights/{id}/state',
        '/api/zones/{zone}/state',
        '/api/lights/state',
        '/api/devices/relays',
        '/api/events',
        '/api/users',
      ]),
    );
  });
});

describe('logging in', () => {
  it('answers a token and the user for the right password; the token works as Bearer', async () => {
    const h = await hub();
    const res = await login(h, 'admin', ADMIN_PASSWORD);
    expect(res.status).toBe(200);
    expect(res.body.user).toMatchObject({ username: 'admin', role: 'admin' });
    expect(res.body.token).toEqual(expect.any(String));
    expect(res.body.expiresAt).toMatch(ISO_UTC_MS);
    // Residents stay logged in for 30 days by default.
    expect(Date.parse(res.body.expiresAt) - Date.now()).toBeGreaterThan(29 * 86_400_000);
    const me = await h.api<UserView>('GET', '/api/auth/me', { token: res.body.token });
    expect(me.body).toMatchObject({ username: 'admin', role: 'admin' });
    // Phones capitalise the first letter: the username is taken in any case.
    expect((await login(h, 'Admin', ADMIN_PASSWORD)).body.user?.username).toBe('admin');
  });

  it('refuses a wrong password and an unknown user alike, and logs both', async () => {
    const h = await hub();
    const wrong = await login(h, 'admin', 'not-the-password');
    expectError(wrong, 401, 'KHU_UNAUTHORIZED');
    const unknown = await login(h, 'ghost', 'whatever-pw');
    expectError(unknown, 401, 'KHU_UNAUTHORIZED');
    // The same answer: an attacker cannot tell which usernames exist.
    expect(unknown.body).toEqual(wrong.body);
    expect(wrong.body.token).toBeUndefined();

    const failed = await events(h, 'type=user.login_failed');
    expect(failed.map((e) => e.actor).sort()).toEqual(['user:admin', 'user:ghost']);
    expect(failed.every((e) => e.data?.address === '127.0.0.1')).toBe(true);
    expect(await events(h, 'type=user.login')).toHaveLength(1); // the helper's own admin login
    // The passwords tried are nowhere.
    expect(JSON.stringify(failed)).not.toContain('not-the-password');
    expect(JSON.stringify(h.logs)).not.toContain('not-the-password');
  });

  it('refuses a login body with a missing or an extra field', async () => {
    const h = await hub();
    const missing = await h.api('POST', '/api/auth/login', { token: null, body: { username: 'admin' } });
    expect(expectError(missing, 400, 'KHU_BAD_REQUEST').message).toMatch(/password/);
    const extra = await h.api('POST', '/api/auth/login', {
      token: null,
      body: { username: 'admin', password: ADMIN_PASSWORD, role: 'admin' },
    });
    expect(expectError(extra, 400, 'KHU_BAD_REQUEST').message).toMatch(/role/);
  });

  it('after loginMaxAttempts failures refuses the next attempts, even with the right password, per address', async () => {
    const h = await hub({ auth: { loginMaxAttempts: 3 } });
    await h.createUser('ba-lan', 'resident');
    const adminToken = await h.token('admin');
    for (let i = 0; i < 3; i++) expectError(await login(h, 'ba-lan', `wrong-${i}`), 401, 'KHU_UNAUTHORIZED');

    const limited = await login(h, 'ba-lan', 'ba-lan-pw');
    const err = expectError(limited, 429, 'KHU_RATE_LIMITED');
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(300);
    expect(err.retryAfterSec).toBe(retryAfter);
    expect(limited.body.token).toBeUndefined();

    // The limit is also per address: another user from the same address waits as well.
    const other = await login(h, 'admin', ADMIN_PASSWORD);
    expectError(other, 429, 'KHU_RATE_LIMITED');
    expect(Number(other.headers.get('retry-after'))).toBeGreaterThan(0);

    // Sessions already open are not touched.
    expect((await h.api('GET', '/api/lights', { token: adminToken })).status).toBe(200);

    // The wrong passwords are in the event log; the refused attempts after them are not (they
    // cost the sender nothing and would fill the log).
    const failed = await events(h, 'type=user.login_failed');
    expect(failed.map((e) => e.actor)).toEqual(['user:ba-lan', 'user:ba-lan', 'user:ba-lan']);
    expect(JSON.stringify(h.logs)).not.toContain('wrong-0');
  });

  it('lets logins through again once the failures leave the window', async () => {
    const h = await hub({ auth: { loginMaxAttempts: 2, loginWindowSec: 2 } });
    await h.createUser('ba-lan', 'resident');
    for (let i = 0; i < 2; i++) expectError(await login(h, 'ba-lan', 'wrong-pw'), 401, 'KHU_UNAUTHORIZED');
    expectError(await login(h, 'ba-lan', 'ba-lan-pw'), 429, 'KHU_RATE_LIMITED');
    let last: Awaited<ReturnType<typeof login>> | undefined;
    await waitFor(
      async () => {
        last = await login(h, 'ba-lan', 'ba-lan-pw');
        return last.status !== 429;
      },
      { timeoutMs: 5000, intervalMs: 200, message: 'the login limit to lift' },
    );
    expect(last?.status).toBe(200);
  });
});

describe('tokens', () => {
  it('refuses a request without a token, with a garbage, tampered or non-Bearer one', async () => {
    const h = await hub();
    const token = await h.token('admin');
    const tampered = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    for (const path of ['/api/lights', '/api/devices', '/api/events', '/api/users', '/api/auth/me']) {
      expectError(await h.api('GET', path, { token: null }), 401, 'KHU_UNAUTHORIZED');
    }
    expectError(await h.api('GET', '/api/lights', { token: 'garbage' }), 401, 'KHU_UNAUTHORIZED');
    expectError(await h.api('GET', '/api/lights', { token: tampered }), 401, 'KHU_UNAUTHORIZED');
    expectError(
      await h.api('GET', '/api/lights', { token: null, headers: { authorization: `Basic ${token}` } }),
      401,
      'KHU_UNAUTHORIZED',
    );
    expect((await h.api('GET', '/api/lights', { token })).status).toBe(200);
  });

  it('refuses the token of a user who was removed, even while it has not expired', async () => {
    const h = await hub();
    await h.createUser('ba-lan', 'resident');
    const token = await h.token('ba-lan');
    expect((await h.api('GET', '/api/lights', { token })).status).toBe(200);
    expect((await h.api('DELETE', '/api/users/ba-lan')).status).toBe(204);
    expectError(await h.api('GET', '/api/lights', { token }), 401, 'KHU_UNAUTHORIZED');
  });
});

describe('cookie session (the web app)', () => {
  it('sets an HttpOnly SameSite=Strict session cookie and a CSRF cookie, and guards changes with the CSRF header', async () => {
    const h = await hub();
    await h.provision({ id: 'la', zone: 'pho-a' });
    const res = await login(h, 'admin', ADMIN_PASSWORD);
    const setCookies = res.headers.getSetCookie();
    const session = setCookies.find((c) => c.startsWith('khu_session='));
    const csrf = setCookies.find((c) => c.startsWith('khu_csrf='));
    expect(session).toBeDefined();
    expect(csrf).toBeDefined();
    expect(session).toMatch(/;\s*HttpOnly/i);
    expect(session).toMatch(/;\s*SameSite=Strict/i);
    expect(session).toMatch(/;\s*Path=\//i);
    expect(csrf).toMatch(/;\s*SameSite=Strict/i);
    // The web app reads the CSRF cookie to echo it, so it must not be HttpOnly.
    expect(csrf).not.toMatch(/HttpOnly/i);
    const pair = (c: string) => c.split(';')[0]!;
    const csrfValue = decodeURIComponent(pair(csrf!).slice('khu_csrf='.length));
    expect(res.body.csrfToken).toBe(csrfValue);
    const cookie = `${pair(session!)}; ${pair(csrf!)}`;

    const list = await h.api<Light[]>('GET', '/api/lights', { token: null, headers: { cookie } });
    expect(list.status).toBe(200);
    expect(list.body.map((l) => l.id)).toEqual(['la']);

    const body = { state: 'on' };
    expectError(
      await h.api('POST', '/api/lights/la/state', { token: null, body, headers: { cookie } }),
      403,
      'KHU_FORBIDDEN',
    );
    expectError(
      await h.api('POST', '/api/lights/la/state', {
        token: null,
        body,
        headers: { cookie, 'x-csrf-token': 'guess' },
      }),
      403,
      'KHU_FORBIDDEN',
    );
    // The header alone is not enough either: it must match the cookie.
    expectError(
      await h.api('POST', '/api/lights/la/state', {
        token: null,
        body,
        headers: { cookie: pair(session!), 'x-csrf-token': csrfValue },
      }),
      403,
      'KHU_FORBIDDEN',
    );
    expect((await h.api<Light>('GET', '/api/lights/la')).body.desired).toBeNull();

    const ok = await h.api<Light>('POST', '/api/lights/la/state', {
      token: null,
      body,
      headers: { cookie, 'x-csrf-token': csrfValue },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.desired).toBe('on');
    const [ev] = await events(h, 'type=light.switched');
    expect(ev).toMatchObject({ actor: 'user:admin', target: 'la' });
  });

  it('logs out by clearing both cookies', async () => {
    const h = await hub();
    const res = await login(h, 'admin', ADMIN_PASSWORD);
    const cookies = res.headers.getSetCookie().map((c) => c.split(';')[0]!);
    const out = await h.api('POST', '/api/auth/logout', {
      token: null,
      headers: { cookie: cookies.join('; '), 'x-csrf-token': res.body.csrfToken },
    });
    expect(out.status).toBe(204);
    const cleared = out.headers.getSetCookie();
    for (const name of ['khu_session', 'khu_csrf']) {
      const c = cleared.find((x) => x.startsWith(`${name}=`));
      expect(c, name).toBeDefined();
      expect(c).toMatch(/Expires=Thu, 01 Jan 1970/);
    }
  });
});

describe('the role ladder', () => {
  /** Two streets, one light each; offline relays, so commands answer at once (pending). */
  async function twoStreets(): Promise<TestHub> {
    const h = await hub();
    await h.provision({ id: 'la', zone: 'pho-a' });
    await h.provision({ id: 'lb', zone: 'pho-b' });
    return h;
  }
  const desired = async (h: TestHub) =>
    Object.fromEntries((await h.api<Light[]>('GET', '/api/lights')).body.map((l) => [l.id, l.desired]));

  it('a resident switches the lights of their zones and nothing else', async () => {
    const h = await twoStreets();
    await h.createUser('ba-lan', 'resident', ['pho-a']);
    const as = 'ba-lan';
    const on = { state: 'on' };

    const own = await h.api<Light>('POST', '/api/lights/la/state', { as, body: on });
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ id: 'la', desired: 'on' });
    expect((await h.api('POST', '/api/zones/pho-a/state', { as, body: { state: 'off' } })).status).toBe(200);

    expect(
      expectError(await h.api('POST', '/api/lights/lb/state', { as, body: on }), 403, 'KHU_FORBIDDEN')
        .message,
    ).toMatch(/pho-b/);
    expectError(await h.api('POST', '/api/zones/pho-b/state', { as, body: on }), 403, 'KHU_FORBIDDEN');
    expectError(await h.api('POST', '/api/lights/state', { as, body: on }), 403, 'KHU_FORBIDDEN');
    expect(await desired(h)).toEqual({ la: 'off', lb: null });

    // Reading is open to every resident: all lights, all streets.
    expect((await h.api<Light[]>('GET', '/api/lights', { as })).body).toHaveLength(2);
    expect((await h.api('GET', '/api/lights/lb', { as })).status).toBe(200);

    // Head, technician and admin rights.
    expectError(await h.api('GET', '/api/events', { as }), 403, 'KHU_FORBIDDEN');
    expectError(await h.api('GET', '/api/users', { as }), 403, 'KHU_FORBIDDEN');
    expectError(
      await h.api('POST', '/api/users', {
        as,
        body: { username: 'con', password: 'con-pw', role: 'resident' },
      }),
      403,
      'KHU_FORBIDDEN',
    );
    expectError(
      await h.api('POST', '/api/devices/relays', { as, body: { id: 'x1', name: 'X', zone: 'pho-a' } }),
      403,
      'KHU_FORBIDDEN',
    );
    expectError(await h.api('GET', '/api/devices', { as }), 403, 'KHU_FORBIDDEN');
    expectError(await h.api('DELETE', '/api/devices/la', { as }), 403, 'KHU_FORBIDDEN');
    expectError(await h.api('POST', '/api/devices/la/password', { as }), 403, 'KHU_FORBIDDEN');
    expect((await h.api<DeviceView[]>('GET', '/api/devices')).body.map((d) => d.id)).toEqual(['la', 'lb']);
    expect((await h.api<UserView[]>('GET', '/api/users')).body.map((u) => u.username)).toEqual([
      'admin',
      'ba-lan',
    ]);
  });

  it('a resident whose account names no zone switches every street', async () => {
    const h = await twoStreets();
    await h.createUser('ong', 'resident');
    expect((await h.api('POST', '/api/lights/lb/state', { as: 'ong', body: { state: 'on' } })).status).toBe(
      200,
    );
    expect((await h.api('POST', '/api/zones/pho-a/state', { as: 'ong', body: { state: 'on' } })).status).toBe(
      200,
    );
    expectError(
      await h.api('POST', '/api/lights/state', { as: 'ong', body: { state: 'on' } }),
      403,
      'KHU_FORBIDDEN',
    );
    expect(await desired(h)).toEqual({ la: 'on', lb: 'on' });
  });

  it('a head switches everything, reads the event log, manages residents, and cannot provision', async () => {
    const h = await twoStreets();
    await h.createUser('truong', 'head', ['pho-a']);
    const as = 'truong';
    expect((await h.api('POST', '/api/lights/lb/state', { as, body: { state: 'on' } })).status).toBe(200);
    expect((await h.api('POST', '/api/zones/pho-b/state', { as, body: { state: 'off' } })).status).toBe(200);
    const all = await h.api<{ lights: Light[] }>('POST', '/api/lights/state', { as, body: { state: 'on' } });
    expect(all.status).toBe(200);
    expect(all.body.lights.map((l) => [l.id, l.desired])).toEqual([
      ['la', 'on'],
      ['lb', 'on'],
    ]);

    const log = await h.api<EventPage>('GET', '/api/events?type=light.switched', { as });
    expect(log.status).toBe(200);
    expect(log.body.events.every((e) => e.actor === 'user:truong')).toBe(true);
    expect(log.body.events).toHaveLength(4);

    expectError(
      await h.api('POST', '/api/devices/relays', { as, body: { id: 'x1', name: 'X', zone: 'pho-a' } }),
      403,
      'KHU_FORBIDDEN',
    );
    expectError(await h.api('GET', '/api/devices', { as }), 403, 'KHU_FORBIDDEN');
    expectError(await h.api('DELETE', '/api/devices/la', { as }), 403, 'KHU_FORBIDDEN');
    expect((await h.api<DeviceView[]>('GET', '/api/devices')).body.map((d) => d.id)).toEqual(['la', 'lb']);

    const resident = await h.api<UserView>('POST', '/api/users', {
      as,
      body: { username: 'ba-lan', password: 'ba-lan-pw', role: 'resident', zones: ['pho-a'] },
    });
    expect(resident.status).toBe(201);
    expect(resident.body).toMatchObject({ username: 'ba-lan', role: 'resident', zones: ['pho-a'] });
    for (const role of ['head', 'technician', 'admin']) {
      expectError(
        await h.api('POST', '/api/users', {
          as,
          body: { username: `x-${role}`, password: 'secret-pw', role },
        }),
        403,
        'KHU_FORBIDDEN',
      );
    }
    expect((await h.api<UserView[]>('GET', '/api/users')).body.map((u) => u.username)).toEqual([
      'admin',
      'ba-lan',
      'truong',
    ]);
    // The new resident can log in.
    expect((await login(h, 'ba-lan', 'ba-lan-pw')).status).toBe(200);
  });

  it('a technician provisions, lists and removes relays', async () => {
    const h = await twoStreets();
    await h.createUser('ky-thuat', 'technician');
    const as = 'ky-thuat';
    const res = await h.api<{ mqtt: MqttLogin }>('POST', '/api/devices/relays', {
      as,
      body: { id: 'lc', name: 'Ngõ 5', zone: 'pho-c' },
    });
    expect(res.status).toBe(201);
    expect((await h.api<DeviceView[]>('GET', '/api/devices', { as })).body.map((d) => d.id)).toEqual([
      'la',
      'lb',
      'lc',
    ]);
    expect((await h.api('DELETE', '/api/devices/lc', { as })).status).toBe(204);
    expect((await h.api('GET', '/api/events?type=device.provisioned', { as })).status).toBe(200);
    expectError(
      await h.api('POST', '/api/users', {
        as,
        body: { username: 'x-head', password: 'secret-pw', role: 'head' },
      }),
      403,
      'KHU_FORBIDDEN',
    );
  });

  it('an admin creates accounts of every role above resident', async () => {
    const h = await hub();
    for (const role of ['head', 'technician', 'admin']) {
      const res = await h.api<UserView>('POST', '/api/users', {
        body: { username: `u-${role}`, password: `u-${role}-pw`, role },
      });
      expect(res.status, role).toBe(201);
      expect(res.body).toMatchObject({ username: `u-${role}`, role });
    }
    // The new admin holds admin rights.
    const token = (await login(h, 'u-admin', 'u-admin-pw')).body.token;
    expect(
      (
        await h.api('POST', '/api/users', {
          token,
          body: { username: 'u-2', password: 'u-2-pw', role: 'admin' },
        })
      ).status,
    ).toBe(201);
  });
});

describe('bad input', () => {
  async function withLight(): Promise<{ h: TestHub; lightsBefore: unknown; devicesBefore: unknown }> {
    const h = await hub();
    await h.provision({ id: 'la', zone: 'pho-a' });
    return {
      h,
      lightsBefore: (await h.api('GET', '/api/lights')).body,
      devicesBefore: (await h.api('GET', '/api/devices')).body,
    };
  }

  it('answers 404 for an unknown light, zone or route', async () => {
    const { h, lightsBefore } = await withLight();
    const body = { state: 'on' };
    expect(
      expectError(await h.api('POST', '/api/lights/nope/state', { body }), 404, 'KHU_NOT_FOUND').message,
    ).toMatch(/nope/);
    expectError(await h.api('GET', '/api/lights/nope'), 404, 'KHU_NOT_FOUND');
    expectError(await h.api('POST', '/api/zones/nowhere/state', { body }), 404, 'KHU_NOT_FOUND');
    expectError(await h.api('GET', '/api/nope'), 404, 'KHU_NOT_FOUND');
    expectError(await h.api('GET', '/api/nope', { token: null }), 404, 'KHU_NOT_FOUND');
    expectError(await h.api('PUT', '/api/lights'), 404, 'KHU_NOT_FOUND');
    expect((await h.api('GET', '/api/lights')).body).toEqual(lightsBefore);
  });

  it('refuses a bad light command, naming the field and what is allowed, and changes nothing', async () => {
    const { h, lightsBefore } = await withLight();
    const blue = await h.api('POST', '/api/lights/la/state', { body: { state: 'blue' } });
    const msg = expectError(blue, 400, 'KHU_BAD_REQUEST').message;
    expect(msg).toMatch(/state/);
    expect(msg).toMatch(/on, off, toggle/);
    expectError(
      await h.api('POST', '/api/lights/la/state', { body: { state: 'ON' } }),
      400,
      'KHU_BAD_REQUEST',
    );

    expectError(await h.api('POST', '/api/lights/la/state'), 400, 'KHU_BAD_REQUEST');
    expect(
      expectError(await h.api('POST', '/api/lights/la/state', { body: {} }), 400, 'KHU_BAD_REQUEST').message,
    ).toMatch(/state.*required/);
    expect(
      expectError(
        await h.api('POST', '/api/lights/la/state', { body: { state: 'on', colour: 'red' } }),
        400,
        'KHU_BAD_REQUEST',
      ).message,
    ).toMatch(/colour/);
    expectError(await h.api('POST', '/api/lights/la/state', { body: 'state=on' }), 400, 'KHU_BAD_REQUEST');
    expectError(await h.api('POST', '/api/lights/la/state', { body: '{"state":' }), 400, 'KHU_BAD_REQUEST');
    expectError(
      await h.api('POST', '/api/zones/pho-a/state', { body: { state: 'blue' } }),
      400,
      'KHU_BAD_REQUEST',
    );
    expectError(await h.api('POST', '/api/lights/state', { body: [] }), 400, 'KHU_BAD_REQUEST');

    expect((await h.api('GET', '/api/lights')).body).toEqual(lightsBefore);
    expect(await events(h, 'type=light.switched')).toEqual([]);
  });

  // Query strings are converted (`limit=2`); JSON bodies must be taken exactly as sent.
  it('refuses body values of the wrong JSON type instead of coercing them', async () => {
    const { h, lightsBefore, devicesBefore } = await withLight();
    const state = await h.api('POST', '/api/lights/la/state', { body: { state: ['off'] } });
    const channelsTrue = await h.api('POST', '/api/devices/relays', {
      body: { id: 'c1', name: 'Ngõ 9', zone: 'pho-a', channels: true },
    });
    const channelsText = await h.api('POST', '/api/devices/relays', {
      body: { id: 'c2', name: 'Ngõ 9', zone: 'pho-a', channels: '2' },
    });
    const nameNumber = await h.api('POST', '/api/devices/relays', {
      body: { id: 'c3', name: 5, zone: 'pho-a' },
    });
    const loginArrays = await h.api('POST', '/api/auth/login', {
      token: null,
      body: { username: ['admin'], password: [ADMIN_PASSWORD] },
    });
    expect([state, channelsTrue, channelsText, nameNumber, loginArrays].map((r) => r.status)).toEqual([
      400, 400, 400, 400, 400,
    ]);
    expect((await h.api('GET', '/api/lights')).body).toEqual(lightsBefore);
    expect((await h.api('GET', '/api/devices')).body).toEqual(devicesBefore);
  });

  it('refuses a body over http.bodyLimitBytes with 413', async () => {
    // host and port repeated: TestHub's overrides replace its whole `http` section.
    const h = await hub({ http: { host: '127.0.0.1', port: 0, bodyLimitBytes: 1024 } });
    await h.provision({ id: 'la', zone: 'pho-a' });
    const big = JSON.stringify({ state: 'on', pad: 'x'.repeat(5000) });
    expectError(await h.api('POST', '/api/lights/la/state', { body: big }), 413, 'KHU_PAYLOAD_TOO_LARGE');
    expect((await h.api<Light>('GET', '/api/lights/la')).body.desired).toBeNull();
    // A normal request still goes through.
    expect((await h.api('POST', '/api/lights/la/state', { body: { state: 'on' } })).status).toBe(200);
  });

  it('refuses bad relay ids, duplicates and channel counts, and provisions nothing', async () => {
    const { h, lightsBefore, devicesBefore } = await withLight();
    const provision = (body: Record<string, unknown>) =>
      h.api('POST', '/api/devices/relays', { body: { name: 'Ngõ 7', zone: 'pho-a', ...body } });

    for (const id of ['a b', 'x/y', '#', '+', 'đèn', 'a.b', '', 'a'.repeat(65)]) {
      expect(expectError(await provision({ id }), 400, 'KHU_BAD_REQUEST').message, id).toMatch(/id/);
    }
    expect(expectError(await provision({ id: 'la' }), 409, 'KHU_CONFLICT').message).toMatch(/la/);
    for (const channels of [0, 9, -1, 1.5, [], 'many']) {
      expectError(await provision({ id: 'lx', channels }), 400, 'KHU_BAD_REQUEST');
    }
    expectError(await provision({ id: 'lx', channels: [{ name: 'Ngõ 8' }] }), 400, 'KHU_BAD_REQUEST');
    expectError(await provision({ id: 'lx', name: '' }), 400, 'KHU_BAD_REQUEST');
    expectError(
      await h.api('POST', '/api/devices/relays', { body: { id: 'lx', zone: 'pho-a' } }),
      400,
      'KHU_BAD_REQUEST',
    );
    expectError(await provision({ id: 'lx', secret: 'x' }), 400, 'KHU_BAD_REQUEST');

    expect((await h.api('GET', '/api/devices')).body).toEqual(devicesBefore);
    expect((await h.api('GET', '/api/lights')).body).toEqual(lightsBefore);
    expect(await events(h, 'type=device.provisioned')).toHaveLength(1);
  });

  it('refuses a relay whose light ids would collide with an existing light', async () => {
    const h = await hub();
    await h.provision({ id: 'tu-1' }); // a single relay: its light is `tu-1`
    // A 2-channel relay `tu` would name its lights `tu-1` and `tu-2`.
    expectError(
      await h.api('POST', '/api/devices/relays', {
        body: { id: 'tu', name: 'Tủ', zone: 'pho-a', channels: 2 },
      }),
      409,
      'KHU_CONFLICT',
    );
    expect((await h.api<DeviceView[]>('GET', '/api/devices')).body.map((d) => d.id)).toEqual(['tu-1']);
    expect((await h.api<Light[]>('GET', '/api/lights')).body.map((l) => l.id)).toEqual(['tu-1']);
  });

  it('refuses bad accounts and duplicate usernames', async () => {
    const h = await hub();
    await h.createUser('ba-lan', 'resident');
    const create = (body: Record<string, unknown>) =>
      h.api('POST', '/api/users', {
        body: { username: 'ong', password: 'ong-pw', role: 'resident', ...body },
      });
    expectError(await create({ username: 'ba-lan' }), 409, 'KHU_CONFLICT');
    expect(expectError(await create({ username: 'Ông Ba' }), 400, 'KHU_BAD_REQUEST').message).toMatch(
      /username/,
    );
    expect(expectError(await create({ password: 'short' }), 400, 'KHU_BAD_REQUEST').message).toMatch(
      /password/,
    );
    expect(expectError(await create({ role: 'king' }), 400, 'KHU_BAD_REQUEST').message).toMatch(/role/);
    expect((await h.api<UserView[]>('GET', '/api/users')).body.map((u) => u.username)).toEqual([
      'admin',
      'ba-lan',
    ]);
  });
});

describe('provisioning and device logins', () => {
  it('answers the MQTT login once, never storing or logging the password', async () => {
    const h = await hub();
    const res = await h.api<{ mqtt: MqttLogin }>('POST', '/api/devices/relays', {
      body: { id: 'r1', name: 'Ngõ 3', zone: 'pho-a', channels: 2 },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const m = res.body.mqtt;
    expect(m).toEqual({
      host: '127.0.0.1',
      port: h.mqttPort,
      username: 'r1',
      password: expect.any(String),
      topic: 'r1',
    });
    expect(m.password.length).toBeGreaterThanOrEqual(24);

    // The login works on the broker.
    const client = await mqttConnect(h, m);
    expect(client.connected).toBe(true);
    // A wrong password is refused and the hub logs the refusal (without the password tried).
    await expect(mqttConnect(h, m, 'not-the-device-password')).rejects.toMatchObject({ code: 4 });

    const devices = await h.api<DeviceView[]>('GET', '/api/devices');
    expect(devices.body).toEqual([
      expect.objectContaining({ id: 'r1', channels: 2, lights: ['r1-1', 'r1-2'] }),
    ]);
    expect(JSON.stringify(devices.body)).not.toContain(m.password);
    expect(JSON.stringify(await events(h))).not.toContain(m.password);

    const logs = JSON.stringify(h.logs);
    expect(h.logs.some((l) => l.msg === 'relay provisioned')).toBe(true);
    expect(h.logs.some((l) => l.msg === 'MQTT login refused')).toBe(true);
    expect(logs).not.toContain(m.password);
    expect(logs).not.toContain('not-the-device-password');
    expect(logs).not.toContain(ADMIN_PASSWORD);
    expect(logs).not.toContain(await h.token('admin'));
  });

  it('answers the broker address of publicUrl when one is set', async () => {
    const h = await hub({ http: { host: '127.0.0.1', port: 0, publicUrl: 'http://198.51.100.10:8080' } });
    const m = await h.provision({ id: 'r1' });
    expect(m.host).toBe('198.51.100.10');
    expect(m.port).toBe(h.mqttPort);
  });

  it('rotates a relay password: the relay is cut off, the old password refused, the new one works', async () => {
    const h = await hub();
    const first = await h.provision({ id: 'r1' });
    const connected = await mqttConnect(h, first);
    const closed = onceWithTimeout(connected, 'close');

    const res = await h.api<{ mqtt: MqttLogin }>('POST', '/api/devices/r1/password');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const second = res.body.mqtt;
    expect(second).toMatchObject({ username: 'r1', topic: 'r1', port: h.mqttPort });
    expect(second.password).not.toBe(first.password);
    await closed;

    await expect(mqttConnect(h, first)).rejects.toMatchObject({ code: 4 });
    expect((await mqttConnect(h, second)).connected).toBe(true);
    expect(JSON.stringify(h.logs)).not.toContain(second.password);
    expect(await events(h, 'type=device.password_rotated')).toEqual([
      expect.objectContaining({ actor: 'user:admin', target: 'r1' }),
    ]);
    expectError(await h.api('POST', '/api/devices/nope/password'), 404, 'KHU_NOT_FOUND');
  });

  it('removes a relay: its lights go, its connection is cut and its login refused', async () => {
    const h = await hub();
    const login1 = await h.provision({ id: 'r1', channels: 2 });
    await h.provision({ id: 'r2' });
    const connected = await mqttConnect(h, login1);
    const closed = onceWithTimeout(connected, 'close');

    expect((await h.api('DELETE', '/api/devices/r1')).status).toBe(204);
    await closed;
    expect((await h.api<Light[]>('GET', '/api/lights')).body.map((l) => l.id)).toEqual(['r2']);
    expect((await h.api<DeviceView[]>('GET', '/api/devices')).body.map((d) => d.id)).toEqual(['r2']);
    expectError(
      await h.api('POST', '/api/lights/r1-1/state', { body: { state: 'on' } }),
      404,
      'KHU_NOT_FOUND',
    );
    await expect(mqttConnect(h, login1)).rejects.toMatchObject({ code: 4 });
    expectError(await h.api('DELETE', '/api/devices/r1'), 404, 'KHU_NOT_FOUND');
    expect(await events(h, 'type=device.removed')).toEqual([
      expect.objectContaining({ actor: 'user:admin', target: 'r1' }),
    ]);
  });
});

describe('the event log', () => {
  /** Two lights switched four times, and one alarm from a relay publishing outside its topics. */
  async function history(): Promise<TestHub> {
    // No relay answers here: a long ack timeout keeps relay_no_ack alarms out of the log.
    const h = await hub({ lights: { ackTimeoutMs: 600_000 } });
    const la = await h.provision({ id: 'la', zone: 'pho-a' });
    await h.provision({ id: 'lb', zone: 'pho-b' });
    for (const [id, state] of [
      ['la', 'on'],
      ['la', 'off'],
      ['la', 'on'],
      ['lb', 'on'],
    ]) {
      expect((await h.api('POST', `/api/lights/${id}/state`, { body: { state } })).status).toBe(200);
    }
    const client = await mqttConnect(h, la);
    client.publish('tele/lb/STATE', '{"POWER":"ON"}');
    await waitFor(async () => (await events(h, 'type=alarm.mqtt_refused')).length === 1, {
      message: 'the mqtt_refused alarm',
    });
    // Gone for good, so that no event arrives while a test compares pages.
    await client.endAsync(true);
    await waitFor(async () => (await events(h, 'type=device.offline')).length === 1, {
      message: 'la offline',
    });
    return h;
  }

  it('pages newest first with limit and the next cursor', async () => {
    const h = await history();
    const all = await events(h, 'type=light.switched');
    expect(all.map((e) => [e.target, e.data?.to])).toEqual([
      ['lb', 'on'],
      ['la', 'on'],
      ['la', 'off'],
      ['la', 'on'],
    ]);
    const pages: EventPage[] = [];
    let query = '/api/events?type=light.switched&limit=3';
    for (;;) {
      const page = (await h.api<EventPage>('GET', query)).body;
      pages.push(page);
      if (page.next === null) break;
      query = `/api/events?type=light.switched&limit=3&before=${page.next}`;
      expect(pages.length).toBeLessThan(5);
    }
    expect(pages.map((p) => p.events.length)).toEqual([3, 1]);
    expect(pages.flatMap((p) => p.events)).toEqual(all);
    expect(pages[0]!.next).toBe(all[2]!.id);

    // A full last page: its cursor leads to an empty page without a cursor.
    const two = (
      await h.api<EventPage>('GET', `/api/events?type=light.switched&limit=2&before=${all[1]!.id}`)
    ).body;
    expect(two.events).toEqual(all.slice(2));
    const empty = (
      await h.api<EventPage>('GET', `/api/events?type=light.switched&limit=2&before=${two.next}`)
    ).body;
    expect(empty).toEqual({ events: [], next: null });
  });

  it('filters by type, a type family, several types, and target', async () => {
    const h = await history();
    const alarms = await events(h, 'type=alarm.*');
    expect(alarms.map((e) => [e.type, e.target])).toEqual([['alarm.mqtt_refused', 'la']]);
    expect(alarms[0]!.data).toMatchObject({ topic: 'tele/lb/STATE' });

    const two = await events(h, 'type=device.provisioned,alarm.mqtt_refused');
    expect(two.map((e) => e.type).sort()).toEqual([
      'alarm.mqtt_refused',
      'device.provisioned',
      'device.provisioned',
    ]);

    const ofLb = await events(h, 'target=lb');
    expect(ofLb.map((e) => e.type)).toEqual(['light.switched', 'device.provisioned']);
    expect((await events(h, 'actor=user:admin&type=light.switched')).length).toBe(4);
    expect(await events(h, 'type=light.dimmed')).toEqual([]);
  });

  it('filters by time, taking times with any offset, and answers UTC with milliseconds', async () => {
    const h = await history();
    const all = await events(h);
    expect(all.length).toBeGreaterThan(8);
    for (const e of all) expect(e.at).toMatch(ISO_UTC_MS);

    const pivot = (await events(h, 'type=light.switched'))[2]!; // la off
    const from = await events(h, `from=${encodeURIComponent(inHanoi(pivot.at))}`);
    const to = await events(h, `to=${encodeURIComponent(inHanoi(pivot.at))}`);
    expect(from.map((e) => e.id)).toEqual(all.filter((e) => e.at >= pivot.at).map((e) => e.id));
    expect(to.map((e) => e.id)).toEqual(all.filter((e) => e.at < pivot.at).map((e) => e.id));
    expect(from.map((e) => e.id)).toContain(pivot.id);
    expect(to.length).toBeGreaterThan(0);

    // A window of an hour either side, written in Hanoi time, holds everything.
    const hour = 3600_000;
    const around = await events(
      h,
      `from=${encodeURIComponent(inHanoi(new Date(Date.now() - hour).toISOString()))}` +
        `&to=${encodeURIComponent(inHanoi(new Date(Date.now() + hour).toISOString()))}`,
    );
    expect(around.map((e) => e.id)).toEqual(all.map((e) => e.id));
  });

  it('refuses bad times, types and limits', async () => {
    const h = await history();
    expect(
      expectError(await h.api('GET', '/api/events?from=yesterday'), 400, 'KHU_BAD_REQUEST').message,
    ).toMatch(/from/);
    expect(
      expectError(await h.api('GET', '/api/events?to=2026-13-01T00:00:00Z'), 400, 'KHU_BAD_REQUEST').message,
    ).toMatch(/to/);
    expectError(await h.api('GET', "/api/events?type=light.switched'--"), 400, 'KHU_BAD_REQUEST');
    expectError(await h.api('GET', '/api/events?limit=0'), 400, 'KHU_BAD_REQUEST');
    expectError(await h.api('GET', '/api/events?limit=501'), 400, 'KHU_BAD_REQUEST');
    expectError(await h.api('GET', '/api/events?before=abc'), 400, 'KHU_BAD_REQUEST');
    expectError(await h.api('GET', '/api/events?colour=red'), 400, 'KHU_BAD_REQUEST');
  });
});

describe('accounts', () => {
  it('lists residents only to a head, and every account to an admin', async () => {
    const h = await hub();
    await h.createUser('ba-lan', 'resident', ['pho-a']);
    await h.createUser('truong', 'head');
    await h.createUser('ky-thuat', 'technician');
    const asHead = await h.api<UserView[]>('GET', '/api/users', { as: 'truong' });
    expect(asHead.body.map((u) => [u.username, u.role])).toEqual([['ba-lan', 'resident']]);
    const asAdmin = await h.api<UserView[]>('GET', '/api/users');
    expect(asAdmin.body.map((u) => [u.username, u.role])).toEqual([
      ['admin', 'admin'],
      ['ba-lan', 'resident'],
      ['ky-thuat', 'technician'],
      ['truong', 'head'],
    ]);
    expect(JSON.stringify(asAdmin.body)).not.toMatch(/hash|scrypt|-pw/);
  });

  it('nobody removes their own account', async () => {
    const h = await hub();
    expectError(await h.api('DELETE', '/api/users/admin'), 403, 'KHU_FORBIDDEN');
    expect((await h.api('GET', '/api/auth/me')).status).toBe(200);
    expect((await login(h, 'admin', ADMIN_PASSWORD)).status).toBe(200);
  });

  it('a head removes a resident, whose session ends at once, but not a technician or another head', async () => {
    const h = await hub();
    await h.createUser('ba-lan', 'resident');
    await h.createUser('truong', 'head');
    await h.createUser('pho', 'head');
    await h.createUser('ky-thuat', 'technician');
    const residentToken = await h.token('ba-lan');

    expect((await h.api('DELETE', '/api/users/ba-lan', { as: 'truong' })).status).toBe(204);
    expectError(await h.api('GET', '/api/lights', { token: residentToken }), 401, 'KHU_UNAUTHORIZED');
    expectError(await login(h, 'ba-lan', 'ba-lan-pw'), 401, 'KHU_UNAUTHORIZED');
    expect(await events(h, 'type=user.removed')).toEqual([
      expect.objectContaining({ actor: 'user:truong', target: 'ba-lan' }),
    ]);

    expectError(await h.api('DELETE', '/api/users/ky-thuat', { as: 'truong' }), 403, 'KHU_FORBIDDEN');
    expectError(await h.api('DELETE', '/api/users/pho', { as: 'truong' }), 403, 'KHU_FORBIDDEN');
    expectError(await h.api('DELETE', '/api/users/truong', { as: 'truong' }), 403, 'KHU_FORBIDDEN');
    expectError(await h.api('DELETE', '/api/users/ghost', { as: 'truong' }), 404, 'KHU_NOT_FOUND');
    expect((await h.api<UserView[]>('GET', '/api/users')).body.map((u) => u.username)).toEqual([
      'admin',
      'ky-thuat',
      'pho',
      'truong',
    ]);
  });
});
