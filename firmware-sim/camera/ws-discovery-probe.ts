/**
 * A minimal WS-Discovery client for the simulator's own checks and tests: sends one Probe
 * (multicast to the group, or unicast to one camera) and collects the ProbeMatches that answer it.
 *
 * It only multicasts through a loopback interface: the socket is bound to a loopback address,
 * its multicast interface is set to it, and the multicast TTL is 1. Anything else is refused.
 */
import { randomUUID } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { child, children, NS, parseXml, type XmlElement } from './soap.js';
import { type Peer, WS_DISCOVERY_GROUP, WS_DISCOVERY_PORT } from './ws-discovery.js';

export interface ProbeMatch {
  /** EndpointReference Address (`urn:uuid:…`). */
  endpoint: string;
  types: string[];
  scopes: string[];
  xaddrs: string[];
  metadataVersion: number | undefined;
  relatesTo: string;
  from: Peer;
}

export interface ProbeOptions {
  /** Default: the multicast group 239.255.255.250:3702. */
  to?: Peer;
  /** Loopback address to send from; default 127.0.0.1. */
  bindAddress?: string;
  /** How long answers are collected; default 1000 ms. */
  timeoutMs?: number;
  /** Stop as soon as this many distinct endpoints answered. */
  expect?: number;
  /** Default `dn:NetworkVideoTransmitter`. */
  types?: string;
  scopes?: string[];
}

export interface ProbeResult {
  messageId: string;
  /** One per endpoint, first answer wins. */
  matches: ProbeMatch[];
  /** Datagrams that were not ProbeMatches for this probe. */
  strays: number;
  /** The socket's address and its multicast interface: where the probe could go. */
  sentFrom: { address: string; port: number; multicastInterface: string; multicastTtl: number };
}

const isLoopback = (address: string) => /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);

export function probeXml(
  messageId: string,
  types = 'dn:NetworkVideoTransmitter',
  scopes: string[] = [],
): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<e:Envelope xmlns:e="${NS.soap12}" xmlns:w="${NS.wsa}" xmlns:d="${NS.wsd}" xmlns:dn="${NS.dn}">` +
    `<e:Header><w:MessageID>${messageId}</w:MessageID>` +
    '<w:To e:mustUnderstand="true">urn:schemas-xmlsoap-org:ws:2005:04:discovery</w:To>' +
    `<w:Action e:mustUnderstand="true">${NS.wsd}/Probe</w:Action></e:Header>` +
    `<e:Body><d:Probe><d:Types>${types}</d:Types>` +
    (scopes.length ? `<d:Scopes>${scopes.join(' ')}</d:Scopes>` : '') +
    '</d:Probe></e:Body></e:Envelope>'
  );
}

/** The ProbeMatch entries of a ProbeMatches message, or undefined when it is not one. */
export function parseProbeMatches(xml: string, from: Peer): ProbeMatch[] | undefined {
  let root: XmlElement;
  try {
    root = parseXml(xml);
  } catch {
    return undefined;
  }
  const relatesTo = child(child(root, 'Header', NS.soap12), 'RelatesTo', NS.wsa)?.text;
  const matches = child(child(root, 'Body', NS.soap12), 'ProbeMatches', NS.wsd);
  if (root.ns !== NS.soap12 || !matches || relatesTo === undefined) return undefined;
  const words = (el: XmlElement | undefined) => (el?.text ?? '').split(/\s+/).filter(Boolean);
  return children(matches, 'ProbeMatch').map((m) => {
    const version = child(m, 'MetadataVersion', NS.wsd)?.text;
    return {
      endpoint: child(child(m, 'EndpointReference', NS.wsa), 'Address', NS.wsa)?.text ?? '',
      types: words(child(m, 'Types', NS.wsd)),
      scopes: words(child(m, 'Scopes', NS.wsd)),
      xaddrs: words(child(m, 'XAddrs', NS.wsd)),
      metadataVersion: version === undefined ? undefined : Number(version),
      relatesTo,
      from,
    };
  });
}

/** A UDP socket bound to a loopback address, multicasting only through it, TTL 1. */
async function loopbackSocket(bindAddress: string): Promise<Socket> {
  if (!isLoopback(bindAddress))
    throw new Error(`WS-Discovery client: ${bindAddress} is not a loopback address`);
  const socket = createSocket({ type: 'udp4' });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, bindAddress, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.setMulticastInterface(bindAddress);
    socket.setMulticastTTL(1);
    return socket;
  } catch (err) {
    await closeSocket(socket);
    throw err;
  }
}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // never bound
    }
  });
}

function send(socket: Socket, payload: Buffer, to: Peer): Promise<void> {
  return new Promise((resolve, reject) =>
    socket.send(payload, to.port, to.address, (err) => (err ? reject(err) : resolve())),
  );
}

/** Sends one datagram (garbage, for instance) from a loopback socket, expecting nothing back. */
export async function sendDatagram(payload: Buffer, to: Peer, bindAddress = '127.0.0.1'): Promise<void> {
  const socket = await loopbackSocket(bindAddress);
  try {
    await send(socket, payload, to);
  } finally {
    await closeSocket(socket);
  }
}

export async function probe(options: ProbeOptions = {}): Promise<ProbeResult> {
  const to = options.to ?? { address: WS_DISCOVERY_GROUP, port: WS_DISCOVERY_PORT };
  const bindAddress = options.bindAddress ?? '127.0.0.1';
  const messageId = `urn:uuid:${randomUUID()}`;
  const socket = await loopbackSocket(bindAddress);
  const found = new Map<string, ProbeMatch>();
  let strays = 0;
  try {
    const sentFrom = { ...socket.address(), multicastInterface: bindAddress, multicastTtl: 1 };
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, options.timeoutMs ?? 1000);
      socket.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.on('message', (msg, rinfo) => {
        const matches = parseProbeMatches(msg.toString('utf8'), { address: rinfo.address, port: rinfo.port });
        const ours = matches?.filter((m) => m.relatesTo === messageId) ?? [];
        if (ours.length === 0) strays++;
        for (const m of ours) if (!found.has(m.endpoint)) found.set(m.endpoint, m);
        if (options.expect !== undefined && found.size >= options.expect) {
          clearTimeout(timer);
          resolve();
        }
      });
      send(socket, Buffer.from(probeXml(messageId, options.types, options.scopes)), to).catch(
        (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
    return { messageId, matches: [...found.values()], strays, sentFrom };
  } finally {
    await closeSocket(socket);
  }
}
