/**
 * A simulated entry-point camera's RTSP server: RTSP/1.0 over TCP (RFC 2326) serving `/main`
 * and `/sub` from a cached clip (media.ts), RTP over TCP-interleaved or UDP, none/Basic/Digest
 * authentication, per-session counters, and faults a real camera shows (connections dropped,
 * reboots, stalls, timestamp jumps, changed credentials).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { type MediaOptions, type PreparedMedia, prepareMedia, type StreamName } from './media.js';
import { MediaClock, StreamPlayer } from './replay.js';
import { RtspAuth, type RtspAuthMode, type RtspCredentials } from './rtsp-auth.js';
import { formatResponse, RtspParser, RtspProtocolError } from './rtsp-message.js';
import { type Connection, handleRequest, type RequestContext, type RequestLog } from './rtsp-methods.js';
import type { RtspSession, SessionStats } from './rtsp-session.js';
import { bindUdpPair, type UdpPair } from './udp-pair.js';

export type { RequestLog } from './rtsp-methods.js';
export type { SessionStats } from './rtsp-session.js';

export interface SimRtspCameraOptions {
  /** Shown in the SDP and the Digest realm; default `khu-sim-camera`. */
  name?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port); kept across reboots. */
  port?: number;
  /** Default `digest` when a username is given, else `none`. */
  auth?: RtspAuthMode;
  username?: string;
  password?: string;
  media?: MediaOptions;
  /** RFC 2326 12.37 session timeout; default 60 s. */
  sessionTimeoutSec?: number;
  /** Sessions at once, as cheap cameras allow few; beyond, SETUP gets 453. Default 16. */
  maxSessions?: number;
  /** Largest RTP packet; default 1400 bytes. */
  mtu?: number;
  /** A TCP client with more unsent bytes than this loses frames until the next key frame; default 1 MiB. */
  maxBufferBytes?: number;
  /** RTCP sender report interval; default 5000 ms, 0 = none. */
  rtcpIntervalMs?: number;
  /**
   * Called as each video frame of a stream is handed to its sessions, with its index in the
   * clip (benchmarks time picture changes from here). Only when someone watches that stream.
   */
  onVideoFrame?: (stream: 'main' | 'sub', clipIndex: number) => void;
}

export interface SimRtspCameraEvents {
  listening: [port: number];
  /** A reboot began: everything is closed. */
  down: [];
  connection: [remote: string];
  request: [log: RequestLog];
  sessionOpened: [stats: SessionStats];
  /** A session received its first (key) frame. */
  streaming: [stats: SessionStats];
  sessionClosed: [stats: SessionStats];
}

export interface SimRtspCameraStats {
  name: string;
  port: number;
  listening: boolean;
  stalled: boolean;
  connections: { opened: number; active: number };
  sessions: { opened: number; active: number };
  /** Over all sessions, closed ones included. */
  framesSent: number;
  framesDropped: number;
  bytesSent: number;
  authFailures: number;
  active: SessionStats[];
  /** The most recent closed sessions, oldest first. */
  closed: SessionStats[];
}

const CLOSED_KEPT = 200;

