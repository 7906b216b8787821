/**
 * Live video for phones. The main stream of each camera is read from its recording while
 * someone watches (one RTSP session serves recording and every full-screen viewer). The sub stream, for tiles, is
 * read only while someone watches it: an ffmpeg of its own starts with the first viewer and
 * stops `subIdleMs` after the last one leaves. A camera without a sub stream serves its tiles
 * from the main stream's fan-out.
 */
import { join } from 'node:path';
import type { Logger } from '../core/log.js';
import type { HubModule } from '../core/module.js';
import { rtspInputArgs } from '../media/ffmpeg-args.js';
import { FfmpegSupervisor } from '../media/supervisor.js';
import { LiveHls } from './live-hls.js';
import { LiveStream } from './live-stream.js';
import { RecordingFollower } from './recording-follower.js';

export type StreamName = 'main' | 'sub';

/**
 * The output of a live-only ffmpeg (the sub stream): the video as fragmented MP4 into `fifo`,
 * a fragment every `fragmentMs` and at each key frame, flushed at once. Video only: a camera's
 * audio is often G.711, which browsers' Media Source cannot play.
 */
export function liveOutputArgs(fragmentMs: number, fifo: string): string[] {
  return [
    '-map',
    '0:v:0',
    '-c',
    'copy',
    '-f',
    'mp4',
    '-movflags',
    '+frag_keyframe+empty_moov+default_base_moof',
    '-frag_duration',
    String(fragmentMs * 1000),
    '-flush_packets',
    '1',
    `file:${fifo}`,
  ];
}

export interface SubSource {
  cameraId: string;
  /** The sub stream with the camera's login in it. */
  inputUrl: string;
}

interface OnDemand {
  stream: LiveStream;
  supervisor: FfmpegSupervisor;
  idleTimer: NodeJS.Timeout | undefined;
  running: boolean;
}

export interface LiveServiceOptions {
  ffmpegPath: string;
  runDir: string;
  /** After the last viewer of a sub stream leaves, its ffmpeg runs this much longer. Default 10 s. */
  subIdleMs?: number;
  fragmentMs?: number;
  /** Looks up a camera's sub stream; undefined when it has none. */
  subSource: (cameraId: string) => SubSource | undefined;
}

export class LiveService implements HubModule {
  readonly name = 'live';
  #log: Logger;
  #o: LiveServiceOptions;
  #main = new Map<string, LiveStream>();
  #sub = new Map<string, OnDemand>();
  #hls = new Map<string, LiveHls>();
  #followers = new Map<string, RecordingFollower>();
  #stopped = false;

  constructor(deps: { log: Logger; options: LiveServiceOptions }) {
    this.#log = deps.log;
    this.#o = deps.options;
  }

  async start(): Promise<void> {
    this.#stopped = false;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const h of this.#hls.values()) h.detach();
    this.#hls.clear();
    for (const f of this.#followers.values()) f.close();
    this.#followers.clear();
    await Promise.all([...this.#sub.keys()].map((id) => this.#dropSub(id)));
  }

  /**
   * Feeds the camera's main stream from its recording while someone watches (RecordingFollower).
   * `openSegment` names the segment file being written (absolute), undefined while it is down.
   */
  follow(cameraId: string, openSegment: () => string | undefined): void {
    this.#followers.get(cameraId)?.close();
    const log = this.#log.child({ cameraId, stream: 'main' });
    this.#followers.set(cameraId, new RecordingFollower(this.main(cameraId), { openSegment }, log));
  }

  /** Whether the main stream is being read from the recording now (tests and status). */
  following(cameraId: string): boolean {
    return this.#followers.get(cameraId)?.active ?? false;
  }

  /** The main stream's fan-out, fed from the camera's recording. */
  main(cameraId: string): LiveStream {
    let s = this.#main.get(cameraId);
    if (!s) {
      s = new LiveStream(`main-${cameraId}`);
      this.#main.set(cameraId, s);
    }
    return s;
  }

  /** The stream a viewer should join: the sub stream for tiles where the camera has one. */
  stream(cameraId: string, name: StreamName): LiveStream {
    if (name === 'main') return this.main(cameraId);
    const source = this.#o.subSource(cameraId);
    if (!source) return this.main(cameraId);
    return this.#onDemand(source).stream;
  }

  /** Whether the sub stream's ffmpeg is running now (tests and status). */
  subRunning(cameraId: string): boolean {
    return this.#sub.get(cameraId)?.running ?? false;
  }

  /** Live HLS of the main stream (players without Media Source). */
  hls(cameraId: string): LiveHls {
    let h = this.#hls.get(cameraId);
    if (!h) {
      h = new LiveHls(this.main(cameraId));
      this.#hls.set(cameraId, h);
    }
    return h;
  }

  /** A camera was removed: its viewers' streams end. */
  async drop(cameraId: string): Promise<void> {
    this.#hls.get(cameraId)?.detach();
    this.#hls.delete(cameraId);
    this.#followers.get(cameraId)?.close();
    this.#followers.delete(cameraId);
    this.#main.get(cameraId)?.end();
    this.#main.delete(cameraId);
    await this.#dropSub(cameraId);
  }

  #onDemand(source: SubSource): OnDemand {
    const existing = this.#sub.get(source.cameraId);
    if (existing) return existing;
    const stream = new LiveStream(`sub-${source.cameraId}`);
    const log = this.#log.child({ cameraId: source.cameraId, stream: 'sub' });
    const fifo = join(this.#o.runDir, `live-sub-${source.cameraId}.live`);
    const supervisor = new FfmpegSupervisor({
      name: `live-sub-${source.cameraId}`,
      args: () => {
        stream.restart();
        return [
          ...rtspInputArgs(source.inputUrl, { transport: 'tcp', timeoutMs: 5000, arrivalTimestamps: true }),
          ...liveOutputArgs(this.#o.fragmentMs ?? 200, fifo),
        ];
      },
      log,
      runDir: this.#o.runDir,
      ffmpegPath: this.#o.ffmpegPath,
      media: { fifo, onData: (view) => stream.feed(view) },
    });
    supervisor.on('exited', () => stream.end());
    const entry: OnDemand = { stream, supervisor, idleTimer: undefined, running: false };
    stream.on('corrupt', (err) => {
      log.error({ err }, 'sub stream output is not fragmented MP4: restarting it');
      supervisor.restart('corrupt live output');
    });
    stream.on('viewers', (n) => {
      if (n > 0) {
        clearTimeout(entry.idleTimer);
        entry.idleTimer = undefined;
        if (!entry.running && !this.#stopped) {
          entry.running = true;
          log.info('first viewer: opening the sub stream');
          supervisor.start().catch((err) => log.error({ err }, 'sub stream could not start'));
        }
      } else if (entry.running && !entry.idleTimer) {
        entry.idleTimer = setTimeout(() => {
          entry.idleTimer = undefined;
          if (stream.viewerCount > 0) return;
          entry.running = false;
          log.info('no viewer left: closing the sub stream');
          void supervisor.stop().then(() => stream.end());
        }, this.#o.subIdleMs ?? 10_000);
        entry.idleTimer.unref();
      }
    });
    this.#sub.set(source.cameraId, entry);
    return entry;
  }

  async #dropSub(cameraId: string): Promise<void> {
    const entry = this.#sub.get(cameraId);
    if (!entry) return;
    this.#sub.delete(cameraId);
    clearTimeout(entry.idleTimer);
    entry.running = false;
    await entry.supervisor.stop();
    entry.stream.end();
  }
}
