/**
 * A discovery check of simulated cameras, meant to run inside a private network namespace
 * (`runInLoopbackNetns(…, 'discoveryCheck', plan)`): starts the cameras, probes them by multicast
 * (with our probe and with the `onvif` package's Discovery), by unicast, sends them garbage, and
 * reports what came back, for a test to judge.
 */
import onvif from 'onvif';
import { SimOnvifCamera } from './onvif-camera.js';
import { type IgnoredDatagram, WS_DISCOVERY_GROUP, WS_DISCOVERY_PORT } from './ws-discovery.js';
import { type ProbeResult, probe, sendDatagram } from './ws-discovery-probe.js';

export interface DiscoveryCheckPlan {
  cameras: Array<{ host: string; name: string; location?: string }>;
  /** How long each probe collects answers. */
  windowMs: number;
}

export interface OnvifClientMatch {
  endpoint: string;
  xaddrs: string;
  scopes: string;
  from: string;
}

export interface DiscoveryCheckReport {
  cameras: Array<{ host: string; endpoint: string; deviceServiceUrl: string }>;
  multicast: ProbeResult;
  onvifClient: { matches: OnvifClientMatch[]; errors: string[] };
  /** Per camera host probed: the result, and which cameras saw that unicast probe at all. */
  unicast: Record<string, { result: ProbeResult; heardBy: string[] }>;
  /** Per camera host: the reasons it gave for each garbage datagram it ignored. */
  ignored: Record<string, string[]>;
  /** Unicast probes after the garbage: every camera still answers. */
  afterGarbage: Record<string, ProbeResult>;
  /** XAddr → HTTP status of an unauthenticated GetSystemDateAndTime. */
  xaddrStatus: Record<string, number>;
}

const GARBAGE: Buffer[] = [
  Buffer.from([0x00, 0xff, 0xfe, 0x3c, 0x21]),
  Buffer.from('<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><unclosed>'),
  Buffer.from(
    '<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><Hello/></e:Body></e:Envelope>',
  ),
  Buffer.from(
    '<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><e:Body><d:Probe/></e:Body></e:Envelope>',
  ),
  Buffer.alloc(40_000, '<'),
];

const GSDT =
  '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>' +
  '<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>';

function dig(value: unknown, ...keys: string[]): unknown {
  let at = value;
  for (const key of keys)
    at = at !== null && typeof at === 'object' ? (at as Record<string, unknown>)[key] : undefined;
  return at;
}

function onvifProbe(windowMs: number): Promise<{ matches: OnvifClientMatch[]; errors: string[] }> {
  const errors: string[] = [];
  const onError = (err: unknown) => errors.push(String(err));
  const matches: OnvifClientMatch[] = [];
  // With `resolve: false` the package hands over its parsed reply: probeMatches.probeMatch.{…}.
  const onDevice = (data: unknown, rinfo: { address: string; port: number }) => {
    const m = dig(data, 'probeMatches', 'probeMatch');
    matches.push({
      endpoint: String(dig(m, 'endpointReference', 'address')),
      xaddrs: String(dig(m, 'XAddrs')),
      scopes: String(dig(m, 'scopes')),
      from: `${rinfo.address}:${rinfo.port}`,
    });
  };
  onvif.Discovery.on('error', onError);
  onvif.Discovery.on('device', onDevice);
  return new Promise((resolve) => {
    // `device: 'lo'` binds the socket to 127.0.0.1, so the kernel routes its multicast through lo.
    onvif.Discovery.probe({ timeout: windowMs, resolve: false, device: 'lo' }, () => {
      onvif.Discovery.off('error', onError);
      onvif.Discovery.off('device', onDevice);
      resolve({ matches, errors });
    });
  });
}

export async function discoveryCheck(plan: DiscoveryCheckPlan): Promise<DiscoveryCheckReport> {
  const cameras = plan.cameras.map(
    (c) =>
      new SimOnvifCamera({
        ...c,
        username: 'admin',
        password: 'not-used-here',
        streamUris: { main: `rtsp://${c.host}:554/main`, sub: `rtsp://${c.host}:554/sub` },
      }),
  );
  const ignored: Record<string, string[]> = {};
  for (const cam of cameras) {
    ignored[cam.host] = [];
    cam.on('ignored', (e: IgnoredDatagram) => ignored[cam.host]?.push(`${e.via}: ${e.reason}`));
  }
  try {
    await Promise.all(cameras.map((c) => c.start()));
    const window = { timeoutMs: plan.windowMs, expect: cameras.length };
    const multicast = await probe(window);
    const onvifClient = await onvifProbe(plan.windowMs);

    const unicast: DiscoveryCheckReport['unicast'] = {};
    for (const target of cameras) {
      const heardBy = new Set<string>();
      const listeners = cameras.map((cam) => {
        const l = (e: { via: string }) => e.via === 'unicast' && heardBy.add(cam.host);
        cam.on('probe', l);
        return () => cam.off('probe', l);
      });
      const result = await probe({
        to: { address: target.host, port: WS_DISCOVERY_PORT },
        timeoutMs: plan.windowMs,
      });
      for (const off of listeners) off();
      unicast[target.host] = { result, heardBy: [...heardBy] };
    }

    // Every garbage datagram to each camera's address and to the group: each camera ignores 2 × n.
    const allIgnored = Promise.all(cameras.map((cam) => waitIgnored(cam, 2 * GARBAGE.length, 5000)));
    allIgnored.catch(() => {}); // awaited below; never an unhandled rejection if sending fails first
    for (const payload of GARBAGE) {
      await sendDatagram(payload, { address: WS_DISCOVERY_GROUP, port: WS_DISCOVERY_PORT });
      for (const cam of cameras) await sendDatagram(payload, { address: cam.host, port: WS_DISCOVERY_PORT });
    }
    await allIgnored;
    const afterGarbage: Record<string, ProbeResult> = {};
    for (const cam of cameras) {
      afterGarbage[cam.host] = await probe({
        to: { address: cam.host, port: WS_DISCOVERY_PORT },
        timeoutMs: plan.windowMs,
        expect: 1,
      });
    }

    const xaddrStatus: Record<string, number> = {};
    for (const xaddr of new Set(multicast.matches.flatMap((m) => m.xaddrs))) {
      const res = await fetch(xaddr, {
        method: 'POST',
        body: GSDT,
        headers: { 'content-type': 'application/soap+xml' },
      });
      await res.arrayBuffer();
      xaddrStatus[xaddr] = res.status;
    }
    return {
      cameras: cameras.map((c) => ({
        host: c.host,
        endpoint: c.endpointReference,
        deviceServiceUrl: c.deviceServiceUrl,
      })),
      multicast,
      onvifClient,
      unicast,
      ignored,
      afterGarbage,
      xaddrStatus,
    };
  } finally {
    await Promise.all(cameras.map((c) => c.stop()));
  }
}

/** Resolves once the camera has ignored `count` more datagrams. */
function waitIgnored(cam: SimOnvifCamera, count: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const onIgnored = () => {
      if (++seen < count) return;
      clearTimeout(timer);
      cam.off('ignored', onIgnored);
      resolve();
    };
    const timer = setTimeout(() => {
      cam.off('ignored', onIgnored);
      reject(new Error(`${cam.host} ignored ${seen} of ${count} garbage datagrams within ${timeoutMs} ms`));
    }, timeoutMs);
    cam.on('ignored', onIgnored);
  });
}
