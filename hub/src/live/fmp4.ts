/**
 * Fragmented MP4 as ffmpeg writes it to a pipe (`-movflags frag_keyframe+empty_moov+
 * default_base_moof`): `ftyp` + `moov` (the init segment), then `moof` + `mdat` pairs (the
 * fragments). The splitter cuts the byte stream into those pieces and reads, from each `moof`,
 * whether the fragment starts on a key frame and where it sits in time: all a live fan-out
 * needs. ISO/IEC 14496-12 boxes; only what ffmpeg writes for one video track is interpreted.
 */

export interface Fmp4Fragment {
  /** `moof` + `mdat`, ready to append to a SourceBuffer after the init segment. */
  data: Buffer;
  /** The first sample is a sync sample (a key frame): a decoder can start here. */
  key: boolean;
  /** Decode time of the first sample, in seconds of the track (tfdt / timescale). */
  startSec: number;
  /** Sum of the sample durations, in seconds (0 when the fragment does not say). */
  durationSec: number;
  /** Counts fragments of this stream from 0; a new init segment starts over. */
  seq: number;
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

export class Fmp4Splitter {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #pendingInit: Buffer[] = [];
  #pendingMoof: Buffer | undefined;
  #track: TrackInfo = { timescale: 90_000, defaultFlags: 0, defaultDuration: 0 };
  #seq = 0;

  /** Forget everything half-read: a new ffmpeg run starts a new stream. */
  reset(): void {
    this.#chunks = [];
    this.#buffered = 0;
    this.#pendingInit = [];
    this.#pendingMoof = undefined;
    this.#seq = 0;
  }

  /** Bytes as they come from the pipe; returns the whole pieces they complete. Throws on a corrupt stream. */
  push(chunk: Buffer): Fmp4Piece[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const out: Fmp4Piece[] = [];
    for (;;) {
      const box = this.#nextBox();
      if (!box) break;
      const piece = this.#onBox(box);
      if (piece) out.push(piece);
    }
    return out;
  }

  #peek(n: number): Buffer {
    if (this.#chunks[0] && this.#chunks[0].length >= n) return this.#chunks[0];
    const joined = Buffer.concat(this.#chunks);
    this.#chunks = [joined];
    return joined;
  }

  #nextBox(): Buffer | undefined {
    if (this.#buffered < 8) return undefined;
    const head = this.#peek(16 <= this.#buffered ? 16 : 8);
    let size = head.readUInt32BE(0);
    if (size === 1) {
      if (this.#buffered < 16) return undefined;
      size = Number(head.readBigUInt64BE(8));
    }
    if (size < 8 || size > MAX_BOX_BYTES) {
      throw new Error(`fragmented MP4: box size ${size} is not plausible`);
    }
    if (this.#buffered < size) return undefined;
    const all = this.#peek(size);
    const box = all.subarray(0, size);
    const rest = all.subarray(size);
    this.#chunks = rest.length > 0 ? [rest, ...this.#chunks.slice(1)] : this.#chunks.slice(1);
    this.#buffered -= size;
    return box;
  }

  #onBox(box: Buffer): Fmp4Piece | undefined {
    const type = box.toString('latin1', 4, 8);
    switch (type) {
      case 'ftyp':
        this.#pendingInit = [box];
        this.#pendingMoof = undefined;
        return undefined;
      case 'moov': {
        this.#track = readTrackInfo(box);
        const data = Buffer.concat([...this.#pendingInit, box]);
        this.#pendingInit = [];
        this.#seq = 0;
        return { kind: 'init', data };
      }
      case 'moof':
        this.#pendingMoof = box;
        return undefined;
      case 'mdat': {
        const moof = this.#pendingMoof;
        this.#pendingMoof = undefined;
        if (!moof) return undefined; // an mdat without its moof: nothing a player could use
        const info = readMoof(moof, this.#track);
        return { kind: 'fragment', data: Buffer.concat([moof, box]), seq: this.#seq++, ...info };
      }
      default:
        return undefined; // styp, sidx, prft, free…: not needed by players of this stream
    }
  }
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
  if (mdhd) {
    const version = moov[mdhd[0]];
    const at = mdhd[0] + 4 + (version === 1 ? 16 : 8);
    if (at + 4 <= mdhd[1]) info.timescale = moov.readUInt32BE(at) || 90_000;
  }
  const trex = find(moov, 8, moov.length, ['mvex', 'trex']);
  if (trex && trex[0] + 24 <= trex[1]) {
    info.defaultDuration = moov.readUInt32BE(trex[0] + 12);
    info.defaultFlags = moov.readUInt32BE(trex[0] + 20);
  }
  return info;
}

function readMoof(moof: Buffer, track: TrackInfo): { key: boolean; startSec: number; durationSec: number } {
  const traf = find(moof, 8, moof.length, ['traf']);
  if (!traf) return { key: false, startSec: 0, durationSec: 0 };
  let defaultFlags = track.defaultFlags;
  let defaultDuration = track.defaultDuration;
  let baseTime = 0;
  let firstFlags: number | undefined;
  let duration = 0;
  for (const [type, s, e] of children(moof, traf[0], traf[1])) {
    const body = s + 8;
    if (type === 'tfhd') {
      const flags = moof.readUIntBE(body + 1, 3);
      let at = body + 8; // version+flags, track_ID
      if (flags & 0x1) at += 8;
      if (flags & 0x2) at += 4;
      if (flags & 0x8) {
        defaultDuration = moof.readUInt32BE(at);
        at += 4;
      }
      if (flags & 0x10) at += 4;
      if (flags & 0x20 && at + 4 <= e) defaultFlags = moof.readUInt32BE(at);
    } else if (type === 'tfdt') {
      baseTime = moof[body] === 1 ? Number(moof.readBigUInt64BE(body + 4)) : moof.readUInt32BE(body + 4);
    } else if (type === 'trun') {
      const flags = moof.readUIntBE(body + 1, 3);
      const count = moof.readUInt32BE(body + 4);
      let at = body + 8;
      if (flags & 0x1) at += 4;
      let first: number | undefined;
      if (flags & 0x4) {
        first = moof.readUInt32BE(at);
        at += 4;
      }
      const perSample =
        (flags & 0x100 ? 4 : 0) + (flags & 0x200 ? 4 : 0) + (flags & 0x400 ? 4 : 0) + (flags & 0x800 ? 4 : 0);
      for (let i = 0; i < count && at + perSample <= e; i++) {
        let p = at;
        if (flags & 0x100) {
          duration += moof.readUInt32BE(p);
          p += 4;
        } else duration += defaultDuration;
        if (flags & 0x200) p += 4;
        if (flags & 0x400 && i === 0 && first === undefined) first = moof.readUInt32BE(p);
        at += perSample;
      }
      if (firstFlags === undefined) firstFlags = first;
    }
  }
  const flags = firstFlags ?? defaultFlags;
  return {
    key: (flags & NON_SYNC) === 0,
    startSec: baseTime / track.timescale,
    durationSec: duration / track.timescale,
  };
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
