/**
 * Real-time replay of a cached clip: a camera's media clock (what RTP timestamp belongs to which
 * instant, continuous across loops of the clip) and, per stream, a player that hands each frame
 * to the playing sessions when it falls due. A player runs only while a session plays.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { AAC_SAMPLES_PER_FRAME, type AacStream } from './adts.js';
import type { VideoFrame } from './h264.js';
import type { VideoTrack } from './media.js';
import { aacPayload, h264Payloads, RTP_HEADER_BYTES, type RtpPayload } from './rtp.js';

const VIDEO_CLOCK_HZ = 90_000;
/** Behind by more than this (a blocked event loop), skip ahead as an encoder would drop frames. */
const MAX_LAG_MS = 1000;

/** One boot of a camera: RTP timestamps start at random values (RFC 3550 5.1) and only grow. */
export class MediaClock {
  readonly #t0 = performance.now();
  readonly #wallAtT0 = Date.now();
  readonly #videoBase = randomBytes(4).readUInt32BE(0);
  readonly #audioBase = randomBytes(4).readUInt32BE(0);
  readonly audioRate: number;
  /** Added to every RTP timestamp from now on (fault injection). */
  jumpMs = 0;

  constructor(audioRate: number) {
    this.audioRate = audioRate;
  }

  /** Milliseconds of media time since boot. */
  now(): number {
    return performance.now() - this.#t0;
  }

  wallClockMs(mediaMs: number): number {
    return this.#wallAtT0 + mediaMs;
  }

