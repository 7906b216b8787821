/**
 * The camera's WS-Discovery target service (WS-Discovery 2005/04, SOAP-over-UDP, as ONVIF Core
 * 7.3 uses it): answers a Probe, multicast to 239.255.255.250:3702 or unicast to the camera's own
 * address, with a unicast ProbeMatches to the prober. Anything else arriving is ignored.
 *
 * Network discipline: multicast is joined on one interface given by address, loopback by default,
 * and every socket has its multicast interface set and a multicast TTL of 1. The responder never
 * sends multicast itself (no Hello/Bye).
 */
import { randomUUID } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIPv4 } from 'node:net';
import { attr, child, escapeXml, NS, parseXml, resolveQName, type XmlElement } from './soap.js';

export const WS_DISCOVERY_GROUP = '239.255.255.250';
export const WS_DISCOVERY_PORT = 3702;
const PROBE_ACTION = `${NS.wsd}/Probe`;
const MATCH_RFC3986 = `${NS.wsd}/rfc3986`;
const MATCH_STRCMP0 = `${NS.wsd}/strcmp0`;
/** SOAP-over-UDP datagrams are small; a larger one is not a probe. */
const MAX_DATAGRAM_BYTES = 32 * 1024;
const DUPLICATE_WINDOW_MS = 10_000;

export interface QName {
  ns: string;
  local: string;
}

/** What a ProbeMatch says about the device. */
export interface DiscoveryEndpoint {
  /** EndpointReference Address, stable across reboots: `urn:uuid:…`. */
  address: string;
  types: readonly QName[];
  scopes: readonly string[];
  /** Device service URLs. */
  xaddrs: readonly string[];
  metadataVersion: number;
}

/** ONVIF Core 7.3.2.2: a Profile S camera is a `dn:NetworkVideoTransmitter` (and a `tds:Device`). */
export const NVT_TYPES: readonly QName[] = [
  { ns: NS.dn, local: 'NetworkVideoTransmitter' },
  { ns: NS.tds, local: 'Device' },
];

export interface WsDiscoveryOptions {
  /** Address of the interface that joins the group; default 127.0.0.1 (loopback only). */
  multicastInterface?: string;
  /** Default 3702. */
  port?: number;
  /** WS-Discovery 1.1 APP_MAX_DELAY: wait a random 0..n ms before answering a multicast probe. Default 0. */
  maxReplyDelayMs?: number;
}

export interface Peer {
  address: string;
  port: number;
}

export interface ProbeEvent {
  via: 'multicast' | 'unicast';
  from: Peer;
  messageId: string;
  /** False when the probe asked for other types or scopes (no reply is sent then). */
  matched: boolean;
}

export interface IgnoredDatagram {
  via: 'multicast' | 'unicast';
  from: Peer;
  reason: string;
}

export interface WsDiscoveryResponderEvents {
  probe: [event: ProbeEvent];
  ignored: [event: IgnoredDatagram];
}

/** RFC 3986 scope matching, WS-Discovery 2005/04 5.1: same scheme and authority, path segment prefix. */
export function scopeMatches(wanted: string, scope: string, rule = MATCH_RFC3986): boolean {
  if (rule === MATCH_STRCMP0) return wanted === scope;
  if (rule !== MATCH_RFC3986) return false;
  const split = (s: string) => {
    const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)/i.exec(s);
    return m
      ? { head: `${m[1]}://${m[2]}`.toLowerCase(), segments: (m[3] ?? '').split('/').filter(Boolean) }
      : undefined;
  };
  const w = split(wanted);
  const s = split(scope);
  if (!w || !s || w.head !== s.head || w.segments.length > s.segments.length) return false;
  return w.segments.every((seg, i) => seg === s.segments[i]);
}

