/**
 * The simulated ONVIF camera, judged by real clients: the `onvif` npm package (the hub's ONVIF
 * client), curl and ffprobe for the snapshot, raw HTTP for what a client never sends. WS-Discovery
 * runs in a private network namespace (`unshare -rn`) whose only interface is loopback, so its
 * multicast cannot leave the machine and no other test's cameras can answer.
 */
import { execFile } from 'node:child_process';
import type { Cam } from 'onvif';
import onvif from 'onvif';
import { afterEach, describe, expect, it } from 'vitest';
import { SimOnvifCamera, type SimOnvifCameraOptions } from '../../firmware-sim/camera/onvif-camera.js';
import type { OnvifRequestInfo } from '../../firmware-sim/camera/onvif-server.js';
import { usernameTokenXml } from '../../firmware-sim/camera/soap-security.js';
import type {
  DiscoveryCheckPlan,
  DiscoveryCheckReport,
} from '../../firmware-sim/camera/ws-discovery-check.js';
import { currentNetns, runInLoopbackNetns } from '../../firmware-sim/camera/ws-discovery-netns.js';
import { onceWithTimeout, waitForEvent } from '../helpers/wait.js';

const LOGIN = { username: 'admin', password: 'Khu-cam&<pw>1' };
const STREAMS = { main: 'rtsp://127.0.0.2:8554/main', sub: 'rtsp://127.0.0.2:8554/sub' };
const DEVICE_WSDL = 'http://www.onvif.org/ver10/device/wsdl';
const MEDIA_WSDL = 'http://www.onvif.org/ver10/media/wsdl';

const cameras: SimOnvifCamera[] = [];
afterEach(async () => {
  await Promise.all(cameras.splice(0).map((c) => c.stop()));
});

async function startCamera(options: Partial<SimOnvifCameraOptions> = {}): Promise<SimOnvifCamera> {
  const cam = new SimOnvifCamera({
    host: '127.0.0.2',
    ...LOGIN,
    name: 'Cổng chính',
    location: 'Cổng A',
    streamUris: STREAMS,
    discovery: false, // WS-Discovery is tested in its own namespace below
    ...options,
  });
  cameras.push(cam);
  await cam.start();
  return cam;
}

/** `new Cam(…)` connects by itself: GetSystemDateAndTime, GetServices, GetProfiles, GetVideoSources. */
function connect(cam: SimOnvifCamera, login: { username?: string; password?: string } = LOGIN): Promise<Cam> {
  return new Promise((resolve, reject) => {
    const client: Cam = new onvif.Cam(
      { hostname: cam.host, port: cam.httpPort, timeout: 5000, ...login },
      (err) => (err ? reject(err) : resolve(client)),
    );
  });
}

/** The `onvif` package's callback API as a promise. */
function call<T>(fn: (cb: (err: Error | null, data?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, data) => (err ? reject(err) : resolve(data as T))));
}

function soap(operation: string, header = ''): string {
  return (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">' +
    `<s:Header>${header}</s:Header><s:Body>${operation}</s:Body></s:Envelope>`
  );
}

async function post(
  url: string,
  body: string,
): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/soap+xml' }, body });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

