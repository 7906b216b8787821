/**
 * Fragmented MP4 as ffmpeg writes it to a pipe (`-movflags frag_keyframe+empty_moov+
 * default_base_moof`): `ftyp` + `moov` (the init segment), then `moof` + `mdat` pairs (the
 * fragments). The splitter cuts the byte stream into those pieces and reads, from each `moof`,
 * whether the fragment starts on a key frame and where it sits in time: all a live fan-out
 * needs. ISO/IEC 14496-12 boxes; only what ffmpeg writes for one video track is interpreted.
 */

export interface Fmp4Fragment {
  /**
   * `moof` + `mdat`, ready to append to a SourceBuffer after the init segment: a copy of its
   * own, made on first use, which must come while the splitter still holds the bytes (during
   * the push that made the fragment, or while it is kept: Fmp4Splitter.keepFrom).
   */
  readonly data: Buffer;
  readonly bytes: number;
  /** The first sample is a sync sample (a key frame): a decoder can start here. */
  readonly key: boolean;
  /** Decode time of the first sample, in seconds of the track (tfdt / timescale). */
  readonly startSec: number;
  /** Sum of the sample durations, in seconds (0 when the fragment does not say). */
  readonly durationSec: number;
  /** Counts fragments of this stream from 0; a new init segment starts over. */
  readonly seq: number;
}

export type Fmp4Piece = { kind: 'init'; data: Buffer } | ({ kind: 'fragment' } & Fmp4Fragment);

/** A box bigger than this is not something a camera stream makes: the stream is corrupt. */
const MAX_BOX_BYTES = 64 * 1024 * 1024;
/** `sample_is_non_sync_sample` in the sample flags (ISO/IEC 14496-12 §8.8.3.1). */
const NON_SYNC = 0x10000;

interface TrackInfo {
  timescale: number;
  defaultFlags: number;
  defaultDuration: number;
}

/**
 * A fragment whose bytes stay in the splitter's buffer until someone needs a copy of their own:
 * with nobody watching, a camera's live output is looked through and never allocated (the hub
 * reads it all day, and a buffer per read or per fragment showed as garbage-collector time).
 */
class Fragment implements Fmp4Fragment {
  readonly kind = 'fragment' as const;
  readonly offset: number;
  readonly bytes: number;
  readonly key: boolean;
  readonly startSec: number;
  readonly durationSec: number;
  readonly seq: number;
  #splitter: Fmp4Splitter;
  #copy: Buffer | undefined;

  constructor(
    splitter: Fmp4Splitter,
    offset: number,
    bytes: number,
    seq: number,
    info: { key: boolean; startSec: number; durationSec: number },
  ) {
    this.#splitter = splitter;
    this.offset = offset;
    this.bytes = bytes;
    this.seq = seq;
    this.key = info.key;
    this.startSec = info.startSec;
    this.durationSec = info.durationSec;
  }

  get data(): Buffer {
    this.#copy ??= this.#splitter.copyOut(this.offset, this.bytes);
    return this.#copy;
  }
}

/**
 * Cuts a byte stream into init segment and fragments. The bytes are copied into one buffer of
 * the splitter's own (so `push` may be handed a view of a reused read buffer), which holds what
 * is not parsed yet and what the owner asked to keep (`keepFrom`: the fragments since the last
 * key frame, for the next viewer); it grows to fit that and is otherwise reused.
 */
export class Fmp4Splitter {
  #buf = Buffer.alloc(0);
  /** Stream offset of `#buf[0]`. */
  #base = 0;
  /** Stream offset where the next box begins. */
  #parsed = 0;
  /** Stream offset of the end of the bytes pushed so far. */
  #end = 0;
  /** Bytes before this stream offset may be dropped (once parsed). */
  #keep = Number.POSITIVE_INFINITY;
  #pendingInit: Buffer | undefined;
  #moof: { at: number; size: number } | undefined;
  #track: TrackInfo = { timescale: 90_000, defaultFlags: 0, defaultDuration: 0 };
  #seq = 0;

  /** Forget everything half-read: a new ffmpeg run starts a new stream. */
  reset(): void {
    this.#base = this.#parsed = this.#end = 0;
    this.#keep = Number.POSITIVE_INFINITY;
    this.#pendingInit = undefined;
    this.#moof = undefined;
    this.#seq = 0;
  }