export class WsDiscoveryResponder extends EventEmitter<WsDiscoveryResponderEvents> {
  readonly #host: string;
  readonly #endpoint: () => DiscoveryEndpoint;
  readonly #iface: string;
  readonly #port: number;
  readonly #maxDelayMs: number;
  #unicast: Socket | undefined;
  #multicast: Socket | undefined;
  /** WS-Discovery AppSequence: InstanceId grows at every (re)start, MessageNumber per message. */
  #instanceId = Math.floor(Date.now() / 1000);
  #messageNumber = 0;
  readonly #recent = new Map<string, number>();
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(host: string, endpoint: () => DiscoveryEndpoint, options: WsDiscoveryOptions = {}) {
    super();
    const iface = options.multicastInterface ?? '127.0.0.1';
    if (!isIPv4(host)) throw new Error(`WsDiscoveryResponder: host must be an IPv4 address, got ${host}`);
    if (!isIPv4(iface) || iface === '0.0.0.0') {
      // INADDR_ANY would mean "the default route's interface": the real network.
      throw new Error(`WsDiscoveryResponder: multicastInterface must be an interface address, got ${iface}`);
    }
    this.#host = host;
    this.#endpoint = endpoint;
    this.#iface = iface;
    this.#port = options.port ?? WS_DISCOVERY_PORT;
    this.#maxDelayMs = options.maxReplyDelayMs ?? 0;
  }

  get instanceId(): number {
    return this.#instanceId;
  }

