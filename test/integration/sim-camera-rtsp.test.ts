/**
 * The simulated camera's RTSP server against real clients: ffprobe and ffmpeg (Debian's 5.1)
 * read, record and survive its faults; a few protocol details are checked with a raw socket.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { MediaOptions } from '../../firmware-sim/camera/media.js';
import { MediaClock } from '../../firmware-sim/camera/replay.js';
import { SimRtspCamera, type SimRtspCameraOptions } from '../../firmware-sim/camera/rtsp-server.js';
import { RtspSession, type SessionStats } from '../../firmware-sim/camera/rtsp-session.js';
import { waitFor, waitForEvent } from '../helpers/wait.js';

/** A 4 s clip: every recording longer than that crosses the loop point. Encoded once, cached. */
const MEDIA: MediaOptions = { clipSeconds: 4, keyframeSeconds: 1 };
const FPS = 25;

const teardown: (() => unknown)[] = [];
afterEach(async () => {
  for (let fn = teardown.pop(); fn; fn = teardown.pop()) await fn();
});

let workDir = '';
beforeAll(async () => {
  const missing = ['ffmpeg', 'ffprobe'].filter((tool) => spawnSync(tool, ['-version']).error);
  if (missing.length > 0) {
    throw new Error(`this suite needs ${missing.join(' and ')} on PATH (Debian: apt-get install ffmpeg)`);
  }
  workDir = await mkdtemp(join(tmpdir(), 'khu-sim-rtsp-'));
  // Encode (or load) the clip here, outside any test's time.
  const warmup = new SimRtspCamera({ media: MEDIA });
  await warmup.start();
  await warmup.stop();
}, 60_000);
afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function startCamera(options: SimRtspCameraOptions = {}): Promise<SimRtspCamera> {
  const camera = new SimRtspCamera({ username: 'user', password: 'pass', media: MEDIA, ...options });
  await camera.start();
  teardown.push(() => camera.stop());
  return camera;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Epoch ms of the exit. */
  at: number;
}

interface Tool {
  child: ChildProcessWithoutNullStreams;
  exited: Promise<Exit>;
}

/** Starts ffmpeg or ffprobe; a test's teardown kills it if it still runs. */
function tool(command: 'ffmpeg' | 'ffprobe', args: string[]): Tool {
  const child = spawn(command, ['-hide_banner', ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const exited = new Promise<Exit>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, at: Date.now() }));
  });
  teardown.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, exited };
}

