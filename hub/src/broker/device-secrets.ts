import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Device passwords are long random secrets (24 random bytes), never chosen by people: a single
 * salted SHA-256 is enough to store them, and it lets 1000 relays reconnecting at once after a
 * hub restart log in within milliseconds (scrypt would take ~50 ms of CPU each on 2 cores).
 */
export function generateDeviceSecret(): string {
  return randomBytes(24).toString('base64url');
}

export function hashDeviceSecret(secret: string, salt = randomBytes(16)): string {
  const digest = createHash('sha256').update(salt).update(secret, 'utf8').digest();
  return `sha256$${salt.toString('base64url')}$${digest.toString('base64url')}`;
}

export function verifyDeviceSecret(secret: string | Buffer, stored: string): boolean {
  const [scheme, saltText, digestText] = stored.split('$');
  if (scheme !== 'sha256' || !saltText || !digestText) return false;
  const expected = Buffer.from(digestText, 'base64url');
  const actual = createHash('sha256').update(Buffer.from(saltText, 'base64url')).update(secret).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
