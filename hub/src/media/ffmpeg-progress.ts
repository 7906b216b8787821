/**
 * ffmpeg's `-progress` output: blocks of `key=value` lines, each block ending with
 * `progress=continue` (or `progress=end`, the last one). Values may be `N/A` and are padded
 * with spaces (`speed=   0x`, `bitrate= 363.6kbits/s`); `out_time` is negative before the
 * first keyframe of a stream copy (`out_time_us=-199989`).
 */
export interface FfmpegProgress {
  /** Frames written so far (of the first video stream); null when ffmpeg says N/A. */
  frame: number | null;
  fps: number | null;
  /** Media time written so far, in milliseconds (may be negative at the very start). */
  outTimeMs: number | null;
  /** Times real time (`1.2x` → 1.2). */
  speed: number | null;
  /** Bytes written so far (N/A for segment and null outputs). */
  totalSize: number | null;
  progress: 'continue' | 'end';
  /** Every key of the block as ffmpeg printed it, trimmed. */
  raw: Readonly<Record<string, string>>;
}

/** Longest line kept while waiting for its newline: a block's lines are all short. */
const MAX_LINE = 4096;

function num(value: string | undefined, suffix = ''): number | null {
  if (value === undefined) return null;
  let v = value.trim();
  if (suffix && v.endsWith(suffix)) v = v.slice(0, -suffix.length).trim();
  if (v === '' || v === 'N/A') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** One block of `key=value` pairs (already split) → a progress record. */
export function progressFromBlock(raw: Record<string, string>): FfmpegProgress {
  // `out_time_ms` is in microseconds too (a long-standing ffmpeg quirk): prefer `out_time_us`.
  const outUs = num(raw.out_time_us) ?? num(raw.out_time_ms);
  return {
    frame: num(raw.frame),
    fps: num(raw.fps),
    outTimeMs: outUs === null ? null : outUs / 1000,
    speed: num(raw.speed, 'x'),
    totalSize: num(raw.total_size),
    progress: raw.progress === 'end' ? 'end' : 'continue',
    raw,
  };
}

/**
 * Incremental parser: feed it chunks as they arrive from the progress pipe (split anywhere);
 * it returns the blocks completed by each chunk.
 */
export class ProgressParser {
  #partial = '';
  #block: Record<string, string> = {};

  push(chunk: string): FfmpegProgress[] {
    const out: FfmpegProgress[] = [];
    const lines = (this.#partial + chunk).split('\n');
    this.#partial = lines.pop() ?? '';
    if (this.#partial.length > MAX_LINE) this.#partial = '';
    for (const line of lines) {
      const eq = line.indexOf('=');
      if (eq <= 0) continue;
      const key = line.slice(0, eq).trim();
      const value = line.slice(eq + 1).trim();
      this.#block[key] = value;
      if (key === 'progress') {
        out.push(progressFromBlock(this.#block));
        this.#block = {};
      }
    }
    return out;
  }
}

/** All the complete blocks of a captured progress text. */
export function parseProgress(text: string): FfmpegProgress[] {
  return new ProgressParser().push(text.endsWith('\n') ? text : `${text}\n`);
}
