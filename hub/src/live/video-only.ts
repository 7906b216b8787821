/**
 * Live video cut from the recording: a segment file holds the camera's video and (often)
 * audio, and its decode times start over at 0 in every file. A phone's Media Source wants one
 * video track (a camera's G.711 audio cannot play there) on one timeline. These functions
 * rewrite the init segment and each fragment as ffmpeg's mp4 muxer writes them
 * (`frag_keyframe+empty_moov+default_base_moof`, one `traf` per track, each track's samples
 * together in the `mdat`, in track order), copying only the video's bytes.
 * ISO/IEC 14496-12: moov/trak/tkhd, mdia/hdlr, mvex/trex; moof/traf/tfhd, tfdt, trun.
 */
import { children, find } from './fmp4.js';

export interface VideoTrack {
  trackId: number;
  timescale: number;
  /** trex defaults, for a traf or trun that leaves them out. */
  defaultDuration: number;
  defaultSize: number;
  defaultFlags: number;
}

const box = (type: string, body: readonly Buffer[]): Buffer => {
  const size = 8 + body.reduce((n, b) => n + b.length, 0);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(size, 0);
  head.write(type, 4, 'latin1');
  return Buffer.concat([head, ...body], size);
};

/** The video track of an init segment (`ftyp` + `moov`), or undefined when it has none. */
export function videoTrack(init: Buffer): VideoTrack | undefined {
  const moov = find(init, 0, init.length, ['moov']);
  if (!moov) return undefined;
  for (const [type, s, e] of children(init, moov[0], moov[1])) {
    if (type !== 'trak') continue;
    const hdlr = find(init, s + 8, e, ['mdia', 'hdlr']);
    if (!hdlr || init.toString('latin1', hdlr[0] + 8, hdlr[0] + 12) !== 'vide') continue;
    const tkhd = find(init, s + 8, e, ['tkhd']);
    const mdhd = find(init, s + 8, e, ['mdia', 'mdhd']);
    if (!tkhd || !mdhd) return undefined;
    const trackId = init.readUInt32BE(tkhd[0] + (init[tkhd[0]] === 1 ? 20 : 12));
    const timescale = init.readUInt32BE(mdhd[0] + (init[mdhd[0]] === 1 ? 20 : 12));
    const track: VideoTrack = { trackId, timescale, defaultDuration: 0, defaultSize: 0, defaultFlags: 0 };
    const mvex = find(init, moov[0], moov[1], ['mvex']);
    for (const [t, xs] of mvex ? children(init, mvex[0], mvex[1]) : []) {
      if (t === 'trex' && init.readUInt32BE(xs + 12) === trackId) {
        track.defaultDuration = init.readUInt32BE(xs + 20);
        track.defaultSize = init.readUInt32BE(xs + 24);
        track.defaultFlags = init.readUInt32BE(xs + 28);
      }
    }
    return track;
  }
  return undefined;
}

/**
 * What a decoder needs from an init segment: the video's sample description (codec, size,
 * parameter sets), its track number and timescale. Two inits with the same key decode the same
 * fragments, even when other bytes (creation times, the audio track) differ.
 */
export function decoderKey(init: Buffer, track: VideoTrack): string | undefined {
  const moov = find(init, 0, init.length, ['moov']);
  if (!moov) return undefined;
  for (const [type, s, e] of children(init, moov[0], moov[1])) {
    if (type !== 'trak') continue;
    const tkhd = find(init, s + 8, e, ['tkhd']);
    if (!tkhd || init.readUInt32BE(tkhd[0] + (init[tkhd[0]] === 1 ? 20 : 12)) !== track.trackId) continue;
    const stsd = find(init, s + 8, e, ['mdia', 'minf', 'stbl', 'stsd']);
    return stsd && `${track.trackId}:${track.timescale}:${init.toString('base64', stsd[0], stsd[1])}`;
  }
  return undefined;
}

/** The init segment with the video track alone: other `trak` boxes and their `trex` left out. */
export function videoOnlyInit(init: Buffer, track: VideoTrack): Buffer {
  const out: Buffer[] = [];
  for (const [type, s, e] of children(init, 0, init.length)) {
    if (type !== 'moov') {
      out.push(init.subarray(s, e));
      continue;
    }
    const moov: Buffer[] = [];
    for (const [t, cs, ce] of children(init, s + 8, e)) {
      if (t === 'trak') {
        const tkhd = find(init, cs + 8, ce, ['tkhd']);
        const id = tkhd && init.readUInt32BE(tkhd[0] + (init[tkhd[0]] === 1 ? 20 : 12));
        if (id === track.trackId) moov.push(init.subarray(cs, ce));
      } else if (t === 'mvex') {
        const mvex: Buffer[] = [];
        for (const [x, xs, xe] of children(init, cs + 8, ce)) {
          if (x !== 'trex' || init.readUInt32BE(xs + 12) === track.trackId) mvex.push(init.subarray(xs, xe));
        }
        moov.push(box('mvex', mvex));
      } else {
        moov.push(init.subarray(cs, ce));
      }
    }
    out.push(box('moov', moov));
  }
  return Buffer.concat(out);
}

export interface VideoFragment {
  /** `moof` + `mdat` with the video alone, its decode time moved. */
  data: Buffer;
  key: boolean;
  /** Decode time of its first sample after the move, and its length, in timescale units. */
  tfdt: number;
  durationTicks: number;
}

