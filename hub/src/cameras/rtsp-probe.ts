import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { KhuError } from '../core/errors.js';
import { maskSecrets, RTSP_PROTOCOL_WHITELIST } from '../media/ffmpeg-args.js';

/**
 * Check that a camera without ONVIF really serves a stream at its RTSP address: ffprobe reads
 * it (TCP, protocol whitelist, I/O timeout, no shell). Throws a KhuError saying whether the
 * camera was unreachable, refused the login, or served nothing usable.
 */
export async function probeRtspStream(
  url: string,
  timeoutMs = 5000,
): Promise<{ codec: string; width: number; height: number }> {
  const args = [
    '-v',
    'error',
    '-protocol_whitelist',
    RTSP_PROTOCOL_WHITELIST,
    '-rtsp_transport',
    'tcp',
    '-timeout',
    String(timeoutMs * 1000),
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=codec_name,width,height',
    '-of',
    'json',
    '-i',
    url,
  ];
  const child = spawn('ffprobe', args, { stdio: ['ignore', 'pipe', 'pipe'], shell: false });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    if (err.length < 4000) err += d.toString();
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs * 3);
  const code = await new Promise<number | null>((resolve) => {
    child.on('error', () => resolve(-1));
    child.on('close', (c) => resolve(c));
  });
  clearTimeout(killer);
  const address = maskSecrets(url);
  if (code === -1) throw new KhuError('KHU_INTERNAL', 'ffprobe could not be started: is ffmpeg installed?');
  if (code !== 0) {
    if (/401|Unauthorized/i.test(err)) {
      throw new KhuError(
        'KHU_CAMERA_LOGIN_REFUSED',
        `the camera at ${address} refused the username or password`,
      );
    }
    throw new KhuError('KHU_CAMERA_UNREACHABLE', `no stream could be read at ${address}`);
  }
  const stream = (
    JSON.parse(out || '{}') as { streams?: Array<{ codec_name?: string; width?: number; height?: number }> }
  ).streams?.[0];
  if (!stream?.codec_name) throw new KhuError('KHU_CAMERA_UNUSABLE', `the stream at ${address} has no video`);
  if (stream.codec_name !== 'h264') {
    throw new KhuError(
      'KHU_CAMERA_UNUSABLE',
      `the stream at ${address} is ${stream.codec_name}; phones play H.264 only`,
    );
  }
  return { codec: stream.codec_name, width: stream.width ?? 0, height: stream.height ?? 0 };
}

/** A cheap liveness check while a camera is down: can its RTSP port be reached at all? */
export function tcpProbe(url: string, signal: AbortSignal): Promise<boolean> {
  const u = new URL(url);
  const port = Number(u.port) || (u.protocol === 'rtsps:' ? 322 : 554);
  return new Promise((resolve) => {
    const socket = connect({ host: u.hostname, port });
    const done = (ok: boolean) => {
      socket.destroy();
      signal.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const onAbort = () => done(false);
    signal.addEventListener('abort', onAbort);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
