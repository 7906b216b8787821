/**
 * The camera's HTTP side: the ONVIF device and media services (SOAP 1.2 over HTTP POST) and the
 * JPEG snapshot. It answers every request, however broken, with a response or a SOAP fault, the
 * way a camera does: a bad request never takes it down.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deviceOperations } from './onvif-device.js';
import { mediaOperations } from './onvif-media.js';
import type { OnvifContext, OperationTable } from './onvif-model.js';
import { HttpAuthenticator, type HttpAuthMode, type SnapshotImage } from './snapshot.js';
import { envelope, faults, MAX_XML_BYTES, NS, parseSoapRequest, SoapFault } from './soap.js';
import { type Credentials, type TokenRefusal, UsernameTokenVerifier } from './soap-security.js';

export const DEVICE_SERVICE_PATH = '/onvif/device_service';
export const MEDIA_SERVICE_PATH = '/onvif/media_service';
export const SNAPSHOT_PATH = '/snapshot.jpg';

const SOAP_CONTENT_TYPE = 'application/soap+xml; charset=utf-8';

const SERVICES: Record<string, { name: 'device' | 'media'; ns: string; operations: OperationTable }> = {
  [DEVICE_SERVICE_PATH]: { name: 'device', ns: NS.tds, operations: deviceOperations },
  [MEDIA_SERVICE_PATH]: { name: 'media', ns: NS.trt, operations: mediaOperations },
};

/** One handled HTTP request, for tests and logs. */
export interface OnvifRequestInfo {
  service: 'device' | 'media' | 'snapshot';
  /** The SOAP operation's local name, when the envelope could be read. */
  operation?: string;
  status: number;
  /** `ter:NotAuthorized` and the like, when the answer was a fault. */
  fault?: string;
  /** Why a WS-UsernameToken was refused. */
  refusal?: TokenRefusal;
}

export interface OnvifHttpServerOptions {
  host: string;
  /** 0 picks a free port at the first listen; later listens (after a reboot) reuse it. */
  port: number;
  context: OnvifContext;
  /** Read at every request: tests change the login while the camera runs. */
  credentials: () => Credentials;
  snapshot: () => Promise<SnapshotImage>;
  snapshotAuth: () => HttpAuthMode;
  onRequest?: (info: OnvifRequestInfo) => void;
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new BodyTooLarge());
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export class OnvifHttpServer {
  readonly #opts: OnvifHttpServerOptions;
  readonly #server: Server;
  readonly #verifier = new UsernameTokenVerifier();
  readonly #httpAuth = new HttpAuthenticator('Khu Sim Camera');
  #port: number;
  #listening = false;

  constructor(options: OnvifHttpServerOptions) {
    this.#opts = options;
    this.#port = options.port;
    this.#server = createServer({ keepAliveTimeout: 5000, requestTimeout: 10_000 }, (req, res) => {
      this.#handle(req, res).catch(() => {
        if (!res.headersSent) this.#send(res, 500, 'text/plain', 'internal error');
        else res.destroy();
      });
    });
  }

  /** The port it listens on (once started). */
  get port(): number {
    return this.#port;
  }

  get listening(): boolean {
    return this.#listening;
  }

  async listen(): Promise<number> {
    if (this.#listening) return this.#port;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.#server.once('error', onError);
      this.#server.listen({ host: this.#opts.host, port: this.#port, exclusive: true }, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    this.#port = (this.#server.address() as AddressInfo).port;
    this.#listening = true;
    return this.#port;
  }

  /** Stops listening and drops every open connection, as a camera losing power does. */
  async close(): Promise<void> {
    if (!this.#listening) return;
    this.#listening = false;
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const pathname = new URL(req.url ?? '/', 'http://camera').pathname;
    if (pathname === SNAPSHOT_PATH) return this.#snapshot(req, res);
    const service = SERVICES[pathname];
    if (!service) return this.#send(res, 404, 'text/plain', 'not found');
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return this.#send(res, 405, 'text/plain', 'method not allowed');
    }
    let xml: string;
    try {
      xml = await readBody(req, MAX_XML_BYTES);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        res.setHeader('Connection', 'close');
        this.#send(res, 413, 'text/plain', 'request too large');
      }
      return; // otherwise the client went away mid-request
    }
    const info: OnvifRequestInfo = { service: service.name, status: 200 };
    let status = 200;
    let body: string;
    try {
      const request = parseSoapRequest(xml);
      const name = request.operation.local;
      info.operation = name;
      const operation = service.operations.get(name);
      if (!operation || request.operation.ns !== service.ns) throw faults.actionNotSupported(name);
      // PRE_AUTH operations need no token, but one that is sent must be right (as gSOAP devices check it).
      if (operation.access === 'user' || UsernameTokenVerifier.hasToken(request.header)) {
        const check = this.#verifier.verify(
          request.header,
          this.#opts.credentials(),
          this.#opts.context.clock.now(),
        );
        if (!check.ok) {
          info.refusal = check.refusal;
          throw faults.notAuthorized();
        }
      }
      body = envelope(operation.handle(request.operation, this.#opts.context));
    } catch (err) {
      const fault = err instanceof SoapFault ? err : faults.actionFailed();
      status = fault.httpStatus;
      info.fault = fault.subcodes.at(-1) ?? `env:${fault.code}`;
      body = fault.toXml();
    }
    info.status = status;
    this.#send(res, status, SOAP_CONTENT_TYPE, body);
    this.#opts.onRequest?.(info);
  }

  async #snapshot(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const info: OnvifRequestInfo = { service: 'snapshot', status: 200 };
    const mode = this.#opts.snapshotAuth();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      info.status = 405;
      this.#send(res, 405, 'text/plain', 'method not allowed');
    } else if (mode !== 'none' && !this.#httpAuth.check(req, mode, this.#opts.credentials())) {
      res.setHeader('WWW-Authenticate', this.#httpAuth.challenge(mode));
      info.status = 401;
      this.#send(res, 401, 'text/plain', 'unauthorized');
    } else {
      const { jpeg } = await this.#opts.snapshot();
      res.setHeader('Cache-Control', 'no-store');
      this.#send(res, 200, 'image/jpeg', req.method === 'HEAD' ? Buffer.alloc(0) : jpeg, jpeg.length);
    }
    this.#opts.onRequest?.(info);
  }

  #send(res: ServerResponse, status: number, type: string, body: string | Buffer, length?: number): void {
    res.statusCode = status;
    res.setHeader('Content-Type', type);
    res.setHeader('Content-Length', length ?? Buffer.byteLength(body));
    res.end(body);
  }
}
