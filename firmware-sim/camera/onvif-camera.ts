/**
 * A simulated ONVIF Profile S entry camera: device and media services with WS-UsernameToken, a
 * JPEG snapshot, and WS-Discovery, on a loopback address of its own (127.0.0.2, 127.0.0.3…: all
 * of 127.0.0.0/8 is loopback on Linux), so that many cameras share port 3702 on one machine.
 * Its RTSP stream is served elsewhere; the camera hands out the URIs it is given.
 *
 * Fault injection: a new login while running (`setCredentials`), a wrong clock (`clockOffsetMs`),
 * `reboot(ms)` (nothing answers for ms, then it is back on the same port), and hostile URIs
 * (`hostileStreamUri`, `hostileSnapshotUri`) for testing what a client accepts.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  CameraClock,
  DEFAULT_DEVICE_INFORMATION,
  DEFAULT_PROFILES,
  type DeviceInformation,
  type OnvifContext,
  type VideoProfile,
} from './onvif-model.js';
import {
  DEVICE_SERVICE_PATH,
  MEDIA_SERVICE_PATH,
  OnvifHttpServer,
  type OnvifRequestInfo,
  SNAPSHOT_PATH,
} from './onvif-server.js';
import { type HttpAuthMode, snapshotJpeg } from './snapshot.js';
import type { Credentials } from './soap-security.js';
import {
  type IgnoredDatagram,
  NVT_TYPES,
  type ProbeEvent,
  type WsDiscoveryOptions,
  WsDiscoveryResponder,
} from './ws-discovery.js';

export interface StreamUris {
  main: string;
  sub: string;
}

export interface SimOnvifCameraOptions {
  /** The camera's own IPv4 address, e.g. 127.0.0.2. */
  host: string;
  /** Default 0: a free port, kept across reboots. */
  httpPort?: number;
  username: string;
  password: string;
  /** Shown in the `onvif://www.onvif.org/name/…` scope. */
  name: string;
  location?: string;
  /** What GetStreamUri returns per profile, e.g. `rtsp://127.0.0.2:8554/main`. */
  streamUris: StreamUris;
  /** WS-Discovery responder; default on, multicast on loopback. */
  discovery?: boolean | WsDiscoveryOptions;
  deviceInformation?: Partial<DeviceInformation>;
  /** Default: main 1920×1080 and sub 640×360, H.264. */
  profiles?: readonly VideoProfile[];
  /** Login for the snapshot URL; default 'none', as on many cheap cameras. */
  snapshotAuth?: HttpAuthMode;
  /** EndpointReference UUID; default derived from host and name, so it survives restarts. */
  endpointUuid?: string;
}

export interface SimOnvifCameraEvents {
  /** Listening (after start, and after each reboot). */
  up: [];
  /** Unreachable (stop, or the start of a reboot). */
  down: [];
  /** Coming back from a reboot failed (e.g. the port was taken meanwhile). */
  bootFailed: [error: Error];
  request: [info: OnvifRequestInfo];
  probe: [event: ProbeEvent];
  ignored: [event: IgnoredDatagram];
}

export interface SimOnvifCameraStats {
  soapRequests: number;
  /** Requests refused with ter:NotAuthorized. */
  refused: number;
  snapshots: number;
  probesAnswered: number;
  datagramsIgnored: number;
}

