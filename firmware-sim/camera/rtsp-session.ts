/**
 * One RTSP session (RFC 2326 3.4): the tracks a client set up, where their RTP goes (TCP
 * interleaved or UDP), and what it was sent. A session that falls behind on TCP loses frames
 * until the next key frame instead of growing a queue.
 */
import type { Socket } from 'node:net';
import type { StreamName } from './media.js';
import type { MediaClock, ReplayTarget, StartPoint } from './replay.js';
import { interleavedFrame, type RtpPayload, RtpStream } from './rtp.js';

export type TrackKind = 'video' | 'audio';
export type SessionState = 'ready' | 'playing' | 'paused' | 'closed';

export type TrackTransport =
  | { readonly lower: 'tcp'; readonly channel: number }
  | { readonly lower: 'udp'; readonly host: string; readonly rtpPort: number; readonly rtcpPort: number };

/** The camera's UDP socket pair. */
export interface UdpOutput {
  send(kind: 'rtp' | 'rtcp', packets: readonly Buffer[], port: number, host: string): void;
}

export interface SessionOptions {
  readonly id: string;
  readonly stream: StreamName;
  readonly socket: Socket;
  readonly udp: UdpOutput;
  readonly clock: () => MediaClock;
  /** Drop frames for this client while its socket holds more than this many bytes unsent. */
  readonly maxBufferBytes: number;
  /** RTCP sender reports: one before the first packet, then at this interval; 0 = none. */
  readonly rtcpIntervalMs: number;
  readonly cname: string;
  readonly onFirstFrame: (session: RtspSession) => void;
}

export interface SessionStats {
  readonly id: string;
  readonly stream: StreamName;
  readonly transport: 'tcp' | 'udp' | 'none';
  readonly remote: string;
  readonly state: SessionState;
  /** Video access units handed to the socket. */
  readonly framesSent: number;
  readonly keyFramesSent: number;
  readonly audioFramesSent: number;
  /** Video access units not sent because the client's socket was full (or waiting for a key frame after that). */
  readonly framesDropped: number;
  readonly audioFramesDropped: number;
  readonly bytesSent: number;
  /** Epoch milliseconds. */
  readonly openedAt: number;
  readonly firstFrameAt: number | undefined;
  readonly lastFrameAt: number | undefined;
  readonly closedAt: number | undefined;
  readonly closeReason: string | undefined;
}

interface Track {
  readonly rtp: RtpStream;
  readonly transport: TrackTransport;
  /** The URL the client set it up with: RTP-Info names it. */
  readonly url: string;
}

export class RtspSession implements ReplayTarget {
  readonly id: string;
  readonly stream: StreamName;
  readonly socket: Socket;
  readonly remote: string;
  readonly openedAt = Date.now();
  lastSeen = Date.now();
  readonly #o: SessionOptions;
  readonly #tracks: Partial<Record<TrackKind, Track>> = {};
  #state: SessionState = 'ready';
  #start: StartPoint | undefined;
  #waitingKey = true;
  /** Lost frames to congestion: the frames until the next key frame are lost too. */
  #dropping = false;
  #corked = false;
  #lastReportMs = Number.NEGATIVE_INFINITY;
  #closeReason: string | undefined;
  #closedAt: number | undefined;
  #framesSent = 0;
  #keyFramesSent = 0;
  #audioFramesSent = 0;
  #framesDropped = 0;
  #audioFramesDropped = 0;
  #bytesSent = 0;
  #firstFrameAt: number | undefined;
  #lastFrameAt: number | undefined;

  constructor(options: SessionOptions) {
    this.#o = options;
    this.id = options.id;
    this.stream = options.stream;
    this.socket = options.socket;
    this.remote = `${options.socket.remoteAddress}:${options.socket.remotePort}`;
  }

  get state(): SessionState {
    return this.#state;
  }

  hasTrack(kind: TrackKind): boolean {
    return this.#tracks[kind] !== undefined;
  }

  /** Interleaved channels already taken by this session. */
  channels(): number[] {
    return Object.values(this.#tracks).flatMap((t) =>
      t.transport.lower === 'tcp' ? [t.transport.channel] : [],
    );
  }

  /** Whether RTCP from this address and port belongs to this session. */
  isUdpPeer(host: string, port: number): boolean {
    return Object.values(this.#tracks).some(
      (t) => t.transport.lower === 'udp' && t.transport.host === host && t.transport.rtcpPort === port,
    );
  }

  setup(kind: TrackKind, transport: TrackTransport, url: string, payloadType: number): RtpStream {
    const rtp = new RtpStream(payloadType);
    this.#tracks[kind] = { rtp, transport, url };
    return rtp;
  }

  /** Starts at `start` and returns the RTP-Info header value (RFC 2326 12.33). */
  play(start: StartPoint): string {
    this.#state = 'playing';
    this.#start = start;
    this.#waitingKey = true;
    const info = (kind: TrackKind, rtptime: number) => {
      const track = this.#tracks[kind];
      return track ? [`url=${track.url};seq=${track.rtp.seq};rtptime=${rtptime}`] : [];
    };
    return [...info('video', start.videoRtpTime), ...info('audio', start.audioRtpTime)].join(',');
  }

