import { setTimeout as delay } from 'node:timers/promises';
import QRCode from 'qrcode';
import { type Command, type Ctx, str } from '../command.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { localTime, table } from '../format.js';

interface MqttLogin {
  mqtt: { host: string; port: number; username: string; password: string; topic: string };
}
interface Device {
  id: string;
  name: string;
  kind: string;
  channels: number;
  online: boolean;
  lastSeen: string | null;
  lights: string[];
}
interface Light {
  id: string;
  name: string;
  zone: string;
  desired: 'on' | 'off' | null;
  reported: 'on' | 'off' | null;
  pending: boolean;
  online: boolean;
}

/** The line a technician pastes into the Tasmota web console (Console → type, Enter). */
export function tasmotaBacklog(m: MqttLogin['mqtt']): string {
  return `Backlog MqttHost ${m.host}; MqttPort ${m.port}; MqttUser ${m.username}; MqttPassword ${m.password}; Topic ${m.topic}; FullTopic %prefix%/%topic%/`;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

function relayId(ctx: Ctx, command: string): string {
  const id = ctx.positionals[0]!;
  if (!ID.test(id)) throw usageError(`relay id "${id}": letters, digits, "-" and "_", up to 64`, command);
  return id;
}

async function showLogin(ctx: Ctx, login: MqttLogin, intro: string, qr: boolean): Promise<void> {
  const backlog = tasmotaBacklog(login.mqtt);
  if (ctx.out.json) {
    ctx.out.data({ ...login, tasmota: backlog });
    return;
  }
  const m = login.mqtt;
  ctx.out.print(intro);
  ctx.out.print(`  MQTT host      ${m.host}`);
  ctx.out.print(`  MQTT port      ${m.port}`);
  ctx.out.print(`  MQTT user      ${m.username}`);
  ctx.out.print(`  MQTT password  ${m.password}   (shown only now / chỉ hiện một lần)`);
  ctx.out.print(`  Topic          ${m.topic}`);
  ctx.out.print();
  ctx.out.print('Paste into the relay’s Tasmota console (Console → dán vào, Enter):');
  ctx.out.print();
  ctx.out.print(backlog);
  if (qr) {
    ctx.out.print();
    ctx.out.print('The same command as a QR code (scan it with the phone that configures the relay):');
    ctx.out.print(
      await QRCode.toString(backlog, { type: 'terminal', small: true, errorCorrectionLevel: 'L' }),
    );
  }
}

export const relayAdd: Command = {
  name: 'relay add',
  summary: 'provision a relay: its MQTT login and the Tasmota command',
  help: `Usage: khu relay add <id> --zone ZONE --name NAME [--channels N] [--no-qr]

Creates the relay on the hub and prints its MQTT login (the password is shown only
this once), the exact Tasmota console command to paste, and that command as a QR code.

Arguments:
  <id>              the relay's id and MQTT topic, e.g. hv01 (letters, digits, - and _)
Options:
  --zone ZONE       the street it lights, e.g. "Ngõ Chùa"
  --name NAME       what people see, e.g. "Cột 1 Ngõ Chùa"
  --channels N      relay outputs in the cabinet (1–8 typical; default 1)
  --no-qr           no QR code in the terminal

Example:
  khu relay add hv01 --zone "Ngõ Chùa" --name "Cột 1" --channels 2`,
  options: {
    zone: { type: 'string' },
    name: { type: 'string' },
    channels: { type: 'string' },
    'no-qr': { type: 'boolean' },
  },
  positionals: [1, 1],
  async run(ctx) {
    const id = relayId(ctx, 'relay add');
    const zone = str(ctx.values.zone);
    const name = str(ctx.values.name);
    if (!zone) throw usageError('--zone is required', 'relay add');
    if (!name) throw usageError('--name is required', 'relay add');
    const body: Record<string, unknown> = { id, zone, name };
    const channels = str(ctx.values.channels);
    if (channels !== undefined) {
      const n = Number(channels);
      if (!/^\d+$/.test(channels) || n < 1 || n > 32)
        throw usageError('--channels: a number from 1 to 32', 'relay add');
      body.channels = n;
    }
    const login = await ctx.client().json<MqttLogin>('POST', '/api/devices/relays', { body });
    await showLogin(ctx, login, `Relay ${id} added to zone ${zone}.`, !ctx.values['no-qr']);
    return EXIT.ok;
  },
};

export const relayPasswd: Command = {
  name: 'relay passwd',
  summary: 'a new MQTT password for a relay (the old one stops working)',
  help: `Usage: khu relay passwd <id> [--no-qr]

Issues a new MQTT password for the relay, disconnects it, and prints the new login and
Tasmota command (shown only this once). Use it when the password was lost.`,
  options: { 'no-qr': { type: 'boolean' } },
  positionals: [1, 1],
  async run(ctx) {
    const id = relayId(ctx, 'relay passwd');
    const login = await ctx
      .client()
      .json<MqttLogin>('POST', `/api/devices/${encodeURIComponent(id)}/password`);
    await showLogin(
      ctx,
      login,
      `New MQTT password for relay ${id}; the old one no longer works.`,
      !ctx.values['no-qr'],
    );
    return EXIT.ok;
  },
};

export const relayRm: Command = {
  name: 'relay rm',
  summary: 'remove a relay and its lights',
  help: `Usage: khu relay rm <id>

Removes the relay and its lights from the hub; its MQTT login stops working at once.`,
  positionals: [1, 1],
  async run(ctx) {
    const id = relayId(ctx, 'relay rm');
    await ctx.client().json('DELETE', `/api/devices/${encodeURIComponent(id)}`);
    if (ctx.out.json) ctx.out.data({ removed: id });
    else ctx.out.print(`Relay ${id} removed.`);
    return EXIT.ok;
  },
};

export const relayList: Command = {
  name: 'relay list',
  summary: 'relays, online or not, last seen',
  help: `Usage: khu relay list

Every relay with its channels, whether it is online, and when it was last seen.`,
  positionals: [0, 0],
  async run(ctx) {
    const devices = await ctx.client().json<Device[]>('GET', '/api/devices');
    if (ctx.out.json) ctx.out.data(devices);
    else
      ctx.out.print(
        table(
          ['ID', 'NAME', 'CH', 'ONLINE', 'LAST SEEN', 'LIGHTS'],
          devices.map((d) => [
            d.id,
            d.name,
            d.channels,
            d.online ? 'yes' : 'NO',
            localTime(d.lastSeen),
            d.lights.join(','),
          ]),
        ),
      );
    return EXIT.ok;
  },
};

export const relayTest: Command = {
  name: 'relay test',
  summary: 'blink a relay’s lights to check it works',
  help: `Usage: khu relay test <id> [--times N] [--interval MS]

Switches each light of the relay on and off N times through the hub (the same path as a
resident's phone), says whether the relay acknowledged each switch, then puts every light
back as it was.

Options:
  --times N       blinks (default 2)
  --interval MS   pause between switches, so you can see it (default 1000)`,
  options: { times: { type: 'string' }, interval: { type: 'string' } },
  positionals: [1, 1],
  async run(ctx) {
    const id = relayId(ctx, 'relay test');
    const times = Number(str(ctx.values.times) ?? '2');
    const interval = Number(str(ctx.values.interval) ?? '1000');
    if (!Number.isInteger(times) || times < 1 || times > 20)
      throw usageError('--times: a number from 1 to 20', 'relay test');
    if (!Number.isInteger(interval) || interval < 0 || interval > 10_000)
      throw usageError('--interval: milliseconds from 0 to 10000', 'relay test');
    const hub = ctx.client();
    const device = (await hub.json<Device[]>('GET', '/api/devices')).find((d) => d.id === id);
    if (!device) throw new CliError(`no relay ${id} on this hub`, { hint: 'see: khu relay list' });
    if (!device.online)
      throw new CliError(`relay ${id} is offline (last seen ${localTime(device.lastSeen) || 'never'})`, {
        hint: 'check its power and wifi, and that its MQTT login is right (khu relay passwd)',
      });
    const lights = (await hub.json<Light[]>('GET', '/api/lights')).filter((l) =>
      device.lights.includes(l.id),
    );
    const steps: Array<{ light: string; state: string; acknowledged: boolean }> = [];
    const sw = async (light: string, state: 'on' | 'off') => {
      const started = Date.now();
      const r = await hub.json<Light>('POST', `/api/lights/${encodeURIComponent(light)}/state`, {
        body: { state },
      });
      steps.push({ light, state, acknowledged: !r.pending });
      if (!ctx.out.json)
        ctx.out.print(
          `  ${light} ${state.toUpperCase().padEnd(3)} ${r.pending ? 'NOT CONFIRMED by the relay' : `ok (${Date.now() - started} ms)`}`,
        );
      if (interval > 0) await delay(interval);
    };
    if (!ctx.out.json) ctx.out.print(`Blinking relay ${id} (${lights.map((l) => l.id).join(', ')}):`);
    for (let i = 0; i < times; i++) {
      for (const l of lights) await sw(l.id, 'on');
      for (const l of lights) await sw(l.id, 'off');
    }
    for (const l of lights) if (l.desired === 'on') await sw(l.id, 'on');
    const failed = steps.filter((s) => !s.acknowledged).length;
    if (ctx.out.json) ctx.out.data({ relay: id, steps, ok: failed === 0 });
    else
      ctx.out.print(failed === 0 ? `Relay ${id} works.` : `Relay ${id}: ${failed} switch(es) not confirmed.`);
    if (failed > 0)
      throw new CliError(`relay ${id} did not confirm ${failed} of ${steps.length} switches`, {
        hint: 'check the relay’s wiring and its Tasmota console; khu status shows alarms',
      });
    return EXIT.ok;
  },
};
