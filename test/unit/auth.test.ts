import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LoginLimiter } from '../../hub/src/auth/login-limiter.js';
import { generatePassword, hashPassword, verifyPassword } from '../../hub/src/auth/passwords.js';
import { hasRole, maySwitchZone, ROLES, type Role } from '../../hub/src/auth/roles.js';
import { type TokenClaims, TokenSigner } from '../../hub/src/auth/tokens.js';

const NOW = 1_790_000_000; // seconds, late 2026

const claims = (over: Partial<TokenClaims> = {}): TokenClaims => ({
  sub: 'ba',
  ver: 1,
  iat: NOW,
  exp: NOW + 3600,
  ...over,
});

/** Sign any body with the secret, the way the signer does: to build well-signed nonsense. */
function forge(secret: Buffer, body: string): string {
  const b = Buffer.from(body).toString('base64url');
  return `${b}.${createHmac('sha256', secret).update(b).digest('base64url')}`;
}

describe('tokens', () => {
  const secret = randomBytes(32);
  const signer = new TokenSigner(secret);

  it('verifies its own token and hands back the claims', () => {
    const token = signer.sign(claims());
    expect(signer.verify(token, NOW)).toEqual(claims());
    expect(signer.verify(token, NOW + 3599)).toEqual(claims());
  });

  it('refuses a token at and after its expiry', () => {
    const token = signer.sign(claims());
    expect(signer.verify(token, NOW + 3600)).toBeUndefined();
    expect(signer.verify(token, NOW + 86_400)).toBeUndefined();
  });

  it('refuses a token whose claims were changed (another user, a later expiry)', () => {
    const token = signer.sign(claims());
    const [, mac] = token.split('.');
    for (const changed of [
      claims({ sub: 'admin' }),
      claims({ exp: NOW + 10 * 365 * 86_400 }),
      claims({ ver: 2 }),
    ]) {
      const body = Buffer.from(JSON.stringify(changed)).toString('base64url');
      expect(signer.verify(`${body}.${mac}`, NOW)).toBeUndefined();
    }
  });

  it('refuses a token whose signature was changed or cut', () => {
    const token = signer.sign(claims());
    // A character inside the signature: the last one of a base64url HMAC also carries unused
    // bits, and changing only those leaves the same signature (that made this test flaky).
    const at = token.indexOf('.') + 5;
    const changed = token[at] === 'A' ? 'B' : 'A';
    expect(signer.verify(token.slice(0, at) + changed + token.slice(at + 1), NOW)).toBeUndefined();
    // Nor a variant in the unused bits of the last character: one token has one spelling.
    const lastIndex = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(
      token.at(-1)!,
    );
    const sibling = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[lastIndex ^ 1]!;
    expect(signer.verify(token.slice(0, -1) + sibling, NOW)).toBeUndefined();
    expect(signer.verify(token.slice(0, -2), NOW)).toBeUndefined();
    expect(signer.verify(token.slice(0, token.indexOf('.') + 1), NOW)).toBeUndefined();
  });

  it('refuses a token signed with another secret (another hub, or a reset one)', () => {
    const other = new TokenSigner(randomBytes(32));
    expect(other.verify(signer.sign(claims()), NOW)).toBeUndefined();
  });

  it('refuses garbage without throwing', () => {
    for (const token of [
      '',
      '.',
      'abc',
      '.abc',
      'abc.',
      'a.b.c',
      'x'.repeat(5000),
      `${'a'.repeat(3000)}.b`,
    ]) {
      expect(signer.verify(token, NOW), token.slice(0, 20)).toBeUndefined();
    }
  });

  it('refuses well-signed bodies that are not a claims object, without throwing', () => {
    for (const body of [
      'not json',
      '[]',
      '"ba"',
      '42',
      '{}',
      '{"sub":"ba","ver":1}',
      '{"sub":1,"ver":1,"exp":9e9}',
      'null',
    ]) {
      expect(() => signer.verify(forge(secret, body), NOW), body).not.toThrow();
      expect(signer.verify(forge(secret, body), NOW), body).toBeUndefined();
    }
  });

  it('refuses a secret too short to be safe', () => {
    expect(() => new TokenSigner(randomBytes(16))).toThrow(/32 bytes/);
  });
});