  async start(): Promise<void> {
    if (this.#unicast) return;
    this.#instanceId++;
    this.#messageNumber = 0;
    // Own address, exclusively: a unicast probe to it reaches this camera and no other.
    const unicast = createSocket({ type: 'udp4' });
    // Shared by every camera on the machine (SO_REUSEADDR): each gets its own copy of a multicast.
    const multicast = createSocket({ type: 'udp4', reuseAddr: true });
    this.#unicast = unicast;
    this.#multicast = multicast;
    try {
      await bind(unicast, this.#port, this.#host);
      await bind(multicast, this.#port, WS_DISCOVERY_GROUP);
      for (const socket of [unicast, multicast]) {
        socket.setMulticastInterface(this.#iface);
        socket.setMulticastTTL(1);
      }
      multicast.addMembership(WS_DISCOVERY_GROUP, this.#iface);
    } catch (err) {
      await this.stop();
      throw new Error(
        `WsDiscoveryResponder ${this.#host}: cannot listen on port ${this.#port}: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
    unicast.on('message', (msg, rinfo) => this.#onDatagram('unicast', msg, rinfo));
    multicast.on('message', (msg, rinfo) => this.#onDatagram('multicast', msg, rinfo));
    // A socket error (e.g. ICMP unreachable on a reply) must not crash the camera.
    unicast.on('error', () => {});
    multicast.on('error', () => {});
  }

  async stop(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#recent.clear();
    const sockets = [this.#unicast, this.#multicast];
    this.#unicast = undefined;
    this.#multicast = undefined;
    await Promise.all(sockets.map((s) => (s ? close(s) : undefined)));
  }

  #onDatagram(via: 'multicast' | 'unicast', msg: Buffer, rinfo: RemoteInfo): void {
    const from = { address: rinfo.address, port: rinfo.port };
    const read = this.#readProbe(msg);
    if (typeof read === 'string') {
      this.emit('ignored', { via, from, reason: read });
      return;
    }
    const { probe, messageId } = read;
    const endpoint = this.#endpoint();
    const matched = this.#matches(probe, endpoint);
    this.emit('probe', { via, from, messageId, matched });
    if (!matched) return;
    const reply = Buffer.from(probeMatchesXml(endpoint, messageId, this.#instanceId, ++this.#messageNumber));
    const send = () => {
      this.#unicast?.send(reply, rinfo.port, rinfo.address, () => {});
    };
    const delay = via === 'multicast' ? Math.floor(Math.random() * this.#maxDelayMs) : 0;
    if (delay <= 0) {
      send();
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      send();
    }, delay);
    this.#timers.add(timer);
  }

  /** The Probe in a datagram and its MessageID, or why the datagram is ignored. */
  #readProbe(msg: Buffer): { probe: XmlElement; messageId: string } | string {
    if (msg.length > MAX_DATAGRAM_BYTES) return 'datagram too large';
    let root: XmlElement;
    try {
      root = parseXml(msg.toString('utf8'));
    } catch (err) {
      return `not XML: ${(err as Error).message}`;
    }
    if (root.local !== 'Envelope' || root.ns !== NS.soap12) return 'not a SOAP 1.2 envelope';
    const header = child(root, 'Header', NS.soap12);
    const probe = child(child(root, 'Body', NS.soap12), 'Probe', NS.wsd);
    const action = child(header, 'Action', NS.wsa)?.text;
    if (!probe || (action !== undefined && action !== PROBE_ACTION)) return 'not a Probe';
    const messageId = child(header, 'MessageID', NS.wsa)?.text;
    if (!messageId) return 'Probe without a MessageID';
    // SOAP-over-UDP repeats a message up to twice: answer it once.
    const now = Date.now();
    for (const [id, at] of this.#recent) {
      if (now - at < DUPLICATE_WINDOW_MS && this.#recent.size < 256) break;
      this.#recent.delete(id);
    }
    if (this.#recent.has(messageId)) return 'duplicate Probe';
    this.#recent.set(messageId, now);
    return { probe, messageId };
  }

  #matches(probe: XmlElement, endpoint: DiscoveryEndpoint): boolean {
    const typesEl = child(probe, 'Types', NS.wsd);
    for (const qname of (typesEl?.text ?? '').split(/\s+/).filter(Boolean)) {
      const wanted = resolveQName(typesEl as XmlElement, qname);
      // An undeclared prefix is matched by local name, as lenient cameras do.
      const ok = endpoint.types.some(
        (t) => t.local === wanted.local && (wanted.ns === undefined || t.ns === wanted.ns),
      );
      if (!ok) return false;
    }
    const scopesEl = child(probe, 'Scopes', NS.wsd);
    const rule = attr(scopesEl, 'MatchBy') ?? MATCH_RFC3986;
    return (scopesEl?.text ?? '')
      .split(/\s+/)
      .filter(Boolean)
      .every((wanted) => endpoint.scopes.some((scope) => scopeMatches(wanted, scope, rule)));
  }
}

export function probeMatchesXml(
  endpoint: DiscoveryEndpoint,
  relatesTo: string,
  instanceId: number,
  messageNumber: number,
): string {
  const prefixes = new Map<string, string>([
    [NS.dn, 'dn'],
    [NS.tds, 'tds'],
  ]);
  const types = endpoint.types.map((t) => `${prefixes.get(t.ns) ?? 'dn'}:${t.local}`).join(' ');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<env:Envelope xmlns:env="${NS.soap12}" xmlns:wsa="${NS.wsa}" xmlns:d="${NS.wsd}" xmlns:dn="${NS.dn}" xmlns:tds="${NS.tds}">` +
    '<env:Header>' +
    `<wsa:MessageID>urn:uuid:${randomUUID()}</wsa:MessageID>` +
    `<wsa:RelatesTo>${escapeXml(relatesTo)}</wsa:RelatesTo>` +
    '<wsa:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>' +
    `<wsa:Action>${NS.wsd}/ProbeMatches</wsa:Action>` +
    `<d:AppSequence InstanceId="${instanceId}" MessageNumber="${messageNumber}"/>` +
    '</env:Header><env:Body><d:ProbeMatches><d:ProbeMatch>' +
    `<wsa:EndpointReference><wsa:Address>${escapeXml(endpoint.address)}</wsa:Address></wsa:EndpointReference>` +
    `<d:Types>${types}</d:Types>` +
    `<d:Scopes>${endpoint.scopes.map(escapeXml).join(' ')}</d:Scopes>` +
    `<d:XAddrs>${endpoint.xaddrs.map(escapeXml).join(' ')}</d:XAddrs>` +
    `<d:MetadataVersion>${endpoint.metadataVersion}</d:MetadataVersion>` +
    '</d:ProbeMatch></d:ProbeMatches></env:Body></env:Envelope>'
  );
}

function bind(socket: Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ port, address, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

function close(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // never bound, or closed already
    }
  });
}
