import { statfs as statfsAsync, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../core/log.js';
import type { CamerasRepo, SegmentRecord } from '../store/cameras-repo.js';

export interface RetentionOptions {
  /** The recordings folder; segment paths in the index are relative to it. */
  dir: string;
  retentionDays: number;
  minFreeBytes: number;
}

export interface SweepResult {
  deletedByAge: number;
  deletedForSpace: number;
  freedBytes: number;
  /** Free space stayed under the floor with nothing left to delete. */
  stillShort: boolean;
}

type FreeBytes = (dir: string) => Promise<number>;

const systemFreeBytes: FreeBytes = async (dir) => {
  const s = await statfsAsync(dir);
  return s.bavail * s.bsize;
};

const DAY_MS = 86_400_000;
const BATCH = 200;

/**
 * Keeps the recordings disk from filling up: segments older than their camera's retention go,
 * and whenever free space is under the floor the oldest segments of any camera go first. Files
 * and index rows go together; a file already gone is not an error.
 */
export class RetentionSweeper {
  #repo: CamerasRepo;
  #log: Logger;
  #opts: RetentionOptions;
  #freeBytes: FreeBytes;
  #now: () => number;

  constructor(deps: {
    repo: CamerasRepo;
    log: Logger;
    options: RetentionOptions;
    freeBytes?: FreeBytes;
    now?: () => number;
  }) {
    this.#repo = deps.repo;
    this.#log = deps.log;
    this.#opts = deps.options;
    this.#freeBytes = deps.freeBytes ?? systemFreeBytes;
    this.#now = deps.now ?? Date.now;
  }

  #running: Promise<SweepResult> | undefined;

  /** One sweep at a time: a call while one runs gets that one's result. */
  sweep(): Promise<SweepResult> {
    this.#running ??= this.#sweep().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #sweep(): Promise<SweepResult> {
    const result: SweepResult = { deletedByAge: 0, deletedForSpace: 0, freedBytes: 0, stillShort: false };
    for (const camera of this.#repo.listCameras()) {
      const days = camera.retentionDays ?? this.#opts.retentionDays;
      const before = new Date(this.#now() - days * DAY_MS).toISOString();
      for (;;) {
        const old = this.#repo.oldestSegments(BATCH, camera.id, before);
        if (old.length === 0) break;
        result.freedBytes += await this.#delete(old);
        result.deletedByAge += old.length;
      }
    }
    while ((await this.#freeBytes(this.#opts.dir)) < this.#opts.minFreeBytes) {
      // One at a time: statfs is cheap, and no more goes than is needed.
      const oldest = this.#repo.oldestSegments(1);
      if (oldest.length === 0) {
        result.stillShort = true;
        this.#log.error(
          { dir: this.#opts.dir },
          'recordings disk under its free-space floor, nothing left to delete',
        );
        break;
      }
      result.freedBytes += await this.#delete(oldest);
      result.deletedForSpace += oldest.length;
    }
    if (result.deletedByAge + result.deletedForSpace > 0) this.#log.info(result, 'old recordings deleted');
    return result;
  }

  async #delete(segments: SegmentRecord[]): Promise<number> {
    let freed = 0;
    for (const s of segments) {
      try {
        await unlink(join(this.#opts.dir, s.path));
        freed += s.bytes;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          this.#log.warn({ err, path: s.path }, 'could not delete a segment');
        }
      }
    }
    this.#repo.removeSegments(segments.map((s) => s.id));
    return freed;
  }
}