/** A UUID (version 5 layout) from a name: the same camera keeps its EndpointReference. */
function nameUuid(name: string): string {
  const h = createHash('sha1').update(name).digest();
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x50;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export class SimOnvifCamera extends EventEmitter<SimOnvifCameraEvents> {
  readonly host: string;
  readonly name: string;
  readonly location: string | undefined;
  readonly endpointReference: string;
  readonly info: DeviceInformation;
  readonly profiles: readonly VideoProfile[];
  readonly clock = new CameraClock();
  streamUris: StreamUris;
  /** When set, GetStreamUri returns this for every profile (a malicious or broken device). */
  hostileStreamUri: string | undefined;
  /** When set, GetSnapshotUri returns this. */
  hostileSnapshotUri: string | undefined;
  snapshotAuth: HttpAuthMode;

  readonly #credentials: Credentials;
  readonly #server: OnvifHttpServer;
  readonly #discovery: WsDiscoveryResponder | undefined;
  readonly #stats: SimOnvifCameraStats = {
    soapRequests: 0,
    refused: 0,
    snapshots: 0,
    probesAnswered: 0,
    datagramsIgnored: 0,
  };
  #running = false;
  #up = false;
  #rebootTimer: NodeJS.Timeout | undefined;

  constructor(options: SimOnvifCameraOptions) {
    super();
    this.host = options.host;
    this.name = options.name;
    this.location = options.location;
    this.endpointReference = `urn:uuid:${options.endpointUuid ?? nameUuid(`khu-sim-camera|${options.host}|${options.name}`)}`;
    this.info = { ...DEFAULT_DEVICE_INFORMATION, ...options.deviceInformation };
    this.profiles = options.profiles ?? DEFAULT_PROFILES;
    if (!this.profiles.some((p) => p.token === 'main'))
      throw new Error('SimOnvifCamera: a "main" profile is required');
    this.streamUris = { ...options.streamUris };
    this.snapshotAuth = options.snapshotAuth ?? 'none';
    this.#credentials = { username: options.username, password: options.password };

    const context: OnvifContext = {
      info: this.info,
      profiles: this.profiles,
      clock: this.clock,
      urls: () => ({
        device: this.deviceServiceUrl,
        media: this.mediaServiceUrl,
        snapshot: this.snapshotUrl,
      }),
      scopes: () => this.scopes,
      streamUri: (profile) => this.hostileStreamUri ?? this.streamUris[profile.token],
      snapshotUri: () => this.hostileSnapshotUri ?? this.snapshotUrl,
    };
    const main = this.profiles.find((p) => p.token === 'main') as VideoProfile;
    this.#server = new OnvifHttpServer({
      host: options.host,
      port: options.httpPort ?? 0,
      context,
      credentials: () => ({ ...this.#credentials }),
      snapshot: () => snapshotJpeg(main.width, main.height),
      snapshotAuth: () => this.snapshotAuth,
      onRequest: (info) => this.#onRequest(info),
    });
    if (options.discovery !== false) {
      const discovery = new WsDiscoveryResponder(
        options.host,
        () => ({
          address: this.endpointReference,
          types: NVT_TYPES,
          scopes: this.scopes,
          xaddrs: [this.deviceServiceUrl],
          metadataVersion: 1,
        }),
        options.discovery === true || options.discovery === undefined ? {} : options.discovery,
      );
      discovery.on('probe', (event) => {
        if (event.matched) this.#stats.probesAnswered++;
        this.emit('probe', event);
      });
      discovery.on('ignored', (event) => {
        this.#stats.datagramsIgnored++;
        this.emit('ignored', event);
      });
      this.#discovery = discovery;
    }
  }

  get httpPort(): number {
    return this.#server.port;
  }
  get deviceServiceUrl(): string {
    return `http://${this.host}:${this.httpPort}${DEVICE_SERVICE_PATH}`;
  }
  get mediaServiceUrl(): string {
    return `http://${this.host}:${this.httpPort}${MEDIA_SERVICE_PATH}`;
  }
  get snapshotUrl(): string {
    return `http://${this.host}:${this.httpPort}${SNAPSHOT_PATH}`;
  }
  /** Whether it answers now (false while stopped or rebooting). */
  get reachable(): boolean {
    return this.#up;
  }
  get stats(): Readonly<SimOnvifCameraStats> {
    return { ...this.#stats };
  }
  get credentials(): Readonly<Credentials> {
    return { ...this.#credentials };
  }
  /** The camera clock minus the host's; set it to give the camera a wrong time. */
  get clockOffsetMs(): number {
    return this.clock.offsetMs;
  }
  set clockOffsetMs(ms: number) {
    this.clock.offsetMs = ms;
  }

  /** ONVIF Core 7.3.2.2 scopes: what the camera is, its name and its location. */
  get scopes(): string[] {
    const scope = (path: string) => `onvif://www.onvif.org/${path}`;
    return [
      scope('type/video_encoder'),
      scope('type/Network_Video_Transmitter'),
      scope('Profile/Streaming'),
      scope(`hardware/${encodeURIComponent(this.info.model)}`),
      scope(`name/${encodeURIComponent(this.name)}`),
      ...(this.location ? [scope(`location/${encodeURIComponent(this.location)}`)] : []),
    ];
  }

  /** Change the login while running: clients holding the old one are refused from now on. */
  setCredentials(credentials: Partial<Credentials>): void {
    Object.assign(this.#credentials, credentials);
  }

  async start(): Promise<void> {
    if (this.#running) throw new Error(`SimOnvifCamera ${this.name}: already started`);
    this.#running = true;
    try {
      const main = this.profiles.find((p) => p.token === 'main') as VideoProfile;
      await snapshotJpeg(main.width, main.height); // made before the first request asks for it
      await this.#boot();
    } catch (err) {
      this.#running = false;
      await this.#shutdown();
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#rebootTimer);
    this.#rebootTimer = undefined;
    await this.#shutdown();
  }

  /**
   * Power-cycle: every connection drops and nothing answers (HTTP refused, probes unanswered)
   * for `ms`; then the camera is back on the same address and port. Resolves once it is down;
   * 'up' (or 'bootFailed') tells when it is back.
   */
  async reboot(ms: number): Promise<void> {
    if (!this.#running) throw new Error(`SimOnvifCamera ${this.name}: not started`);
    clearTimeout(this.#rebootTimer);
    await this.#shutdown();
    this.#rebootTimer = setTimeout(() => {
      this.#rebootTimer = undefined;
      if (!this.#running) return;
      this.#boot().catch(async (err: Error) => {
        await this.#shutdown();
        this.emit('bootFailed', err);
      });
    }, ms);
  }

  async #boot(): Promise<void> {
    await this.#server.listen();
    await this.#discovery?.start();
    this.#up = true;
    this.emit('up');
  }

  async #shutdown(): Promise<void> {
    await Promise.all([this.#server.close(), this.#discovery?.stop()]);
    if (this.#up) {
      this.#up = false;
      this.emit('down');
    }
  }

  #onRequest(info: OnvifRequestInfo): void {
    if (info.service === 'snapshot') {
      if (info.status === 200) this.#stats.snapshots++;
    } else {
      this.#stats.soapRequests++;
      if (info.fault === 'ter:NotAuthorized') this.#stats.refused++;
    }
    this.emit('request', info);
  }
}
