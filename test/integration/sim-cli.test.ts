/**
 * `npm run sim -- --hub <url>`: the simulated fleet provisions itself through a real hub's HTTP
 * API (loopback, port 0) and runs against its real broker. The CLI runs in-process: `startSim`
 * does what `main` does before waiting for a signal, and `main` answers the error cases.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CliUsageError,
  main,
  parseCliArgs,
  type SimIo,
  type SimRun,
  startSim,
} from '../../firmware-sim/cli.js';
import { HubApiError, planFleet } from '../../firmware-sim/provision-fleet.js';
import { parseProvisioning } from '../../firmware-sim/provisioning.js';
import { ADMIN_PASSWORD, TestHub } from '../helpers/hub.js';
import { waitFor } from '../helpers/wait.js';

const teardown: (() => unknown)[] = [];
afterEach(async () => {
  for (let fn = teardown.pop(); fn; fn = teardown.pop()) await fn();
});

async function startHub(): Promise<TestHub> {
  const hub = await TestHub.start();
  teardown.push(() => hub.close());
  return hub;
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'khu-sim-cli-'));
  teardown.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Output kept, not printed; an empty environment, so that the machine's KHU_ADMIN_PASSWORD stays out. */
function quietIo(): SimIo & { lines: string[] } {
  const lines: string[] = [];
  return { lines, env: {}, log: (line) => lines.push(line), warn: (line) => lines.push(line) };
}

/** `npm run sim -- --hub <hub> …` up to the running fleet; the fleet is stopped at teardown. */
async function runSim(hub: TestHub, args: string[], io: SimIo, env: NodeJS.ProcessEnv = {}): Promise<SimRun> {
  const options = parseCliArgs(['--hub', hub.url, '--tele-period', '0', ...args], env);
  const run = await startSim(options, io);
  teardown.push(() => run.fleet.stop());
  return run;
}

interface DeviceView {
  id: string;
  channels: number;
  online: boolean;
  lights: string[];
}

interface LightView {
  id: string;
  zone: string;
  reported: string | null;
}

async function simDevices(hub: TestHub): Promise<DeviceView[]> {
  const res = await hub.api<DeviceView[]>('GET', '/api/devices');
  expect(res.status).toBe(200);
  return res.body.filter((d) => d.id.startsWith('sim-'));
}

