/**
 * A stretch of recording as one MP4 when the segment files cannot simply be joined (see
 * fmp4-concat.ts: their init segments differ): ffmpeg's concat demuxer over the segment files, each
 * trimmed to the range (to the key frame at or before the start: codec copy cannot cut between
 * key frames), codec copy, written as fragmented MP4 to a pipe so the download starts at once
 * and the hub never holds the clip in memory or on disk. The segment being written is included
 * up to its last complete fragment, so "save the last two minutes" works.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FfmpegProcess, spawnFfmpeg } from '../media/ffmpeg.js';

export interface ClipPiece {
  /** Absolute path of a segment file. */
  file: string;
  startMs: number;
  durationMs: number;
}

const quote = (path: string) => `'${path.replace(/'/g, "'\\''")}'`;

/** An `ffconcat` list covering [fromMs, toMs) with the pieces' in- and out-points. */
export function concatList(pieces: readonly ClipPiece[], fromMs: number, toMs: number): string {
  const lines = ['ffconcat version 1.0'];
  for (const p of pieces) {
    const inSec = Math.max(0, fromMs - p.startMs) / 1000;
    const outSec = Math.min(p.durationMs, toMs - p.startMs) / 1000;
    if (outSec <= inSec) continue;
    lines.push(`file ${quote(p.file)}`);
    // Each file is ours and fragmented MP4: probing it at length costs ~70 ms a file for nothing.
    lines.push('option probesize 32', 'option analyzeduration 0');
    if (inSec > 0) lines.push(`inpoint ${inSec.toFixed(3)}`);
    if (outSec < p.durationMs / 1000) lines.push(`outpoint ${outSec.toFixed(3)}`);
  }
  return `${lines.join('\n')}\n`;
}

export interface Clip {
  proc: FfmpegProcess;
  /** Removes the temporary list; call once the process has exited. */
  cleanup(): Promise<void>;
}

export async function startClip(options: {
  pieces: readonly ClipPiece[];
  fromMs: number;
  toMs: number;
  ffmpegPath: string;
}): Promise<Clip> {
  const dir = await mkdtemp(join(tmpdir(), 'khu-clip-'));
  const list = join(dir, 'list.ffconcat');
  await writeFile(list, concatList(options.pieces, options.fromMs, options.toMs));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const proc = spawnFfmpeg({
      ffmpegPath: options.ffmpegPath,
      pipeStdout: true,
      args: [
        '-f',
        'concat',
        '-safe',
        '0', // absolute paths, all ours: from the index, inside the recordings folder
        '-protocol_whitelist',
        'file',
        '-i',
        list,
        '-map',
        '0:v:0',
        '-map',
        '0:a:0?',
        '-c',
        'copy',
        '-movflags',
        '+frag_keyframe+empty_moov+default_base_moof',
        '-f',
        'mp4',
        'pipe:1',
      ],
    });
    return { proc, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
