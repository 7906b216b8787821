import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { TestHub } from '../helpers/hub.js';

let t: TestHub;
afterEach(async () => {
  await t?.close();
});

interface Created {
  id: string;
  code: string;
  url: string;
  status: string;
  role: string;
  household: string;
  zones: string[];
  expiresAt: string;
}
interface InviteRow {
  id: string;
  status: string;
  usedBy: string | null;
  code?: string;
}
interface ErrorBody {
  error: { code: string; message: string };
}

const PUBLIC_URL = 'http://198.51.100.10:8080';

async function hubWithHead(overrides: Parameters<typeof TestHub.start>[0] = {}): Promise<TestHub> {
  const hub = await TestHub.start({ http: { publicUrl: PUBLIC_URL }, ...overrides });
  await hub.createUser('truongkhu', 'head');
  return hub;
}

async function invite(body: Record<string, unknown>, as = 'truongkhu'): Promise<Created> {
  const res = await t.api<Created>('POST', '/api/invites', { as, body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

const accept = (code: string, body: unknown) =>
  t.api<{ token: string; csrfToken: string; user: { username: string; role: string } } & ErrorBody>(
    'POST',
    `/api/invites/${code}/accept`,
    { token: null, body },
  );
const check = (code: string) =>
  t.api<{ valid: boolean; household: string; role: string } & ErrorBody>(
    'GET',
    `/api/invites/${code}/check`,
    {
      token: null,
    },
  );
const list = async () => (await t.api<InviteRow[]>('GET', '/api/invites', { as: 'truongkhu' })).body;
const usernames = async () =>
  (await t.api<Array<{ username: string }>>('GET', '/api/users')).body.map((u) => u.username);

describe('invitations: the happy path', () => {
  it('lets a household join with a PIN, logged in at once, with the invitation’s role and zones', async () => {
    t = await hubWithHead();
    const created = await invite({ role: 'resident', household: 'Nhà ông Ba, xóm 2', zones: ['Ngõ Chùa'] });
    expect(created.code).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(created.url).toBe(`${PUBLIC_URL}/#/join/${created.code}`);
    expect(created.status).toBe('pending');
    // Three days by default.
    expect(Date.parse(created.expiresAt) - Date.now()).toBeGreaterThan(71 * 3_600_000);

    const svg = await t.api<string>('GET', `/api/invites/${created.id}/qr.svg`, { as: 'truongkhu' });
    expect(svg.status).toBe(200);
    expect(svg.headers.get('content-type')).toContain('image/svg+xml');
    expect(svg.body).toContain('<svg');
    const png = await fetch(`${t.url}/api/invites/${created.id}/qr.png`, {
      headers: { authorization: `Bearer ${await t.token('truongkhu')}` },
    });
    expect(png.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await png.arrayBuffer()).subarray(0, 8)).toEqual(
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    );

    const ok = await check(created.code);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ valid: true, household: 'Nhà ông Ba, xóm 2', role: 'resident' });

    const joined = await accept(created.code, { password: '246810' });
    expect(joined.status).toBe(201);
    expect(joined.body.user).toEqual({
      username: 'ong-ba-xom-2',
      role: 'resident',
      displayName: 'Nhà ông Ba, xóm 2',
      zones: ['Ngõ Chùa'],
    });
    const cookies = joined.headers.getSetCookie().join('\n');
    expect(cookies).toMatch(/khu_session=[^;]+;.*HttpOnly/);
    expect(cookies).toContain(`khu_csrf=${joined.body.csrfToken}`);
    const me = await t.api<{ username: string }>('GET', '/api/auth/me', { token: joined.body.token });
    expect(me.body.username).toBe('ong-ba-xom-2');
    // The PIN is the password from now on.
    const login = await t.api('POST', '/api/auth/login', {
      token: null,
      body: { username: 'ong-ba-xom-2', password: '246810' },
    });
    expect(login.status).toBe(200);

    const rows = await list();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: created.id, status: 'used', usedBy: 'ong-ba-xom-2' });
    expect(JSON.stringify(rows)).not.toContain(created.code);

    const events = await t.api<{ events: Array<{ type: string; target: string; data: unknown }> }>(
      'GET',
      '/api/events?type=invite.*',
    );
    expect(events.body.events.map((e) => e.type).sort()).toEqual(['invite.accepted', 'invite.created']);
    expect(JSON.stringify(events.body)).not.toContain(created.code);
    expect(JSON.stringify(t.logs)).not.toContain(created.code);

    // Only the code's SHA-256 is on disk.
    const db = new Database(join(t.dataDir, 'khu.db'), { readonly: true });
    try {
      const row = db.prepare('SELECT * FROM invites').get() as Record<string, unknown>;
      expect(row.code_hash).toBe(createHash('sha256').update(created.code).digest('hex'));
      expect(JSON.stringify(row)).not.toContain(created.code);
    } finally {
      db.close();
    }
  });

  it('builds the link from the address the head reached when no publicUrl is set', async () => {
    t = await TestHub.start();
    const res = await t.api<Created>('POST', '/api/invites', {
      body: { role: 'resident', household: 'Hộ bà Tư' },
    });
    expect(res.status).toBe(201);
    expect(res.body.url).toBe(`${t.url}/#/join/${res.body.code}`);
  });

  it('takes a chosen username and a password of 8 characters, and keeps generated usernames unique', async () => {
    t = await hubWithHead();
    const a = await invite({ role: 'resident', household: 'Gia đình Đặng Văn Lâm' });
    const b = await invite({ role: 'resident', household: 'Gia đình Đặng Văn Lâm', ttlHours: 1 });
    const c = await invite({ role: 'resident', household: 'Gia đình Đặng Văn Lâm' });
    expect((await accept(a.code, { password: 'mật khẩu dài' })).body.user.username).toBe('dang-van-lam');
    expect((await accept(b.code, { password: 'abcdefgh' })).body.user.username).toBe('dang-van-lam-2');
    const chosen = await accept(c.code, { username: 'Lam.Con', password: '13572468' });
    expect(chosen.status).toBe(201);
    expect(chosen.body.user.username).toBe('lam.con');
  });

  it('still accepts a code after a restart, though its QR can no longer be drawn', async () => {
    t = await hubWithHead();
    const created = await invite({ role: 'resident', household: 'Nhà bà Năm' });
    await t.restart();
    const qr = await t.api<ErrorBody>('GET', `/api/invites/${created.id}/qr.svg`, { as: 'truongkhu' });
    expect(qr.status).toBe(410);
    expect(qr.body.error.code).toBe('KHU_INVITE_CODE_UNAVAILABLE');
    expect((await accept(created.code, { password: '112233' })).status).toBe(201);
  });
});