/** Every relay of the run online, and every light's first report in, as the API tells. */
async function waitOnline(hub: TestHub, ids: string[]): Promise<void> {
  await waitFor(
    async () => {
      const online = new Set((await simDevices(hub)).filter((d) => d.online).map((d) => d.id));
      if (!ids.every((id) => online.has(id))) return false;
      const lights = (await hub.api<LightView[]>('GET', '/api/lights')).body;
      return lights.filter((l) => l.id.startsWith('sim-')).every((l) => l.reported !== null);
    },
    { timeoutMs: 10_000, intervalMs: 20, message: `${ids.join(', ')} online with their states reported` },
  );
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('sim --hub: provisioning through the API', () => {
  it('creates the relays like the demo, writes the file (0600), and the relays come online', async () => {
    const hub = await startHub();
    const file = join(await tempDir(), 'sim', 'provisioning.json');
    const io = quietIo();
    const run = await runSim(
      hub,
      ['--password', ADMIN_PASSWORD, '--relays', '7', '--zones', '3', '--provisioning', file],
      io,
    );
    const result = await run.started;
    expect(result).toEqual({ started: 7, failed: [] });

    const ids = ['sim-a01', 'sim-a02', 'sim-a03', 'sim-b01', 'sim-b02', 'sim-c01', 'sim-c02'];
    await waitOnline(hub, ids);
    const devices = await simDevices(hub);
    expect(devices.map((d) => d.id)).toEqual(ids);
    expect(devices.find((d) => d.id === 'sim-a03')).toMatchObject({
      channels: 2,
      lights: ['sim-a03-1', 'sim-a03-2'],
    });
    expect(devices.filter((d) => d.channels === 2).map((d) => d.id)).toEqual(['sim-a03']);
    const lights = (await hub.api<LightView[]>('GET', '/api/lights')).body;
    expect(lights.find((l) => l.id === 'sim-b02')?.zone).toBe('Phố mô phỏng B');
    expect(new Set(lights.map((l) => l.zone))).toEqual(
      new Set(['Phố mô phỏng A', 'Phố mô phỏng B', 'Phố mô phỏng C']),
    );

    // The fleet runs against the hub's broker: a command is acknowledged by the simulated relay.
    const switched = await hub.api('POST', '/api/lights/sim-a03-2/state', { body: { state: 'on' } });
    expect(switched.status).toBe(200);
    expect(switched.body).toMatchObject({ reported: 'on', pending: false, online: true });
    expect(run.fleet.get('sim-a03')?.state(2)).toBe('on');

    // The file: the relays' logins, readable by its owner only, usable by `--provisioning` alone.
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const written = parseProvisioning(JSON.parse(await readFile(file, 'utf8')), file);
    expect(written).toEqual(run.provisioning);
    expect(written.broker).toEqual({ host: '127.0.0.1', port: hub.mqttPort });
    expect(written.relays.map((r) => [r.topic, r.channels])).toEqual(
      ids.map((id) => [id, id === 'sim-a03' ? 2 : 1]),
    );

    // Nothing printed holds a password.
    const printed = io.lines.join('\n');
    expect(printed).toContain('7 provisioned');
    expect(printed).not.toContain(ADMIN_PASSWORD);
    for (const r of written.relays) expect(printed).not.toContain(r.password);
  });

  it('a second run with the same ids gives them new passwords, and they come online again', async () => {
    const hub = await startHub();
    const first = await runSim(
      hub,
      ['--password', ADMIN_PASSWORD, '--relays', '4', '--zones', '2'],
      quietIo(),
    );
    await first.started;
    const ids = ['sim-a01', 'sim-a02', 'sim-b01', 'sim-b02'];
    await waitOnline(hub, ids);
    await first.fleet.stop();
    await waitFor(async () => (await simDevices(hub)).every((d) => !d.online), {
      timeoutMs: 5000,
      message: 'the first fleet offline',
    });

    // This time the password comes from the environment, as in docker-compose.
    const io = quietIo();
    const second = await runSim(hub, ['--relays', '4', '--zones', '2'], io, {
      KHU_ADMIN_PASSWORD: ADMIN_PASSWORD,
    });
    expect(await second.started).toEqual({ started: 4, failed: [] });
    await waitOnline(hub, ids);
    expect((await simDevices(hub)).map((d) => d.id)).toEqual(ids);
    expect(io.lines.join('\n')).toContain('0 provisioned, 4 given a new password');

    const before = new Map(first.provisioning.relays.map((r) => [r.topic, r.password]));
    for (const r of second.provisioning.relays) expect(r.password).not.toBe(before.get(r.topic));
    // The old login no longer opens the broker.
    const old = first.provisioning.relays[0]!;
    const stale = hub.relay(
      { host: '127.0.0.1', port: hub.mqttPort, ...old },
      { clientId: 'DVES_57A1E0', reconnect: { initialMs: 50, maxMs: 50 } },
    );
    await expect(stale.start()).rejects.toThrow(/refused the connection/);
  });
});

describe('sim --hub: errors', () => {
  it('a wrong password: exit 1, a message naming the refused login, the password never printed', async () => {
    const hub = await startHub();
    const wrong = 'not-the-admin-pw-42';
    const io = quietIo();
    const code = await main(['--hub', hub.url, '--password', wrong], io);
    expect(code).toBe(1);
    const printed = io.lines.join('\n');
    expect(printed).toContain(
      `sim: the hub at ${hub.url} refused the login of "admin": wrong username or password (401 KHU_UNAUTHORIZED)`,
    );
    expect(printed).not.toContain(wrong);
    expect(printed).not.toContain('usage:');
    expect(await simDevices(hub)).toEqual([]);

    const failure = startSim(parseCliArgs(['--hub', hub.url], { KHU_ADMIN_PASSWORD: wrong }), quietIo());
    await expect(failure).rejects.toBeInstanceOf(HubApiError);
    await expect(failure).rejects.toMatchObject({ status: 401 });
  });

  it('an account below technician: exit 1, naming the relay and the refusal', async () => {
    const hub = await startHub();
    await hub.createUser('cudan', 'resident', ['zone-1']);
    const io = quietIo();
    const code = await main(['--hub', hub.url, '--user', 'cudan', '--password', 'cudan-pw'], io);
    expect(code).toBe(1);
    expect(io.lines[0]).toMatch(
      /^sim: the hub refused to provision sim-a\d\d as "cudan": .*\(403 KHU_FORBIDDEN\)$/,
    );
    expect(io.lines.join('\n')).not.toContain('cudan-pw');
  });

  it('an unreachable hub: exit 1, naming the address and the reason', async () => {
    const port = await closedPort();
    const io = quietIo();
    const code = await main(['--hub', `http://127.0.0.1:${port}`, '--password', 'whatever-pw'], io);
    expect(code).toBe(1);
    expect(io.lines).toEqual([`sim: cannot reach the hub at http://127.0.0.1:${port}: ECONNREFUSED`]);
  });

  it.each([
    [['--relays', '0'], '--relays must be an integer from 1 to 10000 (got "0")'],
    [['--relays', 'abc'], '--relays must be an integer from 1 to 10000 (got "abc")'],
    [['--zones', '27'], '--zones must be an integer from 1 to 26 (got "27")'],
  ])('usage error %j: exit 2 with the usage', async (args, message) => {
    const io = quietIo();
    const code = await main(['--hub', 'http://127.0.0.1:9', '--password', 'some-pw', ...args], io);
    expect(code).toBe(2);
    expect(io.lines[0]).toBe(`sim: ${message}`);
    expect(io.lines[1]).toMatch(/^usage: npm run sim -- --hub <url>/);
    expect(() => parseCliArgs(['--hub', 'http://h', '--password', 'p', ...args], {})).toThrow(CliUsageError);
  });

  it.each([
    [['--hub', 'http://127.0.0.1:9'], /--hub needs the password of "admin": set KHU_ADMIN_PASSWORD/],
    [['--hub', 'ftp://hub', '--password', 'p'], /--hub must be an http:\/\/ or https:\/\/ URL/],
    [['--hub', 'not a url', '--password', 'p'], /--hub must be an http:\/\/ or https:\/\/ URL/],
    [['--hub', 'http://admin:hunter2@hub'], /--hub must not hold a user or password/],
    [['--relays', '5', '--provisioning', 'p.json'], /--relays only go with --hub <url>/],
    [['--password', 'hunter2'], /--password only go with --hub <url>/],
    [[], /--hub <url> or --provisioning <file> is required/],
  ])('usage error %j: exit 2', async (args, message) => {
    const io = quietIo();
    expect(await main(args, io)).toBe(2);
    expect(io.lines[0]).toMatch(message);
    expect(io.lines.join('\n')).not.toContain('hunter2');
  });
});

describe('the planned fleet', () => {
  it('spreads relays over zones, the first zones taking the remainder; every third has 2 channels', () => {
    const plan = planFleet(31, 3);
    expect(plan.filter((r) => r.zone === 'Phố mô phỏng A')).toHaveLength(11);
    expect(plan.filter((r) => r.zone === 'Phố mô phỏng C').map((r) => r.id)).toEqual(
      Array.from({ length: 10 }, (_, i) => `sim-c${String(i + 1).padStart(2, '0')}`),
    );
    expect(plan.find((r) => r.id === 'sim-b06')).toEqual({
      id: 'sim-b06',
      name: 'Cột đèn mô phỏng B 6',
      zone: 'Phố mô phỏng B',
      channels: 2,
    });
    expect(planFleet(30, 3).filter((r) => r.channels === 2)).toHaveLength(9);
    // No empty zones: two relays make two zones.
    expect(planFleet(2, 5).map((r) => r.id)).toEqual(['sim-a01', 'sim-b01']);
  });
});
