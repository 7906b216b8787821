/**
 * The RTSP methods a camera answers (RFC 2326 10): OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE,
 * TEARDOWN, GET_PARAMETER/SET_PARAMETER (keepalives), each turned into one response.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { PreparedMedia, StreamName } from './media.js';
import type { MediaClock, StreamPlayer } from './replay.js';
import type { RtspAuth } from './rtsp-auth.js';
import { formatResponse, parseTransport, type RtspParser, type RtspRequest } from './rtsp-message.js';
import { RtspSession, type TrackKind, type TrackTransport } from './rtsp-session.js';
import { AUDIO_PAYLOAD_TYPE, buildSdp, TRACK_CONTROLS, VIDEO_PAYLOAD_TYPE } from './sdp.js';
import type { UdpPair } from './udp-pair.js';

/** What a connection owns: its parser and the sessions set up through it. */
export interface Connection {
  readonly socket: Socket;
  readonly parser: RtspParser;
  readonly sessions: Set<RtspSession>;
  /** Why it is being closed by us, for the sessions' stats. */
  closeReason: string | undefined;
}

export interface RequestLog {
  method: string;
  uri: string;
  status: number;
  session: string | undefined;
  remote: string;
}

/** What the methods need from the camera. */
export interface RequestContext {
  readonly name: string;
  readonly sdpSessionId: () => string;
  readonly auth: RtspAuth;
  readonly media: PreparedMedia;
  readonly players: Readonly<Record<StreamName, StreamPlayer>>;
  readonly udp: UdpPair;
  readonly clock: () => MediaClock;
  readonly sessions: Map<string, RtspSession>;
  readonly options: {
    readonly sessionTimeoutSec: number;
    readonly maxSessions: number;
    readonly maxBufferBytes: number;
    readonly rtcpIntervalMs: number;
  };
  readonly cname: string;
  /** Credentials given but wrong (not merely missing). */
  onAuthFailure(): void;
  onSessionOpened(session: RtspSession): void;
  onStreaming(session: RtspSession): void;
  closeSession(session: RtspSession, reason: string): void;
  onRequest(log: RequestLog): void;
}

interface Reply {
  status: number;
  headers?: [string, string | number][];
  body?: string;
  session?: RtspSession;
}

const SERVER = 'khu-sim-camera/1.0';
const METHODS = [
  'OPTIONS',
  'DESCRIBE',
  'SETUP',
  'PLAY',
  'PAUSE',
  'TEARDOWN',
  'GET_PARAMETER',
  'SET_PARAMETER',
];
const PUBLIC = METHODS.join(', ');

export function handleRequest(ctx: RequestContext, connection: Connection, req: RtspRequest): void {
  const cseq = req.headers.get('cseq');
  let reply: Reply;
  try {
    reply = cseq === undefined ? { status: 400 } : dispatch(ctx, connection, req);
  } catch {
    reply = { status: 500 };
  }
  const headers: [string, string | number][] = [
    ['CSeq', cseq ?? 0],
    ['Date', new Date().toUTCString()],
    ['Server', SERVER],
  ];
  if (reply.session)
    headers.push(['Session', `${reply.session.id};timeout=${ctx.options.sessionTimeoutSec}`]);
  headers.push(...(reply.headers ?? []));
  if (!connection.socket.destroyed)
    connection.socket.write(formatResponse(reply.status, headers, reply.body));
  ctx.onRequest({
    method: req.method,
    uri: req.uri,
    status: reply.status,
    session: reply.session?.id,
    remote: `${connection.socket.remoteAddress}:${connection.socket.remotePort}`,
  });
}

function dispatch(ctx: RequestContext, connection: Connection, req: RtspRequest): Reply {
  const sessionId = req.headers.get('session')?.split(';')[0]?.trim();
  const session = sessionId ? ctx.sessions.get(sessionId) : undefined;
  if (session) session.lastSeen = Date.now();
  if (req.method === 'OPTIONS') return { status: 200, headers: [['Public', PUBLIC]] };
  if (!METHODS.includes(req.method)) return { status: 501 };
  const outcome = ctx.auth.check(req.method, req.headers.get('authorization'));
  if (!outcome.ok) {
    if (outcome.reason !== 'missing') ctx.onAuthFailure();
    return { status: 401, headers: [['WWW-Authenticate', outcome.challenge]] };
  }
  if (sessionId && !session) return { status: 454 };
  switch (req.method) {
    case 'DESCRIBE':
      return describe(ctx, connection, req);
    case 'SETUP':
      return setup(ctx, connection, req, session);
    case 'PLAY':
      return session ? play(ctx, session) : { status: 454 };
    case 'PAUSE':
      if (!session) return { status: 454 };
      session.pause();
      ctx.players[session.stream].remove(session);
      return { status: 200, session };
    case 'TEARDOWN':
      if (!session) return { status: 454 };
      ctx.closeSession(session, 'teardown');
      return { status: 200, session };
    default:
      // GET_PARAMETER with no body is the usual keepalive (RFC 2326 10.8).
      return { status: 200, session };
  }
}