describe('passwords', () => {
  it('hashes with a salt, verifies the right password and refuses a wrong one', async () => {
    const h1 = await hashPassword('mật-khẩu-123');
    const h2 = await hashPassword('mật-khẩu-123');
    expect(h1).toMatch(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/);
    expect(h1).not.toContain('mật-khẩu-123');
    expect(h1).not.toBe(h2);
    expect(await verifyPassword('mật-khẩu-123', h1)).toBe(true);
    expect(await verifyPassword('mật-khẩu-123', h2)).toBe(true);
    expect(await verifyPassword('mật-khẩu-124', h1)).toBe(false);
    expect(await verifyPassword('mat-khau-123', h1)).toBe(false);
    expect(await verifyPassword('', h1)).toBe(false);
  });

  it('accepts a Vietnamese password typed in composed or decomposed Unicode alike (NFC)', async () => {
    // The same letters: an iPhone keyboard sends "ở" as one code point, some Android ones as o + ̛ + ̉.
    const composed = 'Phở Hà Nội'.normalize('NFC');
    const decomposed = composed.normalize('NFD');
    expect(decomposed).not.toBe(composed);
    expect(await verifyPassword(decomposed, await hashPassword(composed))).toBe(true);
    expect(await verifyPassword(composed, await hashPassword(decomposed))).toBe(true);
  });

  it('refuses every password against a malformed stored hash', async () => {
    const [, n, r, p, salt, key] = (await hashPassword('secret-pw')).split('$');
    for (const stored of [
      '',
      'scrypt',
      `bcrypt$${n}$${r}$${p}$${salt}$${key}`,
      `scrypt$${n}$${r}$${p}$${salt}`,
      `scrypt$${n}$${r}$${p}$${salt}$`,
    ]) {
      expect(await verifyPassword('secret-pw', stored), stored).toBe(false);
    }
  });

  it('generates passwords people can read aloud: no 0/O, 1/l/I', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const pw = generatePassword();
      expect(pw).toMatch(/^[a-km-zA-HJ-NP-Z2-9]{14}$/);
      seen.add(pw);
    }
    expect(seen.size).toBe(200);
    expect(generatePassword(20)).toHaveLength(20);
  });
});