describe('invitations that can no longer be used', () => {
  it('refuses a reused invitation and creates nothing', async () => {
    t = await hubWithHead();
    const created = await invite({ role: 'resident', household: 'Nhà ông Sáu' });
    expect((await accept(created.code, { password: '111111' })).status).toBe(201);
    const before = await usernames();
    const again = await accept(created.code, { username: 'ke-gian', password: '222222' });
    expect(again.status).toBe(410);
    expect(again.body.error.code).toBe('KHU_INVITE_USED');
    expect((await check(created.code)).body.error.code).toBe('KHU_INVITE_USED');
    const qr = await t.api<ErrorBody>('GET', `/api/invites/${created.id}/qr.png`, { as: 'truongkhu' });
    expect(qr.body.error.code).toBe('KHU_INVITE_USED');
    const revoke = await t.api<ErrorBody>('DELETE', `/api/invites/${created.id}`, { as: 'truongkhu' });
    expect(revoke.body.error.code).toBe('KHU_INVITE_USED');
    expect(await usernames()).toEqual(before);
    expect((await list())[0]?.status).toBe('used');
  });

  it('lets only one of two phones accepting the same code at once through', async () => {
    t = await hubWithHead();
    const created = await invite({ role: 'resident', household: 'Nhà ông Bảy' });
    const results = await Promise.all([
      accept(created.code, { username: 'bay-a', password: '123456' }),
      accept(created.code, { username: 'bay-b', password: '654321' }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 410]);
    const names = await usernames();
    expect(names.filter((n) => n.startsWith('bay-'))).toHaveLength(1);
  });

  it('refuses an expired invitation and creates nothing', async () => {
    t = await hubWithHead();
    const created = await invite({ role: 'resident', household: 'Nhà chú Tám', ttlHours: 1 });
    // Another connection moves the expiry into the past, as an hour going by would.
    const db = new Database(join(t.dataDir, 'khu.db'));
    try {
      db.prepare('UPDATE invites SET expires_at = ? WHERE id = ?').run(
        '2020-01-01T00:00:00.000Z',
        created.id,
      );
    } finally {
      db.close();
    }
    const before = await usernames();
    const res = await accept(created.code, { password: '123456' });
    expect(res.status).toBe(410);
    expect(res.body.error.code).toBe('KHU_INVITE_EXPIRED');
    expect((await check(created.code)).body.error.code).toBe('KHU_INVITE_EXPIRED');
    expect(await usernames()).toEqual(before);
    expect((await list())[0]?.status).toBe('expired');
    const revoke = await t.api<ErrorBody>('DELETE', `/api/invites/${created.id}`, { as: 'truongkhu' });
    expect(revoke.body.error.code).toBe('KHU_INVITE_EXPIRED');
  });

  it('refuses a revoked invitation and creates nothing', async () => {
    t = await hubWithHead();
    const created = await invite({ role: 'resident', household: 'Nhà cô Chín' });
    expect((await t.api('DELETE', `/api/invites/${created.id}`, { as: 'truongkhu' })).status).toBe(204);
    const before = await usernames();
    const res = await accept(created.code, { password: '123456' });
    expect(res.status).toBe(410);
    expect(res.body.error.code).toBe('KHU_INVITE_REVOKED');
    expect((await check(created.code)).body.error.code).toBe('KHU_INVITE_REVOKED');
    expect(await usernames()).toEqual(before);
    expect((await list())[0]?.status).toBe('revoked');
    const twice = await t.api<ErrorBody>('DELETE', `/api/invites/${created.id}`, { as: 'truongkhu' });
    expect(twice.status).toBe(410);
    expect(twice.body.error.code).toBe('KHU_INVITE_REVOKED');
    const qr = await t.api<ErrorBody>('GET', `/api/invites/${created.id}/qr.svg`, { as: 'truongkhu' });
    expect(qr.body.error.code).toBe('KHU_INVITE_REVOKED');
    const events = await t.api<{ events: Array<{ type: string }> }>('GET', '/api/events?type=invite.revoked');
    expect(events.body.events).toHaveLength(1);
  });
});

describe('who may invite', () => {
  it('lets a head invite residents only, and an admin any role', async () => {
    t = await hubWithHead();
    await t.createUser('lan', 'resident');
    await t.createUser('kythuat', 'technician');
    const asHead = await t.api<ErrorBody>('POST', '/api/invites', {
      as: 'truongkhu',
      body: { role: 'head', household: 'Phó trưởng khu' },
    });
    expect(asHead.status).toBe(403);
    expect(asHead.body.error.code).toBe('KHU_FORBIDDEN');
    const asTech = await t.api('POST', '/api/invites', {
      as: 'kythuat',
      body: { role: 'technician', household: 'Thợ điện' },
    });
    expect(asTech.status).toBe(403);
    const asResident = await t.api('POST', '/api/invites', {
      as: 'lan',
      body: { role: 'resident', household: 'Hàng xóm' },
    });
    expect(asResident.status).toBe(403);
    expect((await t.api('GET', '/api/invites', { as: 'lan' })).status).toBe(403);
    expect((await t.api('GET', '/api/invites', { token: null })).status).toBe(401);
    expect(
      (await t.api('POST', '/api/invites', { token: null, body: { role: 'resident', household: 'X' } }))
        .status,
    ).toBe(401);
    expect(await list()).toHaveLength(0);

    const byAdmin = await invite({ role: 'technician', household: 'Anh thợ điện Hùng' }, 'admin');
    const joined = await accept(byAdmin.code, { username: 'hung', password: 'day-dien-123' });
    expect(joined.body.user.role).toBe('technician');
    const created = await t.api<InviteRow[]>('GET', '/api/invites', { as: 'admin' });
    expect(created.body).toHaveLength(1);
  });
});

describe('bad input: a clear error, nothing changed', () => {
  it('refuses passwords that are neither 8 characters nor a 6-digit PIN, and leaves the invitation pending', async () => {
    t = await hubWithHead();
    const created = await invite({ role: 'resident', household: 'Nhà ông Mười' });
    const before = await usernames();
    for (const password of ['12345', '1234567', 'abcdefg', '12345a', '', ' 123456']) {
      const res = await accept(created.code, { password });
      expect(res.status, password).toBe(400);
      expect(res.body.error.code).toBe('KHU_BAD_REQUEST');
    }
    for (const body of [
      {},
      { password: 123456 },
      { password: '123456', role: 'admin' },
      { password: ['123456'] },
    ]) {
      const res = await accept(created.code, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    const res = await accept(created.code, { password: '1234567' });
    expect(res.body.error.message).toMatch(/8 characters.*6 digits/);
    expect(await usernames()).toEqual(before);
    expect((await list())[0]?.status).toBe('pending');
    expect((await accept(created.code, { password: '123456' })).status).toBe(201);
  });

  it('refuses bad usernames and a taken one, and leaves the invitation pending', async () => {
    t = await hubWithHead();
    const created = await invite({ role: 'resident', household: 'Nhà ông Mười' });
    for (const username of ['A B', 'x', '-bad', 'đạt', 'a'.repeat(40)]) {
      const res = await accept(created.code, { username, password: '123456' });
      expect(res.status, username).toBe(400);
    }
    const taken = await accept(created.code, { username: 'truongkhu', password: '123456' });
    expect(taken.status).toBe(409);
    expect(taken.body.error.code).toBe('KHU_CONFLICT');
    expect((await list())[0]?.status).toBe('pending');
  });

  it('refuses bad invitation requests', async () => {
    t = await hubWithHead();
    const bad: unknown[] = [
      {},
      { role: 'resident' },
      { household: 'Nhà A' },
      { role: 'king', household: 'Nhà A' },
      { role: 'resident', household: '' },
      { role: 'resident', household: '   ' },
      { role: 'resident', household: 'x'.repeat(81) },
      { role: 'resident', household: 'Nhà A', ttlHours: 0 },
      { role: 'resident', household: 'Nhà A', ttlHours: 10_000 },
      { role: 'resident', household: 'Nhà A', ttlHours: '72' },
      { role: 'resident', household: 'Nhà A', ttlHours: 1.5 },
      { role: 'resident', household: 'Nhà A', zones: 'Ngõ Chùa' },
      { role: 'resident', household: 'Nhà A', zones: [''] },
      { role: 'resident', household: 'Nhà A', zones: ['  '] },
      { role: 'resident', household: 'Nhà A', code: 'chosen-by-me-0000000' },
      'not json',
    ];
    for (const body of bad) {
      const res = await t.api<ErrorBody>('POST', '/api/invites', { as: 'truongkhu', body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('KHU_BAD_REQUEST');
    }
    expect(await list()).toHaveLength(0);
    const unknownId = await t.api<ErrorBody>('DELETE', '/api/invites/nope', { as: 'truongkhu' });
    expect(unknownId.status).toBe(404);
    expect(unknownId.body.error.code).toBe('KHU_INVITE_NOT_FOUND');
    expect((await t.api('GET', '/api/invites/nope/qr.svg', { as: 'truongkhu' })).status).toBe(404);
  });

  it('answers unknown and malformed codes clearly', async () => {
    t = await hubWithHead();
    const unknown = await check('A'.repeat(32));
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('KHU_INVITE_NOT_FOUND');
    const acceptUnknown = await accept('B'.repeat(32), { password: '123456' });
    expect(acceptUnknown.body.error.code).toBe('KHU_INVITE_NOT_FOUND');
    for (const code of ['short', 'has%20space-and-more-than-16']) {
      const res = await check(code);
      expect(res.status, code).toBe(400);
      expect(res.body.error.code).toBe('KHU_BAD_REQUEST');
    }
    // Past the router's limit on a path parameter's length: 414, or 404 where the web app's
    // static files take the path first; either way a clear error and nothing changed.
    expect([404, 414]).toContain((await check('x'.repeat(200))).status);
  });

  it('limits wrong codes per address like logins', async () => {
    t = await hubWithHead({ auth: { loginMaxAttempts: 3, loginWindowSec: 300 } });
    const created = await invite({ role: 'resident', household: 'Nhà ông Ba' });
    // A genuine code does not count.
    expect((await check(created.code)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await check(`wrong-code-${i}-0000000000000`)).status).toBe(404);
    const limited = await accept(created.code, { password: '123456' });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('KHU_RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await check(created.code)).status).toBe(429);
    expect((await list())[0]?.status).toBe('pending');
  });
});