/** `sample_is_non_sync_sample` (ISO/IEC 14496-12 §8.8.3.1). */
const NON_SYNC = 0x10000;

/**
 * The video of one fragment (`moof` + `mdat`), its decode time set to `retime(tfdt)`.
 * Undefined when the fragment has no video samples.
 */
export function videoOnlyFragment(
  fragment: Buffer,
  track: VideoTrack,
  retime: (tfdt: number) => number,
): VideoFragment | undefined {
  const moofSize = fragment.readUInt32BE(0);
  let mfhd: Buffer | undefined;
  for (const [type, s, e] of children(fragment, 8, moofSize)) {
    if (type === 'mfhd') mfhd = fragment.subarray(s, e);
    if (type !== 'traf') continue;
    const tfhd = find(fragment, s + 8, e, ['tfhd']);
    if (!tfhd || fragment.readUInt32BE(tfhd[0] + 4) !== track.trackId) continue;
    return rewriteTraf(fragment, s, e, tfhd[0], mfhd, track, retime);
  }
  return undefined;
}

function rewriteTraf(
  fragment: Buffer,
  trafStart: number,
  trafEnd: number,
  tfhdBody: number,
  mfhd: Buffer | undefined,
  track: VideoTrack,
  retime: (tfdt: number) => number,
): VideoFragment | undefined {
  // The traf is copied and patched in place: its tfdt, and the trun's data offset.
  const traf = Buffer.from(fragment.subarray(trafStart, trafEnd));
  const tfhdFlags = traf.readUIntBE(tfhdBody - trafStart + 1, 3);
  let defaultDuration = track.defaultDuration;
  let defaultSize = track.defaultSize;
  let defaultFlags = track.defaultFlags;
  {
    let at = tfhdBody - trafStart + 8;
    if (tfhdFlags & 0x1) at += 8;
    if (tfhdFlags & 0x2) at += 4;
    if (tfhdFlags & 0x8) {
      defaultDuration = traf.readUInt32BE(at);
      at += 4;
    }
    if (tfhdFlags & 0x10) {
      defaultSize = traf.readUInt32BE(at);
      at += 4;
    }
    if (tfhdFlags & 0x20) defaultFlags = traf.readUInt32BE(at);
  }
  let tfdtBody = -1;
  let tfdt = 0;
  let dataOffsetAt = -1;
  let dataOffset = 0;
  let bytes = 0;
  let duration = 0;
  let firstFlags: number | undefined;
  for (const [type, s, e] of children(traf, 8, traf.length)) {
    const body = s + 8;
    if (type === 'tfdt') {
      tfdtBody = body;
      tfdt = traf[body] === 1 ? Number(traf.readBigUInt64BE(body + 4)) : traf.readUInt32BE(body + 4);
    } else if (type === 'trun') {
      if (dataOffsetAt >= 0) return undefined; // several runs: not how ffmpeg writes a fragment
      const flags = traf.readUIntBE(body + 1, 3);
      const count = traf.readUInt32BE(body + 4);
      let at = body + 8;
      if (!(flags & 0x1)) return undefined; // no data offset: cannot find the samples
      dataOffsetAt = at;
      dataOffset = traf.readInt32BE(at);
      at += 4;
      if (flags & 0x4) {
        firstFlags = traf.readUInt32BE(at);
        at += 4;
      }
      const perSample =
        (flags & 0x100 ? 4 : 0) + (flags & 0x200 ? 4 : 0) + (flags & 0x400 ? 4 : 0) + (flags & 0x800 ? 4 : 0);
      // Fields a trun leaves out come from tfhd or trex (a still picture: every sample one size).
      for (let i = 0; i < count && at + perSample <= e; i++) {
        duration += flags & 0x100 ? traf.readUInt32BE(at) : defaultDuration;
        if (flags & 0x100) at += 4;
        bytes += flags & 0x200 ? traf.readUInt32BE(at) : defaultSize;
        if (flags & 0x200) at += 4;
        if (flags & 0x400) {
          if (i === 0 && firstFlags === undefined) firstFlags = traf.readUInt32BE(at);
          at += 4;
        }
        if (flags & 0x800) at += 4;
      }
    }
  }
  if (tfdtBody < 0 || dataOffsetAt < 0 || bytes === 0) return undefined;
  const moofSize = fragment.readUInt32BE(0);
  if (dataOffset < moofSize + 8 || dataOffset + bytes > fragment.length) return undefined;
  const moved = retime(tfdt);
  if (traf[tfdtBody] === 1) traf.writeBigUInt64BE(BigInt(moved), tfdtBody + 4);
  else traf.writeUInt32BE(moved >>> 0, tfdtBody + 4);
  const newMoofSize = 8 + (mfhd?.length ?? 0) + traf.length;
  traf.writeInt32BE(newMoofSize + 8, dataOffsetAt);
  const moof = box('moof', mfhd ? [mfhd, traf] : [traf]);
  const mdatHead = Buffer.alloc(8);
  mdatHead.writeUInt32BE(8 + bytes, 0);
  mdatHead.write('mdat', 4, 'latin1');
  const data = Buffer.concat([moof, mdatHead, fragment.subarray(dataOffset, dataOffset + bytes)]);
  const flags = firstFlags ?? defaultFlags;
  return { data, key: (flags & NON_SYNC) === 0, tfdt: moved, durationTicks: duration };
}
