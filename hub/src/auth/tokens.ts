import { createHmac, timingSafeEqual } from 'node:crypto';

export interface TokenClaims {
  /** username */
  sub: string;
  /** the user's token version: bumped on password change, which ends every session */
  ver: number;
  /** issued at, expiry: seconds since the epoch */
  iat: number;
  exp: number;
}

/**
 * Signed bearer tokens: `base64url(claims).base64url(HMAC-SHA256(secret, claims))`. The claims
 * carry only the username and token version; the role is read fresh on every request, so a
 * changed role takes effect at once.
 */
export class TokenSigner {
  #secret: Buffer;

  constructor(secret: Buffer) {
    if (secret.length < 32) throw new Error('token secret must be at least 32 bytes');
    this.#secret = secret;
  }

  sign(claims: TokenClaims): string {
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return `${body}.${this.#mac(body)}`;
  }

  /** The claims of a genuine, unexpired token; undefined for anything else. */
  verify(token: string, nowSec = Math.floor(Date.now() / 1000)): TokenClaims | undefined {
    const dot = token.indexOf('.');
    if (dot <= 0 || token.length > 2048) return undefined;
    const body = token.slice(0, dot);
    // The signature as text, not decoded: base64url's last character carries unused bits, and
    // decoding would take a token with them changed as the same token.
    const mac = Buffer.from(token.slice(dot + 1));
    const expected = Buffer.from(this.#mac(body));
    if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return undefined;
    let claims: TokenClaims;
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      return undefined;
    }
    if (typeof claims?.sub !== 'string' || typeof claims.exp !== 'number' || typeof claims.ver !== 'number') {
      return undefined;
    }
    return claims.exp > nowSec ? claims : undefined;
  }

  #mac(body: string): string {
    return createHmac('sha256', this.#secret).update(body).digest('base64url');
  }
}
