/**
 * Live video of a camera's main stream, read from its recording while someone watches.
 *
 * The recorder's ffmpeg writes fragmented MP4 segments and flushes every fragment as it closes
 * (recording.fragmentMs, 500 ms by default). A viewer's first picture comes from the file being
 * written: its fragments since the last key frame. After that, each fragment is read as the file
 * system reports the write (inotify; a poll as well, in case it is silent), its audio left out
 * and its decode time moved so that segment after segment, and run after run, play as one
 * stream. With nobody watching the hub reads nothing at all: following a second output of
 * ffmpeg all day cost more CPU than everything else the hub does for a camera
 * (docs/decisions.md, "Live video from the recording"). Recording never waits for a viewer:
 * the files are written whoever reads them.
 */
import { closeSync, type FSWatcher, openSync, readSync, watch } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../core/log.js';
import { type Fmp4Piece, Fmp4Splitter } from './fmp4.js';
import type { LiveStream } from './live-stream.js';
import { decoderKey, type VideoTrack, videoOnlyFragment, videoOnlyInit, videoTrack } from './video-only.js';

export interface RecordingFollowerOptions {
  /** The segment file being written now (absolute path), or undefined while the camera is down. */
  openSegment: () => string | undefined;
  /** After the last viewer leaves, it keeps following this long; default 30 s. */
  lingerMs?: number;
  /** While following, it reads at least this often whatever the file system reports; default 1 s. */
  pollMs?: number;
}

/** One read takes up to this much: a few fragments. */
const READ_BYTES = 256 * 1024;

export class RecordingFollower {
  #stream: LiveStream;
  #o: RecordingFollowerOptions;
  #log: Logger;
  #active = false;
  #file: { path: string; fd: number; offset: number } | undefined;
  #splitter = new Fmp4Splitter();
  #track: VideoTrack | undefined;
  /** Added to the decode times of the file being read, once its first fragment is seen. */
  #shift: number | undefined;
  /** Where the last fragment handed on ends, in the moved timeline. */
  #lastEnd: number | undefined;
  #seq = 0;
  #watcher: FSWatcher | undefined;
  #watchedDir: string | undefined;
  #poll: NodeJS.Timeout | undefined;
  #linger: NodeJS.Timeout | undefined;
  #buf: Buffer | undefined;
  #warned = false;
  #decoderKey: string | undefined;

