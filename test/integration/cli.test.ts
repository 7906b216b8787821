/**
 * The technician's CLI, end to end: the built `khu` run as a child process against a real hub
 * on loopback port 0, with its settings in a temporary XDG_CONFIG_HOME.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SimCamera } from '../../firmware-sim/camera/sim-camera.js';
import { loadConfig, projectRoot } from '../../hub/src/config/load.js';
import { createHub } from '../../hub/src/main.js';
import { ADMIN_PASSWORD, type MqttLogin, TestHub } from '../helpers/hub.js';
import { waitFor } from '../helpers/wait.js';

const root = projectRoot();
const CLI = join(root, 'dist/scripts/khu/main.js');
const temps: string[] = [];
const tempDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
};

/** Build the CLI when dist is missing or older than its sources (npm test builds first anyway). */
beforeAll(() => {
  const newest = (dir: string): number =>
    Math.max(
      ...readdirSync(dir, { withFileTypes: true }).map((e) =>
        e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs,
      ),
    );
  const sources = Math.max(newest(join(root, 'scripts/khu')), newest(join(root, 'hub/src/backup')));
  if (existsSync(CLI) && statSync(CLI).mtimeMs >= sources) return;
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'pipe' });
  } catch (err) {
    // tsc still writes its output when another part of the tree has a type error.
    if (!existsSync(CLI) || statSync(CLI).mtimeMs < sources) throw err;
  }
}, 180_000);

afterAll(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let xdg: string;
function khu(args: string[], options: { env?: Record<string, string>; input?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: xdg,
        XDG_CONFIG_HOME: xdg,
        TZ: 'Asia/Ho_Chi_Minh',
        ...options.env,
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`khu ${args.join(' ')} did not finish in 60 s\n${stdout}\n${stderr}`));
    }, 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

const json = <T>(r: Run): T => {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
};

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let t: TestHub;

async function loginAs(username = 'admin', password = ADMIN_PASSWORD): Promise<void> {
  const r = await khu(['login', '--hub', t.url, '--user', username], { env: { KHU_PASSWORD: password } });
  expect(r.code, r.stderr).toBe(0);
}

