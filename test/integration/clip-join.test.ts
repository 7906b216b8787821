/**
 * Clips from recorded segment files, with real ffmpeg-made fragmented MP4 (the recorder's own
 * settings): joined fragment by fragment when the files share their init segment, by ffmpeg's
 * concat demuxer when they do not (the camera's stream changed); either way every frame of the
 * range plays, in one file.
 */
import { execFile } from 'node:child_process';
import { createWriteStream, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClipPiece, startClip } from '../../hub/src/recording/clip.js';
import { concatFragments, writeChunks } from '../../hub/src/recording/fmp4-concat.js';

const run = promisify(execFile);
let dir: string;
let pieces: ClipPiece[];
const T0 = Date.parse('2026-11-26T12:00:00.000Z');

/** `seconds` of 25 fps test picture cut into 2 s fragmented-MP4 segments, as the recorder cuts them. */
async function record(prefix: string, size: string, seconds: number): Promise<string[]> {
  await run('ffmpeg', [
    ...['-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=25:duration=${seconds}`],
    ...['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=16000:duration=${seconds}`],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-bf', '0', '-c:a', 'aac', '-ac', '1'],
    ...['-f', 'segment', '-segment_time', '2', '-reset_timestamps', '1', '-segment_format', 'mp4'],
    ...[
      '-segment_format_options',
      'movflags=+frag_keyframe+empty_moov+default_base_moof:frag_duration=500000',
    ],
    join(dir, `${prefix}-%03d.mp4`),
  ]);
  return readdirSync(dir)
    .filter((f) => f.startsWith(`${prefix}-`))
    .sort()
    .map((f) => join(dir, f));
}

async function probe(file: string): Promise<{ duration: number; frames: number; audio: number }> {
  const { stdout } = await run('ffprobe', [
    ...['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_type,nb_read_frames:format=duration'],
    ...['-of', 'json', file],
  ]);
  const j = JSON.parse(stdout) as {
    streams: Array<{ codec_type: string; nb_read_frames: string }>;
    format: { duration: string };
  };
  const frames = (type: string) => Number(j.streams.find((s) => s.codec_type === type)?.nb_read_frames ?? 0);
  return { duration: Number(j.format.duration), frames: frames('video'), audio: frames('audio') };
}

async function save(source: AsyncGenerator<Buffer> | Readable, name: string): Promise<string> {
  const file = join(dir, name);
  if (source instanceof Readable) await pipeline(source, createWriteStream(file));
  else {
    const out = createWriteStream(file);
    await writeChunks(source, out);
    await new Promise((resolve) => out.end(resolve));
  }
  return file;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'khu-join-'));
  const files = await record('a', '320x180', 8);
  pieces = files.map((file, i) => ({ file, startMs: T0 + i * 2000, durationMs: 2000 }));
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('joining segments into a clip', () => {
  it('joins files of one run fragment by fragment: every frame, back to back, in one playable MP4', async () => {
    expect(pieces.length).toBe(4);
    const joined = await concatFragments(pieces, T0, T0 + 8000);
    expect(joined).toBeDefined();
    const clip = await probe(await save(joined!, 'whole.mp4'));
    expect(clip.frames).toBe(200);
    expect(clip.duration).toBeCloseTo(8, 0);
    expect(clip.audio).toBeGreaterThan(100); // the audio track comes along
  });

  it('starts at the key frame at or before `from` and stops with the fragment that reaches `to`', async () => {
    const joined = await concatFragments(pieces, T0 + 2600, T0 + 5200);
    const clip = await probe(await save(joined!, 'middle.mp4'));
    // Key frames every second: from 2.0 s; fragments of 0.5 s: up to 5.5 s.
    expect(clip.duration).toBeGreaterThanOrEqual(2.9);
    expect(clip.duration).toBeLessThanOrEqual(3.8); // the audio of the last fragment runs a little longer
    expect(clip.frames).toBeGreaterThanOrEqual(2.9 * 25);
  });

  it('leaves files whose streams differ to ffmpeg, which still gives one playable clip', async () => {
    const other = await record('b', '256x144', 2);
    const mixed = [...pieces.slice(0, 2), { file: other[0]!, startMs: T0 + 4000, durationMs: 2000 }];
    expect(await concatFragments(mixed, T0, T0 + 6000)).toBeUndefined();
    const clip = await startClip({ pieces: mixed, fromMs: T0, toMs: T0 + 6000, ffmpegPath: 'ffmpeg' });
    const file = save(clip.proc.stdout!, 'mixed.mp4');
    const exit = await clip.proc.exited;
    await clip.cleanup();
    expect(exit.code).toBe(0);
    const probed = await probe(await file);
    expect(probed.frames).toBe(150);
  });

  it('leaves out a file that retention deleted meanwhile, like a gap', async () => {
    const gone = [
      ...pieces.slice(0, 2),
      { file: join(dir, 'deleted.mp4'), startMs: T0 + 4000, durationMs: 2000 },
    ];
    const joined = await concatFragments(gone, T0, T0 + 6000);
    expect((await probe(await save(joined!, 'gone.mp4'))).frames).toBe(100);
    // Deleted after the clip began: the file is left out when its turn comes.
    const late = await concatFragments(pieces, T0, T0 + 8000);
    rmSync(pieces[3]!.file);
    expect((await probe(await save(late!, 'late.mp4'))).frames).toBe(150);
  });

  it('refuses what is not fragmented MP4', async () => {
    const bogus = join(dir, 'bogus.mp4');
    await run('sh', ['-c', `head -c 4096 /dev/urandom > ${bogus}`]);
    expect(
      await concatFragments([{ file: bogus, startMs: T0, durationMs: 2000 }], T0, T0 + 2000),
    ).toBeUndefined();
    expect(await concatFragments([], T0, T0 + 2000)).toBeUndefined();
  });
});
