import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { EventBus } from '../core/event-bus.js';
import type { Logger } from '../core/log.js';
import { rtspInputArgs } from '../media/ffmpeg-args.js';
import { FfmpegSupervisor } from '../media/supervisor.js';
import type { CamerasRepo } from '../store/cameras-repo.js';
import { SegmentTracker } from './segment-tracker.js';

export interface RecorderOptions {
  cameraId: string;
  /** The main stream, with the camera's login in it (never logged unmasked). */
  inputUrl: string;
  /** The recordings folder; the index holds paths relative to it. */
  dir: string;
  /** Where pidfiles go. */
  runDir: string;
  segmentSeconds: number;
  fragmentMs: number;
  ffmpegPath: string;
  /** Default 5 s: a camera that stops sending ends ffmpeg after about 1–2× this. */
  ioTimeoutMs?: number;
  /** Asked before each start while the camera is down (e.g. a TCP connect to its RTSP port). */
  probe?: (signal: AbortSignal) => Promise<boolean>;
}

export type RecorderState = 'starting' | 'recording' | 'reconnecting' | 'stopped';

const iso = (ms: number) => new Date(ms).toISOString();

/** `20261126T100000Z`: the UTC time a run began, for its folder and file names. */
function runTag(ms: number): string {
  return iso(ms)
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/**
 * Records one camera around the clock: one ffmpeg reading the main stream once (TCP, an I/O
 * timeout), codec copy into fragmented-MP4 segments, kept alive by a supervisor. Each segment is
 * indexed the moment ffmpeg closes it; the one being written is known too. Every stop of
 * recording is a gap, with its start and, once media flows again, its end.
 */
export class CameraRecorder {
  readonly cameraId: string;
  #o: RecorderOptions;
  #repo: CamerasRepo;
  #bus: EventBus;
  #log: Logger;
  #supervisor: FfmpegSupervisor;
  #tracker = new SegmentTracker();
  #run: { tag: string; folder: string; closed: number } | undefined;
  #pendingList = '';
  #state: RecorderState = 'stopped';
  /** Wall-clock ms up to which media is safely recorded (end of the last closed segment or progress). */
  #recordedUntil: number | undefined;
  #gapStart: number | undefined;
  #lastSegmentAt: string | null = null;

  constructor(deps: { options: RecorderOptions; repo: CamerasRepo; bus: EventBus; log: Logger }) {
    this.cameraId = deps.options.cameraId;
    this.#o = deps.options;
    this.#repo = deps.repo;
    this.#bus = deps.bus;
    this.#log = deps.log;
    this.#supervisor = new FfmpegSupervisor({
      name: `rec-${this.cameraId}`,
      args: () => this.#args(),
      log: deps.log,
      runDir: deps.options.runDir,
      ffmpegPath: deps.options.ffmpegPath,
      progressPeriodMs: 500,
      // No new frame for three segment lengths (and at least 10 s): restart.
      stallMs: Math.max(10_000, deps.options.segmentSeconds * 3000),
      probe: deps.options.probe,
      onFd4: (chunk) => this.#onList(chunk),
    });
    this.#supervisor.on('progress', (p) => {
      if (p.outTimeMs !== null) this.#tracker.progress(p.outTimeMs * 1000, Date.now());
      if ((p.frame ?? 0) > 0 && this.#state !== 'recording') this.#resumed();
    });
    this.#supervisor.on('exited', (e) =>
      this.#stopped(e.reason === 'stopped' ? null : `ffmpeg ${e.reason} (code ${e.code})`),
    );
  }

  get state(): RecorderState {
    return this.#state;
  }

  get lastSegmentAt(): string | null {
    return this.#lastSegmentAt;
  }

  /** The segment being written: where it began and its file, or undefined between runs. */
  openSegment(): { start: string; path: string } | undefined {
    const open = this.#tracker.open();
    if (!open || !this.#run || this.#state !== 'recording') return undefined;
    return { start: iso(open.startMs), path: join(this.#run.folder, this.#fileName(this.#run.closed)) };
  }

  start(): void {
    this.#state = 'starting';
    this.#supervisor.start();
  }

  async stop(): Promise<void> {
    await this.#supervisor.stop();
    this.#state = 'stopped';
  }

  #fileName(n: number): string {
    return `${this.#run!.tag}-${String(n).padStart(5, '0')}.mp4`;
  }

  #args(): string[] {
    const now = Date.now();
    const tag = runTag(now);
    const folder = join(this.cameraId, iso(now).slice(0, 10));
    mkdirSync(join(this.#o.dir, folder), { recursive: true });
    this.#run = { tag, folder, closed: 0 };
    this.#tracker = new SegmentTracker();
    this.#pendingList = '';
    const fragmentUs = this.#o.fragmentMs * 1000;
    return [
      ...rtspInputArgs(this.#o.inputUrl, {
        transport: 'tcp',
        timeoutMs: this.#o.ioTimeoutMs ?? 5000,
        arrivalTimestamps: true,
      }),
      '-map',
      '0:v:0',
      '-map',
      '0:a:0?',
      '-c',
      'copy',
      '-f',
      'segment',
      '-segment_time',
      String(this.#o.segmentSeconds),
      '-reset_timestamps',
      '1',
      '-segment_format',
      'mp4',
      // Fragmented MP4: every fragment is playable on its own, so a power cut loses at most one.
      // flush_packets: without it the segment file is written in 256 KiB chunks (measured), so a
      // power cut lost ~1 s at 2 Mbit/s whatever the fragment length; with it each fragment
      // reaches the file as it closes (a power cut then loses 0.2–0.6 s: docs/decisions.md).
      '-segment_format_options',
      `movflags=+frag_keyframe+empty_moov+default_base_moof:frag_duration=${fragmentUs}:flush_packets=1`,
      '-segment_list',
      'pipe:4',
      '-segment_list_type',
      'csv',
      join(this.#o.dir, folder, `${tag}-%05d.mp4`),
    ];
  }

  #onList(chunk: string): void {
    this.#pendingList += chunk;
    const lines = this.#pendingList.split('\n');
    this.#pendingList = lines.pop() ?? '';
    for (const line of lines) {
      const seg = this.#tracker.listLine(line, Date.now());
      if (!seg || !this.#run) continue;
      const path = join(this.#run.folder, seg.file);
      let bytes = 0;
      try {
        bytes = statSync(join(this.#o.dir, path)).size;
      } catch (err) {
        this.#log.warn({ err, path }, 'closed segment not found');
        continue;
      }
      this.#run.closed++;
      const record = {
        cameraId: this.cameraId,
        start: iso(seg.startMs),
        end: iso(seg.endMs),
        durationMs: seg.durationMs,
        bytes,
        path,
        complete: true,
      };
      try {
        this.#repo.upsertSegment(record);
      } catch (err) {
        this.#log.error({ err, path }, 'could not index a segment');
        continue;
      }
      this.#recordedUntil = seg.endMs;
      this.#lastSegmentAt = record.end;
      this.#bus.emit('segmentClosed', record);
    }
  }

  #resumed(): void {
    this.#state = 'recording';
    if (this.#gapStart !== undefined) {
      const start = this.#tracker.open()?.startMs ?? Date.now();
      this.#bus.emit('recordingGap', {
        cameraId: this.cameraId,
        start: iso(this.#gapStart),
        end: iso(start),
        reason: 'resumed',
      });
      this.#log.info({ cameraId: this.cameraId, gapMs: start - this.#gapStart }, 'recording resumed');
      this.#gapStart = undefined;
    }
  }

  #stopped(reason: string | null): void {
    if (reason === null) {
      this.#state = 'stopped';
      return;
    }
    if (this.#state === 'recording') {
      // The open segment's media is in its file up to the last fragment: the gap starts there,
      // at the latest progress we saw.
      const open = this.#tracker.open();
      this.#gapStart = Math.max(
        this.#recordedUntil ?? 0,
        open?.startMs ?? 0,
        Date.now() - this.#o.fragmentMs,
      );
      this.#bus.emit('recordingGap', {
        cameraId: this.cameraId,
        start: iso(this.#gapStart),
        end: null,
        reason,
      });
    }
    this.#state = 'reconnecting';
  }
}
