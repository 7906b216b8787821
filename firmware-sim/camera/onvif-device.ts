/**
 * The ONVIF device management service (`/onvif/device_service`, namespace ver10/device/wsdl):
 * what a Profile S client reads before anything else. Replies are shaped like those of common
 * entry cameras, so that real clients (the `onvif` package among them) parse them unchanged.
 */
import { mediaServiceCapabilities } from './onvif-media.js';
import {
  type OnvifContext,
  type Operation,
  type OperationTable,
  posixTzOffsetMinutes,
} from './onvif-model.js';
import { child, children, el, escapeXml, faults, NS, textOf, type XmlElement } from './soap.js';

/** The ONVIF version the services claim. */
const VERSION = '<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version>';

function dateTimeXml(d: Date): string {
  return (
    `<tt:Time>${el('tt:Hour', d.getUTCHours())}${el('tt:Minute', d.getUTCMinutes())}${el('tt:Second', d.getUTCSeconds())}</tt:Time>` +
    `<tt:Date>${el('tt:Year', d.getUTCFullYear())}${el('tt:Month', d.getUTCMonth() + 1)}${el('tt:Day', d.getUTCDate())}</tt:Date>`
  );
}

const getSystemDateAndTime: Operation = {
  access: 'pre-auth',
  handle(_req, { clock }) {
    const utc = clock.now();
    const local = new Date(utc.getTime() + clock.utcOffsetMinutes() * 60_000);
    return (
      '<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>' +
      el('tt:DateTimeType', clock.dateTimeType) +
      el('tt:DaylightSavings', clock.daylightSavings) +
      `<tt:TimeZone>${el('tt:TZ', clock.timeZone)}</tt:TimeZone>` +
      `<tt:UTCDateTime>${dateTimeXml(utc)}</tt:UTCDateTime>` +
      `<tt:LocalDateTime>${dateTimeXml(local)}</tt:LocalDateTime>` +
      '</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>'
    );
  },
};

function readUtcDateTime(utc: XmlElement): Date {
  const part = (...path: string[]) => {
    const text = textOf(utc, ...path);
    if (text === undefined || !/^\d{1,4}$/.test(text)) {
      throw faults.invalidArgVal(
        'InvalidDateTime',
        `UTCDateTime/${path.join('/')} is missing or not a number`,
      );
    }
    return Number(text);
  };
  const [year, month, day] = [part('Date', 'Year'), part('Date', 'Month'), part('Date', 'Day')];
  const [hour, minute, second] = [part('Time', 'Hour'), part('Time', 'Minute'), part('Time', 'Second')];
  const d = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  // Date.UTC rolls 2026-02-30 over into March: a real device refuses it.
  if (d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    throw faults.invalidArgVal('InvalidDateTime', 'UTCDateTime is not a valid date and time');
  }
  return d;
}

const setSystemDateAndTime: Operation = {
  access: 'user',
  handle(req, { clock }) {
    const type = textOf(req, 'DateTimeType');
    if (type !== 'Manual' && type !== 'NTP') throw faults.invalidArgs('DateTimeType must be Manual or NTP');
    const dst = textOf(req, 'DaylightSavings');
    if (dst !== undefined && dst !== 'true' && dst !== 'false') {
      throw faults.invalidArgs('DaylightSavings must be true or false');
    }
    const tz = textOf(req, 'TimeZone', 'TZ');
    if (tz !== undefined && posixTzOffsetMinutes(tz) === undefined) {
      throw faults.invalidArgVal('InvalidTimeZone', `${JSON.stringify(tz)} is not a POSIX TZ string`);
    }
    const utcEl = child(req, 'UTCDateTime');
    const utc = type === 'Manual' && utcEl ? readUtcDateTime(utcEl) : undefined;
    // Validate everything first: a refused request changes nothing.
    clock.dateTimeType = type;
    if (dst !== undefined) clock.daylightSavings = dst === 'true';
    if (tz !== undefined) clock.timeZone = tz;
    if (utc) clock.set(utc);
    return '<tds:SetSystemDateAndTimeResponse/>';
  },
};

const getDeviceInformation: Operation = {
  access: 'user',
  handle(_req, { info }) {
    return (
      '<tds:GetDeviceInformationResponse>' +
      el('tds:Manufacturer', info.manufacturer) +
      el('tds:Model', info.model) +
      el('tds:FirmwareVersion', info.firmwareVersion) +
      el('tds:SerialNumber', info.serialNumber) +
      el('tds:HardwareId', info.hardwareId) +
      '</tds:GetDeviceInformationResponse>'
    );
  },
};

