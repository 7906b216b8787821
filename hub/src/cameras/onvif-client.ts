import { KhuError } from '../core/errors.js';
import { checkStreamUri, withoutCredentials } from './stream-uri.js';

/** The parts of the `onvif` package's Cam we use (it ships no types). */
interface OnvifProfile {
  $?: { token?: string };
  name?: unknown;
  videoEncoderConfiguration?: { encoding?: unknown; resolution?: { width?: unknown; height?: unknown } };
}
interface OnvifCam {
  profiles?: OnvifProfile[];
  connect(cb: (err: Error | null) => void): void;
  getDeviceInformation(cb: (err: Error | null, info: Record<string, unknown>) => void): void;
  getStreamUri(
    options: { protocol: 'RTSP'; profileToken: string },
    cb: (err: Error | null, data: { uri?: unknown }) => void,
  ): void;
  getSnapshotUri(
    options: { profileToken: string },
    cb: (err: Error | null, data: { uri?: unknown }) => void,
  ): void;
  getSystemDateAndTime(cb: (err: Error | null, date: Date) => void): void;
  setSystemDateAndTime(
    options: { dateTimeType: 'Manual'; daylightSavings: boolean; dateTime: Date },
    cb: (err: Error | null) => void,
  ): void;
}
type CamConstructor = new (options: Record<string, unknown>) => OnvifCam;

/** Loaded on first use: the ONVIF client and its XML stack cost the hub memory it needs only when cameras are added. */
async function loadCam(): Promise<CamConstructor> {
  const onvif = (await import('onvif')).default as unknown as { Cam: CamConstructor };
  return onvif.Cam;
}

export interface StreamProfile {
  token: string;
  name: string;
  width: number;
  height: number;
  /** Without any login in it. */
  uri: string;
}

export interface OnvifCameraInfo {
  manufacturer: string;
  model: string;
  firmware: string;
  serial: string;
  /** The largest H.264 profile: what the recorder and full-screen viewers use. */
  main: StreamProfile;
  /** The smallest H.264 profile, when the camera has a second one: for tiles on phones. */
  sub: StreamProfile | null;
  snapshotUri: string | null;
}

export interface OnvifTarget {
  /** `host[:port]`, port 80 by default; `[v6]:port` for IPv6. */
  address: string;
  username: string;
  password: string;
  timeoutMs?: number;
}

export function parseOnvifAddress(address: string): { hostname: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/.exec(address.trim());
  const port = m?.[2] === undefined ? 80 : Number(m[2]);
  if (!m || port < 1 || port > 65535) {
    throw new KhuError('KHU_BAD_REQUEST', 'onvif.address: a host or IP address, optionally with :port');
  }
  return { hostname: m[1]!.replace(/^\[|\]$/g, ''), port };
}