/** The fault's code and subcodes, outermost first: ['env:Sender', 'ter:NotAuthorized']. */
const faultCodes = (xml: string) => [...xml.matchAll(/<env:Value>([^<]+)<\/env:Value>/g)].map((m) => m[1]);

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { timeout: 10_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} failed (is it installed?): ${err.message} ${stderr}`)) : resolve(stdout),
    ),
  );
}

describe('simulated ONVIF camera: device and media services', () => {
  it('answers GetSystemDateAndTime without a login, with its own clock', async () => {
    const cam = await startCamera();
    const res = await post(cam.deviceServiceUrl, soap(`<GetSystemDateAndTime xmlns="${DEVICE_WSDL}"/>`));
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^application\/soap\+xml/);
    expect(res.text).toContain('<tt:UTCDateTime>');

    cam.clockOffsetMs = 3_600_000;
    const client = new onvif.Cam({ hostname: cam.host, port: cam.httpPort, autoconnect: false });
    const time = await call<Date>((cb) => client.getSystemDateAndTime(cb));
    expect(Math.abs(time.getTime() - (Date.now() + 3_600_000))).toBeLessThan(3000);
  });

  it('lets the onvif client connect with the right login and read profiles, URIs and a JPEG', async () => {
    const cam = await startCamera();
    const client = await connect(cam);
    expect(client.uri?.media?.path).toBe('/onvif/media_service');
    const capabilities = await call<Record<string, { XAddr?: string }>>((cb) => client.getCapabilities(cb));
    expect([capabilities.device?.XAddr, capabilities.media?.XAddr]).toEqual([
      cam.deviceServiceUrl,
      cam.mediaServiceUrl,
    ]);

    const info = await call<Record<string, unknown>>((cb) => client.getDeviceInformation(cb));
    // The client's XML parser turns numeric-looking text into numbers: firmware "1.0" arrives as 1.
    expect(info).toMatchObject({ manufacturer: 'Khu Sim', model: 'KS-IPC-1080', firmwareVersion: 1 });

    const profiles = client.profiles ?? [];
    const sizes = profiles.map((p) => [
      p.$.token,
      p.videoEncoderConfiguration.encoding,
      p.videoEncoderConfiguration.resolution,
    ]);
    expect(sizes).toEqual([
      ['main', 'H264', { width: 1920, height: 1080 }],
      ['sub', 'H264', { width: 640, height: 360 }],
    ]);
    expect(client.activeSource?.profileToken).toBe('main');

    for (const token of ['main', 'sub'] as const) {
      const stream = await call<{ uri: string }>((cb) =>
        client.getStreamUri({ protocol: 'RTSP', profileToken: token }, cb),
      );
      expect(stream.uri).toBe(STREAMS[token]);
    }
    const scopes = await call<Array<{ scopeItem: string }>>((cb) => client.getScopes(cb));
    expect(scopes.map((s) => s.scopeItem)).toContain('onvif://www.onvif.org/name/C%E1%BB%95ng%20ch%C3%ADnh');

    const snapshot = await call<{ uri: string }>((cb) => client.getSnapshotUri({ profileToken: 'main' }, cb));
    expect(snapshot.uri).toBe(`http://127.0.0.2:${cam.httpPort}/snapshot.jpg`);
    const res = await fetch(snapshot.uri);
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    const jpeg = Buffer.from(await res.arrayBuffer());
    expect([...jpeg.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
    const probe = await run('ffprobe', [
      '-v',
      'error',
      '-show_entries',
      'stream=codec_name,width,height',
      '-of',
      'json',
      snapshot.uri,
    ]);
    expect(JSON.parse(probe).streams).toEqual([{ codec_name: 'mjpeg', width: 1920, height: 1080 }]);
  });

  it('guards the snapshot with Basic or Digest when configured, as curl sees it', async () => {
    const cam = await startCamera({ snapshotAuth: 'digest' });
    const curl = (...args: string[]) =>
      run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{content_type}', ...args]);
    expect(await curl(cam.snapshotUrl)).toMatch(/^401 /);
    expect(await curl('--digest', '-u', `${LOGIN.username}:wrong`, cam.snapshotUrl)).toMatch(/^401 /);
    expect(await curl('--digest', '-u', `${LOGIN.username}:${LOGIN.password}`, cam.snapshotUrl)).toBe(
      '200 image/jpeg',
    );
    cam.snapshotAuth = 'basic';
    expect(await curl('--basic', '-u', `${LOGIN.username}:${LOGIN.password}`, cam.snapshotUrl)).toBe(
      '200 image/jpeg',
    );
  });

  it('refuses a missing or wrong login with the fault cameras send: 400, env:Sender / ter:NotAuthorized', async () => {
    const cam = await startCamera();
    // What the client reports: GetServices and then GetCapabilities are refused with the fault.
    await expect(connect(cam, { ...LOGIN, password: 'wrong' })).rejects.toThrow(
      /^ONVIF SOAP Fault: Sender not Authorized/,
    );

    const getInfo = `<GetDeviceInformation xmlns="${DEVICE_WSDL}"/>`;
    for (const header of [
      '',
      usernameTokenXml({ ...LOGIN, password: 'wrong' }),
      usernameTokenXml({ ...LOGIN, username: 'root' }),
    ]) {
      const res = await post(cam.deviceServiceUrl, soap(getInfo, header));
      expect(res.status).toBe(400);
      expect(res.type).toMatch(/^application\/soap\+xml/);
      expect(faultCodes(res.text)).toEqual(['env:Sender', 'ter:NotAuthorized']);
    }
    const text = await post(cam.deviceServiceUrl, soap(getInfo, usernameTokenXml(LOGIN, { type: 'text' })));
    expect(text.status).toBe(200);

    // The password changes on the camera: a connected client is refused from then on.
    const client = await connect(cam);
    cam.setCredentials({ password: 'new password' });
    await expect(call((cb) => client.getDeviceInformation(cb))).rejects.toThrow(/Sender not Authorized/);
    await connect(cam, { ...LOGIN, password: 'new password' });
  });

  it('refuses a Created far from its own clock, and a replayed nonce; SetSystemDateAndTime moves the clock', async () => {
    const cam = await startCamera();
    const getInfo = `<GetDeviceInformation xmlns="${DEVICE_WSDL}"/>`;
    const refusal = async (header: string) => {
      const refused = waitForEvent<[OnvifRequestInfo]>(cam, 'request', { filter: (i) => i.status !== 200 });
      const res = await post(cam.deviceServiceUrl, soap(getInfo, header));
      return { res, info: (await refused)[0] };
    };
    const stale = await refusal(usernameTokenXml(LOGIN, { created: new Date(Date.now() - 6 * 60_000) }));
    expect([stale.res.status, faultCodes(stale.res.text), stale.info.refusal]).toEqual([
      400,
      ['env:Sender', 'ter:NotAuthorized'],
      'stale',
    ]);

    const token = usernameTokenXml(LOGIN);
    expect((await post(cam.deviceServiceUrl, soap(getInfo, token))).status).toBe(200);
    expect((await refusal(token)).info.refusal).toBe('replayed');

    // A camera an hour ahead: requests stamped with the host's time are stale, but the client
    // reads the camera's time first and stamps its requests with that.
    cam.clockOffsetMs = 3_600_000;
    expect((await refusal(usernameTokenXml(LOGIN))).info.refusal).toBe('stale');
    const client = await connect(cam);
    await call((cb) => client.getDeviceInformation(cb));

    const target = new Date(Date.UTC(2030, 0, 1, 7, 0, 0));
    await call((cb) =>
      client.setSystemDateAndTime({ dateTime: target, dateTimeType: 'Manual', daylightSavings: false }, cb),
    );
    expect(Math.abs(cam.clock.now().getTime() - target.getTime())).toBeLessThan(5000);
    expect(cam.clock.dateTimeType).toBe('Manual');
  });

  it('answers malformed XML, other SOAP versions, unknown actions and bad arguments with faults, and keeps serving', async () => {
    const cam = await startCamera();
    const auth = () => usernameTokenXml(LOGIN);
    const cases: Array<[string, string, number, string[]]> = [
      [cam.deviceServiceUrl, '<s:Envelope><s:Body><unclosed>', 400, ['env:Sender', 'ter:WellFormed']],
      [cam.deviceServiceUrl, 'not xml at all', 400, ['env:Sender', 'ter:WellFormed']],
      [
        cam.deviceServiceUrl,
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><l>&b;</l>',
        400,
        ['env:Sender', 'ter:WellFormed'],
      ],
      [
        cam.deviceServiceUrl,
        `<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><GetSystemDateAndTime xmlns="${DEVICE_WSDL}"/></e:Body></e:Envelope>`,
        500,
        ['env:VersionMismatch'],
      ],
      [
        cam.deviceServiceUrl,
        soap(`<SystemReboot xmlns="${DEVICE_WSDL}"/>`, auth()),
        500,
        ['env:Receiver', 'ter:ActionNotSupported'],
      ],
      [
        cam.deviceServiceUrl,
        soap(`<GetProfiles xmlns="${MEDIA_WSDL}"/>`, auth()),
        500,
        ['env:Receiver', 'ter:ActionNotSupported'],
      ],
      [
        cam.mediaServiceUrl,
        soap(`<GetStreamUri xmlns="${MEDIA_WSDL}"><ProfileToken>nope</ProfileToken></GetStreamUri>`, auth()),
        400,
        ['env:Sender', 'ter:InvalidArgVal', 'ter:NoProfile'],
      ],
    ];
    for (const [url, body, status, codes] of cases) {
      const res = await post(url, body);
      expect([res.status, faultCodes(res.text)], body).toEqual([status, codes]);
    }
    expect((await post(cam.deviceServiceUrl, `<a>${'x'.repeat(300_000)}</a>`)).status).toBe(413);
    expect((await fetch(cam.deviceServiceUrl)).status).toBe(405);
    const alive = await post(cam.deviceServiceUrl, soap(`<GetSystemDateAndTime xmlns="${DEVICE_WSDL}"/>`));
    expect(alive.status).toBe(200);
  });

  it('reboot(ms): unreachable meanwhile, then back on the same port', async () => {
    const cam = await startCamera();
    const port = cam.httpPort;
    await connect(cam);
    const down = onceWithTimeout(cam, 'down');
    await cam.reboot(400);
    await down;
    expect(cam.reachable).toBe(false);
    await expect(fetch(cam.deviceServiceUrl)).rejects.toMatchObject({ cause: { code: 'ECONNREFUSED' } });
    await expect(connect(cam)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await onceWithTimeout(cam, 'up', 3000);
    expect(cam.httpPort).toBe(port);
    await connect(cam);
  });

  it('hostile mode hands out whatever stream URI it is told to, escaped as XML', async () => {
    const cam = await startCamera();
    const client = await connect(cam);
    for (const uri of [
      'file:///etc/passwd',
      'concat:/etc/passwd|/etc/shadow',
      'http://127.0.0.1:1/x?a=1&b=<2>',
    ]) {
      cam.hostileStreamUri = uri;
      const got = await call<{ uri: string }>((cb) =>
        client.getStreamUri({ protocol: 'RTSP', profileToken: 'main' }, cb),
      );
      expect(got.uri).toBe(uri);
    }
    cam.hostileStreamUri = undefined;
    const honest = await call<{ uri: string }>((cb) =>
      client.getStreamUri({ protocol: 'RTSP', profileToken: 'sub' }, cb),
    );
    expect(honest.uri).toBe(STREAMS.sub);
  });
});