function deviceCapabilities(ctx: OnvifContext): string {
  const no = (...names: string[]) => names.map((n) => el(`tt:${n}`, false)).join('');
  return (
    `<tt:Device>${el('tt:XAddr', ctx.urls().device)}` +
    `<tt:Network>${no('IPFilter', 'ZeroConfiguration', 'IPVersion6', 'DynDNS')}</tt:Network>` +
    `<tt:System>${no('DiscoveryResolve', 'DiscoveryBye', 'RemoteDiscovery', 'SystemBackup', 'SystemLogging', 'FirmwareUpgrade')}` +
    '<tt:SupportedVersions><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tt:SupportedVersions></tt:System>' +
    `<tt:IO>${el('tt:InputConnectors', 0)}${el('tt:RelayOutputs', 0)}</tt:IO>` +
    `<tt:Security>${no('TLS1.1', 'TLS1.2', 'OnboardKeyGeneration', 'AccessPolicyConfig', 'X.509Token', 'SAMLToken', 'KerberosToken', 'RELToken')}</tt:Security>` +
    '</tt:Device>'
  );
}

function mediaCapabilities(ctx: OnvifContext): string {
  return (
    `<tt:Media>${el('tt:XAddr', ctx.urls().media)}<tt:StreamingCapabilities>` +
    `${el('tt:RTPMulticast', false)}${el('tt:RTP_TCP', true)}${el('tt:RTP_RTSP_TCP', true)}` +
    '</tt:StreamingCapabilities></tt:Media>'
  );
}

const getCapabilities: Operation = {
  access: 'pre-auth',
  handle(req, ctx) {
    const wanted = new Set(children(req, 'Category').map((c) => c.text));
    if (wanted.size === 0) wanted.add('All');
    const all = wanted.has('All');
    for (const category of wanted) {
      if (!['All', 'Device', 'Media'].includes(category)) {
        throw faults.noSuchService(`this device has no ${category} service`);
      }
    }
    return (
      '<tds:GetCapabilitiesResponse><tds:Capabilities>' +
      (all || wanted.has('Device') ? deviceCapabilities(ctx) : '') +
      (all || wanted.has('Media') ? mediaCapabilities(ctx) : '') +
      '</tds:Capabilities></tds:GetCapabilitiesResponse>'
    );
  },
};

/** `tds:Capabilities` of GetServiceCapabilities (device), also embedded in GetServices. */
function deviceServiceCapabilities(): string {
  const flags = (names: string[], on: string[] = []) =>
    names.map((n) => `${n}="${on.includes(n)}"`).join(' ');
  return (
    `<tds:Capabilities><tds:Network ${flags(['IPFilter', 'ZeroConfiguration', 'IPVersion6', 'DynDNS', 'HostnameFromDHCP'])} NTP="0"/>` +
    `<tds:Security ${flags(['TLS1.0', 'TLS1.1', 'TLS1.2', 'OnboardKeyGeneration', 'AccessPolicyConfig', 'DefaultAccessPolicy', 'Dot1X', 'RemoteUserHandling', 'X.509Token', 'SAMLToken', 'KerberosToken', 'UsernameToken', 'HttpDigest', 'RELToken'], ['UsernameToken'])}/>` +
    `<tds:System ${flags(['DiscoveryResolve', 'DiscoveryBye', 'RemoteDiscovery', 'SystemBackup', 'SystemLogging', 'FirmwareUpgrade', 'HttpFirmwareUpgrade', 'HttpSystemBackup', 'HttpSystemLogging', 'HttpSupportInformation'])}/>` +
    '</tds:Capabilities>'
  );
}

const getServices: Operation = {
  access: 'pre-auth',
  handle(req, ctx) {
    const include = textOf(req, 'IncludeCapability') === 'true';
    const service = (ns: string, xaddr: string, capabilities: string) =>
      `<tds:Service>${el('tds:Namespace', ns)}${el('tds:XAddr', xaddr)}` +
      (include ? `<tds:Capabilities>${capabilities}</tds:Capabilities>` : '') +
      `${VERSION}</tds:Service>`;
    // Media (ver10) only, no Media2: clients then use Profile S media, as with most entry cameras.
    return (
      '<tds:GetServicesResponse>' +
      service(NS.tds, ctx.urls().device, deviceServiceCapabilities()) +
      service(NS.trt, ctx.urls().media, mediaServiceCapabilities(ctx.profiles.length)) +
      '</tds:GetServicesResponse>'
    );
  },
};

const getServiceCapabilities: Operation = {
  access: 'pre-auth',
  handle() {
    return `<tds:GetServiceCapabilitiesResponse>${deviceServiceCapabilities()}</tds:GetServiceCapabilitiesResponse>`;
  },
};

const getScopes: Operation = {
  access: 'user',
  handle(_req, ctx) {
    const scopes = ctx
      .scopes()
      .map(
        (s) =>
          `<tds:Scopes><tt:ScopeDef>Fixed</tt:ScopeDef><tt:ScopeItem>${escapeXml(s)}</tt:ScopeItem></tds:Scopes>`,
      )
      .join('');
    return `<tds:GetScopesResponse>${scopes}</tds:GetScopesResponse>`;
  },
};

export const deviceOperations: OperationTable = new Map<string, Operation>([
  ['GetSystemDateAndTime', getSystemDateAndTime],
  ['SetSystemDateAndTime', setSystemDateAndTime],
  ['GetDeviceInformation', getDeviceInformation],
  ['GetCapabilities', getCapabilities],
  ['GetServices', getServices],
  ['GetServiceCapabilities', getServiceCapabilities],
  ['GetScopes', getScopes],
]);
