import { KhuError } from '../core/errors.js';

/**
 * A stream address a camera (or a technician) hands us. Only `rtsp://` and `rtsps://` are ever
 * given to ffmpeg: a hostile device answering `file:///etc/passwd`, `concat:…` or `http://…`
 * is refused here, before anything is stored or spawned.
 */
export function checkStreamUri(raw: unknown, what = 'stream URI'): URL {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 2048) {
    throw new KhuError('KHU_CAMERA_UNUSABLE', `${what}: not an address`);
  }
  // Whitespace and control characters (code points below 0x20, and 0x7f) have no place in a URI.
  if ([...raw].some((c) => c.charCodeAt(0) <= 0x20 || c.charCodeAt(0) === 0x7f || /\s/.test(c))) {
    throw new KhuError('KHU_CAMERA_UNUSABLE', `${what}: contains spaces or control characters`);
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new KhuError('KHU_CAMERA_UNUSABLE', `${what}: not a valid URL`);
  }
  if (url.protocol !== 'rtsp:' && url.protocol !== 'rtsps:') {
    throw new KhuError(
      'KHU_CAMERA_UNUSABLE',
      `${what}: only rtsp:// or rtsps:// streams are accepted, not ${url.protocol}`,
    );
  }
  if (!url.hostname) throw new KhuError('KHU_CAMERA_UNUSABLE', `${what}: no host`);
  return url;
}

/** The URI without any login in it: what is stored and shown. */
export function withoutCredentials(url: URL): string {
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return copy.href;
}

/** The URI with the camera's login, for ffmpeg's command line only (never logged unmasked). */
export function withCredentials(uri: string, username: string | null, password: string | null): string {
  const url = new URL(uri);
  if (username) {
    url.username = encodeURIComponent(username);
    url.password = encodeURIComponent(password ?? '');
  }
  return url.href;
}
