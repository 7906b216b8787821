import { writeFileSync } from 'node:fs';
import { type Command, type Ctx, str } from '../command.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { bytes, localTime, table } from '../format.js';
import { promptSecret } from '../prompt.js';

interface Found {
  endpoint: string;
  address: string;
  xaddrs: string[];
  name: string | null;
  location: string | null;
  hardware: string | null;
  from: string;
}
interface Camera {
  id: string;
  name: string;
  kind: string;
  onvifAddress: string | null;
  mainUri: string;
  subUri: string | null;
  status: string;
  lastSegmentAt: string | null;
  manufacturer: string | null;
  model: string | null;
}

const list = (v: unknown): string[] =>
  (Array.isArray(v) ? v : typeof v === 'string' ? [v] : [])
    .flatMap((s) => String(s).split(','))
    .map((s) => s.trim())
    .filter(Boolean);

export const discover: Command = {
  name: 'discover',
  summary: 'find ONVIF cameras on the LAN (tìm camera)',
  help: `Usage: khu discover [--cidr RANGE]... [--no-multicast] [--interface ADDRESS]

Asks the hub to look for ONVIF cameras: a WS-Discovery multicast on the hub's LAN
interface, and unicast probes to the addresses or ranges given with --cidr.

Options:
  --cidr RANGE         an address or range to probe, e.g. 198.51.100.0/24 (repeat, or comma separated)
  --no-multicast       only the --cidr probes
  --interface ADDRESS  the hub's LAN address to multicast from; the hub must support choosing it per
                       call, otherwise set discovery.interface in the hub's config

Then add one with: khu camera add <address> --user admin`,
  options: {
    cidr: { type: 'string', multiple: true },
    'no-multicast': { type: 'boolean' },
    interface: { type: 'string' },
  },
  positionals: [0, 0],
  async run(ctx) {
    const cidrs = list(ctx.values.cidr);
    for (const c of cidrs)
      if (!/^\d{1,3}(\.\d{1,3}){3}(\/\d{1,2})?$/.test(c))
        throw usageError(`--cidr ${c}: an IPv4 address or range such as 198.51.100.0/24`, 'discover');
    const body: Record<string, unknown> = { multicast: !ctx.values['no-multicast'] };
    if (cidrs.length) body.unicast = cidrs;
    const iface = str(ctx.values.interface);
    if (iface !== undefined) body.interface = iface;
    if (!ctx.out.json) ctx.out.note('Looking for cameras (a few seconds)…');
    let found: Found[];
    try {
      found = await ctx.client().json<Found[]>('POST', '/api/cameras/discover', { body, timeoutMs: 120_000 });
    } catch (err) {
      if (err instanceof CliError && iface !== undefined && /interface/.test(err.message))
        throw new CliError('this hub does not take --interface per call', {
          hint: 'set discovery.interface (the box’s LAN address) in the hub’s config file, restart it, and run khu discover without --interface',
        });
      throw err;
    }
    if (ctx.out.json) ctx.out.data(found);
    else
      ctx.out.print(
        table(
          ['ADDRESS', 'NAME', 'HARDWARE', 'LOCATION', 'FOUND BY'],
          found.map((f) => [f.address, f.name, f.hardware, f.location, f.from]),
        ),
      );
    return EXIT.ok;
  },
};

async function password(ctx: Ctx, user: string | undefined): Promise<string | undefined> {
  const given = str(ctx.values.password);
  if (given !== undefined) return given;
  if (user === undefined) return undefined;
  return promptSecret(`Camera password for ${user} (mật khẩu camera): `);
}

