/**
 * WS-UsernameToken checking as an ONVIF device does it (ONVIF Core 5.12.2, OASIS WSS
 * UsernameToken Profile 1.0): PasswordDigest = Base64(SHA-1(nonce + created + password)), or
 * PasswordText; a `Created` far from the device's clock, or a nonce seen before, is refused.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { attr, child, escapeXml, NS, type XmlElement } from './soap.js';

const TOKEN_PROFILE = 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0';
export const PASSWORD_DIGEST = `${TOKEN_PROFILE}#PasswordDigest`;
export const PASSWORD_TEXT = `${TOKEN_PROFILE}#PasswordText`;

export interface Credentials {
  username: string;
  password: string;
}

export type TokenRefusal = 'missing' | 'malformed' | 'wrong-login' | 'stale' | 'replayed';

export type TokenCheck = { ok: true; username: string } | { ok: false; refusal: TokenRefusal };

export interface UsernameTokenVerifierOptions {
  /** How far `Created` may be from the device clock, either way; default 5 minutes. */
  maxSkewMs?: number;
  /** Nonces remembered against replays; default 10000. */
  maxNonces?: number;
}

export class UsernameTokenVerifier {
  readonly #maxSkewMs: number;
  readonly #maxNonces: number;
  /** nonce → device time (ms) after which it may be forgotten; insertion order = expiry order. */
  readonly #nonces = new Map<string, number>();

  constructor(options: UsernameTokenVerifierOptions = {}) {
    this.#maxSkewMs = options.maxSkewMs ?? 5 * 60_000;
    this.#maxNonces = options.maxNonces ?? 10_000;
  }

  /** Whether the SOAP header carries a wsse:Security header with a UsernameToken. */
  static hasToken(header: XmlElement | undefined): boolean {
    return child(child(header, 'Security', NS.wsse), 'UsernameToken', NS.wsse) !== undefined;
  }

  /** `now` is the device's clock, which may differ from the host's. */
  verify(header: XmlElement | undefined, expected: Credentials, now: Date): TokenCheck {
    const token = child(child(header, 'Security', NS.wsse), 'UsernameToken', NS.wsse);
    if (!token) return { ok: false, refusal: 'missing' };
    const username = child(token, 'Username', NS.wsse)?.text;
    const passwordEl = child(token, 'Password', NS.wsse);
    if (username === undefined || !passwordEl) return { ok: false, refusal: 'malformed' };
    const type = attr(passwordEl, 'Type') ?? PASSWORD_TEXT;
    const nonceEl = child(token, 'Nonce', NS.wsse);
    const createdText = child(token, 'Created', NS.wsu)?.text;

    let created: number | undefined;
    if (createdText !== undefined) {
      created = Date.parse(createdText);
      if (Number.isNaN(created)) return { ok: false, refusal: 'malformed' };
      if (Math.abs(created - now.getTime()) > this.#maxSkewMs) return { ok: false, refusal: 'stale' };
    }

    let match: boolean;
    if (type === PASSWORD_DIGEST) {
      if (!nonceEl || createdText === undefined) return { ok: false, refusal: 'malformed' };
      const encoding = attr(nonceEl, 'EncodingType');
      if (encoding !== undefined && !encoding.endsWith('#Base64Binary'))
        return { ok: false, refusal: 'malformed' };
      const nonce = Buffer.from(nonceEl.text, 'base64');
      const digest = createHash('sha1')
        .update(
          Buffer.concat([nonce, Buffer.from(createdText, 'utf8'), Buffer.from(expected.password, 'utf8')]),
        )
        .digest();
      match = safeEqual(Buffer.from(passwordEl.text, 'base64'), digest);
    } else if (type === PASSWORD_TEXT) {
      match = safeEqual(Buffer.from(passwordEl.text, 'utf8'), Buffer.from(expected.password, 'utf8'));
    } else {
      return { ok: false, refusal: 'malformed' };
    }
    // Same answer for a wrong user and a wrong password: nothing to learn about accounts.
    if (!(match && safeEqual(Buffer.from(username, 'utf8'), Buffer.from(expected.username, 'utf8')))) {
      return { ok: false, refusal: 'wrong-login' };
    }
    if (nonceEl && !this.#remember(nonceEl.text, now.getTime())) return { ok: false, refusal: 'replayed' };
    return { ok: true, username };
  }

  /** False when the nonce was seen within the freshness window (a replayed request). */
  #remember(nonce: string, now: number): boolean {
    for (const [seen, forgetAt] of this.#nonces) {
      if (forgetAt > now && this.#nonces.size < this.#maxNonces) break;
      this.#nonces.delete(seen);
    }
    if (this.#nonces.has(nonce)) return false;
    this.#nonces.set(nonce, now + 2 * this.#maxSkewMs);
    return true;
  }
}

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Builds a token the way ONVIF clients do; for tests and for the sim's own self-checks. */
export function usernameTokenXml(
  { username, password }: Credentials,
  options: { created?: Date; nonce?: Buffer; type?: 'digest' | 'text' } = {},
): string {
  const created = (options.created ?? new Date()).toISOString();
  const nonce = options.nonce ?? randomBytes(16);
  const proof =
    options.type === 'text'
      ? password
      : createHash('sha1')
          .update(Buffer.concat([nonce, Buffer.from(created, 'utf8'), Buffer.from(password, 'utf8')]))
          .digest('base64');
  return (
    `<wsse:Security xmlns:wsse="${NS.wsse}" xmlns:wsu="${NS.wsu}"><wsse:UsernameToken>` +
    `<wsse:Username>${escapeXml(username)}</wsse:Username>` +
    `<wsse:Password Type="${options.type === 'text' ? PASSWORD_TEXT : PASSWORD_DIGEST}">${escapeXml(proof)}</wsse:Password>` +
    `<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">${nonce.toString('base64')}</wsse:Nonce>` +
    `<wsu:Created>${created}</wsu:Created></wsse:UsernameToken></wsse:Security>`
  );
}