describe('khu: logging in, status, and what goes wrong', () => {
  beforeAll(async () => {
    xdg = tempDir('khu-cli-xdg-');
    t = await TestHub.start();
    await t.createUser('kythuat', 'technician');
  });
  afterAll(async () => {
    await t?.close();
  });
  afterEach(() => {
    rmSync(join(xdg, 'khu'), { recursive: true, force: true });
  });

  it('refuses a wrong password, saves nothing, and exits 4', async () => {
    const r = await khu(['login', '--hub', t.url, '--user', 'kythuat'], {
      env: { KHU_PASSWORD: 'wrong-pw' },
    });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('wrong username or password');
    expect(existsSync(join(xdg, 'khu', 'config.json'))).toBe(false);
  });

  it('logs in (password from KHU_PASSWORD or standard input), keeps the session 0600, and shows the status', async () => {
    const r = await khu(['login', '--hub', t.url, '--user', 'kythuat'], { input: 'kythuat-pw\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Logged in to ${t.url} as kythuat (technician)`);
    expect(r.stdout + r.stderr).not.toContain('kythuat-pw');
    const file = join(xdg, 'khu', 'config.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { hub: string; token: string };
    expect(saved.hub).toBe(t.url);
    expect(saved.token.length).toBeGreaterThan(20);

    await loginAs('kythuat', 'kythuat-pw');
    const status = await khu(['status']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/Relays: 0 of 0 online\. Cameras: 0 of 0 recording\./);
    expect(status.stdout).toContain('RELAY');
    const s = json<{ hub: { status: string }; devices: unknown[]; disk: { freeBytes: number } }>(
      await khu(['status', '--json']),
    );
    expect(s.hub.status).toBe('ok');
    expect(s.disk.freeBytes).toBeGreaterThan(0);

    expect((await khu(['logout'])).code).toBe(0);
    const after = await khu(['status']);
    expect(after.code).toBe(4);
    expect(after.stderr).toContain('run: khu login');
  });

  it('says to log in again when the session has expired or was ended', async () => {
    await loginAs('kythuat', 'kythuat-pw');
    const file = join(xdg, 'khu', 'config.json');
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    writeFileSync(file, JSON.stringify({ ...saved, token: `${saved.token}x` }), { mode: 0o600 });
    const r = await khu(['relay', 'list']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/session has expired.*\n.*run: khu login/);
    const j = await khu(['relay', 'list', '--json']);
    expect(JSON.parse(j.stdout)).toMatchObject({ error: { code: 'KHU_UNAUTHORIZED', exitCode: 4 } });
  });

  it('says clearly when the hub cannot be reached, and exits 3', async () => {
    const port = await closedPort();
    const r = await khu(['login', '--hub', `http://127.0.0.1:${port}`, '--user', 'admin'], {
      env: { KHU_PASSWORD: 'x' },
    });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`cannot reach the hub at http://127.0.0.1:${port} (connection refused`);
    expect(r.stderr).toContain('is the hub running');
    const s = await khu(['status', '--hub', `http://127.0.0.1:${port}`]);
    expect(s.code).toBe(3);
  });

  it('refuses bad arguments with exit 2 before anything reaches the hub', async () => {
    await loginAs();
    const cases: Array<[string[], RegExp]> = [
      [['frobnicate'], /unknown command: frobnicate/],
      [['relay', 'explode'], /unknown command: khu relay explode/],
      [['relay', 'add', 'r1', '--zome', 'x'], /Unknown option '--zome'/],
      [['relay', 'add', 'r1', '--name', 'R'], /--zone is required/],
      [['relay', 'add', '--zone', 'z', '--name', 'R'], /missing argument/],
      [['relay', 'add', 'r 1', '--zone', 'z', '--name', 'R'], /relay id "r 1"/],
      [['relay', 'add', 'r1', '--zone', 'z', '--name', 'R', '--channels', 'two'], /--channels: a number/],
      [['relay', 'add', 'r1', '--zone', 'z', '--name', 'R', '--channels', '0'], /--channels: a number/],
      [['relay', 'rm', 'r1', 'r2'], /unexpected argument: r2/],
      [['relay', 'test', 'r1', '--times', '-1'], /--times/],
      [['discover', '--cidr', 'everything'], /--cidr everything/],
      [['camera', 'add', '198.51.100.7'], /--user is required/],
      [['camera', 'add', 'not a host', '--user', 'a'], /<address> not a host/],
      [['camera', 'add', '--rtsp', 'http://198.51.100.7/x'], /--rtsp: an address such as rtsp/],
      [['camera', 'snapshot', 'c1'], /missing argument/],
      [['user', 'invite', '--role', 'resident'], /--household is required/],
      [['user', 'invite', '--household', 'Nhà A', '--role', 'king'], /--role: one of/],
      [['user', 'invite', '--household', 'Nhà A', '--zones', 'a,,b'], /--zones/],
      [['user', 'invite', '--household', 'Nhà A', '--ttl', '9999'], /--ttl/],
      [['status', '--alarms', 'many'], /--alarms/],
      [['restore', 'x.tar'], /--data-dir is required/],
      [['login', '--hub', 'ftp://198.51.100.7'], /--hub ftp:\/\/198\.51\.100\.7/],
      [['backup'], /missing argument/],
    ];
    for (const [args, message] of cases) {
      const r = await khu(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr).toContain('--help');
    }
    expect((await khu([])).code).toBe(2);
    expect((await t.api<unknown[]>('GET', '/api/devices')).body).toEqual([]);
    expect((await t.api<unknown[]>('GET', '/api/invites')).body).toEqual([]);
  });

  it('has complete help for khu and every command', async () => {
    const main = await khu(['--help']);
    expect(main.code).toBe(0);
    const names = [...main.stdout.matchAll(/^ {2}khu ([a-z]+(?: [a-z]+)?) {2,}/gm)].map((m) => m[1]!);
    expect(names).toEqual(
      expect.arrayContaining([
        'login',
        'status',
        'relay add',
        'relay test',
        'relay rm',
        'relay passwd',
        'discover',
      ]),
    );
    expect(names).toEqual(
      expect.arrayContaining([
        'camera add',
        'camera list',
        'camera rm',
        'camera snapshot',
        'user invite',
        'user list',
      ]),
    );
    expect(names).toEqual(expect.arrayContaining(['user rm', 'backup', 'restore']));
    expect(main.stdout).toContain('Exit codes');
    for (const name of names) {
      const r = await khu([...name.split(' '), '--help']);
      expect(r.code, name).toBe(0);
      expect(r.stdout, name).toContain(`Usage: khu ${name}`);
      expect(r.stdout, name).toContain('--json');
    }
    for (const group of ['relay', 'camera', 'user']) {
      const r = await khu([group, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`khu ${group} `);
    }
  });
});

describe('khu: relays and accounts', () => {
  beforeAll(async () => {
    xdg = tempDir('khu-cli-xdg-');
    t = await TestHub.start({ http: { publicUrl: 'http://198.51.100.10:8080' } });
    await t.createUser('cudan', 'resident');
    await loginAs();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('provisions a relay: its login, the exact Tasmota command, a QR; then tests, re-keys and removes it', async () => {
    const add = await khu([
      'relay',
      'add',
      'hv01',
      '--zone',
      'Ngõ Chùa',
      '--name',
      'Cột 1',
      '--channels',
      '2',
    ]);
    expect(add.code, add.stderr).toBe(0);
    const password = /MQTT password {2}(\S+)/.exec(add.stdout)?.[1];
    expect(password).toBeTruthy();
    const backlog = `Backlog MqttHost 198.51.100.10; MqttPort ${t.mqttPort}; MqttUser hv01; MqttPassword ${password}; Topic hv01; FullTopic %prefix%/%topic%/`;
    expect(add.stdout).toContain(backlog);
    expect(add.stdout).toMatch(/[▀▄█]{10,}/);

    const second = json<{ mqtt: MqttLogin; tasmota: string }>(
      await khu(['relay', 'add', 'hv02', '--zone', 'Ngõ Chùa', '--name', 'Cột 2', '--json']),
    );
    expect(second.tasmota).toContain(`MqttPassword ${second.mqtt.password}; Topic hv02;`);
    const dup = await khu(['relay', 'add', 'hv02', '--zone', 'Ngõ Chùa', '--name', 'Cột 2']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('the hub refused');

    // The simulated relay logs in with what the CLI printed.
    const relay = t.relay({ ...second.mqtt, host: '127.0.0.1' });
    const listening = new Promise<void>((resolve) =>
      t.hub.bus.on('cli-test', 'deviceListening', (e) => e.deviceId === 'hv02' && resolve()),
    );
    await relay.start();
    await listening;
    const test = await khu(['relay', 'test', 'hv02', '--times', '2', '--interval', '0']);
    expect(test.code, test.stderr).toBe(0);
    expect(test.stdout).toContain('Relay hv02 works.');
    expect(test.stdout.match(/ ok \(/g)).toHaveLength(4);
    const offline = await khu(['relay', 'test', 'hv01', '--interval', '0']);
    expect(offline.code).toBe(1);
    expect(offline.stderr).toContain('relay hv01 is offline');
    expect((await khu(['relay', 'test', 'nope'])).stderr).toContain('no relay nope');

    const list = await khu(['relay', 'list']);
    expect(list.stdout).toMatch(/hv02\s+Cột 2\s+1\s+yes/);

    const passwd = json<{ mqtt: MqttLogin }>(await khu(['relay', 'passwd', 'hv02', '--json']));
    expect(passwd.mqtt.password).not.toBe(second.mqtt.password);
    await waitFor(() => !t.hub.devices.list().find((d) => d.id === 'hv02')?.online, {
      message: 'the old login disconnected',
    });
    await relay.stop();

    expect((await khu(['relay', 'rm', 'hv01'])).code).toBe(0);
    const gone = await khu(['relay', 'rm', 'hv01']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('not found');
    expect(json<Array<{ id: string }>>(await khu(['relay', 'list', '--json'])).map((d) => d.id)).toEqual([
      'hv02',
    ]);
  });

  it('invites a household with a QR in the terminal and a PNG, lists and removes accounts', async () => {
    const dir = tempDir('khu-cli-out-');
    const png = join(dir, 'moi.png');
    const r = await khu([
      'user',
      'invite',
      '--household',
      'Nhà ông Ba, xóm 2',
      '--zones',
      'Ngõ Chùa',
      '--png',
      png,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const url = /(http:\/\/198\.51\.100\.10:8080\/#\/join\/[A-Za-z0-9_-]+)/.exec(r.stdout)?.[1];
    expect(url).toBeTruthy();
    expect(r.stdout).toMatch(/[▀▄█]{10,}/);
    expect(readFileSync(png).subarray(0, 4)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47]));

    const code = url!.split('/').at(-1)!;
    const joined = await t.api('POST', `/api/invites/${code}/accept`, {
      token: null,
      body: { password: '135790' },
    });
    expect(joined.status).toBe(201);
    const invites = await khu(['user', 'invites']);
    expect(invites.stdout).toMatch(/Nhà ông Ba, xóm 2\s+resident\s+used/);

    const users = await khu(['user', 'list']);
    expect(users.stdout).toMatch(/ong-ba-xom-2\s+resident\s+Nhà ông Ba, xóm 2\s+Ngõ Chùa/);
    expect((await khu(['user', 'rm', 'ong-ba-xom-2'])).code).toBe(0);
    const names = json<Array<{ username: string }>>(await khu(['user', 'list', '--json'])).map(
      (u) => u.username,
    );
    expect(names).not.toContain('ong-ba-xom-2');

    const pending = json<{ id: string; code: string }>(
      await khu(['user', 'invite', '--household', 'Nhà bà Tư', '--no-qr', '--json']),
    );
    expect((await khu(['user', 'revoke', pending.id])).code).toBe(0);
    const again = await khu(['user', 'revoke', pending.id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('withdrawn');
  });

  it('says what is not allowed for a resident', async () => {
    const r = await khu(['login', '--user', 'cudan'], { env: { KHU_PASSWORD: 'cudan-pw' } });
    expect(r.code, r.stderr).toBe(0);
    const add = await khu(['relay', 'add', 'x1', '--zone', 'z', '--name', 'X']);
    expect(add.code).toBe(1);
    expect(add.stderr).toContain('not allowed: needs the technician role');
    expect(t.hub.devices.list().map((d) => d.id)).not.toContain('x1');
    await loginAs();
  });
});

describe('khu: cameras', () => {
  let cam: SimCamera;
  beforeAll(async () => {
    xdg = tempDir('khu-cli-xdg-');
    cam = new SimCamera({
      host: '127.0.0.41',
      name: 'Cổng chính',
      username: 'admin',
      password: 'cam-secret-pw',
      media: { clipSeconds: 4, keyframeSeconds: 1, main: { width: 320, height: 240, bitrateKbps: 200 } },
    });
    await cam.start();
    t = await TestHub.start({ recording: { segmentSeconds: 2 }, discovery: { timeoutMs: 500 } });
    await loginAs();
  });
  afterAll(async () => {
    await t?.close();
    await cam?.stop();
  });

  it('discovers, adds (password asked, not echoed), lists, snapshots and removes a camera', async () => {
    const found = await khu(['discover', '--no-multicast', '--cidr', '127.0.0.41/32']);
    expect(found.code, found.stderr).toBe(0);
    expect(found.stdout).toMatch(/127\.0\.0\.41(:\d+)?\s+Cổng chính/);

    const wrong = await khu(['camera', 'add', cam.onvifAddress, '--user', 'admin', '--password', 'nope']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('the hub refused');
    expect((await t.api<unknown[]>('GET', '/api/cameras')).body).toEqual([]);

    const add = await khu(['camera', 'add', cam.onvifAddress, '--user', 'admin', '--name', 'Cổng chính'], {
      input: 'cam-secret-pw\n',
    });
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout + add.stderr).not.toContain('cam-secret-pw');
    const id = /Camera (\S+) "Cổng chính" added/.exec(add.stdout)?.[1];
    expect(id).toBeTruthy();

    const list = json<Array<{ id: string; name: string }>>(await khu(['camera', 'list', '--json']));
    expect(list.map((c) => c.name)).toEqual(['Cổng chính']);
    expect((await khu(['camera', 'list'])).stdout).toContain('Cổng chính');

    const out = join(tempDir('khu-cli-snap-'), 'cong.jpg');
    const snap = await khu(['camera', 'snapshot', id!, out]);
    expect(snap.code, snap.stderr).toBe(0);
    expect(readFileSync(out).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));

    const rtsp = await khu(
      ['camera', 'add', '--rtsp', cam.rtsp.url('/main'), '--user', 'admin', '--name', 'Cổng RTSP'],
      {
        input: 'cam-secret-pw\n',
      },
    );
    expect(rtsp.code, rtsp.stderr).toBe(0);

    expect((await khu(['camera', 'rm', id!])).code).toBe(0);
    const missing = await khu(['camera', 'snapshot', id!, out]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('not found');
    expect(json<Array<{ name: string }>>(await khu(['camera', 'list', '--json'])).map((c) => c.name)).toEqual(
      ['Cổng RTSP'],
    );
  });
});

describe('khu: backup and restore', () => {
  beforeAll(async () => {
    xdg = tempDir('khu-cli-xdg-');
    t = await TestHub.start();
    await t.createUser('kythuat', 'technician');
    await t.createUser('cudan', 'resident', ['Ngõ Chùa']);
    await t.provision({ id: 'hv01', zone: 'Ngõ Chùa' });
    await t.provision({ id: 'hv02', zone: 'Xóm Đình', channels: 2 });
    const program = await t.api('POST', '/api/schedule/programs', {
      body: {
        id: 'dem',
        name: 'Đêm',
        rules: [
          { state: 'on', cron: '0 30 18 * * *' },
          { state: 'off', cron: '0 0 5 * * *' },
        ],
      },
    });
    expect(program.status, JSON.stringify(program.body)).toBe(201);
    await loginAs('kythuat', 'kythuat-pw');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('backs up the running hub and restores into a fresh data dir that a new hub serves', async () => {
    const dir = tempDir('khu-cli-backup-');
    const file = join(dir, 'khu.tar');
    const b = await khu(['backup', file]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toContain(`Backup saved to ${file}`);
    expect(existsSync(`${file}.part`)).toBe(false);
    const listing = execFileSync('tar', ['tf', file], { encoding: 'utf8' }).trim().split('\n');
    expect(listing).toEqual(['khu-backup.json', 'khu.db', 'config/effective.json']);
    const exists = await khu(['backup', file]);
    expect(exists.code).toBe(2);
    expect(exists.stderr).toContain('--force');

    const fresh = join(dir, 'restored');
    const r = await khu(['restore', file, '--data-dir', fresh]);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(fresh).sort()).toEqual(['khu.db', 'restored-config']);

    // Not again into a folder that has data, unless --force; never under a running hub.
    const again = await khu(['restore', file, '--data-dir', fresh]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('is not empty');
    const live = await khu(['restore', file, '--data-dir', t.dataDir, '--force']);
    expect(live.code).toBe(1);
    expect(live.stderr).toContain('a running hub is using');
    expect((await t.api('GET', '/api/auth/me')).status).toBe(200);

    const junk = join(dir, 'junk.tar');
    writeFileSync(junk, Buffer.alloc(2048, 7));
    const bad = await khu(['restore', junk, '--data-dir', join(dir, 'other')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('is not a Khu backup');
    expect(existsSync(join(dir, 'other'))).toBe(false);
    expect(
      (await khu(['restore', join(dir, 'none.tar'), '--data-dir', join(dir, 'other')])).stderr,
    ).toContain('cannot read');

    expect((await khu(['restore', file, '--data-dir', fresh, '--force'])).code).toBe(0);

    // A hub started on the restored data has the same accounts and relays.
    const config = loadConfig({
      env: {},
      overrides: {
        dataDir: fresh,
        http: { host: '127.0.0.1', port: 0 },
        mqtt: { host: '127.0.0.1', port: 0 },
      },
    });
    const restored = await createHub(config, { log: pino({ level: 'silent' }) });
    await restored.start();
    try {
      const login = await fetch(`${restored.url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'kythuat', password: 'kythuat-pw' }),
      });
      expect(login.status).toBe(200);
      expect(restored.users.list()).toEqual(t.hub.users.list());
      // And the same lighting programs.
      const { token } = (await login.json()) as { token: string };
      const programs = await fetch(`${restored.url}/api/schedule/programs`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(programs.status).toBe(200);
      expect(await programs.json()).toEqual((await t.api('GET', '/api/schedule/programs')).body);
      expect(JSON.stringify((await t.api('GET', '/api/schedule/programs')).body)).toContain('"dem"');
      const strip = (ds: Array<{ online: boolean; lastSeen: string | null }>) =>
        ds.map(({ online: _o, lastSeen: _l, ...rest }) => rest);
      expect(strip(restored.devices.list())).toEqual(strip(t.hub.devices.list()));
      expect(restored.lights.list().map((l) => [l.id, l.zone])).toEqual(
        t.hub.lights.list().map((l) => [l.id, l.zone]),
      );
    } finally {
      await restored.stop();
    }
  });
});
