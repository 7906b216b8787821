import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../hub/src/config/load.js';
import { TestHub } from '../helpers/hub.js';

let t: TestHub;
afterEach(async () => {
  await t?.close();
});

describe('accounts over time', () => {
  it('never lets a removed account’s token work for a new account with the same name', async () => {
    t = await TestHub.start();
    await t.createUser('lan', 'resident');
    const oldToken = await t.token('lan');
    expect((await t.api('DELETE', '/api/users/lan')).status).toBe(204);
    await t.createUser('lan', 'technician');
    const me = await t.api<{ role: string }>('GET', '/api/auth/me', { token: oldToken });
    expect(me.status).toBe(401);
    const fresh = await t.api<{ token: string }>('POST', '/api/auth/login', {
      token: null,
      body: { username: 'lan', password: 'lan-pw' },
    });
    expect((await t.api('GET', '/api/auth/me', { token: fresh.body.token })).status).toBe(200);
  });

  it('does not bring back a removed admin at the next start', async () => {
    t = await TestHub.start();
    await t.createUser('quantri', 'admin');
    const adminToken = await t.token('admin');
    expect((await t.api('DELETE', '/api/users/admin', { as: 'quantri' })).status).toBe(204);
    await t.restart();
    const login = await t.api('POST', '/api/auth/login', {
      token: null,
      body: { username: 'admin', password: 'admin-test-pw' },
    });
    expect(login.status).toBe(401);
    expect((await t.api('GET', '/api/auth/me', { token: adminToken })).status).toBe(401);
  });

  it('limits guesses sent all at once, not only one after another', async () => {
    t = await TestHub.start({ auth: { loginMaxAttempts: 3, loginWindowSec: 300 } });
    await t.createUser('truongkhu', 'head');
    const headToken = await t.token('truongkhu');
    const guesses = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        t.api('POST', '/api/auth/login', {
          token: null,
          body: { username: 'admin', password: `guess-${i}` },
        }),
      ),
    );
    const statuses = guesses.map((g) => g.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(9);
    // Refused attempts are not written to the event log one by one.
    const events = await t.api<{ events: unknown[] }>('GET', '/api/events?type=user.login_failed', {
      token: headToken,
    });
    expect(events.body.events).toHaveLength(3);
  });
});

describe('event log filters', () => {
  it('answers events of any of the named types and families', async () => {
    t = await TestHub.start();
    await t.createUser('bahoa', 'resident');
    await t.token('bahoa');
    await t.provision({ id: 'f1' });
    const res = await t.api<{ events: Array<{ type: string }> }>(
      'GET',
      '/api/events?type=user.*,device.provisioned',
    );
    const types = new Set(res.body.events.map((e) => e.type));
    expect(types).toEqual(new Set(['user.created', 'user.login', 'device.provisioned']));
  });
});

describe('the public address', () => {
  it('refuses a publicUrl that is not an http(s) address, before anything starts', () => {
    for (const publicUrl of ['198.51.100.10:8080', 'ftp://hub/', 'http://']) {
      expect(() => loadConfig({ env: {}, overrides: { http: { publicUrl } } })).toThrow(/http\.publicUrl/);
    }
    expect(
      loadConfig({ env: {}, overrides: { http: { publicUrl: 'http://198.51.100.10:8080' } } }).http.publicUrl,
    ).toBe('http://198.51.100.10:8080');
  });
});
