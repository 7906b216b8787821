/**
 * AAC in ADTS framing (ISO/IEC 13818-7 6.2, ISO/IEC 14496-3 1.A.2): split a `.aac` file into
 * raw access units and derive the AudioSpecificConfig that RFC 3640 puts in the SDP.
 */

/** ISO/IEC 14496-3 Table 1.18: sampling_frequency_index. */
const SAMPLE_RATES = [
  96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

export const AAC_SAMPLES_PER_FRAME = 1024;

export interface AacStream {
  /** Audio object type (2 = AAC LC). */
  readonly objectType: number;
  readonly sampleRate: number;
  readonly channels: number;
  /** AudioSpecificConfig: 5 bits object type, 4 bits frequency index, 4 bits channels, 3 zero bits. */
  readonly config: Buffer;
  /** Raw access units (ADTS headers removed), 1024 samples each. */
  readonly frames: readonly Buffer[];
}

export function sampleRateIndex(rate: number): number {
  const index = SAMPLE_RATES.indexOf(rate);
  if (index < 0) throw new RangeError(`AAC: unsupported sample rate ${rate}`);
  return index;
}

export function audioSpecificConfig(objectType: number, sampleRate: number, channels: number): Buffer {
  const value = (objectType << 11) | (sampleRateIndex(sampleRate) << 7) | (channels << 3);
  return Buffer.from([value >> 8, value & 0xff]);
}

export function parseAdts(data: Buffer): AacStream {
  const frames: Buffer[] = [];
  let format: { objectType: number; sampleRate: number; channels: number } | undefined;
  let offset = 0;
  while (offset + 7 <= data.length) {
    const h = data.subarray(offset, offset + 7);
    if (h[0] !== 0xff || ((h[1] ?? 0) & 0xf0) !== 0xf0) {
      throw new Error(`ADTS: no syncword at byte ${offset}`);
    }
    const b1 = h[1] ?? 0;
    const b2 = h[2] ?? 0;
    const b3 = h[3] ?? 0;
    const protectionAbsent = b1 & 0x01;
    const objectType = ((b2 >> 6) & 0x03) + 1;
    const sampleRate = SAMPLE_RATES[(b2 >> 2) & 0x0f];
    const channels = ((b2 & 0x01) << 2) | (b3 >> 6);
    const frameLength = ((b3 & 0x03) << 11) | ((h[4] ?? 0) << 3) | ((h[5] ?? 0) >> 5);
    const rawBlocks = (h[6] ?? 0) & 0x03;
    const headerLength = protectionAbsent ? 7 : 9;
    if (sampleRate === undefined) throw new Error(`ADTS: reserved sampling frequency at byte ${offset}`);
    if (rawBlocks !== 0) throw new Error('ADTS: frames with several raw data blocks are not supported');
    if (frameLength <= headerLength || offset + frameLength > data.length) {
      throw new Error(`ADTS: bad frame length ${frameLength} at byte ${offset}`);
    }
    format ??= { objectType, sampleRate, channels };
    frames.push(data.subarray(offset + headerLength, offset + frameLength));
    offset += frameLength;
  }
  if (!format || frames.length === 0) throw new Error('ADTS: no frames');
  return {
    ...format,
    config: audioSpecificConfig(format.objectType, format.sampleRate, format.channels),
    frames,
  };
}
