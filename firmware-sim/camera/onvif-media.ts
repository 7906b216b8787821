/**
 * The ONVIF media service (`/onvif/media_service`, namespace ver10/media/wsdl, Profile S): the
 * profiles, and the stream and snapshot URIs a client asks for each of them.
 */
import {
  type OnvifContext,
  type Operation,
  type OperationTable,
  VIDEO_SOURCE_CONFIGURATION_TOKEN,
  VIDEO_SOURCE_TOKEN,
  type VideoProfile,
} from './onvif-model.js';
import { el, escapeXml, faults, textOf, type XmlElement } from './soap.js';

/** `trt:Capabilities` of the media service; GetServices embeds it too. */
export function mediaServiceCapabilities(profileCount: number): string {
  return (
    '<trt:Capabilities SnapshotUri="true" Rotation="false" VideoSourceMode="false" OSD="false">' +
    `<trt:ProfileCapabilities MaximumNumberOfProfiles="${profileCount}"/>` +
    '<trt:StreamingCapabilities RTPMulticast="false" RTP_TCP="true" RTP_RTSP_TCP="true" NonAggregateControl="false" NoRTSPStreaming="false"/>' +
    '</trt:Capabilities>'
  );
}

/** The largest profile sets the sensor's size. */
function sensor(profiles: readonly VideoProfile[]): VideoProfile {
  return profiles.reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a));
}

function videoSourceConfiguration(tag: string, profiles: readonly VideoProfile[]): string {
  const s = sensor(profiles);
  return (
    `<${tag} token="${VIDEO_SOURCE_CONFIGURATION_TOKEN}">${el('tt:Name', 'VideoSourceConfig')}` +
    `${el('tt:UseCount', profiles.length)}${el('tt:SourceToken', VIDEO_SOURCE_TOKEN)}` +
    `<tt:Bounds x="0" y="0" width="${s.width}" height="${s.height}"/></${tag}>`
  );
}

function videoEncoderConfiguration(tag: string, p: VideoProfile): string {
  return (
    `<${tag} token="vec-${escapeXml(p.token)}">${el('tt:Name', p.name)}${el('tt:UseCount', 1)}` +
    `${el('tt:Encoding', 'H264')}<tt:Resolution>${el('tt:Width', p.width)}${el('tt:Height', p.height)}</tt:Resolution>` +
    `${el('tt:Quality', 4)}<tt:RateControl>${el('tt:FrameRateLimit', p.fps)}${el('tt:EncodingInterval', 1)}` +
    `${el('tt:BitrateLimit', p.bitrateKbps)}</tt:RateControl>` +
    `<tt:H264>${el('tt:GovLength', p.gopLength)}${el('tt:H264Profile', p.h264Profile)}</tt:H264>` +
    '<tt:Multicast><tt:Address><tt:Type>IPv4</tt:Type><tt:IPv4Address>0.0.0.0</tt:IPv4Address></tt:Address>' +
    '<tt:Port>0</tt:Port><tt:TTL>1</tt:TTL><tt:AutoStart>false</tt:AutoStart></tt:Multicast>' +
    `${el('tt:SessionTimeout', 'PT60S')}</${tag}>`
  );
}

function profileXml(tag: string, p: VideoProfile, all: readonly VideoProfile[]): string {
  return (
    `<${tag} token="${escapeXml(p.token)}" fixed="true">${el('tt:Name', p.name)}` +
    `${videoSourceConfiguration('tt:VideoSourceConfiguration', all)}` +
    `${videoEncoderConfiguration('tt:VideoEncoderConfiguration', p)}</${tag}>`
  );
}

/** The profile a request names in ProfileToken, or the fault ONVIF Media 5.x prescribes. */
function requestedProfile(req: XmlElement, ctx: OnvifContext): VideoProfile {
  const token = textOf(req, 'ProfileToken');
  const profile = ctx.profiles.find((p) => p.token === token);
  if (!profile) {
    throw faults.invalidArgVal(
      'NoProfile',
      `the requested profile token ${JSON.stringify(token ?? '')} does not exist`,
    );
  }
  return profile;
}

