/**
 * What was recorded over a stretch of time: the segments, and the gaps between them. Segments of
 * one ffmpeg run follow each other exactly; a hole longer than `toleranceMs` (camera down, a
 * restart) is a gap. Times are UTC ISO strings; comparisons are done on milliseconds.
 */
export interface Span {
  start: string;
  end: string;
}

export function gapsIn(segments: Span[], from: string, to: string, toleranceMs = 1000): Span[] {
  const fromMs = Date.parse(from);
  const toMs = Date.parse(to);
  const sorted = [...segments].sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  const gaps: Span[] = [];
  let covered = fromMs;
  for (const s of sorted) {
    const start = Date.parse(s.start);
    const end = Date.parse(s.end);
    if (end <= covered) continue;
    if (start - covered > toleranceMs) gaps.push(span(covered, Math.min(start, toMs)));
    covered = Math.max(covered, end);
    if (covered >= toMs) break;
  }
  if (toMs - covered > toleranceMs) gaps.push(span(covered, toMs));
  return gaps.filter((g) => Date.parse(g.end) > Date.parse(g.start));
}

const span = (startMs: number, endMs: number): Span => ({
  start: new Date(startMs).toISOString(),
  end: new Date(endMs).toISOString(),
});
