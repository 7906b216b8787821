/**
 * RTP packetization: H.264 per RFC 6184 (single NAL unit packets and FU-A), AAC per RFC 3640
 * (mode AAC-hbr, one access unit per packet), RTCP sender reports per RFC 3550 6.4.1, and the
 * `$`-framing of RTSP interleaved transport (RFC 2326 10.12).
 */
import { randomBytes } from 'node:crypto';

export const RTP_HEADER_BYTES = 12;
const FU_A = 28;
/** Seconds from 1900 (NTP era 0) to 1970. */
const NTP_UNIX_OFFSET = 2_208_988_800;

/** What follows the RTP header: an optional prefix (FU or AU headers) and a slice of media. */
export interface RtpPayload {
  readonly head: Buffer | undefined;
  readonly body: Buffer;
  /** RFC 6184 5.1: set on the last packet of an access unit. */
  readonly marker: boolean;
}

const payloadBytes = (p: RtpPayload): number => (p.head?.length ?? 0) + p.body.length;

/**
 * RFC 6184 5.6 and 5.8: a NAL unit that fits goes alone; a bigger one is split into FU-A
 * fragments, each led by an FU indicator (F and NRI of the NAL header, type 28) and an FU header
 * (start and end bits, the NAL type).
 */
export function h264Payloads(nals: readonly Buffer[], maxPayload: number): RtpPayload[] {
  const out: RtpPayload[] = [];
  nals.forEach((nal, n) => {
    const lastNal = n === nals.length - 1;
    if (nal.length <= maxPayload) {
      out.push({ head: undefined, body: nal, marker: lastNal });
      return;
    }
    const header = nal[0] ?? 0;
    const indicator = (header & 0xe0) | FU_A;
    const chunk = maxPayload - 2;
    for (let offset = 1; offset < nal.length; offset += chunk) {
      const end = Math.min(offset + chunk, nal.length);
      const start = offset === 1;
      const last = end === nal.length;
      const fuHeader = (start ? 0x80 : 0) | (last ? 0x40 : 0) | (header & 0x1f);
      out.push({
        head: Buffer.from([indicator, fuHeader]),
        body: nal.subarray(offset, end),
        marker: lastNal && last,
      });
    }
  });
  return out;
}

/**
 * RFC 3640 3.2 and 3.3.6 (AAC-hbr: sizelength 13, indexlength 3): AU-headers-length (16 bits),
 * one AU-header (size, index 0), then the access unit.
 */
export function aacPayload(accessUnit: Buffer): RtpPayload {
  if (accessUnit.length >= 1 << 13) throw new RangeError('AAC access unit too large for AAC-hbr');
  const size = accessUnit.length << 3;
  return { head: Buffer.from([0x00, 0x10, size >> 8, size & 0xff]), body: accessUnit, marker: true };
}

/** One RTP stream of one session: its SSRC, sequence numbers and sender statistics. */
export class RtpStream {
  readonly ssrc = randomBytes(4).readUInt32BE(0);
  readonly payloadType: number;
  /** RFC 3550 5.1: the initial sequence number is random. */
  seq = randomBytes(2).readUInt16BE(0);
  packets = 0;
  octets = 0;

  constructor(payloadType: number) {
    this.payloadType = payloadType;
  }

  /** The packets of one access unit, each in its `$ channel length` frame, in one buffer. */
  interleaved(channel: number, payloads: readonly RtpPayload[], timestamp: number): Buffer {
    let total = 0;
    for (const p of payloads) total += 4 + RTP_HEADER_BYTES + payloadBytes(p);
    const out = Buffer.allocUnsafe(total);
    let offset = 0;
    for (const p of payloads) {
      const length = RTP_HEADER_BYTES + payloadBytes(p);
      out[offset] = 0x24; // '$'
      out[offset + 1] = channel;
      out.writeUInt16BE(length, offset + 2);
      offset = this.#writePacket(out, offset + 4, p, timestamp);
    }
    return out;
  }

  /** The packets of one access unit as separate datagrams. */
  datagrams(payloads: readonly RtpPayload[], timestamp: number): Buffer[] {
    return payloads.map((p) => {
      const out = Buffer.allocUnsafe(RTP_HEADER_BYTES + payloadBytes(p));
      this.#writePacket(out, 0, p, timestamp);
      return out;
    });
  }

  /** RFC 3550 6.4.1 SR plus the SDES CNAME that a compound RTCP packet must carry. */
  senderReport(wallClockMs: number, rtpTime: number, cname: string): Buffer {
    const name = Buffer.from(cname.slice(0, 255), 'utf8');
    const sdesLength = Math.ceil((4 + 2 + name.length + 1) / 4) * 4;
    const out = Buffer.alloc(28 + 4 + sdesLength);
    out[0] = 0x80;
    out[1] = 200;
    out.writeUInt16BE(6, 2);
    out.writeUInt32BE(this.ssrc, 4);
    const seconds = Math.floor(wallClockMs / 1000);
    out.writeUInt32BE((seconds + NTP_UNIX_OFFSET) % 2 ** 32, 8);
    out.writeUInt32BE(Math.floor(((wallClockMs - seconds * 1000) / 1000) * 2 ** 32), 12);
    out.writeUInt32BE(rtpTime % 2 ** 32, 16);
    out.writeUInt32BE(this.packets % 2 ** 32, 20);
    out.writeUInt32BE(this.octets % 2 ** 32, 24);
    out[28] = 0x81;
    out[29] = 202;
    out.writeUInt16BE(sdesLength / 4, 30);
    out.writeUInt32BE(this.ssrc, 32);
    out[36] = 1; // CNAME
    out[37] = name.length;
    name.copy(out, 38);
    return out;
  }

  #writePacket(out: Buffer, offset: number, p: RtpPayload, timestamp: number): number {
    out[offset] = 0x80; // V=2, no padding, no extension, no CSRC
    out[offset + 1] = (p.marker ? 0x80 : 0) | this.payloadType;
    out.writeUInt16BE(this.seq, offset + 2);
    out.writeUInt32BE(timestamp % 2 ** 32, offset + 4);
    out.writeUInt32BE(this.ssrc, offset + 8);
    let at = offset + RTP_HEADER_BYTES;
    if (p.head) at += p.head.copy(out, at);
    at += p.body.copy(out, at);
    this.seq = (this.seq + 1) & 0xffff;
    this.packets++;
    this.octets += payloadBytes(p);
    return at;
  }
}

/** RFC 2326 10.12: `$`, the channel, a 16-bit length, then the packet. */
export function interleavedFrame(channel: number, packet: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + packet.length);
  out[0] = 0x24;
  out[1] = channel;
  out.writeUInt16BE(packet.length, 2);
  packet.copy(out, 4);
  return out;
}
