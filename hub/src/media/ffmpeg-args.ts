/**
 * What ffmpeg may be told: camera inputs are `rtsp://`/`rtsps://` only, read under a protocol
 * whitelist; and what the log may be told: arguments with their credentials masked.
 */
import { badRequest } from '../core/errors.js';
import { maskUrlCredentials } from '../core/log.js';

/**
 * The URL protocols ffmpeg 5.1 opens to read RTSP, measured against an RTSP server: `tcp` for
 * the control connection and TCP-interleaved media, `rtp` and `udp` for UDP media, `tls` (over
 * `tcp`) for `rtsps://`. The RTSP demuxer itself opens no URL protocol, so `rtsp` is not one.
 */
export const RTSP_PROTOCOL_WHITELIST = 'tcp,udp,rtp,tls';

const MAX_URL_LENGTH = 2048;

/**
 * Checks a stream address from a device or a person: `rtsp://` or `rtsps://` (any case) with a
 * host, no whitespace or control characters anywhere. Returns it with the scheme in lower case
 * (ffmpeg matches `rtsp:` case-sensitively: `RTSP://` is "Protocol not found") and otherwise
 * unchanged. Throws `KHU_BAD_REQUEST`; the message never repeats the address (it may hold a login).
 */
export function checkRtspUrl(url: unknown): string {
  if (typeof url !== 'string' || url.length === 0) throw badRequest('stream address must be a string');
  if (url.length > MAX_URL_LENGTH)
    throw badRequest(`stream address longer than ${MAX_URL_LENGTH} characters`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\s\u0000-\u001f\u007f]/.test(url)) {
    throw badRequest('stream address must not contain spaces or control characters');
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme !== 'rtsp' && scheme !== 'rtsps') {
    const got = scheme && scheme.length <= 16 ? ` (got "${scheme}:")` : '';
    throw badRequest(`stream address must be an rtsp:// or rtsps:// URL${got}`);
  }
  const normalized = scheme + url.slice(scheme.length);
  let parsed: URL;
  try {
    parsed = new URL(normalized);
  } catch {
    throw badRequest('stream address is not a valid URL');
  }
  if (!normalized.startsWith(`${scheme}://`) || parsed.hostname === '') {
    throw badRequest('stream address must name a host (rtsp://host[:port]/path)');
  }
  return normalized;
}

export interface RtspInputOptions {
  /** Default `tcp`: no lost packets, one connection to the camera. */
  transport?: 'tcp' | 'udp';
  /** ffmpeg's `-timeout` for the RTSP socket: a stalled camera ends ffmpeg after about 1–2× this. */
  timeoutMs?: number;
  /**
   * Stamp packets with the time they arrive instead of the camera's RTP time. A camera whose
   * clock jumps (an NTP correction, a reboot of its encoder) otherwise gives a segment of the
   * jump's length and then non-monotonic timestamps that ffmpeg "fixes" into runs of 40 ms
   * segments (measured with the sim's jumpTimestamps); with arrival time recording carries on
   * with even segments. Cheap entry cameras send no B-frames, so arrival order is decode order.
   */
  arrivalTimestamps?: boolean;
}

/** The input arguments for one camera stream: checked address, whitelist, transport, timeout. */
export function rtspInputArgs(url: string, options: RtspInputOptions = {}): string[] {
  const checked = checkRtspUrl(url);
  const args = [
    '-protocol_whitelist',
    RTSP_PROTOCOL_WHITELIST,
    '-rtsp_transport',
    options.transport ?? 'tcp',
  ];
  if (options.timeoutMs !== undefined) args.push('-timeout', String(Math.round(options.timeoutMs * 1000)));
  if (options.arrivalTimestamps) args.push('-use_wallclock_as_timestamps', '1');
  args.push('-i', checked);
  return args;
}

/** Options whose next argument is a secret (or may carry one, like HTTP headers). */
const SECRET_OPTIONS = new Set([
  '-password',
  '-passphrase',
  '-headers',
  '-cookies',
  '-auth',
  '-key',
  '-cryptokey',
  '-decryption_key',
  '-encryption_key',
  '-hls_enc_key',
  '-srtp_in_params',
  '-srtp_out_params',
]);

/** `?user=admin&password=…` logins that some cameras take in the query. */
const SECRET_QUERY =
  /([?&](?:user|username|usr|password|pass|passwd|pwd|token|auth|key|secret)=)[^&#\s'"]*/gi;

/** Credentials out of any text that may hold URLs: an argument, an ffmpeg error line. */
export function maskSecrets(text: string): string {
  return maskUrlCredentials(text).replace(SECRET_QUERY, '$1***');
}

/** Arguments fit for the log: logins in URLs, secret query values and secret options masked. */
export function maskArgs(args: readonly string[]): string[] {
  return args.map((arg, i) => (i > 0 && SECRET_OPTIONS.has(args[i - 1] ?? '') ? '***' : maskSecrets(arg)));
}
