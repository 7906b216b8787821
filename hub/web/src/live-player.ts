/**
 * Live video from the hub's WebSocket (`/api/cameras/:id/live`): fragmented MP4 appended to a
 * MediaSource (ManagedMediaSource on iPhones with iOS 17.1+), kept within a second of the live
 * edge. A JSON `init` message comes before each init segment and means "start the decoder over".
 * Phones without MSE get the hub's HLS (`live.m3u8`) natively. The socket reconnects with
 * backoff; close code 4401 means the session ended.
 */
import { enc } from './api.js';

export type LiveState = 'connecting' | 'playing' | 'offline' | 'reconnecting' | 'unsupported';

export interface LiveOptions {
  cameraId: string;
  stream: 'main' | 'sub';
  video: HTMLVideoElement;
  onState?: (state: LiveState) => void;
  onSessionEnded?: () => void;
}

type MediaSourceCtor = {
  new (): MediaSource;
  isTypeSupported(type: string): boolean;
};

/** MediaSource where it exists; iPhones (iOS 17.1+) have only ManagedMediaSource. */
function mediaSourceCtor(): MediaSourceCtor | undefined {
  const w = window as unknown as { MediaSource?: MediaSourceCtor; ManagedMediaSource?: MediaSourceCtor };
  return w.MediaSource ?? w.ManagedMediaSource;
}

/** Behind the live edge by more than this, jump forward (seconds). */
const MAX_LATENCY_S = 1.0;
const TARGET_LATENCY_S = 0.2;
/** Keep about this much played video; older is removed so memory stays flat. */
const KEEP_BEHIND_S = 4;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;

export class LivePlayer {
  readonly #o: LiveOptions;
  #ws: WebSocket | undefined;
  #ms: MediaSource | undefined;
  #sb: SourceBuffer | undefined;
  #objectUrl: string | undefined;
  #queue: ArrayBuffer[] = [];
  #stopped = true;
  #backoff = BACKOFF_MIN_MS;
  #retry: number | undefined;
  #state: LiveState | undefined;
  readonly #onVisibility = () => {
    if (document.hidden) this.#disconnect();
    else if (!this.#stopped && !this.#ws) this.#connect();
  };
  readonly #onPlaying = () => this.#setState('playing');

  constructor(options: LiveOptions) {
    this.#o = options;
  }

