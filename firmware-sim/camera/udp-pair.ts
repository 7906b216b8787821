/**
 * The server side of RTP over UDP: an even port for RTP and the next odd one for RTCP
 * (RFC 3550 11), shared by every UDP session of a camera.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { UdpOutput } from './rtsp-session.js';

export interface UdpPair extends UdpOutput {
  readonly rtpPort: number;
  readonly rtcpPort: number;
  /** Receiver reports and other packets clients send to our RTCP port. */
  onRtcp(listener: (from: { address: string; port: number }) => void): void;
  close(): Promise<void>;
}

function bind(socket: Socket, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    socket.once('error', onError);
    socket.bind(port, host, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

/** Also for a socket whose bind failed, which `close()` refuses with a throw. */
const close = (socket: Socket) =>
  new Promise<void>((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });

export async function bindUdpPair(host: string, attempts = 50): Promise<UdpPair> {
  const type = isIPv6(host) ? 'udp6' : 'udp4';
  for (let i = 0; i < attempts; i++) {
    const rtp = createSocket(type);
    let rtcp: Socket | undefined;
    try {
      await bind(rtp, 0, host);
      const rtpPort = rtp.address().port;
      if (rtpPort % 2 === 0) {
        rtcp = createSocket(type);
        await bind(rtcp, rtpPort + 1, host);
        return pair(rtp, rtcp, rtpPort);
      }
    } catch {
      // taken: try another pair
    }
    await close(rtp);
    if (rtcp) await close(rtcp);
  }
  throw new Error(`no free UDP port pair on ${host}`);
}

function pair(rtp: Socket, rtcp: Socket, rtpPort: number): UdpPair {
  // Send errors (a client gone) are not the camera's problem: it keeps sending.
  rtp.on('error', () => {});
  rtcp.on('error', () => {});
  return {
    rtpPort,
    rtcpPort: rtpPort + 1,
    send(kind, packets, port, host) {
      const socket = kind === 'rtp' ? rtp : rtcp;
      for (const packet of packets) socket.send(packet, port, host);
    },
    onRtcp(listener) {
      rtcp.on('message', (_msg, rinfo) => listener({ address: rinfo.address, port: rinfo.port }));
    },
    async close() {
      await Promise.all([close(rtp), close(rtcp)]);
    },
  };
}
