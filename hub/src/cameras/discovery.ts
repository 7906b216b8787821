import { randomUUID } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import { XMLParser } from 'fast-xml-parser';
import { badRequest } from '../core/errors.js';
import type { Logger } from '../core/log.js';

/** WS-Discovery 1.0 (ONVIF Core §7.3): SOAP-over-UDP on 239.255.255.250:3702. */
export const WS_DISCOVERY_GROUP = '239.255.255.250';
export const WS_DISCOVERY_PORT = 3702;
const MAX_REPLY_BYTES = 16 * 1024;
const MAX_UNICAST_TARGETS = 1024;

export interface DiscoveredCamera {
  /** The device's WS-Addressing endpoint (`urn:uuid:…`), or its first XAddr when it has none. */
  endpoint: string;
  /** `host[:port]` of its device service: what `POST /api/cameras` takes. */
  address: string;
  xaddrs: string[];
  name: string | null;
  location: string | null;
  hardware: string | null;
  /** Who answered (the UDP source address). */
  from: string;
}

export interface DiscoveryOptions {
  /** IPv4 address of the interface to multicast from; empty = the system's default. */
  interfaceAddress?: string;
  /** Multicast a probe (default true). */
  multicast?: boolean;
  /** Addresses or CIDR ranges (at most 1024 addresses) to probe one by one: cameras on another subnet. */
  unicast?: string[];
  timeoutMs: number;
  /** For tests: where probes go (default 3702). */
  port?: number;
  log?: Logger;
}

function probeMessage(messageId: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" ' +
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" ' +
    'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" ' +
    'xmlns:dn="http://www.onvif.org/ver10/network/wsdl">' +
    `<s:Header><a:MessageID>${messageId}</a:MessageID>` +
    '<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>' +
    '<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action></s:Header>' +
    '<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>'
  );
}

/** `198.51.100.0/24` → its host addresses; a plain address → itself. Refuses ranges over 1024 addresses. */
export function expandTargets(targets: string[]): string[] {
  const out = new Set<string>();
  for (const t of targets) {
    const [ip, bitsText] = t.trim().split('/');
    if (!ip || !isIPv4(ip))
      throw badRequest(`unicast: ${JSON.stringify(t)} is not an IPv4 address or CIDR range`);
    if (bitsText === undefined) {
      out.add(ip);
      continue;
    }
    const bits = Number(bitsText);
    if (!/^\d{1,2}$/.test(bitsText) || bits > 32 || bits < 22) {
      throw badRequest(`unicast: ${t}: use a range from /22 (1024 addresses) to /32`);
    }
    const base = ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
    const size = 2 ** (32 - bits);
    const first = base - (base % size);
    // Network and broadcast addresses are skipped in ranges with room for hosts.
    const [lo, hi] = size > 2 ? [first + 1, first + size - 2] : [first, first + size - 1];
    for (let n = lo; n <= hi; n++) out.add([24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.'));
  }
  if (out.size > MAX_UNICAST_TARGETS)
    throw badRequest(`unicast: at most ${MAX_UNICAST_TARGETS} addresses at once`);
  return [...out];
}

const parser = new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
});

const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Parse a ProbeMatches reply to our probe; undefined for anything else (wrong shape, not ours). */
export function parseProbeMatches(
  xml: string,
  messageId: string,
  from: string,
): DiscoveredCamera[] | undefined {
  let doc: Record<string, unknown>;
  try {
    doc = parser.parse(xml, true) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const envelope = doc.Envelope as Record<string, unknown> | undefined;
  const header = envelope?.Header as Record<string, unknown> | undefined;
  const body = envelope?.Body as Record<string, unknown> | undefined;
  if (!body || text(header?.RelatesTo) !== messageId) return undefined;
  const matches = asArray((body.ProbeMatches as Record<string, unknown> | undefined)?.ProbeMatch);
  const found: DiscoveredCamera[] = [];
  for (const m of matches as Array<Record<string, unknown>>) {
    const xaddrs = (text(m?.XAddrs) ?? '').split(/\s+/).filter((x) => /^https?:\/\//.test(x));
    const firstUrl = xaddrs.map((x) => URL.canParse(x) && new URL(x)).find((u) => u);
    if (!firstUrl) continue;
    const scopes = (text(m.Scopes) ?? '').split(/\s+/);
    const scope = (kind: string) => {
      const s = scopes.find((x) => x.startsWith(`onvif://www.onvif.org/${kind}/`));
      return s ? decodeURIComponent(s.slice(`onvif://www.onvif.org/${kind}/`.length)).slice(0, 120) : null;
    };
    const epr = m.EndpointReference as Record<string, unknown> | undefined;
    found.push({
      endpoint: text(epr?.Address) ?? xaddrs[0]!,
      address: firstUrl.port ? `${firstUrl.hostname}:${firstUrl.port}` : firstUrl.hostname,
      xaddrs,
      name: scope('name'),
      location: scope('location'),
      hardware: scope('hardware'),
      from,
    });
  }
  return found;
}

/**
 * Find ONVIF cameras: a multicast Probe on the chosen interface, and unicast Probes to given
 * addresses (cameras on another subnet do not hear multicast). Answers are deduplicated by
 * endpoint; malformed, oversized or unrelated replies are dropped and counted in the log.
 * Runs on request only.
 */
export async function discoverCameras(options: DiscoveryOptions): Promise<DiscoveredCamera[]> {
  const targets = expandTargets(options.unicast ?? []);
  const port = options.port ?? WS_DISCOVERY_PORT;
  const messageId = `uuid:${randomUUID()}`;
  const message = Buffer.from(probeMessage(messageId));
  const found = new Map<string, DiscoveredCamera>();
  let dropped = 0;
  const socket: Socket = createSocket({ type: 'udp4', reuseAddr: false });
  socket.on('message', (msg, rinfo) => {
    const cams =
      msg.length <= MAX_REPLY_BYTES
        ? parseProbeMatches(msg.toString('utf8'), messageId, rinfo.address)
        : undefined;
    if (!cams) {
      dropped++;
      return;
    }
    for (const c of cams) if (!found.has(c.endpoint)) found.set(c.endpoint, c);
  });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: options.interfaceAddress || undefined, port: 0 }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', (err) => options.log?.warn({ err }, 'discovery socket error'));
    if (options.multicast !== false) {
      // The probe leaves only through the configured interface, and never beyond this subnet.
      if (options.interfaceAddress) socket.setMulticastInterface(options.interfaceAddress);
      socket.setMulticastTTL(1);
      socket.setMulticastLoopback(true);
      socket.send(message, port, WS_DISCOVERY_GROUP);
    }
    for (const ip of targets) socket.send(message, port, ip);
    await new Promise((resolve) => setTimeout(resolve, options.timeoutMs));
  } finally {
    socket.close();
  }
  if (dropped > 0)
    options.log?.info({ dropped }, 'discovery replies dropped (malformed, oversized or not ours)');
  return [...found.values()].sort((a, b) => a.address.localeCompare(b.address));
}
