/**
 * The session description a DESCRIBE answers with (RFC 4566), shaped like a cheap camera's:
 * an H.264 video track (RFC 6184 8.2.1) and an AAC track (RFC 3640 4.1), each with its own
 * control URL relative to the Content-Base.
 */
import type { AacStream } from './adts.js';
import type { VideoTrack } from './media.js';

export const VIDEO_PAYLOAD_TYPE = 96;
export const AUDIO_PAYLOAD_TYPE = 97;
export const TRACK_CONTROLS = ['trackID=0', 'trackID=1'] as const;

export interface SdpOptions {
  /** `o=` session id: a number that stays the same while the camera runs. */
  sessionId: string;
  /** The address the client reached us on. */
  address: string;
  name: string;
  video: VideoTrack;
  audio: AacStream | undefined;
}

export function buildSdp({ sessionId, address, name, video, audio }: SdpOptions): string {
  const ipVersion = address.includes(':') ? 'IP6' : 'IP4';
  const sprop = `${video.sps.toString('base64')},${video.pps.toString('base64')}`;
  const lines = [
    'v=0',
    `o=- ${sessionId} 1 IN ${ipVersion} ${address}`,
    `s=${name}`,
    `c=IN ${ipVersion} ${ipVersion === 'IP6' ? '::' : '0.0.0.0'}`,
    't=0 0',
    'a=control:*',
    'a=range:npt=0-',
    `m=video 0 RTP/AVP ${VIDEO_PAYLOAD_TYPE}`,
    `b=AS:${video.bitrateKbps}`,
    `a=rtpmap:${VIDEO_PAYLOAD_TYPE} H264/90000`,
    `a=fmtp:${VIDEO_PAYLOAD_TYPE} packetization-mode=1;profile-level-id=${video.profileLevelId};` +
      `sprop-parameter-sets=${sprop}`,
    `a=framerate:${video.fps}`,
    `a=control:${TRACK_CONTROLS[0]}`,
  ];
  if (audio) {
    lines.push(
      `m=audio 0 RTP/AVP ${AUDIO_PAYLOAD_TYPE}`,
      `a=rtpmap:${AUDIO_PAYLOAD_TYPE} MPEG4-GENERIC/${audio.sampleRate}/${audio.channels}`,
      `a=fmtp:${AUDIO_PAYLOAD_TYPE} streamtype=5;profile-level-id=15;mode=AAC-hbr;` +
        `config=${audio.config.toString('hex')};sizelength=13;indexlength=3;indexdeltalength=3`,
      `a=control:${TRACK_CONTROLS[1]}`,
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}
