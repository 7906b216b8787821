/**
 * The camera's JPEG snapshot: one ffmpeg test picture per size, made once and cached on disk (so
 * eight simulated cameras and every test run share it), and the HTTP login that cheap cameras
 * may or may not ask for it (none, Basic, or Digest per RFC 7616 with MD5 and qop=auth).
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Credentials } from './soap-security.js';

export interface SnapshotImage {
  jpeg: Buffer;
  /** 'builtin' (a 16×16 grey picture) when ffmpeg could not make the real one. */
  source: 'ffmpeg' | 'builtin';
  /** Why ffmpeg was not used, when it was not. */
  fallbackReason?: string;
}

/** A 16×16 grey JPEG (made once with ffmpeg's `color` source), for hosts without ffmpeg. */
const BUILTIN_JPEG = Buffer.from(
  '/9j/4AAQSkZJRgABAgAAAQABAAD//gAQTGF2YzU5LjM3LjEwMAD/2wBDAAgUFBcUFxsbGxsbGyAeICEhISAgICAhISEkJCQqKiokJCQhISQkKCgqKi4vLisrKisvLzIyMjw8OTlGRkhWVmf/xABKAAEAAAAAAAAAAAAAAAAAAAAAAQEAAAAAAAAAAAAAAAAAAAAAEAEAAAAAAAAAAAAAAAAAAAAAEQEAAAAAAAAAAAAAAAAAAAAA/8AAEQgAEAAQAwEiAAIRAAMRAP/aAAwDAQACEQMRAD8AAA//2Q==',
  'base64',
);

const CACHE_DIR = join(tmpdir(), 'khu-sim-snapshot');
const FFMPEG_TIMEOUT_MS = 15_000;
const made = new Map<string, Promise<SnapshotImage>>();

/** Starts with SOI and ends with EOI: a whole JPEG, not a file cut short. */
export function isJpeg(data: Buffer): boolean {
  return (
    data.length > 4 && data[0] === 0xff && data[1] === 0xd8 && data.at(-2) === 0xff && data.at(-1) === 0xd9
  );
}

/** The snapshot picture for a size; made at most once per process, and once per machine. */
export function snapshotJpeg(width: number, height: number, ffmpeg = 'ffmpeg'): Promise<SnapshotImage> {
  const key = `${width}x${height}`;
  let image = made.get(key);
  if (!image) {
    image = makeJpeg(width, height, ffmpeg);
    made.set(key, image);
  }
  return image;
}

async function makeJpeg(width: number, height: number, ffmpeg: string): Promise<SnapshotImage> {
  const file = join(CACHE_DIR, `testsrc2-${width}x${height}.jpg`);
  const cached = await readFile(file).catch(() => undefined);
  if (cached && isJpeg(cached)) return { jpeg: cached, source: 'ffmpeg' };
  // Written under a unique name, then renamed: parallel test workers never read half a file.
  const part = join(CACHE_DIR, `${randomUUID()}.part.jpg`);
  try {
    await mkdir(CACHE_DIR, { recursive: true });
    await new Promise<void>((resolve, reject) => {
      const args = ['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}`];
      execFile(
        ffmpeg,
        [...args, '-frames:v', '1', '-y', part],
        { timeout: FFMPEG_TIMEOUT_MS },
        (err, _out, stderr) => (err ? reject(new Error(`${err.message} ${stderr}`.trim())) : resolve()),
      );
    });
    const jpeg = await readFile(part);
    if (!isJpeg(jpeg)) throw new Error('ffmpeg wrote something that is not a JPEG');
    await rename(part, file);
    return { jpeg, source: 'ffmpeg' };
  } catch (err) {
    await rm(part, { force: true });
    return { jpeg: BUILTIN_JPEG, source: 'builtin', fallbackReason: (err as Error).message };
  }
}

export type HttpAuthMode = 'none' | 'basic' | 'digest';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** `Digest a="b", c=d` → { a: 'b', c: 'd' }. */
function authParams(header: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const m of header.matchAll(/([a-zA-Z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g)) {
    params.set((m[1] ?? '').toLowerCase(), m[2] ?? m[3] ?? '');
  }
  return params;
}

/** HTTP Basic and Digest for the snapshot URL, as cheap cameras (optionally) guard it. */
export class HttpAuthenticator {
  readonly #realm: string;
  /** Nonces this camera handed out; a Digest answer must use one of them. */
  readonly #nonces = new Set<string>();

  constructor(realm: string) {
    this.#realm = realm;
  }

  /** The WWW-Authenticate value of a 401 for this mode. */
  challenge(mode: Exclude<HttpAuthMode, 'none'>): string {
    if (mode === 'basic') return `Basic realm="${this.#realm}"`;
    const nonce = randomBytes(16).toString('hex');
    this.#nonces.add(nonce);
    if (this.#nonces.size > 1000) this.#nonces.delete(this.#nonces.values().next().value as string);
    return `Digest realm="${this.#realm}", qop="auth", algorithm=MD5, nonce="${nonce}"`;
  }

  check(req: IncomingMessage, mode: HttpAuthMode, creds: Credentials): boolean {
    if (mode === 'none') return true;
    const header = req.headers.authorization ?? '';
    if (mode === 'basic') {
      if (!/^Basic /i.test(header)) return false;
      const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
      return safeEqual(decoded, `${creds.username}:${creds.password}`);
    }
    if (!/^Digest /i.test(header)) return false;
    const p = authParams(header.slice(7));
    const nonce = p.get('nonce') ?? '';
    if (!this.#nonces.has(nonce) || p.get('realm') !== this.#realm || p.get('uri') !== req.url) return false;
    if (p.get('username') !== creds.username) return false;
    const ha1 = md5(`${creds.username}:${this.#realm}:${creds.password}`);
    const ha2 = md5(`${req.method}:${p.get('uri')}`);
    const qop = p.get('qop');
    const expected =
      qop === 'auth'
        ? md5(`${ha1}:${nonce}:${p.get('nc') ?? ''}:${p.get('cnonce') ?? ''}:auth:${ha2}`)
        : md5(`${ha1}:${nonce}:${ha2}`);
    return safeEqual(p.get('response') ?? '', expected);
  }
}
