/**
 * A still picture of what a camera sees now: from its ONVIF snapshot address (HTTP GET with the
 * camera's login, Basic or RFC 2617 Digest as the camera asks), or, failing that, one frame of
 * its main stream decoded by ffmpeg. Whatever the camera answers is checked (a JPEG, at most
 * 5 MB, within a time bound); redirects to another host are never followed; the login never
 * reaches a log line or an error message.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { KhuError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { spawnFfmpeg } from '../media/ffmpeg.js';
import { maskSecrets, rtspInputArgs } from '../media/ffmpeg-args.js';

export type SnapshotSource = 'onvif' | 'stream';

export interface Snapshot {
  jpeg: Buffer;
  source: SnapshotSource;
  /** UTC, ISO 8601. */
  takenAt: string;
}

export interface CameraLogin {
  username: string;
  password: string;
}

/** Larger than any snapshot a camera has reason to send. */
export const MAX_SNAPSHOT_BYTES = 5 * 1024 * 1024;
/** The whole HTTP exchange with the snapshot address (401 round trip and redirects included). */
export const SNAPSHOT_HTTP_TIMEOUT_MS = 3000;
/** ffmpeg's I/O timeout on the RTSP socket. */
export const FRAME_IO_TIMEOUT_MS = 3000;
/** ffmpeg is killed after this, whatever it is doing. */
export const FRAME_BOUND_MS = 8000;

const MAX_REDIRECTS = 3;
/** Body of a 401 or a redirect: read (to end the exchange cleanly) but never kept beyond this. */
const MAX_OTHER_BODY_BYTES = 64 * 1024;

/** Why one way of getting the picture failed; the message is safe to log (no login in it). */
export class SnapshotFailure extends Error {
  readonly kind: 'unreachable' | 'refused' | 'unusable';
  /** More for the log (e.g. ffmpeg's last lines), masked; never sent to clients. */
  readonly detail: string | undefined;

  constructor(kind: SnapshotFailure['kind'], message: string, detail?: string) {
    super(maskSecrets(message));
    this.name = 'SnapshotFailure';
    this.kind = kind;
    this.detail = detail === undefined ? undefined : maskSecrets(detail);
  }
}

/** SOI, then EOI at the end: a whole JPEG, not one cut short. */
export function isWholeJpeg(data: Buffer): boolean {
  return (
    data.length > 4 &&
    data[0] === 0xff &&
    data[1] === 0xd8 &&
    data[2] === 0xff &&
    data.at(-2) === 0xff &&
    data.at(-1) === 0xd9
  );
}

// ---------------------------------------------------------------------------------------------
// HTTP authentication (client side)

export interface AuthChallenge {
  /** Lower case: `digest`, `basic`… */
  scheme: string;
  /** Parameter names in lower case, values unquoted. */
  params: Map<string, string>;
}

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const CHALLENGE_PART = new RegExp(`(${TOKEN})(?:\\s*=\\s*("(?:[^"\\\\]|\\\\.)*"|[^\\s,]*))?`, 'g');

/**
 * `WWW-Authenticate` values (one or several, each possibly with several challenges) into
 * challenges: `Digest realm="a", nonce="b", Basic realm="c"` → [digest {realm, nonce}, basic {realm}].
 */
export function parseChallenges(values: readonly string[]): AuthChallenge[] {
  const challenges: AuthChallenge[] = [];
  for (const value of values) {
    let current: AuthChallenge | undefined;
    for (const m of value.slice(0, 8192).matchAll(CHALLENGE_PART)) {
      const name = (m[1] ?? '').toLowerCase();
      if (m[2] === undefined) {
        // A bare token starts a new challenge (or is a token68, which we have no use for).
        current = { scheme: name, params: new Map() };
        challenges.push(current);
        continue;
      }
      if (!current) continue;
      const raw = m[2];
      const unquoted = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
      current.params.set(name, unquoted);
    }
  }
  return challenges;
}

const DIGEST_ALGORITHMS: Record<string, string> = {
  md5: 'md5',
  'md5-sess': 'md5',
  'sha-256': 'sha256',
  'sha-256-sess': 'sha256',
};

const quote = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;

