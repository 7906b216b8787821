/**
 * Live video cut from recorded segments (hub/src/live/video-only.ts): two segment files as the
 * recorder writes them (video and audio, fragmented MP4, decode times starting at 0 in each),
 * turned into one video-only stream that ffprobe reads as a single unbroken track.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fmp4Splitter } from '../../hub/src/live/fmp4.js';
import { decoderKey, videoOnlyFragment, videoOnlyInit, videoTrack } from '../../hub/src/live/video-only.js';

let dir: string;

/** A 2 s segment like the recorder's: H.264 at 25 fps with a key frame each second, AAC audio. */
function segment(name: string, colour: string, size = '320x240'): Buffer {
  const file = join(dir, name);
  const r = spawnSync(
    'ffmpeg',
    [
      ...['-hide_banner', '-loglevel', 'error', '-y'],
      ...['-f', 'lavfi', '-i', `color=c=${colour}:size=${size}:rate=25`],
      ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=16000'],
      ...['-t', '2', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-c:a', 'aac'],
      ...['-f', 'mp4', '-movflags', '+frag_keyframe+empty_moov+default_base_moof'],
      ...['-frag_duration', '250000', file],
    ],
    { encoding: 'utf8' },
  );
  expect(r.status, r.stderr).toBe(0);
  return readFileSync(file);
}

function probe(
  file: string,
  select?: 'v',
): { streams: Array<{ codec_type: string }>; frames: number; pts: number[] } {
  const r = spawnSync(
    'ffprobe',
    [
      ...['-v', 'error', '-show_entries', 'stream=codec_type:packet=pts_time', '-of', 'json'],
      ...(select ? ['-select_streams', select] : []),
      file,
    ],
    { encoding: 'utf8' },
  );
  expect(r.status, r.stderr).toBe(0);
  const j = JSON.parse(r.stdout) as {
    streams: Array<{ codec_type: string }>;
    packets: Array<{ pts_time: string }>;
  };
  const pts = j.packets.map((p) => Number(p.pts_time));
  return { streams: j.streams, frames: pts.length, pts };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'khu-video-only-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('live video cut from recorded segments', () => {
  it('joins two segments into one video-only stream on one timeline', () => {
    const files = [segment('a.mp4', 'red'), segment('b.mp4', 'blue')];
    const out: Buffer[] = [];
    let lastEnd: number | undefined;
    let inits = 0;
    let audioOnly = 0;
    for (const file of files) {
      const splitter = new Fmp4Splitter();
      let track: ReturnType<typeof videoTrack>;
      let shift: number | undefined;
      for (const piece of splitter.push(file)) {
        if (piece.kind === 'init') {
          track = videoTrack(piece.data);
          expect(track).toMatchObject({ trackId: 1 });
          const init = videoOnlyInit(piece.data, track!);
          expect(piece.data.includes('soun', 0, 'latin1')).toBe(true);
          expect(init.includes('soun', 0, 'latin1')).toBe(false);
          if (inits++ === 0) out.push(init);
          continue;
        }
        const v = videoOnlyFragment(piece.data, track!, (tfdt) => {
          shift ??= lastEnd === undefined ? 0 : lastEnd - tfdt;
          return tfdt + shift;
        });
        // ffmpeg ends a file with a fragment of the audio alone: nothing of it goes on.
        if (!v) {
          audioOnly++;
          continue;
        }
        if (lastEnd !== undefined) expect(v!.tfdt).toBe(lastEnd);
        lastEnd = v!.tfdt + v!.durationTicks;
        out.push(v!.data);
      }
    }
    expect(audioOnly).toBeLessThanOrEqual(2);
    const joined = join(dir, 'live.mp4');
    writeFileSync(joined, Buffer.concat(out));
    const p = probe(joined);
    expect(p.streams.map((s) => s.codec_type)).toEqual(['video']);
    // Every frame of both files, one after the other: the frame steps of the first file, one
    // frame (40 ms) across the join, then the steps of the second.
    const steps = (pts: number[]) => pts.slice(1).map((t, i) => t - pts[i]!);
    const [a, b] = ['a.mp4', 'b.mp4'].map((f) => probe(join(dir, f), 'v'));
    expect(p.frames).toBe(a!.frames + b!.frames);
    const expected = [...steps(a!.pts), 0.04, ...steps(b!.pts)];
    steps(p.pts).forEach((step, i) => {
      expect(step).toBeCloseTo(expected[i]!, 3);
    });
    // And it decodes.
    const decode = spawnSync('ffmpeg', ['-v', 'error', '-i', joined, '-f', 'null', '-'], {
      encoding: 'utf8',
    });
    expect(decode.status).toBe(0);
    expect(decode.stderr).toBe('');
  });

  it('tells a new decoder setup from a segment that only starts a new file', () => {
    const initOf = (file: Buffer) => {
      const init = new Fmp4Splitter().push(file)[0]!;
      expect(init.kind).toBe('init');
      return init.data;
    };
    const [a, b, other] = [
      initOf(segment('k1.mp4', 'red')),
      initOf(segment('k2.mp4', 'blue')),
      initOf(segment('k3.mp4', 'red', '352x288')),
    ];
    const key = (init: Buffer) => decoderKey(init, videoTrack(init)!);
    expect(key(a)).toBeDefined();
    expect(key(b)).toBe(key(a));
    expect(key(other)).not.toBe(key(a));
  });

  it('leaves out what it cannot read instead of passing it on', () => {
    const file = segment('c.mp4', 'green');
    const pieces = new Fmp4Splitter().push(file);
    const init = pieces[0]!;
    expect(init.kind).toBe('init');
    const track = videoTrack(init.data)!;
    const fragment = pieces.find((p) => p.kind === 'fragment')!.data;
    // A fragment of another track only (the audio), and a trun whose data offset points past the end.
    expect(videoOnlyFragment(fragment, { ...track, trackId: 99 }, (t) => t)).toBeUndefined();
    const truncated = fragment.subarray(0, fragment.readUInt32BE(0) + 16);
    expect(videoOnlyFragment(truncated, track, (t) => t)).toBeUndefined();
    // An init segment without video.
    expect(videoTrack(Buffer.from('0000000866726565', 'hex'))).toBeUndefined();
  });
});