function mediaUri(uri: string): string {
  return (
    `<trt:MediaUri>${el('tt:Uri', uri)}${el('tt:InvalidAfterConnect', false)}` +
    `${el('tt:InvalidAfterReboot', false)}${el('tt:Timeout', 'PT0S')}</trt:MediaUri>`
  );
}

const getProfiles: Operation = {
  access: 'user',
  handle(_req, { profiles }) {
    const all = profiles.map((p) => profileXml('trt:Profiles', p, profiles)).join('');
    return `<trt:GetProfilesResponse>${all}</trt:GetProfilesResponse>`;
  },
};

const getProfile: Operation = {
  access: 'user',
  handle(req, ctx) {
    const p = requestedProfile(req, ctx);
    return `<trt:GetProfileResponse>${profileXml('trt:Profile', p, ctx.profiles)}</trt:GetProfileResponse>`;
  },
};

const getVideoSources: Operation = {
  access: 'user',
  handle(_req, { profiles }) {
    const s = sensor(profiles);
    return (
      `<trt:GetVideoSourcesResponse><trt:VideoSources token="${VIDEO_SOURCE_TOKEN}">${el('tt:Framerate', s.fps)}` +
      `<tt:Resolution>${el('tt:Width', s.width)}${el('tt:Height', s.height)}</tt:Resolution>` +
      '</trt:VideoSources></trt:GetVideoSourcesResponse>'
    );
  },
};

const getVideoSourceConfigurations: Operation = {
  access: 'user',
  handle(_req, { profiles }) {
    return (
      '<trt:GetVideoSourceConfigurationsResponse>' +
      videoSourceConfiguration('trt:Configurations', profiles) +
      '</trt:GetVideoSourceConfigurationsResponse>'
    );
  },
};

const getVideoEncoderConfigurations: Operation = {
  access: 'user',
  handle(_req, { profiles }) {
    const all = profiles.map((p) => videoEncoderConfiguration('trt:Configurations', p)).join('');
    return `<trt:GetVideoEncoderConfigurationsResponse>${all}</trt:GetVideoEncoderConfigurationsResponse>`;
  },
};

const getStreamUri: Operation = {
  access: 'user',
  handle(req, ctx) {
    const profile = requestedProfile(req, ctx);
    // ONVIF Media 5.15.1: unicast RTP over RTSP (TCP-interleaved or UDP); no multicast, no HTTP tunnel.
    const stream = textOf(req, 'StreamSetup', 'Stream') ?? 'RTP-Unicast';
    const protocol = textOf(req, 'StreamSetup', 'Transport', 'Protocol') ?? 'RTSP';
    if (stream !== 'RTP-Unicast' || !['RTSP', 'UDP', 'TCP'].includes(protocol)) {
      throw faults.invalidArgVal('InvalidStreamSetup', `${stream} over ${protocol} is not supported`);
    }
    return `<trt:GetStreamUriResponse>${mediaUri(ctx.streamUri(profile))}</trt:GetStreamUriResponse>`;
  },
};

const getSnapshotUri: Operation = {
  access: 'user',
  handle(req, ctx) {
    const profile = requestedProfile(req, ctx);
    return `<trt:GetSnapshotUriResponse>${mediaUri(ctx.snapshotUri(profile))}</trt:GetSnapshotUriResponse>`;
  },
};

const getServiceCapabilities: Operation = {
  // ONVIF Core 5.9.4.3: GetServiceCapabilities of every service is PRE_AUTH.
  access: 'pre-auth',
  handle(_req, { profiles }) {
    return `<trt:GetServiceCapabilitiesResponse>${mediaServiceCapabilities(profiles.length)}</trt:GetServiceCapabilitiesResponse>`;
  },
};

export const mediaOperations: OperationTable = new Map<string, Operation>([
  ['GetProfiles', getProfiles],
  ['GetProfile', getProfile],
  ['GetVideoSources', getVideoSources],
  ['GetVideoSourceConfigurations', getVideoSourceConfigurations],
  ['GetVideoEncoderConfigurations', getVideoEncoderConfigurations],
  ['GetStreamUri', getStreamUri],
  ['GetSnapshotUri', getSnapshotUri],
  ['GetServiceCapabilities', getServiceCapabilities],
]);