/**
 * The `Authorization` value answering a Digest challenge (RFC 2617; the SHA-256 algorithms of
 * RFC 7616 too): qop `auth` when offered, else the RFC 2069 form. Undefined when the challenge
 * asks for something we do not speak (an unknown algorithm, `auth-int` only).
 */
export function digestAuthorization(
  challenge: AuthChallenge,
  login: CameraLogin,
  method: string,
  uri: string,
  cnonce = randomBytes(12).toString('hex'),
  nc = 1,
): string | undefined {
  const p = challenge.params;
  const algorithm = p.get('algorithm') ?? 'MD5';
  const hashName = DIGEST_ALGORITHMS[algorithm.toLowerCase()];
  const realm = p.get('realm');
  const nonce = p.get('nonce');
  if (!hashName || realm === undefined || !nonce) return undefined;
  const offered = p.get('qop');
  const qops = offered?.split(',').map((q) => q.trim().toLowerCase());
  if (qops && !qops.includes('auth')) return undefined;
  const h = (s: string) => createHash(hashName).update(s, 'utf8').digest('hex');
  const ncValue = nc.toString(16).padStart(8, '0');
  let ha1 = h(`${login.username}:${realm}:${login.password}`);
  if (algorithm.toLowerCase().endsWith('-sess')) ha1 = h(`${ha1}:${nonce}:${cnonce}`);
  const ha2 = h(`${method}:${uri}`);
  const response = qops ? h(`${ha1}:${nonce}:${ncValue}:${cnonce}:auth:${ha2}`) : h(`${ha1}:${nonce}:${ha2}`);
  const fields = [
    `username=${quote(login.username)}`,
    `realm=${quote(realm)}`,
    `nonce=${quote(nonce)}`,
    `uri=${quote(uri)}`,
    `algorithm=${algorithm}`,
    `response=${quote(response)}`,
  ];
  if (qops) fields.push('qop=auth', `nc=${ncValue}`, `cnonce=${quote(cnonce)}`);
  const opaque = p.get('opaque');
  if (opaque !== undefined) fields.push(`opaque=${quote(opaque)}`);
  return `Digest ${fields.join(', ')}`;
}

