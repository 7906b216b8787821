/**
 * Recorded video: the hub's HLS playlist for a time range (`playback.m3u8?from=&to=`, which starts
 * at `from` through EXT-X-START and carries EXT-X-PROGRAM-DATE-TIME per segment). hls.js where
 * MSE exists, loaded only when first needed; Safari's own HLS elsewhere. To go to another moment
 * a new playlist is loaded from that moment.
 */
import { enc } from './api.js';
import { HOUR, iso } from './time.js';

interface HlsInstance {
  loadSource(url: string): void;
  attachMedia(video: HTMLMediaElement): void;
  on(event: string, cb: (event: string, data: { fatal?: boolean; type?: string }) => void): void;
  destroy(): void;
  readonly playingDate: Date | null;
}
interface HlsCtor {
  new (config?: Record<string, unknown>): HlsInstance;
  isSupported(): boolean;
  Events: Record<string, string>;
}

let hlsLoading: Promise<HlsCtor | undefined> | undefined;

/** `/vendor/hls.min.js` (served by the hub from node_modules) through a script tag, once. */
function loadHls(): Promise<HlsCtor | undefined> {
  hlsLoading ??= new Promise((resolve) => {
    const existing = (window as unknown as { Hls?: HlsCtor }).Hls;
    if (existing) {
      resolve(existing);
      return;
    }
    const script = document.createElement('script');
    script.src = '/vendor/hls.min.js';
    script.onload = () => resolve((window as unknown as { Hls?: HlsCtor }).Hls);
    script.onerror = () => {
      hlsLoading = undefined;
      resolve(undefined);
    };
    document.head.appendChild(script);
  });
  return hlsLoading;
}

export class RecordedPlayer {
  readonly video: HTMLVideoElement;
  #hls: HlsInstance | undefined;
  #fromMs = 0;
  /** `video.currentTime` when playback began at `from`, for browsers without program dates. */
  #startAt: number | undefined;
  #seq = 0;
  onError: (() => void) | undefined;

  constructor(video: HTMLVideoElement) {
    this.video = video;
    video.muted = true;
    video.playsInline = true;
    video.setAttribute('playsinline', '');
    video.addEventListener('playing', () => {
      this.#startAt ??= video.currentTime;
    });
  }

  /** Plays from `fromMs` for up to an hour (never past now). */
  async play(cameraId: string, fromMs: number): Promise<void> {
    const seq = ++this.#seq;
    const toMs = Math.min(fromMs + HOUR, Date.now());
    const url = `/api/cameras/${enc(cameraId)}/playback.m3u8?from=${enc(iso(fromMs))}&to=${enc(iso(toMs))}`;
    this.#destroyHls();
    this.#fromMs = fromMs;
    this.#startAt = undefined;
    const { video } = this;
    const Hls = 'MediaSource' in window || 'ManagedMediaSource' in window ? await loadHls() : undefined;
    if (seq !== this.#seq) return;
    if (Hls?.isSupported()) {
      const hls = new Hls({
        enableWorker: true,
        startPosition: -1,
        maxBufferLength: 20,
        backBufferLength: 30,
      });
      this.#hls = hls;
      hls.on(Hls.Events.ERROR ?? 'hlsError', (_e, data) => {
        if (data.fatal) this.onError?.();
      });
      hls.on(Hls.Events.MANIFEST_PARSED ?? 'hlsManifestParsed', () => {
        void video.play().catch(() => {});
      });
      hls.attachMedia(video);
      hls.loadSource(url);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = url;
      void video.play().catch(() => {});
    } else {
      this.onError?.();
    }
  }

  /** The wall-clock moment on screen, or undefined before playback began. */
  position(): number | undefined {
    const date = this.#hls?.playingDate;
    if (date && !Number.isNaN(date.getTime())) return date.getTime();
    const native = (this.video as HTMLVideoElement & { getStartDate?: () => Date }).getStartDate?.();
    if (native && !Number.isNaN(native.getTime())) return native.getTime() + this.video.currentTime * 1000;
    if (this.#startAt === undefined) return undefined;
    return this.#fromMs + (this.video.currentTime - this.#startAt) * 1000;
  }

  stop(): void {
    this.#seq++;
    this.#destroyHls();
    this.video.removeAttribute('src');
    this.video.load();
  }

  #destroyHls(): void {
    this.#hls?.destroy();
    this.#hls = undefined;
  }
}
