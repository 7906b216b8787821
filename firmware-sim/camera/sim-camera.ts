/**
 * A whole simulated entry camera on one loopback address: RTSP stream (main and sub), ONVIF
 * device and media services, snapshot, and a WS-Discovery responder on loopback.
 */

import type { MediaOptions } from './media.js';
import { SimOnvifCamera } from './onvif-camera.js';
import { SimRtspCamera } from './rtsp-server.js';

export interface SimCameraOptions {
  /** Its own loopback address, e.g. 127.0.0.2. */
  host: string;
  name: string;
  username: string;
  password: string;
  location?: string;
  rtspPort?: number;
  onvifPort?: number;
  media?: MediaOptions;
  discovery?: boolean;
}

export class SimCamera {
  readonly rtsp: SimRtspCamera;
  onvif: SimOnvifCamera | undefined;
  readonly #o: SimCameraOptions;

  constructor(options: SimCameraOptions) {
    this.#o = options;
    this.rtsp = new SimRtspCamera({
      // The RTSP name is also the Digest realm: ASCII, as real cameras send it (a header carries
      // no UTF-8, and a mangled realm breaks every login).
      name: `khu-sim-${options.host}`,
      host: options.host,
      port: options.rtspPort,
      username: options.username,
      password: options.password,
      media: options.media,
    });
  }

  /** `host:port` of the ONVIF device service: what a technician types to add it. */
  get onvifAddress(): string {
    if (!this.onvif) throw new Error('SimCamera: not started');
    return new URL(this.onvif.deviceServiceUrl).host;
  }

  async start(): Promise<void> {
    await this.rtsp.start();
    this.onvif = new SimOnvifCamera({
      host: this.#o.host,
      httpPort: this.#o.onvifPort,
      username: this.#o.username,
      password: this.#o.password,
      name: this.#o.name,
      location: this.#o.location,
      discovery: this.#o.discovery ?? true,
      streamUris: { main: this.rtsp.url('/main'), sub: this.rtsp.url('/sub') },
    });
    await this.onvif.start();
  }

  async stop(): Promise<void> {
    await this.onvif?.stop();
    await this.rtsp.stop();
  }
}
