/**
 * RTSP authentication as cameras do it (RFC 2326 uses HTTP's): none, Basic (RFC 7617), or
 * Digest with MD5 and no qop, as in RFC 2069 / RFC 2617 3.2.2, which is what cheap cameras
 * offer. Nonces are stateless (a time plus an HMAC under a secret drawn at each boot), so a
 * reboot invalidates them as a real camera's restart does.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export type RtspAuthMode = 'none' | 'basic' | 'digest';

export interface RtspCredentials {
  username: string;
  password: string;
}

export type AuthOutcome =
  | { ok: true }
  | { ok: false; reason: 'missing' | 'wrong' | 'stale' | 'malformed'; challenge: string };

const md5 = (text: string): string => createHash('md5').update(text).digest('hex');

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `Digest a="b", c=d` → { a: 'b', c: 'd' }; quoted strings may hold commas and `\"`. */
export function parseAuthParams(text: string): Map<string, string> {
  const params = new Map<string, string>();
  const re = /\s*([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?/gy;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[0] === '') break;
    params.set((m[1] ?? '').toLowerCase(), m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? ''));
  }
  return params;
}

export class RtspAuth {
  mode: RtspAuthMode;
  readonly realm: string;
  #credentials: RtspCredentials;
  #secret = randomBytes(16);

  constructor(mode: RtspAuthMode, realm: string, credentials: RtspCredentials) {
    this.mode = mode;
    this.realm = realm;
    this.#credentials = { ...credentials };
  }

  get credentials(): RtspCredentials {
    return { ...this.#credentials };
  }

  set credentials(value: RtspCredentials) {
    this.#credentials = { ...value };
  }

  /** A new boot: nonces handed out before are refused. */
  renewSecret(): void {
    this.#secret = randomBytes(16);
  }

  /** The `WWW-Authenticate` value of a 401. */
  challenge(stale = false): string {
    if (this.mode === 'basic') return `Basic realm="${this.realm}"`;
    return `Digest realm="${this.realm}", nonce="${this.#nonce()}"${stale ? ', stale=TRUE' : ''}`;
  }

  check(method: string, authorization: string | undefined): AuthOutcome {
    if (this.mode === 'none') return { ok: true };
    if (!authorization) return this.#refuse('missing');
    const space = authorization.indexOf(' ');
    const scheme = authorization.slice(0, space < 0 ? undefined : space).toLowerCase();
    const rest = space < 0 ? '' : authorization.slice(space + 1).trim();
    const { username, password } = this.#credentials;
    if (this.mode === 'basic') {
      if (scheme !== 'basic') return this.#refuse('missing');
      const given = Buffer.from(rest, 'base64').toString('utf8');
      return safeEqual(given, `${username}:${password}`) ? { ok: true } : this.#refuse('wrong');
    }
    if (scheme !== 'digest') return this.#refuse('missing');
    const p = parseAuthParams(rest);
    const nonce = p.get('nonce');
    const uri = p.get('uri');
    const response = p.get('response');
    if (!nonce || uri === undefined || !response) return this.#refuse('malformed');
    if (!this.#validNonce(nonce)) return this.#refuse('stale');
    if (p.get('username') !== username || p.get('realm') !== this.realm) return this.#refuse('wrong');
    const algorithm = p.get('algorithm');
    if (algorithm !== undefined && algorithm.toUpperCase() !== 'MD5') return this.#refuse('malformed');
    const ha1 = md5(`${username}:${this.realm}:${password}`);
    const ha2 = md5(`${method}:${uri}`);
    const qop = p.get('qop');
    const expected =
      qop === 'auth'
        ? md5(`${ha1}:${nonce}:${p.get('nc') ?? ''}:${p.get('cnonce') ?? ''}:auth:${ha2}`)
        : md5(`${ha1}:${nonce}:${ha2}`);
    return safeEqual(response.toLowerCase(), expected) ? { ok: true } : this.#refuse('wrong');
  }

  #refuse(reason: 'missing' | 'wrong' | 'stale' | 'malformed'): AuthOutcome {
    return { ok: false, reason, challenge: this.challenge(reason === 'stale') };
  }

  #nonce(): string {
    const time = Date.now().toString(16).padStart(12, '0');
    return time + createHmac('sha256', this.#secret).update(time).digest('hex').slice(0, 20);
  }

  #validNonce(nonce: string): boolean {
    const time = nonce.slice(0, 12);
    const mac = createHmac('sha256', this.#secret).update(time).digest('hex').slice(0, 20);
    return nonce.length === 32 && safeEqual(nonce.slice(12), mac);
  }
}