export const cameraAdd: Command = {
  name: 'camera add',
  summary: 'add a camera by its ONVIF address, or by its RTSP address',
  help: `Usage: khu camera add <address> --user USER [--password PASSWORD] [--name NAME]
       khu camera add --rtsp URL [--user USER] [--password PASSWORD] [--name NAME]

The hub logs in to the camera, reads its streams and starts recording it.

Arguments:
  <address>            the camera's ONVIF address, host[:port], e.g. 198.51.100.64 (see khu discover)
Options:
  --user USER          the camera's login
  --password PASSWORD  its password; asked without echo when omitted (better: it stays out of the shell history)
  --rtsp URL           a camera without ONVIF: its rtsp:// stream address
  --name NAME          what people see, e.g. "Cổng chính" (default: the address)`,
  options: {
    user: { type: 'string', short: 'u' },
    password: { type: 'string' },
    rtsp: { type: 'string' },
    name: { type: 'string' },
  },
  positionals: [0, 1],
  async run(ctx) {
    const rtsp = str(ctx.values.rtsp);
    const address = ctx.positionals[0];
    const user = str(ctx.values.user);
    let body: Record<string, unknown>;
    if (rtsp !== undefined) {
      if (address !== undefined) throw usageError('give either <address> or --rtsp, not both', 'camera add');
      if (!/^rtsp:\/\/[^\s]+$/i.test(rtsp))
        throw usageError('--rtsp: an address such as rtsp://198.51.100.64:554/stream1', 'camera add');
      const pw = await password(ctx, user);
      const host = new URL(rtsp.replace(/^rtsp:/i, 'http:')).host;
      body = {
        name: str(ctx.values.name) ?? host,
        rtsp: {
          url: rtsp,
          ...(user !== undefined ? { username: user } : {}),
          ...(pw !== undefined ? { password: pw } : {}),
        },
      };
    } else {
      if (address === undefined)
        throw usageError('the camera’s <address> (or --rtsp URL) is required', 'camera add');
      if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(address) && !/^\[[0-9a-fA-F:]+\](:\d{1,5})?$/.test(address))
        throw usageError(
          `<address> ${address}: host[:port], e.g. 198.51.100.64 or 198.51.100.64:8000`,
          'camera add',
        );
      if (user === undefined) throw usageError('--user is required (the camera’s ONVIF login)', 'camera add');
      const pw = (await password(ctx, user)) ?? '';
      body = { name: str(ctx.values.name) ?? address, onvif: { address, username: user, password: pw } };
    }
    if (!ctx.out.json) ctx.out.note('Adding the camera (the hub logs in to it and checks its stream)…');
    const cam = await ctx.client().json<Camera>('POST', '/api/cameras', { body, timeoutMs: 120_000 });
    if (ctx.out.json) ctx.out.data(cam);
    else
      ctx.out.print(
        `Camera ${cam.id} "${cam.name}" added${cam.manufacturer ? ` (${cam.manufacturer} ${cam.model ?? ''})`.trimEnd() : ''}; status: ${cam.status}.`,
      );
    return EXIT.ok;
  },
};

export const cameraList: Command = {
  name: 'camera list',
  summary: 'cameras and whether they record',
  help: `Usage: khu camera list

Every camera with its status (recording, reconnecting, offline…) and last recorded segment.`,
  positionals: [0, 0],
  async run(ctx) {
    const cams = await ctx.client().json<Camera[]>('GET', '/api/cameras');
    if (ctx.out.json) ctx.out.data(cams);
    else
      ctx.out.print(
        table(
          ['ID', 'NAME', 'KIND', 'ADDRESS', 'STATUS', 'LAST SEGMENT'],
          cams.map((c) => [c.id, c.name, c.kind, c.onvifAddress, c.status, localTime(c.lastSegmentAt)]),
        ),
      );
    return EXIT.ok;
  },
};

const CAMERA_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const cameraRm: Command = {
  name: 'camera rm',
  summary: 'remove a camera and its recordings',
  help: `Usage: khu camera rm <id>

Stops recording the camera and removes it with its recordings.`,
  positionals: [1, 1],
  async run(ctx) {
    const id = ctx.positionals[0]!;
    if (!CAMERA_ID.test(id))
      throw usageError(`camera id "${id}" is not valid (see khu camera list)`, 'camera rm');
    await ctx.client().json('DELETE', `/api/cameras/${encodeURIComponent(id)}`);
    if (ctx.out.json) ctx.out.data({ removed: id });
    else ctx.out.print(`Camera ${id} removed.`);
    return EXIT.ok;
  },
};

export const cameraSnapshot: Command = {
  name: 'camera snapshot',
  summary: 'save what a camera sees now as a JPEG',
  help: `Usage: khu camera snapshot <id> <out.jpg>

Saves a picture of what the camera sees now.`,
  positionals: [2, 2],
  async run(ctx) {
    const [id, file] = ctx.positionals as [string, string];
    if (!CAMERA_ID.test(id))
      throw usageError(`camera id "${id}" is not valid (see khu camera list)`, 'camera snapshot');
    const res = await ctx
      .client()
      .raw('GET', `/api/cameras/${encodeURIComponent(id)}/snapshot.jpg`, { timeoutMs: 60_000 });
    const jpeg = Buffer.from(await res.arrayBuffer());
    try {
      writeFileSync(file, jpeg);
    } catch (err) {
      throw new CliError(`cannot write ${file}: ${(err as Error).message}`, {
        hint: 'choose a file in a folder you can write to',
      });
    }
    const source = res.headers.get('x-khu-snapshot-source');
    if (ctx.out.json) ctx.out.data({ camera: id, file, bytes: jpeg.length, source });
    else ctx.out.print(`Saved ${file} (${bytes(jpeg.length)}${source ? `, from ${source}` : ''}).`);
    return EXIT.ok;
  },
};