/** The answer to a 401: Digest when offered in a form we speak, else Basic, else nothing. */
function authorizationFor(challenges: AuthChallenge[], login: CameraLogin, uri: string): string | undefined {
  for (const c of challenges) {
    if (c.scheme !== 'digest') continue;
    const value = digestAuthorization(c, login, 'GET', uri);
    if (value) return value;
  }
  if (challenges.some((c) => c.scheme === 'basic')) {
    return `Basic ${Buffer.from(`${login.username}:${login.password}`, 'utf8').toString('base64')}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The ONVIF snapshot address

interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  challenges: string[];
  body: Buffer;
}

function contentTypeOf(headers: IncomingHttpHeaders): string {
  return (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** One GET, nothing followed; the body of a 200 must be a JPEG of at most `maxBytes`. */
function get(url: URL, authorization: string | undefined, signal: AbortSignal, maxBytes: number) {
  return new Promise<HttpAnswer>((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'image/jpeg', 'user-agent': 'khu-hub' };
    if (authorization) headers.authorization = authorization;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    let settled = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      reject(err);
      req.destroy();
    };
    // No agent: a socket of its own, closed after the answer; nothing lingers after a snapshot.
    const req = send(url, { method: 'GET', headers, agent: false, signal }, (res) => {
      res.on('error', fail);
      const status = res.statusCode ?? 0;
      const limit = status === 200 ? maxBytes : MAX_OTHER_BODY_BYTES;
      if (status === 200) {
        const type = contentTypeOf(res.headers);
        // `image/jpg` is not a registered type, but cheap cameras send it for a JPEG.
        if (type !== 'image/jpeg' && type !== 'image/jpg') {
          fail(new SnapshotFailure('unusable', `answered ${type || 'no content type'}, not image/jpeg`));
          return;
        }
        if (Number(res.headers['content-length'] ?? 0) > maxBytes) {
          fail(new SnapshotFailure('unusable', 'answered a picture larger than 5 MB'));
          return;
        }
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          fail(
            new SnapshotFailure(
              'unusable',
              status === 200 ? 'answered more than 5 MB' : `answered HTTP ${status} with a huge body`,
            ),
          );
        } else if (status === 200) chunks.push(chunk);
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        resolve({
          status,
          headers: res.headers,
          challenges: res.headersDistinct['www-authenticate'] ?? [],
          body: Buffer.concat(chunks),
        });
      });
    });
    req.on('error', fail);
    req.end();
  });
}

function failureOf(err: unknown, signal: AbortSignal): SnapshotFailure {
  if (err instanceof SnapshotFailure) return err;
  if (signal.aborted) return new SnapshotFailure('unreachable', 'did not answer in time');
  const code = (err as NodeJS.ErrnoException).code;
  return new SnapshotFailure('unreachable', code ? `could not be reached (${code})` : 'could not be reached');
}

/**
 * GET the camera's snapshot address with its login: first without one, then answering the
 * camera's 401 challenge (Digest, or Basic). Redirects are followed only on the same origin.
 * Throws a SnapshotFailure.
 */
export async function fetchSnapshotUri(
  uri: string,
  login: CameraLogin | null,
  options: { timeoutMs?: number; maxBytes?: number } = {},
): Promise<Buffer> {
  const maxBytes = options.maxBytes ?? MAX_SNAPSHOT_BYTES;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new SnapshotFailure('unusable', 'the snapshot address is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new SnapshotFailure('unusable', 'the snapshot address is not http(s)');
  }
  // A login inside the address itself is used when the camera has none stored, and never sent as is.
  const own =
    url.username !== ''
      ? { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) }
      : null;
  url.username = '';
  url.password = '';
  const creds = login ?? own;
  const origin = url.origin;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), options.timeoutMs ?? SNAPSHOT_HTTP_TIMEOUT_MS);
  try {
    let authorization: string | undefined;
    let redirects = 0;
    for (;;) {
      const answer = await get(url, authorization, abort.signal, maxBytes);
      if (answer.status === 200) {
        if (!isWholeJpeg(answer.body))
          throw new SnapshotFailure('unusable', 'answered something that is not a JPEG');
        return answer.body;
      }
      if (answer.status === 401) {
        if (authorization || !creds) throw new SnapshotFailure('refused', 'refused the login (HTTP 401)');
        authorization = authorizationFor(
          parseChallenges(answer.challenges),
          creds,
          url.pathname + url.search,
        );
        if (!authorization)
          throw new SnapshotFailure('refused', 'asks for a login we cannot give (HTTP 401)');
        continue;
      }
      const location = answer.headers.location;
      if (answer.status >= 300 && answer.status < 400 && location) {
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new SnapshotFailure('unusable', 'redirected to something that is not a URL');
        }
        if (next.origin !== origin)
          throw new SnapshotFailure('unusable', 'redirected to another host: not followed');
        if (++redirects > MAX_REDIRECTS) throw new SnapshotFailure('unusable', 'redirected too many times');
        next.username = '';
        next.password = '';
        url = next;
        authorization = undefined; // a Digest answer is bound to the URI: ask again
        continue;
      }
      throw new SnapshotFailure(
        answer.status === 403 ? 'refused' : 'unusable',
        `answered HTTP ${answer.status}`,
      );
    }
  } catch (err) {
    throw failureOf(err, abort.signal);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// One frame of the stream

/**
 * One frame of an RTSP stream as a JPEG: ffmpeg (no shell, protocol whitelist, TCP, I/O
 * timeout) decodes the first picture and writes it to stdout; it is killed after `boundMs`
 * whatever happens. `url` carries the login; it is never logged unmasked. Throws a
 * SnapshotFailure, or KHU_INTERNAL when ffmpeg cannot be started at all.
 */
export async function grabStreamFrame(
  url: string,
  options: { ffmpegPath?: string; ioTimeoutMs?: number; boundMs?: number; maxBytes?: number } = {},
): Promise<Buffer> {
  const maxBytes = options.maxBytes ?? MAX_SNAPSHOT_BYTES;
  const chunks: Buffer[] = [];
  let size = 0;
  let overflow = false;
  let timedOut = false;
  const args = [
    ...rtspInputArgs(url, { transport: 'tcp', timeoutMs: options.ioTimeoutMs ?? FRAME_IO_TIMEOUT_MS }),
    '-an',
    '-sn',
    '-dn',
    '-frames:v',
    '1',
    '-f',
    'image2',
    '-c:v',
    'mjpeg',
    '-q:v',
    '3',
    'pipe:1',
  ];
  const proc = spawnFfmpeg({
    args,
    ffmpegPath: options.ffmpegPath,
    stderrLines: 5,
    onStdout: (chunk) => {
      if (overflow) return;
      size += chunk.length;
      if (size > maxBytes) {
        overflow = true;
        void proc.kill();
        return;
      }
      chunks.push(chunk);
    },
  });
  const killer = setTimeout(() => {
    timedOut = true;
    void proc.kill();
  }, options.boundMs ?? FRAME_BOUND_MS);
  const exit = await proc.exited;
  clearTimeout(killer);
  const jpeg = Buffer.concat(chunks);
  if (overflow) throw new SnapshotFailure('unusable', 'the stream frame is larger than 5 MB');
  if (timedOut) throw new SnapshotFailure('unreachable', 'the stream gave no picture in time');
  if (exit.code === 0 && isWholeJpeg(jpeg)) return jpeg;
  const tail = proc.stderrTail().join(' | ');
  if (/401|unauthori[sz]ed/i.test(tail)) {
    throw new SnapshotFailure('refused', 'the stream refused the login', tail);
  }
  if (exit.code === 0) throw new SnapshotFailure('unusable', 'the stream ended before a picture', tail);
  const reason = /refused/i.test(tail)
    ? 'connection refused'
    : /timed? ?out/i.test(tail)
      ? 'timed out'
      : 'failed';
  throw new SnapshotFailure('unreachable', `the stream could not be read (${reason})`, tail);
}

// ---------------------------------------------------------------------------------------------
// Both, in order

export interface SnapshotTarget {
  cameraId: string;
  /** The ONVIF snapshot address, when the camera has one. */
  snapshotUri: string | null;
  /** The main stream, without its login. */
  mainUri: string;
  /** The main stream with its login, for ffmpeg only. */
  mainUrlWithLogin: string;
  login: CameraLogin | null;
  ffmpegPath?: string;
}

/**
 * What the camera sees now: its snapshot address first, one frame of its main stream when that
 * fails. Throws KHU_CAMERA_UNREACHABLE (502) when neither gives a picture.
 */
export async function takeSnapshot(target: SnapshotTarget, log: Logger): Promise<Snapshot> {
  const started = Date.now();
  let first: SnapshotFailure | undefined;
  if (target.snapshotUri) {
    try {
      const jpeg = await fetchSnapshotUri(target.snapshotUri, target.login);
      log.debug({ source: 'onvif', bytes: jpeg.length, ms: Date.now() - started }, 'snapshot taken');
      return { jpeg, source: 'onvif', takenAt: new Date().toISOString() };
    } catch (err) {
      first = err instanceof SnapshotFailure ? err : new SnapshotFailure('unusable', String(err));
      log.warn(
        { snapshotUri: maskSecrets(target.snapshotUri), reason: first.message, detail: first.detail },
        'snapshot address gave no picture; taking a frame from the stream',
      );
    }
  }
  try {
    const jpeg = await grabStreamFrame(target.mainUrlWithLogin, { ffmpegPath: target.ffmpegPath });
    log.debug({ source: 'stream', bytes: jpeg.length, ms: Date.now() - started }, 'snapshot taken');
    return { jpeg, source: 'stream', takenAt: new Date().toISOString() };
  } catch (err) {
    if (err instanceof KhuError) throw err; // ffmpeg missing: the hub's fault, not the camera's
    const second = err instanceof SnapshotFailure ? err : new SnapshotFailure('unusable', String(err));
    log.warn(
      {
        mainUri: maskSecrets(target.mainUri),
        reason: second.message,
        detail: second.detail,
        ms: Date.now() - started,
      },
      'no snapshot from the camera',
    );
    const why = [first && `snapshot address: ${first.message}`, `stream: ${second.message}`]
      .filter(Boolean)
      .join('; ');
    throw new KhuError('KHU_CAMERA_UNREACHABLE', `camera ${target.cameraId} gave no picture (${why})`);
  }
}