/** Resolves with the exit, or rejects when it takes longer than `ms`. */
function exitWithin(t: Tool, ms: number, what: string): Promise<Exit> {
  return Promise.race([
    t.exited,
    new Promise<never>((_, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms`)), ms);
      t.exited.finally(() => clearTimeout(timer));
    }),
  ]);
}

interface ProbedStream {
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
  sample_rate?: string;
}

async function probeUrl(url: string, transport: 'tcp' | 'udp'): Promise<ProbedStream[]> {
  const probe = tool('ffprobe', [
    '-v',
    'error',
    '-rtsp_transport',
    transport,
    '-show_streams',
    '-of',
    'json',
    url,
  ]);
  const exit = await exitWithin(probe, 15_000, `ffprobe ${transport}`);
  expect(exit.stderr.trim(), 'ffprobe stderr').toBe('');
  expect(exit.code).toBe(0);
  return (JSON.parse(exit.stdout) as { streams: ProbedStream[] }).streams;
}

/** A reader that discards what it gets: `-c copy -f null`, so no decoding cost. */
function reader(url: string, extra: string[] = []): Tool {
  return tool('ffmpeg', [
    '-nostdin',
    '-v',
    'error',
    ...extra,
    '-rtsp_transport',
    'tcp',
    '-i',
    url,
    '-c',
    'copy',
    '-f',
    'null',
    '-',
  ]);
}

interface Packet {
  pts_time?: string;
  dts_time: string;
  flags: string;
}

/** Video packets of a file in decoding order, with times in seconds. */
async function videoPackets(file: string): Promise<{ dts: number; key: boolean }[]> {
  const args = [
    '-v',
    'error',
    '-select_streams',
    'v',
    '-show_entries',
    'packet=dts_time,flags',
    '-of',
    'json',
    file,
  ];
  const exit = await exitWithin(tool('ffprobe', args), 15_000, 'ffprobe packets');
  expect(exit.code).toBe(0);
  const packets = (JSON.parse(exit.stdout) as { packets: Packet[] }).packets;
  return packets.map((p) => ({ dts: Number(p.dts_time), key: p.flags.includes('K') }));
}

async function decodeErrors(file: string): Promise<string> {
  const exit = await exitWithin(
    tool('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-']),
    20_000,
    'decode',
  );
  expect(exit.code).toBe(0);
  return exit.stderr.trim();
}

/** The session the next client opens, as soon as it streams. */
function nextStreaming(camera: SimRtspCamera, timeoutMs = 5000): Promise<SessionStats> {
  return waitForEvent<[SessionStats]>(camera, 'streaming', { timeoutMs }).then(([stats]) => stats);
}

function framesSent(camera: SimRtspCamera, id: string): number {
  return camera.session(id)?.framesSent ?? 0;
}

describe('the simulated camera seen by ffprobe', () => {
  it('serves H.264 1920x1080 with AAC on /main over TCP and UDP, and 640x360 on /sub', async () => {
    const camera = await startCamera();
    const [tcp, udp, sub] = await Promise.all([
      probeUrl(camera.url('/main', true), 'tcp'),
      probeUrl(camera.url('/main', true), 'udp'),
      probeUrl(camera.url('/sub', true), 'tcp'),
    ]);
    for (const streams of [tcp, udp]) {
      expect(streams).toContainEqual(
        expect.objectContaining({ codec_name: 'h264', width: 1920, height: 1080 }),
      );
      expect(streams).toContainEqual(expect.objectContaining({ codec_name: 'aac', sample_rate: '16000' }));
    }
    expect(sub).toContainEqual(expect.objectContaining({ codec_name: 'h264', width: 640, height: 360 }));
    await waitFor(() => camera.stats().sessions.active === 0, { message: 'the three sessions to close' });
    const { sessions, closed } = camera.stats();
    expect(sessions.opened).toBe(3);
    expect(closed.map((s) => `${s.stream}/${s.transport}`).sort()).toEqual([
      'main/tcp',
      'main/udp',
      'sub/tcp',
    ]);
  });
});

describe('a 6 s recording by codec copy, across the loop point of the 4 s clip', () => {
  let camera: SimRtspCamera;
  let session: SessionStats;
  let packets: { dts: number; key: boolean }[];
  let duration: number;
  const file = () => join(workDir, 'six-seconds.mp4');

  beforeAll(async () => {
    camera = new SimRtspCamera({ username: 'user', password: 'pass', media: MEDIA });
    await camera.start();
    const streaming = nextStreaming(camera);
    const args = ['-nostdin', '-v', 'error', '-rtsp_transport', 'tcp', '-i', camera.url('/main', true)];
    const recorder = tool('ffmpeg', [...args, '-c', 'copy', '-t', '6', '-y', file()]);
    const { id } = await streaming;
    const exit = await exitWithin(recorder, 15_000, 'the 6 s recording');
    expect(exit.code, exit.stderr).toBe(0);
    await waitFor(() => camera.session(id)?.state === 'closed', {
      message: 'the recording session to close',
    });
    session = camera.session(id)!;
    packets = await videoPackets(file());
    const format = tool('ffprobe', [
      '-v',
      'error',
      '-show_entries',
      'format=duration',
      '-of',
      'csv=p=0',
      file(),
    ]);
    duration = Number((await exitWithin(format, 10_000, 'ffprobe duration')).stdout);
  }, 40_000);
  afterAll(async () => {
    await camera?.stop();
    for (let fn = teardown.pop(); fn; fn = teardown.pop()) await fn();
  });

  it('decodes without errors, lasts about 6 s, starts on a key frame, key frames every second', async () => {
    expect(await decodeErrors(file())).toBe('');
    expect(duration).toBeGreaterThan(5.9);
    expect(duration).toBeLessThan(6.2);
    expect(packets[0]?.key).toBe(true);
    const keyTimes = packets.filter((p) => p.key).map((p) => p.dts);
    const gaps = keyTimes.slice(1).map((t, i) => t - (keyTimes[i] ?? 0));
    expect(gaps.length).toBeGreaterThanOrEqual(5);
    for (const gap of gaps) expect(gap).toBeCloseTo(1, 1);
  });

  it('has monotonic frame times, 40 ms apart, with no jump where the clip loops', () => {
    // ffmpeg's RTSP demuxer leaves the first frame's pts unset (as with Dahua and Hikvision
    // cameras) and the MP4 muxer puts it at 0: the first step may be shorter.
    const steps = packets.slice(2).map((p, i) => p.dts - (packets[i + 1]?.dts ?? 0));
    for (const step of steps) expect(step).toBeCloseTo(1 / FPS, 3);
    expect(packets.length / FPS).toBeGreaterThan(MEDIA.clipSeconds ?? 0);
  });

  it('holds the frames the camera sent, less those in flight when ffmpeg stopped', () => {
    // -t 6 stops writing at 6 s while the camera sends until the TEARDOWN arrives: a few
    // frames (each 40 ms) are sent but not written; none may be missing.
    expect(session.framesDropped).toBe(0);
    expect(session.framesSent).toBeGreaterThanOrEqual(packets.length);
    expect(session.framesSent - packets.length).toBeLessThanOrEqual(5);
  });
});

describe('sessions and logins', () => {
  it('gives two clients at once a session each, both with frames', async () => {
    const camera = await startCamera();
    const opened: SessionStats[] = [];
    camera.on('sessionOpened', (s) => opened.push(s));
    const a = reader(camera.url('/main', true), ['-t', '2']);
    const b = reader(camera.url('/main', true), ['-t', '2']);
    await waitFor(() => camera.stats().active.filter((s) => s.framesSent > 0).length === 2, {
      timeoutMs: 5000,
      message: 'both sessions to stream',
    });
    expect(camera.stats().sessions).toEqual({ opened: 2, active: 2 });
    for (const exit of await Promise.all([
      exitWithin(a, 10_000, 'client a'),
      exitWithin(b, 10_000, 'client b'),
    ])) {
      expect(exit.code, exit.stderr).toBe(0);
    }
    await waitFor(() => camera.stats().sessions.active === 0, { message: 'both sessions to close' });
    const ids = opened.map((s) => s.id);
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) expect(framesSent(camera, id)).toBeGreaterThanOrEqual(2 * FPS);
    expect(camera.stats().framesSent).toBe(ids.reduce((n, id) => n + framesSent(camera, id), 0));
  });

  it('accepts Digest and Basic logins, refuses a wrong password with 401, and follows a changed password', async () => {
    const digest = await startCamera({ auth: 'digest' });
    const basic = await startCamera({ auth: 'basic' });
    const wrong = (camera: SimRtspCamera) => camera.url('/sub', true).replace(':pass@', ':wrong@');
    const refused = (url: string) =>
      exitWithin(
        tool('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', url]),
        10_000,
        'ffprobe with a wrong login',
      );
    const [okDigest, okBasic, badDigest, badBasic] = await Promise.all([
      probeUrl(digest.url('/sub', true), 'tcp'),
      probeUrl(basic.url('/sub', true), 'tcp'),
      refused(wrong(digest)),
      refused(wrong(basic)),
    ]);
    expect(okDigest.length).toBe(2);
    expect(okBasic.length).toBe(2);
    for (const exit of [badDigest, badBasic]) {
      expect(exit.code).toBe(1);
      expect(exit.stderr).toMatch(/401 Unauthorized/);
    }
    expect(digest.stats().authFailures).toBe(1);
    expect(basic.stats().authFailures).toBe(1);

    const oldUrl = digest.url('/sub', true);
    digest.credentials = { username: 'user', password: 'n3w:p@ss/word' };
    expect((await refused(oldUrl)).stderr).toMatch(/401 Unauthorized/);
    expect(await probeUrl(digest.url('/sub', true), 'tcp')).toHaveLength(2);
  });
});

describe('faults', () => {
  it('dropConnections: a reading ffmpeg exits at once, with status 0', async () => {
    const camera = await startCamera();
    for (const how of ['reset', 'close'] as const) {
      const streaming = nextStreaming(camera);
      const client = reader(camera.url('/main', true));
      await streaming;
      const at = Date.now();
      expect(camera.dropConnections(how)).toBe(1);
      const exit = await exitWithin(client, 3000, `ffmpeg after dropConnections('${how}')`);
      // FACTS: ffmpeg takes a server going away for the end of the stream.
      expect({ how, code: exit.code, stderr: exit.stderr }).toEqual({ how, code: 0, stderr: '' });
      expect(exit.at - at).toBeLessThan(1000);
      expect(camera.stats().closed.at(-1)?.closeReason).toBe('dropped');
    }
  });

  it('reboot(1000): refuses connections meanwhile, then serves again on the same port', async () => {
    const camera = await startCamera();
    const port = camera.port;
    const streaming = nextStreaming(camera);
    const client = reader(camera.url('/main', true));
    await streaming;
    const at = Date.now();
    const back = camera.reboot(1000);
    const exit = await exitWithin(client, 3000, 'ffmpeg reading when the camera reboots');
    expect(exit.code).toBe(0);
    expect(await connectError(port)).toBe('ECONNREFUSED');
    const during = await exitWithin(
      tool('ffprobe', ['-v', 'error', camera.url('/main', true)]),
      5000,
      'ffprobe',
    );
    expect(during.code).toBe(1);
    expect(during.stderr).toMatch(/Connection refused/);
    await back;
    expect(Date.now() - at).toBeGreaterThanOrEqual(1000);
    expect(camera.port).toBe(port);
    expect(await probeUrl(camera.url('/sub', true), 'tcp')).toHaveLength(2);
  });

  it('stall: ffmpeg with -timeout 2000000 gives up within seconds (status 0); resume() streams again', async () => {
    const camera = await startCamera();
    const streaming = nextStreaming(camera);
    const stuck = reader(camera.url('/main', true), ['-timeout', '2000000']);
    const patient = reader(camera.url('/sub', true));
    await streaming;
    await waitFor(() => camera.stats().active.filter((s) => s.framesSent > 0).length === 2, {
      message: 'both clients streaming',
    });
    const at = Date.now();
    camera.stall('forever');
    const exit = await exitWithin(stuck, 10_000, 'ffmpeg -timeout 2000000 on a stalled camera');
    expect(exit.stderr).toMatch(/timed out/i);
    expect(exit.code).toBe(0);
    expect(exit.at - at).toBeGreaterThan(1900);
    const patientSession = camera.stats().active.find((s) => s.stream === 'sub');
    expect(patientSession).toBeDefined();
    const before = patientSession?.framesSent ?? 0;
    camera.resume();
    await waitFor(() => framesSent(camera, patientSession?.id ?? '') > before + FPS, {
      timeoutMs: 4000,
      message: 'frames again after resume()',
    });
    expect(patient.child.exitCode).toBeNull();
  });

  it('jumpTimestamps(3000): the recording goes on, with the jump in its timestamps', async () => {
    // No sender reports: with them, ffmpeg follows a jump only until the next SR maps the RTP
    // clock to the wall clock again, then steps back (non-monotonous DTS, squeezed frames).
    const camera = await startCamera({ rtcpIntervalMs: 0 });
    const file = join(workDir, 'jump.mp4');
    const streaming = nextStreaming(camera);
    const args = ['-nostdin', '-v', 'error', '-rtsp_transport', 'tcp', '-i', camera.url('/main', true)];
    const recorder = tool('ffmpeg', [...args, '-c', 'copy', '-t', '6', '-y', file]);
    const { id } = await streaming;
    await waitFor(() => framesSent(camera, id) >= FPS, { message: '1 s of frames' });
    camera.jumpTimestamps(3000);
    const exit = await exitWithin(recorder, 12_000, 'the recording with a jump');
    expect(exit.code, exit.stderr).toBe(0);
    expect(await decodeErrors(file)).toBe('');
    const packets = await videoPackets(file);
    const steps = packets.slice(1).map((p, i) => p.dts - (packets[i]?.dts ?? 0));
    const jumps = steps.filter((s) => s > 1);
    expect(jumps).toHaveLength(1);
    expect(jumps[0]).toBeCloseTo(3 + 1 / FPS, 1);
    // -t 6 counts the jump: about 3 s of frames in all, 2 of them after it.
    const after = packets.length - 1 - steps.findIndex((s) => s > 1);
    expect(after).toBeGreaterThan(1.5 * FPS);
  });
});

function connectError(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    socket.on('connect', () => {
      socket.destroy();
      resolve('connected');
    });
  });
}

/** A bare RTSP client: one request at a time; interleaved frames are counted and the first per channel kept. */
class RawRtsp {
  readonly socket: Socket;
  readonly firstFrame = new Map<number, Buffer>();
  #buffer = Buffer.alloc(0);
  #cseq = 0;
  #pending: ((reply: RawReply) => void) | undefined;

  static async open(port: number): Promise<RawRtsp> {
    const socket = connect(port, '127.0.0.1');
    await waitForEvent(socket, 'connect');
    const client = new RawRtsp(socket);
    teardown.push(() => socket.destroy());
    return client;
  }

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  request(method: string, url: string, headers: Record<string, string> = {}): Promise<RawReply> {
    const lines = [`${method} ${url} RTSP/1.0`, `CSeq: ${++this.#cseq}`];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    this.socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    return new Promise((resolve) => {
      this.#pending = resolve;
    });
  }

  #onData(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      if (this.#buffer[0] === 0x24) {
        if (this.#buffer.length < 4) return;
        const end = 4 + this.#buffer.readUInt16BE(2);
        if (this.#buffer.length < end) return;
        const channel = this.#buffer[1] ?? 0;
        if (!this.firstFrame.has(channel)) this.firstFrame.set(channel, this.#buffer.subarray(4, end));
        this.#buffer = this.#buffer.subarray(end);
        continue;
      }
      const headEnd = this.#buffer.indexOf('\r\n\r\n');
      if (headEnd < 0) return;
      const [status = '', ...lines] = this.#buffer.subarray(0, headEnd).toString('latin1').split('\r\n');
      const headers = new Map(
        lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
      );
      const end = headEnd + 4 + Number(headers.get('content-length') ?? 0);
      if (this.#buffer.length < end) return;
      const body = this.#buffer.subarray(headEnd + 4, end).toString('utf8');
      this.#buffer = this.#buffer.subarray(end);
      this.#pending?.({ status: Number(status.split(' ')[1]), headers, body });
      this.#pending = undefined;
    }
  }
}

interface RawReply {
  status: number;
  headers: Map<string, string>;
  body: string;
}

describe('RTSP details on a raw socket', () => {
  it('answers per RFC 2326: methods, a Digest challenge, 404, 461, 454, and RTP-Info that matches the first packet', async () => {
    const locked = await startCamera({ auth: 'digest', name: 'gate-1' });
    const raw = await RawRtsp.open(locked.port);
    const options = await raw.request('OPTIONS', '*');
    expect(options.status).toBe(200);
    expect(options.headers.get('public')).toContain('GET_PARAMETER');
    const challenge = await raw.request('DESCRIBE', locked.url('/main'));
    expect(challenge.status).toBe(401);
    expect(challenge.headers.get('www-authenticate')).toMatch(
      /^Digest realm="gate-1", nonce="[0-9a-f]{32}"$/,
    );

    const open = await startCamera({ auth: 'none' });
    const client = await RawRtsp.open(open.port);
    expect((await client.request('DESCRIBE', open.url('/third'))).status).toBe(404);
    const describe = await client.request('DESCRIBE', open.url('/main'));
    expect(describe.headers.get('content-type')).toBe('application/sdp');
    expect(describe.headers.get('content-base')).toBe(`${open.url('/main')}/`);
    expect(describe.body).toMatch(/m=video 0 RTP\/AVP 96\r\n/);
    expect(describe.body).toMatch(
      /a=fmtp:96 packetization-mode=1;profile-level-id=4D40[0-9A-F]{2};sprop-parameter-sets=Z[^,]+,aO/,
    );
    expect(describe.body).toMatch(/a=rtpmap:97 MPEG4-GENERIC\/16000\/1\r\n/);
    const track = `${open.url('/main')}/trackID=0`;
    expect((await client.request('SETUP', track, { Transport: 'RTP/AVP;multicast' })).status).toBe(461);
    expect((await client.request('PLAY', open.url('/main'), { Session: '12345' })).status).toBe(454);
    const setup = await client.request('SETUP', track, { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' });
    expect(setup.status).toBe(200);
    expect(setup.headers.get('transport')).toMatch(/^RTP\/AVP\/TCP;unicast;interleaved=0-1;ssrc=[0-9A-F]{8}/);
    const session = setup.headers.get('session') ?? '';
    expect(session).toMatch(/^[0-9A-F]{16};timeout=60$/);
    const play = await client.request('PLAY', open.url('/main'), { Session: session.split(';')[0] ?? '' });
    const info = /^url=(.+);seq=(\d+);rtptime=(\d+)$/.exec(play.headers.get('rtp-info') ?? '');
    expect(info?.[1]).toBe(track);
    await waitFor(() => client.firstFrame.has(0), { message: 'the first RTP packet' });
    const rtp = client.firstFrame.get(0) ?? Buffer.alloc(12);
    // RFC 3550 5.1: version 2, payload type 96; RFC 6184: it starts with the SPS (NAL type 7).
    expect({ version: (rtp[0] ?? 0) >> 6, pt: (rtp[1] ?? 0) & 0x7f, nal: (rtp[12] ?? 0) & 0x1f }).toEqual({
      version: 2,
      pt: 96,
      nal: 7,
    });
    expect(rtp.readUInt16BE(2)).toBe(Number(info?.[2]));
    expect(rtp.readUInt32BE(4)).toBe(Number(info?.[3]));
  });

  it('expires a session that sends no keepalive, and refuses sessions beyond its limit with 453', async () => {
    const camera = await startCamera({ auth: 'none', sessionTimeoutSec: 1, maxSessions: 1 });
    const track = `${camera.url('/sub')}/trackID=0`;
    const transport = { Transport: 'RTP/AVP/TCP;interleaved=0-1' };
    const idle = await RawRtsp.open(camera.port);
    const other = await RawRtsp.open(camera.port);
    const closed = waitForEvent<[SessionStats]>(camera, 'sessionClosed', { timeoutMs: 4000 });
    const setup = await idle.request('SETUP', track, transport);
    expect(setup.headers.get('session')).toMatch(/;timeout=1$/);
    expect((await other.request('SETUP', track, transport)).status).toBe(453);
    const [expired] = await closed;
    expect(expired.closeReason).toBe('timeout');
    expect((await other.request('SETUP', track, transport)).status).toBe(200);
    expect(camera.stats().sessions).toEqual({ opened: 2, active: 1 });
  });

  it('drops frames, up to the next key frame, for a client whose socket is full', () => {
    // The kernel buffers ~4 MB (16 s of the main stream) for a loopback client that stops
    // reading before Node's socket queue grows at all, so a socket stands in for it here.
    const socket = {
      writableLength: 0,
      destroyed: false,
      remoteAddress: '127.0.0.1',
      remotePort: 1,
      written: 0,
    };
    Object.assign(socket, { write: () => socket.written++, cork: () => {}, uncork: () => {} });
    const session = new RtspSession({
      id: 'S',
      stream: 'main',
      socket: socket as unknown as Socket,
      udp: { send: () => {} },
      clock: () => new MediaClock(16000),
      maxBufferBytes: 1000,
      rtcpIntervalMs: 0,
      cname: 'test',
      onFirstFrame: () => {},
    });
    session.setup('video', { lower: 'tcp', channel: 0 }, 'rtsp://x/main/trackID=0', 96);
    session.play({ videoIndex: 0, audioIndex: 0, videoRtpTime: 0, audioRtpTime: 0 });
    const payload = [{ head: undefined, body: Buffer.alloc(500), marker: true }];
    for (let i = 0; i < 60; i++) {
      socket.writableLength = i >= 10 && i < 15 ? 5000 : 0; // full for frames 10..14
      session.sendVideo(i, payload, i * 3600, i % 25 === 0);
    }
    // Sent 0..9, lost 10..24 (full, then waiting for the key frame 25), sent 25..59.
    expect(session.stats()).toMatchObject({ framesSent: 10 + 35, framesDropped: 15, keyFramesSent: 3 });
    expect(socket.written).toBe(45);
  });
});