  pause(): void {
    if (this.#state === 'playing') this.#state = 'paused';
  }

  close(reason: string): SessionStats {
    this.#uncork();
    if (this.#state !== 'closed') {
      this.#state = 'closed';
      this.#closeReason = reason;
      this.#closedAt = Date.now();
    }
    return this.stats();
  }

  stats(): SessionStats {
    const first = this.#tracks.video ?? this.#tracks.audio;
    return {
      id: this.id,
      stream: this.stream,
      transport: first?.transport.lower ?? 'none',
      remote: this.remote,
      state: this.#state,
      framesSent: this.#framesSent,
      keyFramesSent: this.#keyFramesSent,
      audioFramesSent: this.#audioFramesSent,
      framesDropped: this.#framesDropped,
      audioFramesDropped: this.#audioFramesDropped,
      bytesSent: this.#bytesSent,
      openedAt: this.openedAt,
      firstFrameAt: this.#firstFrameAt,
      lastFrameAt: this.#lastFrameAt,
      closedAt: this.#closedAt,
      closeReason: this.#closeReason,
    };
  }

  // --- ReplayTarget --------------------------------------------------------------------------

  sendVideo(index: number, payloads: readonly RtpPayload[], timestamp: number, key: boolean): void {
    const track = this.#tracks.video;
    if (!track || this.#state !== 'playing' || index < (this.#start?.videoIndex ?? 0)) return;
    if (this.#waitingKey && !key) {
      if (this.#dropping) this.#framesDropped++;
      return;
    }
    if (this.#congested()) {
      this.#framesDropped++;
      this.#waitingKey = true;
      this.#dropping = true;
      return;
    }
    this.#waitingKey = false;
    this.#dropping = false;
    if (this.#lastReportMs === Number.NEGATIVE_INFINITY) this.#sendReports(this.#o.clock().now());
    this.#write(track, payloads, timestamp);
    this.#framesSent++;
    if (key) this.#keyFramesSent++;
    this.#lastFrameAt = Date.now();
    if (this.#firstFrameAt === undefined) {
      this.#firstFrameAt = this.#lastFrameAt;
      this.#o.onFirstFrame(this);
    }
  }

  sendAudio(index: number, payload: RtpPayload, timestamp: number): void {
    const track = this.#tracks.audio;
    if (!track || this.#state !== 'playing' || index < (this.#start?.audioIndex ?? 0)) return;
    // Sound starts with the picture: nothing before the first key frame.
    if (this.#tracks.video && this.#framesSent === 0) return;
    if (this.#congested()) {
      this.#audioFramesDropped++;
      return;
    }
    if (this.#lastReportMs === Number.NEGATIVE_INFINITY) this.#sendReports(this.#o.clock().now());
    this.#write(track, [payload], timestamp);
    this.#audioFramesSent++;
  }

  afterTick(mediaMs: number): void {
    const interval = this.#o.rtcpIntervalMs;
    if (interval > 0 && this.#state === 'playing' && mediaMs - this.#lastReportMs >= interval) {
      this.#sendReports(mediaMs);
    }
    this.#uncork();
  }

  resync(): void {
    this.#waitingKey = true;
  }

  // --- output --------------------------------------------------------------------------------

  #uncork(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.socket.uncork();
  }

  #congested(): boolean {
    return this.socket.writableLength > this.#o.maxBufferBytes;
  }

  #write(track: Track, payloads: readonly RtpPayload[], timestamp: number): void {
    const t = track.transport;
    if (t.lower === 'tcp') {
      if (this.socket.destroyed) return;
      // One write per tick for all the tick's packets: cork until afterTick().
      if (!this.#corked) {
        this.socket.cork();
        this.#corked = true;
      }
      const buf = track.rtp.interleaved(t.channel, payloads, timestamp);
      this.socket.write(buf);
      this.#bytesSent += buf.length;
    } else {
      const datagrams = track.rtp.datagrams(payloads, timestamp);
      this.#o.udp.send('rtp', datagrams, t.rtpPort, t.host);
      for (const d of datagrams) this.#bytesSent += d.length;
    }
  }

  /** RFC 3550 6.4.1: an SR maps the wall clock to each track's RTP clock. */
  #sendReports(mediaMs: number): void {
    this.#lastReportMs = mediaMs;
    if (this.#o.rtcpIntervalMs <= 0) return;
    const clock = this.#o.clock();
    const wall = clock.wallClockMs(mediaMs);
    for (const kind of ['video', 'audio'] as const) {
      const track = this.#tracks[kind];
      if (!track) continue;
      const rtpTime = kind === 'video' ? clock.videoTimestamp(mediaMs) : clock.audioTimestamp(mediaMs);
      const report = track.rtp.senderReport(wall, rtpTime, this.#o.cname);
      const t = track.transport;
      if (t.lower === 'tcp') {
        if (!this.socket.destroyed) this.socket.write(interleavedFrame(t.channel + 1, report));
      } else {
        this.#o.udp.send('rtcp', [report], t.rtcpPort, t.host);
      }
    }
  }
}