interface Target {
  stream: StreamName;
  track: TrackKind | undefined;
  /** The Content-Base: `rtsp://host:port/main/`. */
  base: string;
}

/** `/main`, `/sub`, and their tracks `/main/trackID=0` (video) and `/main/trackID=1` (audio). */
function resolve(ctx: RequestContext, uri: string): Target | 'unknown track' | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'rtsp:') return undefined;
  const [stream, control, ...rest] = url.pathname.split('/').filter(Boolean);
  if ((stream !== 'main' && stream !== 'sub') || rest.length > 0) return undefined;
  const base = `rtsp://${url.host}/${stream}/`;
  if (control === undefined) return { stream, track: undefined, base };
  if (control === TRACK_CONTROLS[0]) return { stream, track: 'video', base };
  if (control === TRACK_CONTROLS[1] && ctx.media.audio) return { stream, track: 'audio', base };
  return 'unknown track';
}

function describe(ctx: RequestContext, connection: Connection, req: RtspRequest): Reply {
  const target = resolve(ctx, req.uri);
  if (!target || typeof target === 'string' || target.track) return { status: 404 };
  const body = buildSdp({
    sessionId: ctx.sdpSessionId(),
    address: connection.socket.localAddress ?? '127.0.0.1',
    name: ctx.name,
    video: ctx.media.video[target.stream],
    audio: ctx.media.audio,
  });
  return {
    status: 200,
    headers: [
      ['Content-Type', 'application/sdp'],
      ['Content-Base', target.base],
    ],
    body,
  };
}

function setup(ctx: RequestContext, connection: Connection, req: RtspRequest, session?: RtspSession): Reply {
  const target = resolve(ctx, req.uri);
  if (!target || typeof target === 'string') return { status: 404 };
  if (!target.track) return { status: 459 };
  const spec = parseTransport(req.headers.get('transport') ?? '');
  if (!spec) return { status: 461 };
  if (session && session.stream !== target.stream) return { status: 459 };
  if (session?.state === 'playing') return { status: 455 };
  if (!session && ctx.sessions.size >= ctx.options.maxSessions) return { status: 453 };
  let transport: TrackTransport;
  let header: string;
  if (spec.lower === 'tcp') {
    const channel = spec.interleaved?.[0] ?? (target.track === 'video' ? 0 : 2);
    if (channel > 254 || session?.channels().includes(channel)) return { status: 461 };
    transport = { lower: 'tcp', channel };
    header = `RTP/AVP/TCP;unicast;interleaved=${channel}-${channel + 1}`;
  } else {
    const [rtpPort, rtcpPort] = spec.clientPort ?? [0, 0];
    // RTP goes back to where the request came from, never to a `destination` (RFC 2326 12.39).
    const host = connection.socket.remoteAddress ?? '127.0.0.1';
    transport = { lower: 'udp', host, rtpPort, rtcpPort };
    header = `RTP/AVP;unicast;client_port=${rtpPort}-${rtcpPort};server_port=${ctx.udp.rtpPort}-${ctx.udp.rtcpPort}`;
  }
  const owner = session ?? openSession(ctx, connection, target.stream);
  const payloadType = target.track === 'video' ? VIDEO_PAYLOAD_TYPE : AUDIO_PAYLOAD_TYPE;
  const rtp = owner.setup(target.track, transport, req.uri, payloadType);
  if (!session) ctx.onSessionOpened(owner);
  header += `;ssrc=${rtp.ssrc.toString(16).toUpperCase().padStart(8, '0')};mode="PLAY"`;
  return { status: 200, headers: [['Transport', header]], session: owner };
}

function openSession(ctx: RequestContext, connection: Connection, stream: StreamName): RtspSession {
  const session = new RtspSession({
    id: randomBytes(8).toString('hex').toUpperCase(),
    stream,
    socket: connection.socket,
    udp: ctx.udp,
    clock: ctx.clock,
    maxBufferBytes: ctx.options.maxBufferBytes,
    rtcpIntervalMs: ctx.options.rtcpIntervalMs,
    cname: ctx.cname,
    onFirstFrame: (s) => ctx.onStreaming(s),
  });
  ctx.sessions.set(session.id, session);
  connection.sessions.add(session);
  return session;
}

function play(ctx: RequestContext, session: RtspSession): Reply {
  if (!session.hasTrack('video') && !session.hasTrack('audio')) return { status: 455 };
  const range: [string, string] = ['Range', 'npt=0.000-'];
  if (session.state === 'playing') return { status: 200, session, headers: [range] };
  // Join the player first: the start point is then the player's next key frame.
  const player = ctx.players[session.stream];
  player.add(session);
  const rtpInfo = session.play(player.startPoint());
  return { status: 200, session, headers: [range, ['RTP-Info', rtpInfo]] };
}