  videoTimestamp(mediaMs: number): number {
    return (this.#videoBase + Math.round(((mediaMs + this.jumpMs) * VIDEO_CLOCK_HZ) / 1000)) % 2 ** 32;
  }

  audioTimestamp(mediaMs: number): number {
    return (this.#audioBase + Math.round(((mediaMs + this.jumpMs) * this.audioRate) / 1000)) % 2 ** 32;
  }
}

/** Where a session starts: the next key frame, and the audio from the same instant. */
export interface StartPoint {
  readonly videoIndex: number;
  readonly audioIndex: number;
  /** RTP-Info `rtptime` of each track: the timestamps of the start instant. */
  readonly videoRtpTime: number;
  readonly audioRtpTime: number;
}

/** What a player needs from a session. */
export interface ReplayTarget {
  sendVideo(index: number, payloads: readonly RtpPayload[], timestamp: number, key: boolean): void;
  sendAudio(index: number, payload: RtpPayload, timestamp: number): void;
  /** Called once per tick after the media of that tick, with the media time. */
  afterTick(mediaMs: number): void;
  /** Frames were skipped for everyone: wait for a key frame. */
  resync(): void;
}

const payloadCache = new WeakMap<VideoFrame, { maxPayload: number; payloads: RtpPayload[] }>();

/** Packetization of a cached frame never changes: done once per process, shared by cameras. */
function framePayloads(frame: VideoFrame, maxPayload: number): RtpPayload[] {
  const cached = payloadCache.get(frame);
  if (cached?.maxPayload === maxPayload) return cached.payloads;
  const payloads = h264Payloads(frame.nals, maxPayload);
  payloadCache.set(frame, { maxPayload, payloads });
  return payloads;
}

export class StreamPlayer {
  readonly #video: VideoTrack;
  readonly #audio: AacStream | undefined;
  readonly #clock: () => MediaClock;
  readonly #muted: () => boolean;
  readonly #maxPayload: number;
  readonly #frameMs: number;
  readonly #audioFrameMs: number;
  readonly #targets = new Set<ReplayTarget>();
  #nextVideo = 0;
  #nextAudio = 0;
  readonly #onFrame: ((clipIndex: number) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;

  /** `muted`: a stalled camera; time goes on, nothing is sent. */
  constructor(
    video: VideoTrack,
    audio: AacStream | undefined,
    clock: () => MediaClock,
    muted: () => boolean,
    mtu: number,
    onFrame?: (clipIndex: number) => void,
  ) {
    this.#onFrame = onFrame;
    this.#video = video;
    this.#audio = audio;
    this.#clock = clock;
    this.#muted = muted;
    this.#maxPayload = mtu - RTP_HEADER_BYTES;
    this.#frameMs = 1000 / video.fps;
    this.#audioFrameMs = audio ? (AAC_SAMPLES_PER_FRAME * 1000) / audio.sampleRate : Number.POSITIVE_INFINITY;
  }

  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** The start point a PLAY issued now gets. */
  startPoint(): StartPoint {
    const clock = this.#clock();
    const frames = this.#video.frames;
    let index = this.running ? this.#nextVideo : this.#firstDue(clock.now(), this.#frameMs);
    for (let i = 0; i < frames.length && !frames[index % frames.length]?.key; i++) index++;
    const ms = index * this.#frameMs;
    return {
      videoIndex: index,
      audioIndex: this.#audio ? Math.ceil(ms / this.#audioFrameMs - 1e-9) : 0,
      videoRtpTime: clock.videoTimestamp(ms),
      audioRtpTime: clock.audioTimestamp(ms),
    };
  }

  add(target: ReplayTarget): void {
    this.#targets.add(target);
    if (this.running) return;
    const now = this.#clock().now();
    this.#nextVideo = this.#firstDue(now, this.#frameMs);
    this.#nextAudio = this.#firstDue(now, this.#audioFrameMs);
    this.#schedule(now);
  }

  remove(target: ReplayTarget): void {
    this.#targets.delete(target);
    if (this.#targets.size === 0) this.stop();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#targets.clear();
  }

  /** The first index whose due time is still ahead. */
  #firstDue(now: number, periodMs: number): number {
    return Number.isFinite(periodMs) ? Math.floor(now / periodMs) + 1 : 0;
  }

  #audioDue(): number {
    return this.#audio ? this.#nextAudio * this.#audioFrameMs : Number.POSITIVE_INFINITY;
  }

  /** Wakes at video frame times only; audio due meanwhile goes along (fewer wakeups and writes). */
  #schedule(now: number): void {
    const due = this.#nextVideo * this.#frameMs;
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, due - now));
  }

  #tick(): void {
    const clock = this.#clock();
    const now = clock.now();
    const muted = this.#muted();
    if (now - this.#nextVideo * this.#frameMs > MAX_LAG_MS) {
      this.#nextVideo = this.#firstDue(now, this.#frameMs) - 1;
      this.#nextAudio = this.#firstDue(now, this.#audioFrameMs) - 1;
      for (const target of this.#targets) target.resync();
    }
    // Video and audio in time order, so that a client's jitter buffer sees them interleaved.
    for (;;) {
      const videoAt = this.#nextVideo * this.#frameMs;
      const audioAt = this.#audioDue();
      if (Math.min(videoAt, audioAt) > now) break;
      if (videoAt <= audioAt) {
        if (!muted) this.#sendVideo(this.#nextVideo, clock.videoTimestamp(videoAt));
        this.#nextVideo++;
      } else {
        if (!muted) this.#sendAudio(this.#nextAudio, clock.audioTimestamp(audioAt));
        this.#nextAudio++;
      }
    }
    if (muted) {
      for (const target of this.#targets) target.resync();
    } else {
      for (const target of this.#targets) target.afterTick(now);
    }
    if (this.#targets.size > 0) this.#schedule(now);
    else this.#timer = undefined;
  }

  #sendVideo(index: number, timestamp: number): void {
    const frames = this.#video.frames;
    const frame = frames[index % frames.length];
    if (!frame) return;
    const payloads = framePayloads(frame, this.#maxPayload);
    for (const target of this.#targets) target.sendVideo(index, payloads, timestamp, frame.key);
    this.#onFrame?.(index % frames.length);
  }

  #sendAudio(index: number, timestamp: number): void {
    const frames = this.#audio?.frames;
    const frame = frames?.[index % frames.length];
    if (!frame) return;
    const payload = aacPayload(frame);
    for (const target of this.#targets) target.sendAudio(index, payload, timestamp);
  }
}
