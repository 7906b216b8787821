import { describe, expect, it } from 'vitest';
import { SegmentTracker } from '../../hub/src/recording/segment-tracker.js';

const T0 = Date.parse('2026-11-26T10:00:00.000Z');

describe('SegmentTracker', () => {
  it('dates a closed segment by the moment its list line arrives', () => {
    const t = new SegmentTracker();
    expect(t.listLine('cam/run-20261126T100000Z.mp4,0.000000,10.000000', T0 + 10_020)).toEqual({
      file: 'cam/run-20261126T100000Z.mp4',
      startMs: T0 + 20,
      endMs: T0 + 10_020,
      durationMs: 10_000,
    });
    // The next segment is being written from that moment on.
    expect(t.open()).toEqual({ startMs: T0 + 10_020 });
  });

  it('knows where the first segment began from the progress pipe, before any line', () => {
    const t = new SegmentTracker();
    expect(t.open()).toBeUndefined();
    t.progress(0, T0 + 100); // ffmpeg's first block, before any packet
    expect(t.open()).toBeUndefined();
    t.progress(1_500_000, T0 + 1_600);
    expect(t.open()).toEqual({ startMs: T0 + 100 });
  });

  it('keeps consecutive segments contiguous to within the arrival jitter', () => {
    const t = new SegmentTracker();
    const a = t.listLine('a.mp4,0.000000,10.000000', T0 + 10_000)!;
    const b = t.listLine('b.mp4,10.000000,20.000000', T0 + 20_015)!;
    expect(b.startMs - a.endMs).toBe(15);
  });

  it('never lets a segment whose stream clock jumped start before the previous one ended', () => {
    const t = new SegmentTracker();
    const a = t.listLine('a.mp4,0.000000,10.000000', T0 + 10_000)!;
    // The camera's clock jumped an hour ahead inside b: its stream span is 3610 s, its wall span 10 s.
    const b = t.listLine('b.mp4,10.000000,3620.000000', T0 + 20_000)!;
    expect(b.startMs).toBe(a.endMs);
    expect(b.durationMs).toBe(10_000);
  });

  it('refuses lines that are not file,start,end', () => {
    const t = new SegmentTracker();
    for (const line of ['', 'garbage', 'a.mp4,ten,20', 'a.mp4,20.0,10.0', ',1,2x']) {
      expect(t.listLine(line, T0)).toBeUndefined();
    }
    expect(t.open()).toBeUndefined();
  });
});