describe('simulated ONVIF camera: WS-Discovery, in a private network namespace', () => {
  it('is found by multicast (our probe and the onvif client) and by unicast, and ignores garbage', async () => {
    const plan: DiscoveryCheckPlan = {
      cameras: [
        { host: '127.0.0.2', name: 'Cổng chính', location: 'Cổng A' },
        { host: '127.0.0.3', name: 'Cổng sau' },
      ],
      windowMs: 700,
    };
    const run = await runInLoopbackNetns<DiscoveryCheckReport>(
      new URL('../../firmware-sim/camera/ws-discovery-check.ts', import.meta.url),
      'discoveryCheck',
      plan,
      { timeoutMs: 25_000 },
    );
    // Where the probes ran: another network namespace, whose only interface is loopback.
    expect(run.netns).not.toBe(currentNetns());
    expect(run.links).toEqual(['lo']);
    const report = run.value;
    expect(report.multicast.sentFrom).toMatchObject({
      address: '127.0.0.1',
      multicastInterface: '127.0.0.1',
      multicastTtl: 1,
    });

    const xaddrOf = (host: string) => report.cameras.find((c) => c.host === host)?.deviceServiceUrl;
    expect(xaddrOf('127.0.0.2')).toMatch(/^http:\/\/127\.0\.0\.2:\d+\/onvif\/device_service$/);
    const found = report.multicast.matches.map((m) => [
      m.from.address,
      m.xaddrs,
      m.types.includes('dn:NetworkVideoTransmitter'),
    ]);
    expect(found.sort()).toEqual([
      ['127.0.0.2', [xaddrOf('127.0.0.2')], true],
      ['127.0.0.3', [xaddrOf('127.0.0.3')], true],
    ]);
    const main = report.multicast.matches.find((m) => m.from.address === '127.0.0.2');
    expect(main?.endpoint).toMatch(/^urn:uuid:[0-9a-f-]{36}$/);
    expect(main?.relatesTo).toBe(report.multicast.messageId);
    expect(main?.scopes).toContain('onvif://www.onvif.org/location/C%E1%BB%95ng%20A');

    expect(report.onvifClient.errors).toEqual([]);
    expect(report.onvifClient.matches.map((m) => [m.endpoint, m.xaddrs]).sort()).toEqual(
      report.cameras.map((c) => [c.endpoint, c.deviceServiceUrl]).sort(),
    );

    for (const host of ['127.0.0.2', '127.0.0.3']) {
      const unicast = report.unicast[host];
      expect(unicast?.result.matches.map((m) => m.xaddrs[0])).toEqual([xaddrOf(host)]);
      expect(unicast?.heardBy).toEqual([host]);
      expect(report.ignored[host]).toHaveLength(10);
      expect(report.afterGarbage[host]?.matches).toHaveLength(1);
    }
    expect(Object.values(report.xaddrStatus)).toEqual([200, 200]);
  });
});