  readonly #onViewers = (n: number) => {
    if (n > 0) {
      clearTimeout(this.#linger);
      this.#linger = undefined;
      if (!this.#active) this.#start();
    } else if (this.#active && !this.#linger) {
      this.#linger = setTimeout(() => {
        this.#linger = undefined;
        if (this.#stream.viewerCount === 0) this.#stop();
      }, this.#o.lingerMs ?? 30_000);
      this.#linger.unref();
    }
  };

  constructor(stream: LiveStream, options: RecordingFollowerOptions, log: Logger) {
    this.#stream = stream;
    this.#o = options;
    this.#log = log;
    stream.on('viewers', this.#onViewers);
    if (stream.viewerCount > 0) this.#start();
  }

  /** Whether it is following the recording now (someone watches, or did a moment ago). */
  get active(): boolean {
    return this.#active;
  }

  /** Stops for good (the camera is gone, or the hub stops). */
  close(): void {
    this.#stream.off('viewers', this.#onViewers);
    clearTimeout(this.#linger);
    this.#stop();
  }

  #start(): void {
    this.#active = true;
    this.#buf ??= Buffer.allocUnsafeSlow(READ_BYTES);
    this.#poll = setInterval(() => this.#tick(), this.#o.pollMs ?? 1000);
    this.#poll.unref();
    this.#tick();
  }

  #stop(): void {
    if (!this.#active) return;
    this.#active = false;
    clearInterval(this.#poll);
    this.#poll = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
    this.#watchedDir = undefined;
    this.#closeFile();
    this.#track = undefined;
    this.#decoderKey = undefined;
    this.#lastEnd = undefined;
    this.#buf = undefined;
    // Its init segment and key-frame fragments would be stale for the next viewer.
    this.#stream.end();
  }

  /** Reads what is new; moves on to the next file once the one it reads is closed. */
  #tick(): void {
    if (!this.#active) return;
    try {
      // A few files at most per tick: a closed one's last bytes, then the new one's first.
      for (let i = 0; i < 3; i++) {
        const open = this.#o.openSegment();
        if (!this.#file) {
          if (!open) return;
          this.#openFile(open);
        }
        this.#readNew();
        if (!open || open === this.#file!.path) return;
        // The recorder closed this file (it is complete: just read to its end) and writes another.
        this.#openFile(open);
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        // Removed (retention), or not created yet: the next tick tries again.
        this.#closeFile();
        return;
      }
      this.#log.warn({ err }, 'live: could not read the recording');
      this.#closeFile();
    }
  }

  #openFile(path: string): void {
    this.#closeFile();
    const fd = openSync(path, 'r');
    this.#file = { path, fd, offset: 0 };
    this.#splitter.reset();
    this.#shift = undefined;
    const dir = dirname(path);
    if (dir !== this.#watchedDir) {
      this.#watcher?.close();
      this.#watchedDir = dir;
      try {
        this.#watcher = watch(dir, { persistent: false }, () => this.#tick());
        this.#watcher.on('error', () => {
          this.#watcher?.close();
          this.#watcher = undefined;
        });
      } catch (err) {
        // The poll still reads, a little later.
        this.#watcher = undefined;
        this.#log.warn({ err, dir }, 'live: cannot watch the recordings folder; polling');
      }
    }
  }

  #closeFile(): void {
    if (!this.#file) return;
    closeSync(this.#file.fd);
    this.#file = undefined;
  }

  #readNew(): void {
    const file = this.#file!;
    const buf = this.#buf!;
    for (;;) {
      const n = readSync(file.fd, buf, 0, buf.length, file.offset);
      if (n === 0) return;
      file.offset += n;
      let pieces: Fmp4Piece[];
      try {
        pieces = this.#splitter.push(buf.subarray(0, n));
      } catch (err) {
        // Not fragmented MP4 (a damaged file): skip the rest of it.
        this.#log.warn({ err, path: file.path }, 'live: segment file is not fragmented MP4');
        file.offset = Number.MAX_SAFE_INTEGER;
        return;
      }
      for (const piece of pieces) {
        try {
          this.#onPiece(piece);
        } catch (err) {
          // A box the rewrite cannot read: that piece is skipped, the stream goes on.
          if (!this.#warned) this.#log.warn({ err, path: file.path }, 'live: fragment skipped');
          this.#warned = true;
        }
      }
      if (n < buf.length) return;
    }
  }

  #onPiece(piece: Fmp4Piece): void {
    if (piece.kind === 'init') {
      this.#track = videoTrack(piece.data);
      if (!this.#track) {
        if (!this.#warned) this.#log.warn('live: the recording has no video track');
        this.#warned = true;
        return;
      }
      // Every segment file starts with an init segment: a viewer's decoder starts over only
      // when what it decodes changes (a new camera setting), not at each file.
      const key = decoderKey(piece.data, this.#track);
      if (key !== undefined && key === this.#decoderKey && this.#stream.init) return;
      this.#decoderKey = key;
      this.#stream.pushInit(videoOnlyInit(piece.data, this.#track));
      return;
    }
    const track = this.#track;
    if (!track) return;
    const v = videoOnlyFragment(piece.data, track, (tfdt) => {
      // Each file's decode times start over: the first fragment of a file goes on where the
      // last one handed on ended.
      this.#shift ??= this.#lastEnd === undefined ? 0 : this.#lastEnd - tfdt;
      return tfdt + this.#shift;
    });
    if (!v) return;
    this.#lastEnd = v.tfdt + v.durationTicks;
    this.#stream.pushFragment({
      data: v.data,
      bytes: v.data.length,
      key: v.key,
      startSec: v.tfdt / track.timescale,
      durationSec: v.durationTicks / track.timescale,
      seq: this.#seq++,
    });
  }
}