const call = <T>(fn: (cb: (err: Error | null, value: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));

/** What went wrong, in the words a technician needs: unreachable, login refused, or unusable. */
function classify(err: unknown, address: string): KhuError {
  if (err instanceof KhuError) return err;
  const e = err as NodeJS.ErrnoException;
  const text = `${e?.code ?? ''} ${e?.message ?? String(err)}`;
  if (/NotAuthorized|not authorized|Unauthorized|authenticat|401|Sender not Authorized/i.test(text)) {
    return new KhuError(
      'KHU_CAMERA_LOGIN_REFUSED',
      `the camera at ${address} refused the username or password`,
    );
  }
  if (
    /ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|ECONNRESET|timeout|socket hang up/i.test(text)
  ) {
    return new KhuError('KHU_CAMERA_UNREACHABLE', `no ONVIF camera answers at ${address}`);
  }
  return new KhuError('KHU_CAMERA_UNUSABLE', `the camera at ${address} gave an answer Khu cannot use`);
}

function toProfile(p: OnvifProfile): Omit<StreamProfile, 'uri'> | undefined {
  const enc = p.videoEncoderConfiguration;
  const token = p.$?.token;
  const width = Number(enc?.resolution?.width);
  const height = Number(enc?.resolution?.height);
  if (typeof token !== 'string' || String(enc?.encoding).toUpperCase() !== 'H264') return undefined;
  if (!Number.isFinite(width) || !Number.isFinite(height)) return undefined;
  return { token, name: String(p.name ?? token), width, height };
}

/** An ONVIF client for a camera, not yet connected (a bad address throws KHU_BAD_REQUEST). */
async function camFor(target: OnvifTarget): Promise<OnvifCam> {
  const { hostname, port } = parseOnvifAddress(target.address);
  const Cam = await loadCam();
  return new Cam({
    hostname,
    port,
    username: target.username,
    password: target.password,
    timeout: target.timeoutMs ?? 5000,
    autoconnect: false,
    // A camera behind NAT or with a wrong own address answers XAddrs we could not reach.
    preserveAddress: true,
  });
}

/**
 * Log in to an ONVIF camera and read what the hub needs: who it is, its H.264 profiles (largest
 * for recording, smallest for tiles), their RTSP addresses (checked: rtsp:// only) and the
 * snapshot address. Throws a KhuError saying whether the camera was unreachable, refused the
 * login, or answered something unusable.
 */
export async function inspectOnvifCamera(target: OnvifTarget): Promise<OnvifCameraInfo> {
  const cam = await camFor(target);
  try {
    await call<void>((cb) => cam.connect((err) => cb(err, undefined)));
    const info = await call<Record<string, unknown>>((cb) => cam.getDeviceInformation(cb));
    const profiles = (cam.profiles ?? []).map(toProfile).filter((p) => p !== undefined);
    if (profiles.length === 0) {
      throw new KhuError('KHU_CAMERA_UNUSABLE', `the camera at ${target.address} has no H.264 profile`);
    }
    profiles.sort((a, b) => b.width * b.height - a.width * a.height);
    const uriOf = async (p: Omit<StreamProfile, 'uri'>): Promise<StreamProfile> => {
      const data = await call<{ uri?: unknown }>((cb) =>
        cam.getStreamUri({ protocol: 'RTSP', profileToken: p.token }, cb),
      );
      return { ...p, uri: withoutCredentials(checkStreamUri(data?.uri, `profile ${p.token} stream URI`)) };
    };
    const main = await uriOf(profiles[0]!);
    const smallest = profiles[profiles.length - 1]!;
    const sub = profiles.length > 1 && smallest.width < main.width ? await uriOf(smallest) : null;
    let snapshotUri: string | null = null;
    try {
      const data = await call<{ uri?: unknown }>((cb) =>
        cam.getSnapshotUri({ profileToken: main.token }, cb),
      );
      const url = new URL(String(data?.uri));
      if (url.protocol === 'http:' || url.protocol === 'https:') snapshotUri = url.href;
    } catch {
      // Many cameras have no snapshot service: the hub then takes a frame from the stream.
    }
    return {
      manufacturer: String(info?.manufacturer ?? ''),
      model: String(info?.model ?? ''),
      firmware: String(info?.firmwareVersion ?? ''),
      serial: String(info?.serialNumber ?? ''),
      main,
      sub,
      snapshotUri,
    };
  } catch (err) {
    throw classify(err, target.address);
  }
}

/**
 * The camera's clock minus the hub's, in ms (its GetSystemDateAndTime, which needs no login),
 * and, when it is off by more than `toleranceMs`, set to the hub's time (SetSystemDateAndTime,
 * UTC, its time zone left as it is). The ONVIF client signs the request with the camera's own
 * idea of the time, so a camera whose clock is far off still accepts the login.
 */
export async function syncOnvifClock(
  target: OnvifTarget,
  toleranceMs = 5000,
): Promise<{ driftMs: number; corrected: boolean }> {
  const cam = await camFor(target);
  try {
    const before = Date.now();
    const theirs = await call<Date>((cb) => cam.getSystemDateAndTime(cb));
    // The answer has whole seconds: compare with the middle of the round trip.
    const driftMs = theirs.getTime() - (before + Date.now()) / 2;
    if (Math.abs(driftMs) <= toleranceMs) return { driftMs, corrected: false };
    await call<void>((cb) => cam.connect((err) => cb(err, undefined)));
    await call<void>((cb) =>
      cam.setSystemDateAndTime(
        { dateTimeType: 'Manual', daylightSavings: false, dateTime: new Date() },
        (err) => cb(err, undefined),
      ),
    );
    return { driftMs, corrected: true };
  } catch (err) {
    throw classify(err, target.address);
  }
}