  /**
   * Keep the bytes from this fragment on (its `data` and that of the ones after it stay
   * available); without a fragment, keep nothing already parsed. A fragment not kept can be
   * read only until the next `push`.
   */
  keepFrom(fragment: Fmp4Fragment | undefined): void {
    // A fragment of some other source (LiveStream.pushFragment) holds its own bytes.
    this.#keep = fragment instanceof Fragment ? fragment.offset : Number.POSITIVE_INFINITY;
  }

  /** Bytes as they come from the source (copied: `chunk` may be reused after the call); returns the whole pieces they complete. Throws on a corrupt stream. */
  push(chunk: Buffer): Fmp4Piece[] {
    if (chunk.length === 0) return [];
    this.#makeRoom(chunk.length);
    chunk.copy(this.#buf, this.#end - this.#base);
    this.#end += chunk.length;
    const out: Fmp4Piece[] = [];
    for (;;) {
      const piece = this.#nextBox();
      if (piece === null) break;
      if (piece) out.push(piece);
    }
    return out;
  }

  /** A copy of bytes still held (Fragment.data). */
  copyOut(offset: number, bytes: number): Buffer {
    if (offset < this.#base || offset + bytes > this.#end) {
      throw new Error('fMP4 splitter: the fragment is no longer held (read it during the push, or keep it)');
    }
    return Buffer.from(this.#buf.subarray(offset - this.#base, offset - this.#base + bytes));
  }

  #makeRoom(n: number): void {
    const from = Math.max(this.#base, Math.min(this.#keep, this.#parsed));
    const held = this.#end - from;
    if (this.#end - this.#base + n <= this.#buf.length) return;
    if (held + n <= this.#buf.length) {
      this.#buf.copyWithin(0, from - this.#base, this.#end - this.#base);
    } else {
      // Grows to what is held plus room for as much again: rare, and then reused.
      const next = Buffer.allocUnsafeSlow(Math.max(64 * 1024, 2 * (held + n)));
      this.#buf.copy(next, 0, from - this.#base, this.#end - this.#base);
      this.#buf = next;
    }
    this.#base = from;
  }

  /** The next whole box: a piece, undefined for a box that makes none, null when none is whole yet. */
  #nextBox(): Fmp4Piece | undefined | null {
    const avail = this.#end - this.#parsed;
    if (avail < 8) return null;
    const at = this.#parsed - this.#base;
    const buf = this.#buf;
    let size = buf.readUInt32BE(at);
    if (size === 1) {
      if (avail < 16) return null;
      size = Number(buf.readBigUInt64BE(at + 8));
    }
    if (size < 8 || size > MAX_BOX_BYTES) {
      throw new Error(`fragmented MP4: box size ${size} is not plausible`);
    }
    if (avail < size) return null;
    const type = buf.toString('latin1', at + 4, at + 8);
    const start = this.#parsed;
    this.#parsed += size;
    switch (type) {
      case 'ftyp':
        this.#pendingInit = Buffer.from(buf.subarray(at, at + size));
        this.#moof = undefined;
        return undefined;
      case 'moov': {
        const moov = buf.subarray(at, at + size);
        this.#track = readTrackInfo(moov);
        const data = Buffer.concat(this.#pendingInit ? [this.#pendingInit, moov] : [moov]);
        this.#pendingInit = undefined;
        this.#seq = 0;
        return { kind: 'init', data };
      }
      case 'moof':
        this.#moof = { at: start, size };
        return undefined;
      case 'mdat': {
        const moof = this.#moof;
        this.#moof = undefined;
        // An mdat without its moof right before it: nothing a player could use.
        if (!moof || moof.at + moof.size !== start) return undefined;
        const m = moof.at - this.#base;
        const info = readMoof(buf.subarray(m, m + moof.size), this.#track);
        return new Fragment(this, moof.at, moof.size + size, this.#seq++, info);
      }
      default:
        return undefined; // styp, sidx, prft, free…: not needed by players of this stream
    }
  }
}

/** A fragment found in a whole file: byte ranges in it, and what its `moof` says. */
export interface FileFragment {
  moofStart: number;
  /** The `mdat` ends here; the fragment is [moofStart, end). */
  end: number;
  key: boolean;
  startSec: number;
  durationSec: number;
}

/**
 * The init segment and complete fragments of a fragmented MP4 held in memory, without copying
 * any of it (a file being written may end in a partial box: it is left out).
 */
export function scanFile(buf: Buffer): { init: Buffer; fragments: FileFragment[] } | undefined {
  let at = 0;
  let initEnd = 0;
  let track: TrackInfo | undefined;
  let moofStart = -1;
  const fragments: FileFragment[] = [];
  while (at + 8 <= buf.length) {
    let size = buf.readUInt32BE(at);
    if (size === 1 && at + 16 <= buf.length) size = Number(buf.readBigUInt64BE(at + 8));
    if (size < 8 || at + size > buf.length) break;
    const type = buf.toString('latin1', at + 4, at + 8);
    if (type === 'moov') {
      track = readTrackInfo(buf.subarray(at, at + size));
      initEnd = at + size;
    } else if (type === 'moof') {
      moofStart = at;
    } else if (type === 'mdat' && moofStart >= 0 && track) {
      const info = readMoof(buf.subarray(moofStart, at), track);
      fragments.push({ moofStart, end: at + size, ...info });
      moofStart = -1;
    }
    at += size;
  }
  if (!track) return undefined;
  return { init: buf.subarray(0, initEnd), fragments };
}

/** The children of a box (after `headerBytes`): [type, start, end] in `buf`. */
export function* children(buf: Buffer, start: number, end: number): Generator<[string, number, number]> {
  let at = start;
  while (at + 8 <= end) {
    const size = buf.readUInt32BE(at);
    if (size < 8 || at + size > end) return;
    yield [buf.toString('latin1', at + 4, at + 8), at, at + size];
    at += size;
  }
}

export function find(buf: Buffer, start: number, end: number, path: string[]): [number, number] | undefined {
  let range: [number, number] = [start, end];
  for (const want of path) {
    let found: [number, number] | undefined;
    for (const [type, s, e] of children(buf, range[0], range[1])) {
      if (type === want) {
        found = [s + 8, e];
        break;
      }
    }
    if (!found) return undefined;
    range = found;
  }
  return range;
}

function readTrackInfo(moov: Buffer): TrackInfo {
  const info: TrackInfo = { timescale: 90_000, defaultFlags: 0, defaultDuration: 0 };
  const mdhd = find(moov, 8, moov.length, ['trak', 'mdia', 'mdhd']);
  if (mdhd && mdhd[0] + 24 <= mdhd[1]) info.timescale = mdhdTimescale(moov, mdhd[0]) || 90_000;
  const trex = find(moov, 8, moov.length, ['mvex', 'trex']);
  if (trex && trex[0] + 24 <= trex[1]) {
    info.defaultDuration = moov.readUInt32BE(trex[0] + 12);
    info.defaultFlags = moov.readUInt32BE(trex[0] + 20);
  }
  return info;
}

/** track_ID of a `tkhd` box whose body starts at `body`. */
export function tkhdTrackId(buf: Buffer, body: number): number {
  return buf.readUInt32BE(body + (buf[body] === 1 ? 20 : 12));
}

/** Timescale of an `mdhd` box whose body starts at `body`. */
export function mdhdTimescale(buf: Buffer, body: number): number {
  return buf.readUInt32BE(body + (buf[body] === 1 ? 20 : 12));
}

/** trex (or tfhd) defaults for samples whose trun leaves a field out. */
export interface SampleDefaults {
  duration: number;
  size: number;
  flags: number;
}

/** trex sample defaults per track_ID, from an init segment (`ftyp` + `moov`). */
export function trexDefaults(init: Buffer): Map<number, SampleDefaults> {
  const out = new Map<number, SampleDefaults>();
  const mvex = find(init, 0, init.length, ['moov', 'mvex']);
  if (!mvex) return out;
  for (const [type, s] of children(init, mvex[0], mvex[1])) {
    if (type !== 'trex') continue;
    out.set(init.readUInt32BE(s + 12), {
      duration: init.readUInt32BE(s + 20),
      size: init.readUInt32BE(s + 24),
      flags: init.readUInt32BE(s + 28),
    });
  }
  return out;
}

/** One track's part of a fragment, as its `traf` says. Offsets are into the buffer read. */
export interface TrafInfo {
  trackId: number;
  /** Body of the tfdt box (-1 when there is none), its version, and its decode time. */
  tfdtAt: number;
  tfdtVersion: number;
  baseTime: number;
  /** Where the first trun's data offset sits (-1 when it has none), and its value. */
  dataOffsetAt: number;
  dataOffset: number;
  truns: number;
  /** Sums over the samples of every trun, in timescale units and bytes. */
  duration: number;
  bytes: number;
  /** The first sample is a sync sample (a key frame). */
  key: boolean;
}

/**
 * Reads the `traf` whose children lie in [start, end) of `buf`: tfhd, tfdt and trun
 * (ISO/IEC 14496-12 §8.8.7, §8.8.12, §8.8.8). `defaults` gives the track's trex defaults.
 */
export function readTraf(
  buf: Buffer,
  start: number,
  end: number,
  defaults: (trackId: number) => SampleDefaults,
): TrafInfo {
  const info: TrafInfo = {
    trackId: 0,
    tfdtAt: -1,
    tfdtVersion: 0,
    baseTime: 0,
    dataOffsetAt: -1,
    dataOffset: 0,
    truns: 0,
    duration: 0,
    bytes: 0,
    key: false,
  };
  let d: SampleDefaults = { duration: 0, size: 0, flags: 0 };
  let firstFlags: number | undefined;
  for (const [type, s, e] of children(buf, start, end)) {
    const body = s + 8;
    if (type === 'tfhd') {
      const flags = buf.readUIntBE(body + 1, 3);
      info.trackId = buf.readUInt32BE(body + 4);
      d = { ...defaults(info.trackId) };
      let at = body + 8;
      if (flags & 0x1) at += 8;
      if (flags & 0x2) at += 4;
      if (flags & 0x8 && at + 4 <= e) {
        d.duration = buf.readUInt32BE(at);
        at += 4;
      }
      if (flags & 0x10 && at + 4 <= e) {
        d.size = buf.readUInt32BE(at);
        at += 4;
      }
      if (flags & 0x20 && at + 4 <= e) d.flags = buf.readUInt32BE(at);
    } else if (type === 'tfdt') {
      info.tfdtAt = body;
      info.tfdtVersion = buf[body]!;
      info.baseTime =
        info.tfdtVersion === 1 ? Number(buf.readBigUInt64BE(body + 4)) : buf.readUInt32BE(body + 4);
    } else if (type === 'trun') {
      info.truns++;
      const flags = buf.readUIntBE(body + 1, 3);
      const count = buf.readUInt32BE(body + 4);
      let at = body + 8;
      if (flags & 0x1) {
        if (info.truns === 1) {
          info.dataOffsetAt = at;
          info.dataOffset = buf.readInt32BE(at);
        }
        at += 4;
      }
      if (flags & 0x4) {
        firstFlags ??= buf.readUInt32BE(at);
        at += 4;
      }
      const perSample =
        (flags & 0x100 ? 4 : 0) + (flags & 0x200 ? 4 : 0) + (flags & 0x400 ? 4 : 0) + (flags & 0x800 ? 4 : 0);
      // Fields a trun leaves out come from tfhd or trex (a still picture: every sample one size).
      for (let i = 0; i < count && at + perSample <= e; i++) {
        let p = at;
        info.duration += flags & 0x100 ? buf.readUInt32BE(p) : d.duration;
        if (flags & 0x100) p += 4;
        info.bytes += flags & 0x200 ? buf.readUInt32BE(p) : d.size;
        if (flags & 0x200) p += 4;
        if (flags & 0x400 && i === 0) firstFlags ??= buf.readUInt32BE(p);
        at += perSample;
      }
    }
  }
  info.key = ((firstFlags ?? d.flags) & NON_SYNC) === 0;
  return info;
}

function readMoof(moof: Buffer, track: TrackInfo): { key: boolean; startSec: number; durationSec: number } {
  const traf = find(moof, 8, moof.length, ['traf']);
  if (!traf) return { key: false, startSec: 0, durationSec: 0 };
  const defaults = { duration: track.defaultDuration, size: 0, flags: track.defaultFlags };
  const t = readTraf(moof, traf[0], traf[1], () => defaults);
  return { key: t.key, startSec: t.baseTime / track.timescale, durationSec: t.duration / track.timescale };
}

/**
 * The RFC 6381 codec of the video in an init segment, for `MediaSource.isTypeSupported` and
 * `addSourceBuffer` (`avc1.64001f` for H.264 High 3.1). Undefined when it is not H.264/H.265.
 */
export function videoCodec(init: Buffer): string | undefined {
  const avcC = init.indexOf('avcC', 0, 'latin1');
  if (avcC >= 0 && avcC + 8 <= init.length) {
    const hex = (n: number) => init[avcC + n]!.toString(16).padStart(2, '0');
    // avcC: configurationVersion, AVCProfileIndication, profile_compatibility, AVCLevelIndication
    return `avc1.${hex(5)}${hex(6)}${hex(7)}`;
  }
  if (init.indexOf('hvcC', 0, 'latin1') >= 0) return 'hvc1.1.6.L93.B0';
  return undefined;
}
