/**
 * Joins recorded segment files into one fragmented MP4 without ffmpeg: every file of a run
 * carries the same init segment (`ftyp` + `moov`), so a clip is the first file's init segment
 * followed by the fragments of each file, their decode times (`tfdt`) moved so the files play
 * back to back and their fragment numbers (`mfhd`) counted on. Bytes are copied, never decoded:
 * an hour of 1080p goes out about as fast as the disk reads it (ffmpeg's concat demuxer spends
 * most of a minute probing 360 files). Returns undefined when the files cannot be joined this
 * way (init segments differ: the camera's stream changed), and the caller uses ffmpeg instead.
 */
import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import {
  children,
  type FileFragment,
  find,
  mdhdTimescale,
  readTraf,
  type SampleDefaults,
  scanFile,
  type TrafInfo,
  tkhdTrackId,
  trexDefaults,
} from '../live/fmp4.js';
import type { ClipPiece } from './clip.js';

/** The init segment (ftyp + moov) at the start of a file, or undefined. */
async function readInit(file: string): Promise<Buffer | undefined> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(8);
    let at = 0;
    const parts: Buffer[] = [];
    for (let i = 0; i < 4; i++) {
      const { bytesRead } = await fh.read(head, 0, 8, at);
      if (bytesRead < 8) return undefined;
      const size = head.readUInt32BE(0);
      const type = head.toString('latin1', 4, 8);
      if (size < 8 || size > 4 * 1024 * 1024) return undefined;
      const box = Buffer.alloc(size);
      const { bytesRead: got } = await fh.read(box, 0, size, at);
      if (got < size) return undefined;
      parts.push(box);
      at += size;
      if (type === 'moov') return Buffer.concat(parts);
    }
    return undefined;
  } finally {
    await fh.close();
  }
}

/** track_ID → timescale, from a moov. */
function timescales(init: Buffer): Map<number, number> {
  const out = new Map<number, number>();
  const moov = find(init, 0, init.length, ['moov']);
  if (!moov) return out;
  for (const [type, s, e] of children(init, moov[0], moov[1])) {
    if (type !== 'trak') continue;
    const tkhd = find(init, s + 8, e, ['tkhd']);
    const mdhd = find(init, s + 8, e, ['mdia', 'mdhd']);
    if (!tkhd || !mdhd) continue;
    out.set(tkhdTrackId(init, tkhd[0]), mdhdTimescale(init, mdhd[0]));
  }
  return out;
}

/** Each track's part of a fragment (`moof` first), as the fragment says. */
function trafs(fragment: Buffer, defaults: Map<number, SampleDefaults>): TrafInfo[] {
  const out: TrafInfo[] = [];
  const none = { duration: 0, size: 0, flags: 0 };
  for (const [type, s, e] of children(fragment, 8, fragment.readUInt32BE(0))) {
    if (type !== 'traf') continue;
    const t = readTraf(fragment, s + 8, e, (id) => defaults.get(id) ?? none);
    if (t.tfdtAt >= 0) out.push(t);
  }
  return out;
}

/**
 * Output is handed on after about this many bytes, piece by piece as read (slices of the
 * files): joining them into one buffer first doubled the garbage the hub's small-heap settings
 * collect, and a clip went out at half the speed.
 */
const BATCH_BYTES = 4 * 1024 * 1024;

interface FileBytes {
  /** The file's bytes, in `whole`. */
  data: Buffer;
  whole: Buffer;
}

/** Reads a whole file into `into` when it is big enough (a buffer used before), else a new one. */
async function readInto(file: string, into: Buffer | undefined): Promise<FileBytes> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    // Room to spare: the next segment is often a little bigger.
    const whole = into && into.length >= size ? into : Buffer.allocUnsafeSlow(Math.ceil(size * 1.25));
    let at = 0;
    while (at < size) {
      const { bytesRead } = await fh.read(whole, at, size - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    return { data: whole.subarray(0, at), whole };
  } finally {
    await fh.close();
  }
}

/**
 * Writes `chunks` (from concatFragments) to `out`, asking for the next one only once the last
 * is written out: the chunks are slices of buffers that are read into again.
 */
export async function writeChunks(chunks: AsyncGenerator<Buffer>, out: Writable): Promise<void> {
  try {
    for await (const chunk of chunks) {
      await new Promise<void>((resolve, reject) =>
        out.write(chunk, (err) => (err ? reject(err) : resolve())),
      );
    }
  } finally {
    await chunks.return(undefined);
  }
}

/**
 * The clip as a stream of bytes, or undefined when the files' init segments differ. Each chunk
 * is valid only until the next is asked for (use writeChunks). Starts at
 * the key frame at or before `fromMs`, ends with the fragment that reaches `toMs`. Each file is
 * read whole (a segment is a few MB), its small `moof` boxes are rewritten in place, and its
 * fragments go out as slices of it, never copied.
 */