  /** Which way this browser plays live video. */
  static mode(): 'mse' | 'hls' | 'none' {
    const MS = mediaSourceCtor();
    if (MS?.isTypeSupported('video/mp4; codecs="avc1.42E01E"')) return 'mse';
    const probe = document.createElement('video');
    return probe.canPlayType('application/vnd.apple.mpegurl') ? 'hls' : 'none';
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    const { video } = this.#o;
    video.muted = true;
    video.playsInline = true;
    video.setAttribute('playsinline', '');
    video.addEventListener('playing', this.#onPlaying);
    const mode = LivePlayer.mode();
    if (mode === 'hls') {
      video.src = `/api/cameras/${enc(this.#o.cameraId)}/live.m3u8${this.#o.stream === 'sub' ? '?stream=sub' : ''}`;
      this.#setState('connecting');
      void video.play().catch(() => {});
      return;
    }
    if (mode === 'none') {
      this.#setState('unsupported');
      return;
    }
    document.addEventListener('visibilitychange', this.#onVisibility);
    this.#connect();
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    document.removeEventListener('visibilitychange', this.#onVisibility);
    this.#o.video.removeEventListener('playing', this.#onPlaying);
    this.#disconnect();
    this.#teardownMedia();
    const { video } = this.#o;
    video.removeAttribute('src');
    video.load();
  }

  #setState(state: LiveState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#o.onState?.(state);
  }

  #connect(): void {
    window.clearTimeout(this.#retry);
    this.#retry = undefined;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const query = this.#o.stream === 'sub' ? '?stream=sub' : '';
    const ws = new WebSocket(`${scheme}//${location.host}/api/cameras/${enc(this.#o.cameraId)}/live${query}`);
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    if (this.#state !== 'playing') this.#setState(this.#state ? 'reconnecting' : 'connecting');
    ws.onmessage = (e: MessageEvent) => {
      if (typeof e.data === 'string') this.#onText(e.data);
      else this.#onBinary(e.data as ArrayBuffer);
    };
    ws.onclose = (e: CloseEvent) => {
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      if (this.#stopped) return;
      if (e.code === 4401) {
        this.stop();
        this.#o.onSessionEnded?.();
        return;
      }
      this.#setState('reconnecting');
      if (document.hidden) return; // resumes when the page is shown again
      const wait = this.#backoff * (0.75 + Math.random() * 0.5);
      this.#backoff = Math.min(BACKOFF_MAX_MS, this.#backoff * 2);
      this.#retry = window.setTimeout(() => this.#connect(), wait);
    };
  }

  #disconnect(): void {
    window.clearTimeout(this.#retry);
    this.#retry = undefined;
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws) {
      ws.onmessage = null;
      ws.onclose = null;
      ws.close();
    }
  }

  #onText(text: string): void {
    let msg: { type?: string; codec?: string | null };
    try {
      msg = JSON.parse(text) as typeof msg;
    } catch {
      return;
    }
    if (msg.type === 'init') this.#startDecoder(msg.codec || 'avc1.42E01E');
    else if (msg.type === 'offline') this.#setState('offline');
  }

  #onBinary(data: ArrayBuffer): void {
    this.#backoff = BACKOFF_MIN_MS;
    if (!this.#ms) return; // no init announced yet: nothing can decode this
    this.#queue.push(data);
    this.#pump();
  }

  /** A new init segment: a fresh MediaSource and SourceBuffer for its codec. */
  #startDecoder(codec: string): void {
    this.#teardownMedia();
    const MS = mediaSourceCtor();
    if (!MS) return;
    const ms = new MS();
    this.#ms = ms;
    const { video } = this.#o;
    // ManagedMediaSource plays only without AirPlay, or with an alternative source.
    (video as HTMLVideoElement & { disableRemotePlayback: boolean }).disableRemotePlayback = true;
    this.#objectUrl = URL.createObjectURL(ms);
    video.src = this.#objectUrl;
    ms.addEventListener(
      'sourceopen',
      () => {
        if (this.#ms !== ms) return;
        try {
          const sb = ms.addSourceBuffer(`video/mp4; codecs="${codec}"`);
          sb.mode = 'segments';
          sb.addEventListener('updateend', () => this.#afterUpdate(sb));
          this.#sb = sb;
          this.#pump();
        } catch {
          this.#setState('unsupported');
        }
      },
      { once: true },
    );
  }

  #teardownMedia(): void {
    this.#queue = [];
    this.#sb = undefined;
    const ms = this.#ms;
    this.#ms = undefined;
    if (ms && ms.readyState === 'open') {
      try {
        ms.endOfStream();
      } catch {
        // Already ending: nothing to do.
      }
    }
    if (this.#objectUrl) URL.revokeObjectURL(this.#objectUrl);
    this.#objectUrl = undefined;
  }

  #pump(): void {
    const sb = this.#sb;
    if (!sb || sb.updating || this.#ms?.readyState !== 'open') return;
    const next = this.#queue.shift();
    if (!next) return;
    try {
      sb.appendBuffer(next);
    } catch {
      // Quota or a decode error: start over from the next init segment and key frame.
      this.#teardownMedia();
      this.#disconnect();
      if (!this.#stopped) this.#connect();
    }
  }

  #afterUpdate(sb: SourceBuffer): void {
    if (sb !== this.#sb) return;
    const { video } = this.#o;
    const ranges = sb.buffered;
    if (ranges.length > 0) {
      const end = ranges.end(ranges.length - 1);
      if (end - video.currentTime > MAX_LATENCY_S) video.currentTime = Math.max(0, end - TARGET_LATENCY_S);
      if (video.paused) void video.play().catch(() => {});
      const start = ranges.start(0);
      if (video.currentTime - start > KEEP_BEHIND_S * 2 && !sb.updating) {
        sb.remove(start, video.currentTime - KEEP_BEHIND_S);
        return; // the removal's own updateend pumps the queue
      }
    }
    this.#pump();
  }
}
