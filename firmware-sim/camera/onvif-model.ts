/**
 * What the simulated camera is, as its ONVIF services describe it: identity, media profiles,
 * clock, and the addresses it hands out. The services read it; the camera and tests change it.
 */
import type { XmlElement } from './soap.js';

export interface DeviceInformation {
  manufacturer: string;
  model: string;
  firmwareVersion: string;
  serialNumber: string;
  hardwareId: string;
}

export const DEFAULT_DEVICE_INFORMATION: DeviceInformation = {
  manufacturer: 'Khu Sim',
  model: 'KS-IPC-1080',
  firmwareVersion: '1.0',
  serialNumber: 'KS0000000001',
  hardwareId: 'KS-HW-A1',
};

export interface VideoProfile {
  /** ONVIF ProfileToken, also the key of the camera's stream URIs. */
  token: 'main' | 'sub';
  name: string;
  width: number;
  height: number;
  fps: number;
  bitrateKbps: number;
  /** Frames between keyframes. */
  gopLength: number;
  h264Profile: 'Baseline' | 'Main' | 'High';
}

/** A cheap entry camera: 1080p main stream, 640×360 sub stream for tiles, keyframe every 2 s. */
export const DEFAULT_PROFILES: readonly VideoProfile[] = [
  {
    token: 'main',
    name: 'MainStream',
    width: 1920,
    height: 1080,
    fps: 25,
    bitrateKbps: 2048,
    gopLength: 50,
    h264Profile: 'Main',
  },
  {
    token: 'sub',
    name: 'SubStream',
    width: 640,
    height: 360,
    fps: 15,
    bitrateKbps: 512,
    gopLength: 30,
    h264Profile: 'Main',
  },
];

/** The one video source (sensor) both profiles encode. */
export const VIDEO_SOURCE_TOKEN = 'vs0';
export const VIDEO_SOURCE_CONFIGURATION_TOKEN = 'vsc0';

export type DateTimeType = 'Manual' | 'NTP';

/** The camera's own clock: the host's plus an offset, which SetSystemDateAndTime and tests move. */
export class CameraClock {
  offsetMs = 0;
  dateTimeType: DateTimeType = 'NTP';
  daylightSavings = false;
  /** POSIX TZ (IEEE 1003.1), as ONVIF carries it: Vietnam is UTC+7, written `ICT-7`. */
  timeZone = 'ICT-7';

  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }

  set(utc: Date): void {
    this.offsetMs = utc.getTime() - Date.now();
  }

  /** Minutes east of UTC of the standard time in `timeZone`; 0 when it cannot be read. */
  utcOffsetMinutes(): number {
    return posixTzOffsetMinutes(this.timeZone) ?? 0;
  }
}

/**
 * The standard-time offset of a POSIX TZ string, in minutes EAST of UTC. POSIX writes the offset
 * to add to local time to get UTC, so `ICT-7` is UTC+7. Undefined when it is not a POSIX TZ.
 */
export function posixTzOffsetMinutes(tz: string): number | undefined {
  const m = /^(?:<[A-Za-z0-9+-]{3,}>|[A-Za-z]{3,})([+-])?(\d{1,2})(?::(\d{1,2}))?(?::(\d{1,2}))?/.exec(tz);
  if (!m) return undefined;
  const hours = Number(m[2]);
  const minutes = Number(m[3] ?? 0);
  if (hours > 24 || minutes > 59) return undefined;
  const west = (hours * 60 + minutes) * (m[1] === '-' ? -1 : 1);
  return -west;
}

/** Everything an ONVIF operation may read or change. */
export interface OnvifContext {
  readonly info: DeviceInformation;
  readonly profiles: readonly VideoProfile[];
  readonly clock: CameraClock;
  /** The service URLs on the address and port the camera listens on now. */
  urls(): { device: string; media: string; snapshot: string };
  scopes(): string[];
  /** The URI GetStreamUri hands out for a profile (the hostile one when that fault is on). */
  streamUri(profile: VideoProfile): string;
  snapshotUri(profile: VideoProfile): string;
}

/**
 * ONVIF Core 5.9.4.3 access classes, reduced to what a device checks: PRE_AUTH operations work
 * without a login; every other one needs a valid WS-UsernameToken.
 */
export type AccessClass = 'pre-auth' | 'user';

export interface Operation {
  access: AccessClass;
  /** Returns the response element (the Body's content); throws a SoapFault to refuse. */
  handle(request: XmlElement, ctx: OnvifContext): string;
}

/** A service's operations by local name. */
export type OperationTable = ReadonlyMap<string, Operation>;
