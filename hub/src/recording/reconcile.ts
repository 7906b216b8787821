import { execFile } from 'node:child_process';
import { readdir, stat, unlink } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { Logger } from '../core/log.js';
import type { CamerasRepo } from '../store/cameras-repo.js';

export interface ReconcileResult {
  /** Index rows whose file was gone. */
  dropped: number;
  /** Files that played but were not indexed (the segment being written at a power cut). */
  indexed: number;
  /** Files that did not play at all, removed. */
  removed: number;
}

/** Duration in ms of a media file, or 0 when it does not play. */
export function mediaDurationMs(file: string, ffprobePath = 'ffprobe'): Promise<number> {
  return new Promise((resolve) => {
    execFile(
      ffprobePath,
      ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=nw=1:nk=1', file],
      { timeout: 10_000 },
      (err, stdout) => {
        const seconds = Number(String(stdout).trim());
        resolve(err || !Number.isFinite(seconds) ? 0 : Math.round(seconds * 1000));
      },
    );
  });
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile() && e.name.endsWith('.mp4')) out.push(p);
  }
  return out;
}

/**
 * At start, make one camera's index match its files: rows whose file is gone are dropped; a
 * file that plays but has no row (the segment being written when the power went) is indexed,
 * ending at its last write; a file that does not play is removed.
 */
export async function reconcileCamera(deps: {
  repo: CamerasRepo;
  dir: string;
  cameraId: string;
  log: Logger;
  ffprobePath?: string;
}): Promise<ReconcileResult> {
  const { repo, dir, cameraId, log } = deps;
  const result: ReconcileResult = { dropped: 0, indexed: 0, removed: 0 };
  const indexed = repo.allSegmentPaths(cameraId);
  const known = new Set(indexed.map((s) => s.path));
  const missing: number[] = [];
  for (const s of indexed) {
    try {
      await stat(join(dir, s.path));
    } catch {
      missing.push(s.id);
    }
  }
  if (missing.length) {
    repo.removeSegments(missing);
    result.dropped = missing.length;
  }
  for (const file of await filesUnder(join(dir, cameraId))) {
    const path = relative(dir, file);
    if (known.has(path)) continue;
    const durationMs = await mediaDurationMs(file, deps.ffprobePath);
    const info = await stat(file);
    if (durationMs <= 0) {
      await unlink(file).catch(() => {});
      result.removed++;
      continue;
    }
    // Fragments are written every ~500 ms: the file's last write is the end of what it holds.
    const endMs = info.mtimeMs;
    repo.upsertSegment({
      cameraId,
      start: new Date(endMs - durationMs).toISOString(),
      end: new Date(endMs).toISOString(),
      durationMs,
      bytes: info.size,
      path,
      complete: true,
    });
    result.indexed++;
  }
  if (result.dropped + result.indexed + result.removed > 0)
    log.info({ cameraId, ...result }, 'recordings reconciled');
  return result;
}
