/**
 * Just enough H.264 (ITU-T H.264, Annex B byte stream) to replay an encoded clip: split the
 * stream into NAL units, group them into access units, find SPS/PPS and IDR pictures.
 */

/** nal_unit_type values (H.264 Table 7-1) that matter here. */
export const NalType = {
  slice: 1,
  idr: 5,
  sei: 6,
  sps: 7,
  pps: 8,
  aud: 9,
  endOfSequence: 10,
  endOfStream: 11,
  filler: 12,
} as const;

export interface VideoFrame {
  /** NAL units without start codes, in decoding order; a key frame starts with SPS and PPS. */
  readonly nals: readonly Buffer[];
  /** Holds an IDR picture: a decoder can start here. */
  readonly key: boolean;
  readonly bytes: number;
}

export interface H264Stream {
  readonly sps: Buffer;
  readonly pps: Buffer;
  /** `profile-level-id` of RFC 6184 8.1: profile_idc, constraint flags, level_idc, in hex. */
  readonly profileLevelId: string;
  readonly frames: readonly VideoFrame[];
}

export const nalType = (nal: Buffer): number => (nal[0] ?? 0) & 0x1f;

const isVcl = (type: number): boolean => type >= 1 && type <= 5;

/** Annex B: NAL units separated by 0x000001 or 0x00000001 start codes. */
export function splitAnnexB(data: Buffer): Buffer[] {
  const nals: Buffer[] = [];
  let start = -1;
  let i = 0;
  while (i + 2 < data.length) {
    if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      if (start >= 0) nals.push(trimTrailingZeros(data.subarray(start, i)));
      i += 3;
      start = i;
    } else {
      i++;
    }
  }
  if (start >= 0 && start < data.length) nals.push(trimTrailingZeros(data.subarray(start)));
  return nals.filter((nal) => nal.length > 0);
}

/** The zero before a 4-byte start code (and trailing_zero_8bits) belong to no NAL unit. */
function trimTrailingZeros(nal: Buffer): Buffer {
  let end = nal.length;
  while (end > 0 && nal[end - 1] === 0) end--;
  return nal.subarray(0, end);
}

/**
 * H.264 7.4.1.2.3: an access unit ends before an AUD, SPS, PPS, SEI or types 14..18, or before
 * the first slice of the next primary picture, once it holds a slice. The next picture is
 * recognised by first_mb_in_slice == 0 (ue(v) 0 is the single bit 1): enough for one encoder's
 * output without arbitrary slice order.
 */
export function groupAccessUnits(nals: readonly Buffer[]): Buffer[][] {
  const units: Buffer[][] = [];
  let current: Buffer[] = [];
  let sawVcl = false;
  for (const nal of nals) {
    const type = nalType(nal);
    const startsPicture = isVcl(type) && ((nal[1] ?? 0) & 0x80) !== 0;
    const startsUnit = type === NalType.aud || (type >= 6 && type <= 8) || (type >= 14 && type <= 18);
    if (sawVcl && (startsUnit || startsPicture)) {
      units.push(current);
      current = [];
      sawVcl = false;
    }
    current.push(nal);
    if (isVcl(type)) sawVcl = true;
  }
  if (current.length > 0) units.push(current);
  return units;
}

/**
 * Parses an Annex B stream into frames. Each key frame gets the SPS and PPS in front if the
 * encoder wrote them only once (as x264 does), so that a client may start at any key frame;
 * access unit delimiters are dropped.
 */
export function parseH264(data: Buffer): H264Stream {
  const units = groupAccessUnits(splitAnnexB(data));
  let sps: Buffer | undefined;
  let pps: Buffer | undefined;
  for (const nal of units.flat()) {
    const type = nalType(nal);
    if (type === NalType.sps) sps ??= nal;
    if (type === NalType.pps) pps ??= nal;
  }
  if (!sps || !pps) throw new Error('H.264 stream without SPS or PPS');
  if (sps.length < 4) throw new Error('H.264 SPS too short');
  const frames: VideoFrame[] = [];
  for (const unit of units) {
    const nals = unit.filter((nal) => nalType(nal) !== NalType.aud);
    if (!nals.some((nal) => isVcl(nalType(nal)))) continue;
    const key = nals.some((nal) => nalType(nal) === NalType.idr);
    if (key) {
      if (!nals.some((nal) => nalType(nal) === NalType.pps)) nals.unshift(pps);
      if (!nals.some((nal) => nalType(nal) === NalType.sps)) nals.unshift(sps);
    }
    frames.push({ nals, key, bytes: nals.reduce((sum, nal) => sum + nal.length, 0) });
  }
  if (!frames[0]?.key) throw new Error('H.264 stream does not start with an IDR picture');
  return { sps, pps, profileLevelId: sps.subarray(1, 4).toString('hex').toUpperCase(), frames };
}
