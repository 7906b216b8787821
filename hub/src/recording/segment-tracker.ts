/**
 * Turns what one recording ffmpeg says into wall-clock segments. ffmpeg writes a CSV line
 * `file,start,end` (stream seconds) to the segment list the moment a segment closes, which is the
 * moment the next segment's first packet arrives: so the line's arrival time is the closed
 * segment's wall-clock end, to within milliseconds. The progress pipe (`out_time`) anchors the
 * segment being written before the first line arrives.
 */
export interface ClosedSegment {
  file: string;
  startMs: number;
  endMs: number;
  durationMs: number;
}

export interface OpenSegment {
  startMs: number;
}

export class SegmentTracker {
  /** Wall-clock ms of stream time 0 for this run, once known. */
  #anchorMs: number | undefined;
  /** Stream seconds where the segment being written began. */
  #openStartSec = 0;
  /** Wall-clock end of the last closed segment: the next one never starts before it. */
  #lastEndMs: number | undefined;

  /** A progress block: `out_time` (µs of stream time) seen at `nowMs`. */
  progress(outTimeUs: number, nowMs: number): void {
    if (this.#anchorMs === undefined && outTimeUs > 0) this.#anchorMs = nowMs - outTimeUs / 1000;
  }

  /**
   * A line of the CSV segment list, seen at `nowMs`. Returns the closed segment, or undefined
   * for a line that is not `file,start,end`.
   */
  listLine(line: string, nowMs: number): ClosedSegment | undefined {
    const m = /^(.+),(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)$/.exec(line.trim());
    if (!m) return undefined;
    const file = m[1]!.replace(/^"|"$/g, '');
    const startSec = Number(m[2]);
    const endSec = Number(m[3]);
    if (!(endSec >= startSec)) return undefined;
    // The closing line is written when the next segment starts: that is now.
    this.#anchorMs = nowMs - endSec * 1000;
    this.#openStartSec = endSec;
    // A stream clock that jumped forward would claim a start before the previous segment's end.
    const startMs = Math.max(nowMs - Math.round((endSec - startSec) * 1000), this.#lastEndMs ?? -Infinity);
    this.#lastEndMs = nowMs;
    return { file, startMs, endMs: nowMs, durationMs: nowMs - startMs };
  }

  /** Where the segment being written began, once the run's clock is known. */
  open(): OpenSegment | undefined {
    if (this.#anchorMs === undefined) return undefined;
    return { startMs: Math.round(this.#anchorMs + this.#openStartSec * 1000) };
  }
}