describe('login limiter', () => {
  const clock = () => {
    const c = { t: 1_000_000, now: () => c.t };
    return c;
  };

  it('lets attempts through until the limit of failures for a username', () => {
    const c = clock();
    const l = new LoginLimiter(3, 60, c.now);
    for (let i = 0; i < 3; i++) {
      expect(l.retryAfterSec('ba', '203.0.113.1')).toBe(0);
      l.failed('ba', '203.0.113.1');
      c.t += 1000;
    }
    // Three failures at t0, t0+1 s, t0+2 s; now t0+3 s: the first leaves the window at t0+60 s.
    expect(l.retryAfterSec('ba', '203.0.113.1')).toBe(57);
  });

  it('limits per username: the same user from another address is refused too, case-insensitively', () => {
    const c = clock();
    const l = new LoginLimiter(3, 60, c.now);
    l.failed('ba', '203.0.113.1');
    l.failed('ba', '203.0.113.2');
    l.failed('BA', '203.0.113.3');
    expect(l.retryAfterSec('ba', '203.0.113.4')).toBe(60);
    expect(l.retryAfterSec('Ba', '203.0.113.4')).toBe(60);
    expect(l.retryAfterSec('ong', '203.0.113.4')).toBe(0);
  });

  it('limits per address: another username from the same address is refused too', () => {
    const c = clock();
    const l = new LoginLimiter(3, 60, c.now);
    l.failed('ba', '203.0.113.1');
    l.failed('ong', '203.0.113.1');
    l.failed('admin', '203.0.113.1');
    expect(l.retryAfterSec('co', '203.0.113.1')).toBe(60);
    expect(l.retryAfterSec('co', '203.0.113.2')).toBe(0);
  });

  it('slides: each failure leaving the window frees one attempt', () => {
    const c = clock();
    const l = new LoginLimiter(3, 60, c.now);
    for (let i = 0; i < 3; i++) {
      l.failed('ba', 'a');
      c.t += 10_000;
    }
    // Failures at 0, 10 s, 20 s; now 30 s.
    expect(l.retryAfterSec('ba', 'a')).toBe(30);
    c.t = 1_000_000 + 59_999;
    expect(l.retryAfterSec('ba', 'a')).toBe(1);
    c.t = 1_000_000 + 60_000;
    expect(l.retryAfterSec('ba', 'a')).toBe(0);
    // One more failure at 60 s: failures at 10, 20, 60 s; limited until 70 s.
    l.failed('ba', 'a');
    expect(l.retryAfterSec('ba', 'a')).toBe(10);
    c.t += 10_000;
    expect(l.retryAfterSec('ba', 'a')).toBe(0);
  });

  it('on a success, takes the attempt back and forgets the username’s failures, not the address’s', () => {
    const c = clock();
    const l = new LoginLimiter(3, 60, c.now);
    l.failed('ong', 'a');
    l.failed('ba', 'a');
    l.failed('ba', 'a');
    // The third attempt, counted as it starts, turns out right.
    l.succeeded('ba', 'a');
    expect(l.retryAfterSec('ba', 'b')).toBe(0);
    // The address still holds the two failed guesses: one more and it is limited.
    expect(l.retryAfterSec('co', 'a')).toBe(0);
    l.failed('co', 'a');
    expect(l.retryAfterSec('co', 'a')).toBe(60);
  });

  it('limits guesses sent in parallel: each counts as it starts', () => {
    const c = clock();
    const l = new LoginLimiter(3, 60, c.now);
    const letThrough = Array.from({ length: 10 }, () => {
      if (l.retryAfterSec('admin', 'a') > 0) return false;
      l.failed('admin', 'a');
      return true;
    });
    expect(letThrough.filter(Boolean)).toHaveLength(3);
  });

  it('rounds the wait up to whole seconds, never answering 0 while still limited', () => {
    const c = clock();
    const l = new LoginLimiter(1, 60, c.now);
    l.failed('ba', 'a');
    c.t += 59_500;
    expect(l.retryAfterSec('ba', 'a')).toBe(1);
  });
});

describe('roles', () => {
  it('form a ladder: each role holds every right of the ones below', () => {
    expect(ROLES).toEqual(['resident', 'head', 'technician', 'admin']);
    const table = ROLES.map((r) => ROLES.map((need) => (hasRole(r, need) ? 1 : 0)));
    expect(table).toEqual([
      [1, 0, 0, 0],
      [1, 1, 0, 0],
      [1, 1, 1, 0],
      [1, 1, 1, 1],
    ]);
  });

  it('let a resident switch the zones on the account, all zones when it names none', () => {
    const resident = (zones: string[]) => ({ role: 'resident' as Role, zones });
    expect(maySwitchZone(resident(['pho-a']), 'pho-a')).toBe(true);
    expect(maySwitchZone(resident(['pho-a']), 'pho-b')).toBe(false);
    expect(maySwitchZone(resident(['pho-a', 'pho-b']), 'pho-b')).toBe(true);
    expect(maySwitchZone(resident([]), 'pho-b')).toBe(true);
  });

  it('let a head and above switch every zone, whatever the account names', () => {
    for (const role of ['head', 'technician', 'admin'] as const) {
      expect(maySwitchZone({ role, zones: ['pho-a'] }, 'pho-b'), role).toBe(true);
    }
  });
});
