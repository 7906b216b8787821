/**
 * Live video cut from the recording: a segment file holds the camera's video and (often)
 * audio, and its decode times start over at 0 in every file. A phone's Media Source wants one
 * video track (a camera's G.711 audio cannot play there) on one timeline. These functions
 * rewrite the init segment and each fragment as ffmpeg's mp4 muxer writes them
 * (`frag_keyframe+empty_moov+default_base_moof`, one `traf` per track, each track's samples
 * together in the `mdat`, in track order), copying only the video's bytes.
 * ISO/IEC 14496-12: moov/trak/tkhd, mdia/hdlr, mvex/trex; moof/traf/tfhd, tfdt, trun.
 */
import {
  children,
  find,
  mdhdTimescale,
  readTraf,
  type SampleDefaults,
  tkhdTrackId,
  trexDefaults,
} from './fmp4.js';

export interface VideoTrack {
  trackId: number;
  timescale: number;
  /** trex defaults, for a traf or trun that leaves fields out. */
  defaults: SampleDefaults;
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
    const trackId = tkhdTrackId(init, tkhd[0]);
    const defaults = trexDefaults(init).get(trackId) ?? { duration: 0, size: 0, flags: 0 };
    return { trackId, timescale: mdhdTimescale(init, mdhd[0]), defaults };
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
    if (!tkhd || tkhdTrackId(init, tkhd[0]) !== track.trackId) continue;
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
        if (tkhd && tkhdTrackId(init, tkhd[0]) === track.trackId) moov.push(init.subarray(cs, ce));
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

/**
 * The video of one fragment (`moof` + `mdat`), its decode time set to `retime(tfdt)`.
 * Undefined when the fragment has no video samples, or lays them out in a way ffmpeg does not
 * (several runs, no data offset).
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
    const t = readTraf(fragment, s + 8, e, () => track.defaults);
    if (t.trackId !== track.trackId) continue;
    if (t.tfdtAt < 0 || t.truns !== 1 || t.dataOffsetAt < 0 || t.bytes === 0) return undefined;
    if (t.dataOffset < moofSize + 8 || t.dataOffset + t.bytes > fragment.length) return undefined;
    // The traf is copied and patched: its tfdt, and the trun's data offset.
    const traf = Buffer.from(fragment.subarray(s, e));
    const moved = retime(t.baseTime);
    if (t.tfdtVersion === 1) traf.writeBigUInt64BE(BigInt(moved), t.tfdtAt - s + 4);
    else traf.writeUInt32BE(moved >>> 0, t.tfdtAt - s + 4);
    const newMoofSize = 8 + (mfhd?.length ?? 0) + traf.length;
    traf.writeInt32BE(newMoofSize + 8, t.dataOffsetAt - s);
    const moof = box('moof', mfhd ? [mfhd, traf] : [traf]);
    const mdatHead = Buffer.alloc(8);
    mdatHead.writeUInt32BE(8 + t.bytes, 0);
    mdatHead.write('mdat', 4, 'latin1');
    const data = Buffer.concat([moof, mdatHead, fragment.subarray(t.dataOffset, t.dataOffset + t.bytes)]);
    return { data, key: t.key, tfdt: moved, durationTicks: t.duration };
  }
  return undefined;
}