export class SimRtspCamera extends EventEmitter<SimRtspCameraEvents> {
  readonly name: string;
  readonly host: string;
  readonly #auth: RtspAuth;
  readonly #o: RequestContext['options'] & { readonly mtu: number };
  readonly #onVideoFrame: SimRtspCameraOptions['onVideoFrame'];
  readonly #mediaOptions: MediaOptions | undefined;
  #port: number;
  #media: PreparedMedia | undefined;
  #players: Record<StreamName, StreamPlayer> | undefined;
  #udp: UdpPair | undefined;
  #server: Server | undefined;
  #clock: MediaClock | undefined;
  #sdpSessionId = '0';
  readonly #connections = new Set<Connection>();
  readonly #sessions = new Map<string, RtspSession>();
  readonly #closed: SessionStats[] = [];
  #running = false;
  #stalled = false;
  #stallTimer: NodeJS.Timeout | undefined;
  #rebootTimer: NodeJS.Timeout | undefined;
  #rebootDone: (() => void) | undefined;
  #timeoutTimer: NodeJS.Timeout | undefined;
  /** Set by start(), before the first connection. */
  #context!: RequestContext;
  readonly #totals = {
    connections: 0,
    sessions: 0,
    framesSent: 0,
    framesDropped: 0,
    bytesSent: 0,
    authFailures: 0,
  };

  constructor(options: SimRtspCameraOptions = {}) {
    super();
    this.name = options.name ?? 'khu-sim-camera';
    this.host = options.host ?? '127.0.0.1';
    this.#port = options.port ?? 0;
    const credentials = { username: options.username ?? '', password: options.password ?? '' };
    this.#auth = new RtspAuth(options.auth ?? (options.username ? 'digest' : 'none'), this.name, credentials);
    this.#o = {
      sessionTimeoutSec: options.sessionTimeoutSec ?? 60,
      maxSessions: options.maxSessions ?? 16,
      mtu: options.mtu ?? 1400,
      maxBufferBytes: options.maxBufferBytes ?? 1024 * 1024,
      rtcpIntervalMs: options.rtcpIntervalMs ?? 5000,
    };
    if (this.#o.mtu < 200 || this.#o.mtu > 65_000)
      throw new RangeError(`SimRtspCamera ${this.name}: bad mtu`);
    this.#mediaOptions = options.media;
    this.#onVideoFrame = options.onVideoFrame;
  }

  get port(): number {
    return this.#port;
  }

  get media(): PreparedMedia | undefined {
    return this.#media;
  }

  get stalled(): boolean {
    return this.#stalled;
  }

  get authMode(): RtspAuthMode {
    return this.#auth.mode;
  }

  set authMode(mode: RtspAuthMode) {
    this.#auth.mode = mode;
  }

  /** Changing them refuses new requests with the old ones (401); running sessions go on. */
  get credentials(): RtspCredentials {
    return this.#auth.credentials;
  }

  set credentials(value: RtspCredentials) {
    this.#auth.credentials = value;
  }

  url(path: '/main' | '/sub' | (string & {}) = '/main', withCredentials = false): string {
    const host = isIPv6(this.host) ? `[${this.host}]` : this.host;
    const { username, password } = this.#auth.credentials;
    const login = withCredentials ? `${encodeURIComponent(username)}:${encodeURIComponent(password)}@` : '';
    return `rtsp://${login}${host}:${this.#port}${path}`;
  }

  /** Encodes or loads the media, binds the UDP pair and listens. */
  #frameHook(stream: 'main' | 'sub'): ((clipIndex: number) => void) | undefined {
    const hook = this.#onVideoFrame;
    return hook && ((clipIndex) => hook(stream, clipIndex));
  }

  async start(): Promise<void> {
    if (this.#running) throw new Error(`SimRtspCamera ${this.name}: already started`);
    this.#running = true;
    try {
      const media = await prepareMedia(this.#mediaOptions);
      this.#media = media;
      const clock = () => this.#requireClock();
      const muted = () => this.#stalled;
      this.#players = {
        main: new StreamPlayer(
          media.video.main,
          media.audio,
          clock,
          muted,
          this.#o.mtu,
          this.#frameHook('main'),
        ),
        sub: new StreamPlayer(
          media.video.sub,
          media.audio,
          clock,
          muted,
          this.#o.mtu,
          this.#frameHook('sub'),
        ),
      };
      this.#udp = await bindUdpPair(this.host);
      this.#udp.onRtcp(({ address, port }) => {
        for (const s of this.#sessions.values()) if (s.isUdpPeer(address, port)) s.lastSeen = Date.now();
      });
      this.#context = this.#makeContext(media, this.#players, this.#udp);
      this.#boot();
      await this.#listen();
      this.#timeoutTimer = setInterval(() => this.#expireSessions(), 1000);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearInterval(this.#timeoutTimer);
    clearTimeout(this.#stallTimer);
    clearTimeout(this.#rebootTimer);
    this.#timeoutTimer = this.#stallTimer = this.#rebootTimer = undefined;
    this.#stalled = false;
    this.#rebootDone?.();
    this.#dropAll('stopped', 'close');
    await this.#closeListener();
    this.#players?.main.stop();
    this.#players?.sub.stop();
    await this.#udp?.close();
    this.#udp = undefined;
  }

  // --- faults --------------------------------------------------------------------------------

  /** Closes every connection (and so every session) at once; the camera keeps listening. */
  dropConnections(how: 'reset' | 'close' = 'reset'): number {
    return this.#dropAll('dropped', how);
  }

  /**
   * Everything closes and the port refuses connections for `ms`, then the camera listens again
   * on the same port with a new media clock. Resolves once it listens again.
   */
  async reboot(ms: number): Promise<void> {
    if (!this.#running || !this.#server) throw new Error(`SimRtspCamera ${this.name}: not running`);
    this.emit('down');
    this.#stalled = false;
    clearTimeout(this.#stallTimer);
    this.#dropAll('reboot', 'reset');
    await this.#closeListener();
    await new Promise<void>((resolve) => {
      this.#rebootDone = resolve;
      this.#rebootTimer = setTimeout(resolve, ms);
    });
    this.#rebootDone = undefined;
    this.#rebootTimer = undefined;
    if (!this.#running) return;
    this.#boot();
    await this.#listen();
  }

  /**
   * The camera hangs: sockets stay open, nothing is read or sent (no media, no replies), until
   * `ms` pass or resume(). Clients then get media again from the next key frame.
   */
  stall(ms: number | 'forever' = 'forever'): void {
    this.#stalled = true;
    for (const c of this.#connections) c.socket.pause();
    clearTimeout(this.#stallTimer);
    this.#stallTimer = ms === 'forever' ? undefined : setTimeout(() => this.resume(), ms);
  }

  resume(): void {
    clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
    if (!this.#stalled) return;
    this.#stalled = false;
    const now = Date.now();
    for (const s of this.#sessions.values()) s.lastSeen = now;
    for (const c of this.#connections) c.socket.resume();
  }

  /** Adds `ms` to every RTP timestamp from now on (both tracks, every session). */
  jumpTimestamps(ms: number): void {
    this.#requireClock().jumpMs += ms;
  }

  // --- counters ------------------------------------------------------------------------------

  stats(): SimRtspCameraStats {
    const active = [...this.#sessions.values()].map((s) => s.stats());
    const sum = (key: 'framesSent' | 'framesDropped' | 'bytesSent') =>
      this.#totals[key] + active.reduce((n, s) => n + s[key], 0);
    return {
      name: this.name,
      port: this.#port,
      listening: this.#server?.listening ?? false,
      stalled: this.#stalled,
      connections: { opened: this.#totals.connections, active: this.#connections.size },
      sessions: { opened: this.#totals.sessions, active: active.length },
      framesSent: sum('framesSent'),
      framesDropped: sum('framesDropped'),
      bytesSent: sum('bytesSent'),
      authFailures: this.#totals.authFailures,
      active,
      closed: [...this.#closed],
    };
  }

  /** A session's counters, open or recently closed. */
  session(id: string): SessionStats | undefined {
    return this.#sessions.get(id)?.stats() ?? this.#closed.findLast((s) => s.id === id);
  }

  // --- internals -----------------------------------------------------------------------------

  #requireClock(): MediaClock {
    if (!this.#clock) throw new Error(`SimRtspCamera ${this.name}: not started`);
    return this.#clock;
  }

  #boot(): void {
    this.#clock = new MediaClock(this.#media?.audio?.sampleRate ?? 8000);
    this.#auth.renewSecret();
    this.#sdpSessionId = String(randomBytes(4).readUInt32BE(0));
  }

  async #listen(): Promise<void> {
    const server = createServer({ noDelay: true }, (socket) => this.#onConnection(socket));
    this.#server = server;
    server.listen(this.#port, this.host);
    await once(server, 'listening');
    const address = server.address();
    if (address && typeof address === 'object') this.#port = address.port;
    this.emit('listening', this.#port);
  }

  async #closeListener(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server?.listening) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #dropAll(reason: string, how: 'reset' | 'close'): number {
    const connections = [...this.#connections];
    for (const c of connections) {
      c.closeReason = reason;
      for (const s of c.sessions) this.#closeSession(s, reason);
      if (how === 'reset') c.socket.resetAndDestroy();
      else c.socket.destroy();
    }
    return connections.length;
  }

  #onConnection(socket: Socket): void {
    const connection: Connection = {
      socket,
      parser: new RtspParser(),
      sessions: new Set(),
      closeReason: undefined,
    };
    this.#connections.add(connection);
    this.#totals.connections++;
    if (this.#stalled) socket.pause();
    socket.on('data', (chunk: Buffer) => this.#onData(connection, chunk));
    socket.on('error', () => {}); // 'close' follows
    socket.on('close', () => {
      this.#connections.delete(connection);
      for (const s of connection.sessions)
        this.#closeSession(s, connection.closeReason ?? 'connection closed');
    });
    this.emit('connection', `${socket.remoteAddress}:${socket.remotePort}`);
  }

  #onData(connection: Connection, chunk: Buffer): void {
    let incoming: ReturnType<RtspParser['push']>;
    try {
      incoming = connection.parser.push(chunk);
    } catch (err) {
      const status = err instanceof RtspProtocolError ? err.status : 400;
      connection.socket.end(formatResponse(status, [['CSeq', 0]]));
      return;
    }
    const now = Date.now();
    for (const s of connection.sessions) s.lastSeen = now; // RTCP or a request: the client lives
    for (const item of incoming) {
      if (item.kind === 'request') handleRequest(this.#context, connection, item.request);
      // Interleaved data from the client is RTCP (receiver reports): a sign of life, nothing more.
    }
  }

  #makeContext(
    media: PreparedMedia,
    players: Record<StreamName, StreamPlayer>,
    udp: UdpPair,
  ): RequestContext {
    return {
      name: this.name,
      sdpSessionId: () => this.#sdpSessionId,
      auth: this.#auth,
      media,
      players,
      udp,
      clock: () => this.#requireClock(),
      sessions: this.#sessions,
      options: this.#o,
      cname: `${this.name}@${this.host}`,
      onAuthFailure: () => this.#totals.authFailures++,
      onSessionOpened: (session) => {
        this.#totals.sessions++;
        this.emit('sessionOpened', session.stats());
      },
      onStreaming: (session) => this.emit('streaming', session.stats()),
      closeSession: (session, reason) => this.#closeSession(session, reason),
      onRequest: (log) => this.emit('request', log),
    };
  }

  /** Ends a session: no more media, counters kept among the closed ones. */
  #closeSession(session: RtspSession, reason: string): void {
    if (session.state === 'closed') return;
    this.#players?.[session.stream].remove(session);
    this.#sessions.delete(session.id);
    for (const c of this.#connections) c.sessions.delete(session);
    const stats = session.close(reason);
    this.#totals.framesSent += stats.framesSent;
    this.#totals.framesDropped += stats.framesDropped;
    this.#totals.bytesSent += stats.bytesSent;
    this.#closed.push(stats);
    if (this.#closed.length > CLOSED_KEPT) this.#closed.shift();
    this.emit('sessionClosed', stats);
  }

  #expireSessions(): void {
    if (this.#stalled) return;
    const limit = Date.now() - this.#o.sessionTimeoutSec * 1000;
    for (const s of this.#sessions.values()) if (s.lastSeen < limit) this.#closeSession(s, 'timeout');
  }
}