export async function concatFragments(
  wanted: readonly ClipPiece[],
  fromMs: number,
  toMs: number,
): Promise<AsyncGenerator<Buffer> | undefined> {
  // Files that retention deleted meanwhile are left out, like a gap.
  const found: ClipPiece[] = [];
  let init: Buffer | undefined;
  for (const p of wanted) {
    const mine = await readInit(p.file).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    });
    if (mine === null) continue;
    if (!mine || (init && !mine.equals(init))) return undefined;
    init ??= mine;
    found.push(p);
  }
  if (!init || found.length === 0) return undefined;
  const pieces = found;
  const first = init;
  const scales = timescales(init);
  const defaults = trexDefaults(init);
  if (scales.size === 0) return undefined;
  return (async function* () {
    /** Per track: where the next file's first sample goes, and the end of what was written. */
    const nextStart = new Map<number, bigint>();
    const ends = new Map<number, bigint>();
    for (const id of scales.keys()) nextStart.set(id, 0n);
    let sequence = 1;
    let started = false;
    let offsets = new Map<number, bigint>();
    let batch: Buffer[] = [first];
    let batched = first.length;

    /** The fragment's moof rewritten in place (the file's buffer is ours): decode times moved, numbered on. */
    const rewriteMoof = (out: Buffer): void => {
      const mfhd = find(out, 0, out.length, ['moof', 'mfhd']);
      if (mfhd) out.writeUInt32BE(sequence++ >>> 0, mfhd[0] + 4);
      for (const t of trafs(out, defaults)) {
        const base = nextStart.get(t.trackId);
        if (base === undefined) continue;
        const baseTime = BigInt(t.baseTime);
        let offset = offsets.get(t.trackId);
        if (offset === undefined) {
          offset = base - baseTime;
          offsets.set(t.trackId, offset);
        }
        const time = baseTime + offset;
        if (t.tfdtVersion === 1) out.writeBigUInt64BE(time, t.tfdtAt + 4);
        else if (time <= 0xffffffffn) out.writeUInt32BE(Number(time), t.tfdtAt + 4);
        else throw new Error('clip too long for 32-bit fragment times');
        ends.set(t.trackId, time + BigInt(t.duration));
      }
    };
    // Back-to-back fragments of a file go out as one slice of it.
    let run: { buf: Buffer; start: number; end: number } | undefined;
    const endRun = () => {
      if (run) batch.push(run.buf.subarray(run.start, run.end));
      run = undefined;
    };
    const add = (buf: Buffer, f: FileFragment) => {
      rewriteMoof(buf.subarray(f.moofStart, f.moofStart + buf.readUInt32BE(f.moofStart)));
      if (run && run.buf === buf && run.end === f.moofStart) run.end = f.end;
      else {
        endRun();
        run = { buf, start: f.moofStart, end: f.end };
      }
      batched += f.end - f.moofStart;
    };

    // The next file is read while this one goes out, into one of two buffers used in turn: a
    // gigabyte of fresh buffers an hour kept the garbage collector busy for seconds.
    let spare: Buffer | undefined;
    let next: Promise<FileBytes> | undefined = readInto(pieces[0]!.file, undefined);
    for (const [i, piece] of pieces.entries()) {
      // A file that retention deleted meanwhile is left out, like a gap.
      const read = await next!.catch(() => undefined);
      next = i + 1 < pieces.length ? readInto(pieces[i + 1]!.file, spare) : undefined;
      spare = undefined;
      next?.catch(() => {}); // a clip that ends early never awaits it
      if (!read) continue;
      const buf = read.data;
      const scan = scanFile(buf);
      if (!scan) {
        spare = read.whole;
        continue;
      }
      offsets = new Map();
      let ended = false;
      // Fragments before `fromMs` are held back until the key frame they hang on is known.
      let pending: FileFragment[] = [];
      for (const f of scan.fragments) {
        const fragStartMs = piece.startMs + f.startSec * 1000;
        if (fragStartMs >= toMs) {
          ended = true;
          break;
        }
        if (!started) {
          if (f.key) pending = [];
          pending.push(f);
          if (fragStartMs + f.durationSec * 1000 <= fromMs) continue;
          started = true;
          for (const p of pending) add(buf, p);
          pending = [];
        } else {
          add(buf, f);
        }
        if (batched >= BATCH_BYTES) {
          endRun();
          yield* batch;
          batch = [];
          batched = 0;
        }
      }
      // The next file follows this one's last sample, track by track.
      for (const [id, end] of ends) nextStart.set(id, end);
      // All of this file goes out now; once the reader asks for more, its buffer is free.
      endRun();
      yield* batch;
      batch = [];
      batched = 0;
      spare = read.whole;
      if (ended) break;
    }
    endRun();
    yield* batch;
  })();
}
