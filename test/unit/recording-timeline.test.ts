import { describe, expect, it } from 'vitest';
import { gapsIn } from '../../hub/src/recording/timeline.js';

const at = (s: string) => `2026-11-26T10:${s}.000Z`;
const seg = (a: string, b: string) => ({ start: at(a), end: at(b) });

describe('gapsIn', () => {
  it('finds no gap in back-to-back segments, even with a few ms of jitter', () => {
    const segments = [seg('00:00', '00:10'), { start: '2026-11-26T10:00:10.020Z', end: at('00:20') }];
    expect(gapsIn(segments, at('00:00'), at('00:20'))).toEqual([]);
  });

  it('reports the hole while the camera was down, and the uncovered edges of the range', () => {
    const segments = [seg('00:10', '00:20'), seg('01:20', '01:30')];
    expect(gapsIn(segments, at('00:00'), at('02:00'))).toEqual([
      { start: at('00:00'), end: at('00:10') },
      { start: at('00:20'), end: at('01:20') },
      { start: at('01:30'), end: at('02:00') },
    ]);
  });

  it('clips segments reaching outside the range, and takes them in any order', () => {
    const segments = [seg('00:50', '01:10'), seg('00:00', '00:20')];
    expect(gapsIn(segments, at('00:10'), at('01:00'))).toEqual([{ start: at('00:20'), end: at('00:50') }]);
  });

  it('answers one gap for the whole range when nothing was recorded', () => {
    expect(gapsIn([], at('00:00'), at('00:30'))).toEqual([{ start: at('00:00'), end: at('00:30') }]);
  });

  it('ignores overlapping segments (a restart that overlapped by a frame)', () => {
    const segments = [seg('00:00', '00:10'), seg('00:09', '00:20'), seg('00:05', '00:08')];
    expect(gapsIn(segments, at('00:00'), at('00:20'))).toEqual([]);
  });
});
