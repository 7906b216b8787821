/**
 * RTSP/1.0 messages (RFC 2326): requests read from a byte stream that also carries interleaved
 * `$` frames (10.12), responses written out, and the Transport header (12.39).
 */

export interface RtspRequest {
  readonly method: string;
  readonly uri: string;
  readonly version: string;
  /** Lower-case names. */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Buffer;
}

export type Incoming =
  | { kind: 'request'; request: RtspRequest }
  | { kind: 'interleaved'; channel: number; data: Buffer };

export class RtspProtocolError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const MAX_HEAD_BYTES = 16 * 1024;
const MAX_BODY_BYTES = 64 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');

export const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK',
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  453: 'Not Enough Bandwidth',
  454: 'Session Not Found',
  455: 'Method Not Valid in This State',
  459: 'Aggregate Operation Not Allowed',
  461: 'Unsupported Transport',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  505: 'RTSP Version Not Supported',
};

/** Splits what a client sends into requests and interleaved frames. */
export class RtspParser {
  #buffer: Buffer = Buffer.alloc(0);

  /** Throws RtspProtocolError on input that cannot be read; the connection should then close. */
  push(chunk: Buffer): Incoming[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const out: Incoming[] = [];
    for (;;) {
      const buf = this.#buffer;
      if (buf.length === 0) break;
      if (buf[0] === 0x24) {
        if (buf.length < 4) break;
        const length = buf.readUInt16BE(2);
        if (buf.length < 4 + length) break;
        out.push({ kind: 'interleaved', channel: buf[1] ?? 0, data: buf.subarray(4, 4 + length) });
        this.#buffer = buf.subarray(4 + length);
        continue;
      }
      const end = buf.indexOf(HEAD_END);
      if (end < 0) {
        if (buf.length > MAX_HEAD_BYTES) throw new RtspProtocolError(400, 'request head too large');
        break;
      }
      const { request, bodyLength } = parseHead(buf.subarray(0, end).toString('latin1'));
      const total = end + HEAD_END.length + bodyLength;
      if (buf.length < total) break;
      out.push({
        kind: 'request',
        request: { ...request, body: buf.subarray(end + HEAD_END.length, total) },
      });
      this.#buffer = buf.subarray(total);
    }
    if (this.#buffer.length > 0 && this.#buffer.byteOffset > 0) this.#buffer = Buffer.from(this.#buffer);
    return out;
  }
}

function parseHead(text: string): { request: Omit<RtspRequest, 'body'>; bodyLength: number } {
  const lines = text.replace(/^(\r\n)+/, '').split('\r\n');
  const [method, uri, version, extra] = (lines[0] ?? '').split(' ');
  if (!method || !uri || !version || extra !== undefined || !/^[A-Z_]+$/.test(method)) {
    throw new RtspProtocolError(400, 'malformed request line');
  }
  if (version !== 'RTSP/1.0') throw new RtspProtocolError(505, `unsupported version ${version}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new RtspProtocolError(400, 'malformed header line');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const before = headers.get(name);
    headers.set(name, before === undefined ? value : `${before}, ${value}`);
  }
  const length = headers.get('content-length');
  const bodyLength = length === undefined ? 0 : Number(length);
  if (!Number.isInteger(bodyLength) || bodyLength < 0 || bodyLength > MAX_BODY_BYTES) {
    throw new RtspProtocolError(400, 'bad Content-Length');
  }
  return { request: { method, uri, version, headers }, bodyLength };
}

export function formatResponse(
  status: number,
  headers: readonly (readonly [string, string | number])[],
  body?: string,
): Buffer {
  const lines = [`RTSP/1.0 ${status} ${STATUS_TEXT[status] ?? 'Unknown'}`];
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  const payload = body === undefined ? undefined : Buffer.from(body, 'utf8');
  if (payload) lines.push(`Content-Length: ${payload.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return payload ? Buffer.concat([head, payload]) : head;
}

export interface TransportSpec {
  readonly lower: 'tcp' | 'udp';
  /** TCP: the two channels asked for (RTP, RTCP). */
  readonly interleaved?: readonly [number, number];
  /** UDP: the client's RTP and RTCP ports. */
  readonly clientPort?: readonly [number, number];
}

/**
 * The first alternative of a Transport header we can serve: unicast RTP/AVP over TCP
 * (interleaved) or UDP (client_port). Multicast and other profiles are skipped.
 */
export function parseTransport(header: string): TransportSpec | undefined {
  for (const alternative of header.split(',')) {
    const [spec = '', ...params] = alternative.trim().split(';');
    const [protocol, profile, lowerName = 'UDP'] = spec.toUpperCase().split('/');
    if (protocol !== 'RTP' || profile !== 'AVP') continue;
    const values = new Map(
      params.map((p) => {
        const eq = p.indexOf('=');
        return eq < 0 ? [p.trim().toLowerCase(), ''] : [p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1)];
      }),
    );
    if (values.has('multicast') || values.has('destination')) continue;
    const pair = (name: string): [number, number] | undefined => {
      const value = values.get(name);
      if (value === undefined) return undefined;
      const [a, b] = value.split('-').map(Number);
      if (a === undefined || !Number.isInteger(a)) return undefined;
      return [a, b !== undefined && Number.isInteger(b) ? b : a + 1];
    };
    if (lowerName === 'TCP') {
      const interleaved = pair('interleaved');
      if (interleaved?.every((c) => c >= 0 && c <= 255)) return { lower: 'tcp', interleaved };
      if (!values.has('interleaved')) return { lower: 'tcp' };
    } else if (lowerName === 'UDP') {
      const clientPort = pair('client_port');
      if (clientPort?.every((p) => p > 0 && p < 65536)) return { lower: 'udp', clientPort };
    }
  }
  return undefined;
}
