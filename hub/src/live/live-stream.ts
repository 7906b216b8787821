/**
 * One camera stream's live fan-out. The recorder's ffmpeg (or an on-demand one for the sub
 * stream) writes fragmented MP4 to a FIFO that the hub always drains: `feed()` never waits for
 * any viewer. Each viewer gets the init segment and the fragments since the latest key frame at
 * once (so the picture starts without waiting for the next key frame), then every fragment as it
 * comes. A viewer that cannot keep up (its socket holds more than `maxViewerBufferBytes`) skips
 * fragments until the next key frame: bounded memory per viewer, and it lands back at the live
 * edge instead of drifting behind.
 */
import { EventEmitter } from 'node:events';
import { type Fmp4Fragment, Fmp4Splitter } from './fmp4.js';

export interface LiveViewer {
  /** Hands bytes to the viewer's socket; never blocks. */
  send(data: Buffer): void;
  /** Bytes queued in the viewer's socket and not yet sent. */
  bufferedBytes(): number;
  /** A new init segment follows: the viewer's decoder must start over. */
  reset?(): void;
}

export interface LiveStreamOptions {
  /** A viewer with more than this queued skips to the next key frame. Default 1 MiB. */
  maxViewerBufferBytes?: number;
  /** The fragments kept since the last key frame, at most this many bytes. Default 8 MiB. */
  maxGopBytes?: number;
}

export interface LiveStreamEvents {
  /** Viewer count changed (to start and stop on-demand sources). */
  viewers: [number];
  fragment: [Fmp4Fragment];
  init: [Buffer];
  /** The pipe carried something that is not fragmented MP4: the source should be restarted. */
  corrupt: [Error];
}

interface ViewerState {
  viewer: LiveViewer;
  /** Skipping until the next key frame (a slow reader, or a reset). */
  waitingForKey: boolean;
  dropped: number;
}

export interface LiveStreamStats {
  viewers: number;
  fragments: number;
  bytes: number;
  droppedFragments: number;
  hasInit: boolean;
  lastFragmentAt: number | null;
}

export class LiveStream extends EventEmitter<LiveStreamEvents> {
  readonly name: string;
  #splitter = new Fmp4Splitter();
  #init: Buffer | undefined;
  #gop: Fmp4Fragment[] = [];
  #gopBytes = 0;
  #viewers = new Map<LiveViewer, ViewerState>();
  #maxViewerBuffer: number;
  #maxGopBytes: number;
  #stats = { fragments: 0, bytes: 0, droppedFragments: 0, lastFragmentAt: null as number | null };
  #broken = false;
  #holds = 0;

  constructor(name: string, options: LiveStreamOptions = {}) {
    super();
    this.name = name;
    this.#maxViewerBuffer = options.maxViewerBufferBytes ?? 1024 * 1024;
    this.#maxGopBytes = options.maxGopBytes ?? 8 * 1024 * 1024;
  }

  /** A new source run begins (a new ffmpeg): whatever was half-read is void. */
  restart(): void {
    this.#splitter.reset();
    this.#broken = false;
  }

  /** The source ended: viewers keep their sockets and get the next run's init segment. */
  end(): void {
    this.#splitter.reset();
    this.#init = undefined;
    this.#gop = [];
    this.#gopBytes = 0;
  }

  /**
   * Bytes from the source. Cheap, synchronous, never throws; they are copied, so `chunk` may
   * be a view of a buffer the caller reuses.
   */
  feed(chunk: Buffer): void {
    if (this.#broken) return;
    let pieces: ReturnType<Fmp4Splitter['push']>;
    try {
      pieces = this.#splitter.push(chunk);
    } catch (err) {
      this.#broken = true;
      this.emit('corrupt', err as Error);
      return;
    }
    for (const piece of pieces) {
      if (piece.kind === 'init') this.#onInit(piece.data);
      else this.#onFragment(piece);
    }
  }

  /**
   * An init segment from a source that splits the stream itself (the recording's follower).
   * The same bytes as the current init segment change nothing: viewers carry on.
   */
  pushInit(data: Buffer): void {
    if (this.#init?.equals(data)) return;
    this.#onInit(data);
  }

  /** A fragment from a source that splits the stream itself; its `data` is its own. */
  pushFragment(f: Fmp4Fragment): void {
    this.#onFragment(f);
  }

  /**
   * Someone other than a viewer needs the stream (live HLS): counts as a viewer for the
   * `viewers` event, which starts and stops sources. Returns the release.
   */
  hold(): () => void {
    this.#holds++;
    this.emit('viewers', this.viewerCount);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holds--;
      this.emit('viewers', this.viewerCount);
    };
  }

  /** Viewers, and holders of the stream (hold()). */
  get viewerCount(): number {
    return this.#viewers.size + this.#holds;
  }

  /** The init segment of the current run, once there is one. */
  get init(): Buffer | undefined {
    return this.#init;
  }

  stats(): LiveStreamStats {
    return { viewers: this.#viewers.size, hasInit: this.#init !== undefined, ...this.#stats };
  }

  /** Adds a viewer: it gets the init segment and the current GOP at once, if there is one. */
  add(viewer: LiveViewer): () => void {
    const state: ViewerState = { viewer, waitingForKey: true, dropped: 0 };
    this.#viewers.set(viewer, state);
    if (this.#init && this.#gop[0]?.key) {
      viewer.send(this.#init);
      for (const f of this.#gop) viewer.send(f.data);
      state.waitingForKey = false;
    } else if (this.#init) {
      viewer.send(this.#init);
    }
    this.emit('viewers', this.viewerCount);
    return () => this.remove(viewer);
  }

  remove(viewer: LiveViewer): void {
    if (this.#viewers.delete(viewer)) this.emit('viewers', this.viewerCount);
  }

  #onInit(data: Buffer): void {
    this.#init = data;
    this.#gop = [];
    this.#gopBytes = 0;
    this.#splitter.keepFrom(undefined);
    this.emit('init', data);
    for (const s of this.#viewers.values()) {
      // A new run: same codec setup or not, its timeline starts over, so the decoder must too.
      s.viewer.reset?.();
      s.viewer.send(data);
      s.waitingForKey = true;
    }
  }

  #onFragment(f: Fmp4Fragment): void {
    this.#stats.fragments++;
    this.#stats.bytes += f.bytes;
    this.#stats.lastFragmentAt = Date.now();
    if (f.key) {
      this.#gop = [f];
      this.#gopBytes = f.bytes;
      this.#splitter.keepFrom(f);
    } else if (this.#gop.length > 0 && this.#gopBytes + f.bytes <= this.#maxGopBytes) {
      this.#gop.push(f);
      this.#gopBytes += f.bytes;
    } else if (this.#gop.length > 0) {
      this.#gop = [];
      this.#gopBytes = 0;
      this.#splitter.keepFrom(undefined);
    }
    this.emit('fragment', f);
    for (const s of this.#viewers.values()) {
      if (s.waitingForKey) {
        if (!f.key) continue;
        s.waitingForKey = false;
      }
      if (s.viewer.bufferedBytes() > this.#maxViewerBuffer) {
        s.waitingForKey = true;
        s.dropped++;
        this.#stats.droppedFragments++;
        continue;
      }
      s.viewer.send(f.data);
    }
  }
}
