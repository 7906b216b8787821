/**
 * Live HLS for phones without Media Source (older iPhones play HLS natively): the same
 * fragments the WebSocket viewers get, grouped into media segments that begin on key frames,
 * a short sliding window kept in memory. It listens to its LiveStream only while players ask
 * for the playlist; `idleMs` after the last request it lets go of the window.
 */
import type { Fmp4Fragment } from './fmp4.js';
import type { LiveStream } from './live-stream.js';

interface HlsSegment {
  seq: number;
  /** The run (init segment) it belongs to: a new run is a discontinuity. */
  run: number;
  parts: Buffer[];
  durationSec: number;
}

export interface LiveHlsOptions {
  /** Segments in the playlist; default 6. */
  window?: number;
  /** A segment is closed at the first key frame after this much; default 1 s. */
  minSegmentSec?: number;
  /** Stop following the stream this long after the last request; default 30 s. */
  idleMs?: number;
}

export class LiveHls {
  #stream: LiveStream;
  #window: number;
  #minSec: number;
  #idleMs: number;
  #inits = new Map<number, Buffer>();
  #run = 0;
  #segments: HlsSegment[] = [];
  #current: HlsSegment | undefined;
  #nextSeq = 0;
  #discontinuities = 0;
  #attached = false;
  #release: (() => void) | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #waiters = new Set<() => void>();

  readonly #onInit = (init: Buffer) => {
    this.#run++;
    this.#inits.set(this.#run, init);
    this.#current = undefined;
  };

  readonly #onFragment = (f: Fmp4Fragment) => {
    if (!this.#inits.has(this.#run)) return;
    if (f.key && (!this.#current || this.#current.durationSec >= this.#minSec)) {
      if (this.#current) this.#close(this.#current);
      this.#current = { seq: this.#nextSeq++, run: this.#run, parts: [], durationSec: 0 };
    }
    if (!this.#current) return; // wait for a key frame
    this.#current.parts.push(f.data);
    this.#current.durationSec += f.durationSec;
  };

  constructor(stream: LiveStream, options: LiveHlsOptions = {}) {
    this.#stream = stream;
    this.#window = options.window ?? 6;
    this.#minSec = options.minSegmentSec ?? 1;
    this.#idleMs = options.idleMs ?? 30_000;
  }

  /** Whether it is following the stream now. */
  get active(): boolean {
    return this.#attached;
  }

  /** The playlist; waits (up to `timeoutMs`) for a first segment when there is none yet. */
  async playlist(timeoutMs = 6000): Promise<string | undefined> {
    this.#touch();
    if (this.#segments.length === 0) await this.#waitForSegment(timeoutMs);
    if (this.#segments.length === 0) return undefined;
    const target = Math.max(1, ...this.#segments.map((s) => Math.ceil(s.durationSec)));
    const lines = [
      '#EXTM3U',
      '#EXT-X-VERSION:7',
      `#EXT-X-TARGETDURATION:${target}`,
      `#EXT-X-MEDIA-SEQUENCE:${this.#segments[0]!.seq}`,
      `#EXT-X-DISCONTINUITY-SEQUENCE:${this.#discontinuities}`,
      '#EXT-X-INDEPENDENT-SEGMENTS',
    ];
    let run = -1;
    for (const s of this.#segments) {
      if (run !== -1 && s.run !== run) lines.push('#EXT-X-DISCONTINUITY');
      if (s.run !== run) lines.push(`#EXT-X-MAP:URI="live/init-${s.run}.mp4"`);
      run = s.run;
      lines.push(`#EXTINF:${s.durationSec.toFixed(3)},`, `live/${s.seq}.m4s`);
    }
    return `${lines.join('\n')}\n`;
  }

  init(run: number): Buffer | undefined {
    this.#touch();
    return this.#inits.get(run);
  }

  segment(seq: number): Buffer | undefined {
    this.#touch();
    const s = this.#segments.find((x) => x.seq === seq);
    return s && Buffer.concat(s.parts);
  }

  /** Lets go of the stream and the window. */
  detach(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (!this.#attached) return;
    this.#attached = false;
    this.#release?.();
    this.#release = undefined;
    this.#stream.off('init', this.#onInit);
    this.#stream.off('fragment', this.#onFragment);
    this.#segments = [];
    this.#current = undefined;
    this.#inits.clear();
    for (const w of this.#waiters) w();
  }

  #touch(): void {
    if (!this.#attached) {
      this.#attached = true;
      this.#stream.on('init', this.#onInit);
      this.#stream.on('fragment', this.#onFragment);
      // Start from the stream's current init segment; the first key frame opens a segment.
      const init = this.#stream.init;
      if (init) this.#onInit(init);
      // The stream's source runs while someone needs it (the main stream is read from the
      // recording only then).
      this.#release = this.#stream.hold();
    }
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.detach(), this.#idleMs);
    this.#idleTimer.unref();
  }

  #close(s: HlsSegment): void {
    this.#segments.push(s);
    while (this.#segments.length > this.#window) {
      const gone = this.#segments.shift()!;
      const next = this.#segments[0];
      if (next && next.run !== gone.run) this.#discontinuities++;
      if (!this.#segments.some((x) => x.run === gone.run) && gone.run !== this.#run)
        this.#inits.delete(gone.run);
    }
    for (const w of this.#waiters) w();
  }

  #waitForSegment(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.#waiters.add(done);
    });
  }
}
