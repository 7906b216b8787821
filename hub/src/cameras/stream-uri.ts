import { KhuError } from '../core/errors.js';
import { checkRtspUrl } from '../media/ffmpeg-args.js';

/**
 * A stream address a camera (or a technician) hands us. Only `rtsp://` and `rtsps://` are ever
 * given to ffmpeg: a hostile device answering `file:///etc/passwd`, `concat:…` or `http://…`
 * is refused here, before anything is stored or spawned. The rule itself is ffmpeg's input
 * check (`checkRtspUrl`); here it speaks of the camera.
 */
export function checkStreamUri(raw: unknown, what = 'stream URI'): URL {
  try {
    return new URL(checkRtspUrl(raw));
  } catch (err) {
    if (err instanceof KhuError) throw new KhuError('KHU_CAMERA_UNUSABLE', `${what}: ${err.message}`);
    throw err;
  }
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
