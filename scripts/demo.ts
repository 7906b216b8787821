/**
 * `npm run demo`: the hub and a simulated fleet on this machine. The first start provisions
 * three streets of relays and one account per role, and prints their passwords once; later
 * starts reuse them. Data lives in ./data/demo (KHU_DATA_DIR overrides), apart from a real
 * site's ./data.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import closeWithGrace from 'close-with-grace';
import { SimCamera } from '../firmware-sim/camera/sim-camera.js';
import { SimFleet } from '../firmware-sim/fleet.js';
import { type Provisioning, parseProvisioning } from '../firmware-sim/provisioning.js';
import { generatePassword } from '../hub/src/auth/passwords.js';
import { loadConfig } from '../hub/src/config/load.js';
import { KhuError } from '../hub/src/core/errors.js';
import type { Actor } from '../hub/src/core/event-bus.js';
import { createLogger } from '../hub/src/core/log.js';
import { createHub, type Hub } from '../hub/src/main.js';

const ZONES = [
  { prefix: 'hv', zone: 'Đường Hùng Vương', pole: 'Cột đèn Hùng Vương' },
  { prefix: 'nc', zone: 'Ngõ Chùa', pole: 'Cột đèn Ngõ Chùa' },
  { prefix: 'xd', zone: 'Xóm Đình', pole: 'Cột đèn Xóm Đình' },
];
const RELAYS_PER_ZONE = 10;

const PEOPLE = [
  { username: 'truongkhu', role: 'head', displayName: 'Trưởng khu', zones: [] as string[] },
  { username: 'kythuat', role: 'technician', displayName: 'Kỹ thuật viên', zones: [] },
  { username: 'cudan', role: 'resident', displayName: 'Cư dân Ngõ Chùa', zones: ['Ngõ Chùa'] },
] as const;

const demoActor: Actor = { kind: 'system', name: 'demo' };

/** Two entry cameras on their own loopback addresses, with fixed ports so later starts find them. */
const CAMERAS = [
  { host: '127.0.0.2', name: 'Cổng chính', location: 'Cong-chinh', rtspPort: 8554, onvifPort: 8000 },
  { host: '127.0.0.3', name: 'Cổng sau', location: 'Cong-sau', rtspPort: 8554, onvifPort: 8000 },
];
const CAMERA_LOGIN = { username: 'admin', password: 'camera-demo' };

/** First start: three streets, ten relays each, every third one a 2-channel cabinet. */
function provisionFleet(hub: Hub): Provisioning {
  const relays: Provisioning['relays'] = [];
  for (const z of ZONES) {
    for (let i = 1; i <= RELAYS_PER_ZONE; i++) {
      const id = `${z.prefix}${String(i).padStart(2, '0')}`;
      const channels = i % 3 === 0 ? 2 : 1;
      // A relay left from an interrupted first start gets a new password instead.
      const login = hub.devices.list().some((d) => d.id === id)
        ? hub.devices.rotatePassword(id, demoActor)
        : hub.devices.provisionRelay({ id, name: `${z.pole} ${i}`, zone: z.zone, channels }, demoActor);
      relays.push({
        topic: login.topic,
        username: login.username,
        password: login.password,
        channels,
        powerOnState: 3,
      });
    }
  }
  return { broker: { host: '127.0.0.1', port: hub.broker.port }, relays };
}

async function main(): Promise<void> {
  const env = { ...process.env, KHU_DATA_DIR: process.env.KHU_DATA_DIR || resolve('data', 'demo') };
  // The demo's cameras live on loopback: discovery multicasts there, never on the real LAN.
  const config = loadConfig({ env, overrides: { discovery: { interface: '127.0.0.1' } } });
  const log = createLogger({ level: process.env.KHU_LOG_LEVEL ?? 'warn' });
  const firstStart = !existsSync(join(config.dataDir, 'khu.db'));
  const hub = await createHub(config, { log, adminPassword: process.env.KHU_ADMIN_PASSWORD || undefined });
  let fleet: SimFleet | undefined;
  const cameras = CAMERAS.map((c) => new SimCamera({ ...c, ...CAMERA_LOGIN }));
  closeWithGrace({ delay: 10_000 }, async ({ err }) => {
    if (err) log.error({ err }, 'demo stopping after an error');
    await fleet?.stop();
    await hub.stop();
    await Promise.all(cameras.map((c) => c.stop()));
  });
  process.stdout.write(
    '  Chuẩn bị video camera mô phỏng (lần đầu mất ~1 phút) / preparing the simulated cameras…\n',
  );
  await Promise.all(cameras.map((c) => c.start()));
  await hub.start();

  const provisioningFile = join(config.dataDir, 'provisioning.json');
  const passwords: Array<[string, string, string]> = [];
  if (hub.generatedAdminPassword) passwords.push(['admin', 'admin', hub.generatedAdminPassword]);
  else if (firstStart) passwords.push(['admin', 'admin', '(KHU_ADMIN_PASSWORD)']);
  let provisioning: Provisioning;
  if (!existsSync(provisioningFile)) {
    const existing = new Set(hub.users.list().map((u) => u.username));
    for (const p of PEOPLE) {
      if (existing.has(p.username)) continue;
      const password = generatePassword(10);
      await hub.users.create({ ...p, zones: [...p.zones], password }, demoActor);
      passwords.push([p.username, p.role, password]);
    }
    provisioning = provisionFleet(hub);
    for (const [i, c] of cameras.entries()) {
      await hub.cameras.add(
        { name: CAMERAS[i]!.name, onvif: { address: c.onvifAddress, ...CAMERA_LOGIN } },
        demoActor,
      );
    }
    writeFileSync(provisioningFile, `${JSON.stringify(provisioning, null, 2)}\n`, { mode: 0o600 });
    chmodSync(provisioningFile, 0o600);
  } else {
    provisioning = parseProvisioning(JSON.parse(readFileSync(provisioningFile, 'utf8')), provisioningFile);
  }

  fleet = new SimFleet(provisioning, { host: '127.0.0.1', port: hub.broker.port, telePeriodSec: 60 });
  const started = await fleet.start();
  const lights = hub.lights.list();

  const out: string[] = [
    '',
    '  Khu — trung tâm khu dân cư thông minh (bản chạy thử / demo)',
    '',
    `  Địa chỉ / URL:        ${hub.url}   (API: ${hub.url}/docs)`,
    `  MQTT:                 127.0.0.1:${hub.broker.port}`,
    `  Rơ-le mô phỏng / simulated relays: ${started.started} online, ${lights.length} đèn / lights in ${ZONES.length} phố / streets`,
    `  Camera mô phỏng / simulated cameras: ${cameras.map((c) => `${c.onvifAddress} (ONVIF ${CAMERA_LOGIN.username}/${CAMERA_LOGIN.password})`).join(', ')}, recording to ${hub.cameras.recordingsDir}`,
    `  Dữ liệu / data:       ${config.dataDir}`,
    '',
  ];
  if (passwords.length > 0) {
    out.push('  Tài khoản (mật khẩu chỉ hiện lần này) / accounts (passwords shown only this once):');
    for (const [user, role, pw] of passwords) out.push(`    ${user.padEnd(10)} ${role.padEnd(11)} ${pw}`);
  } else {
    out.push(
      '  Tài khoản: admin, truongkhu, kythuat, cudan — mật khẩu đã in ở lần chạy đầu.',
      `  Accounts: admin, truongkhu, kythuat, cudan — passwords were printed at the first start (delete ${config.dataDir} to begin anew).`,
    );
  }
  out.push(
    '',
    '  Thử / try:',
    `    TOKEN=$(curl -s ${hub.url}/api/auth/login -H 'content-type: application/json' \\`,
    `      -d '{"username":"admin","password":"…"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')`,
    `    curl -s ${hub.url}/api/lights/hv01/state -H "authorization: Bearer $TOKEN" \\`,
    `      -H 'content-type: application/json' -d '{"state":"on"}'`,
    '',
    '  Ctrl+C để dừng / to stop.',
    '',
  );
  process.stdout.write(`${out.join('\n')}\n`);
  if (started.failed.length > 0) {
    process.stderr.write(
      `  ${started.failed.length} relays could not connect: ${started.failed[0]?.error.message}\n`,
    );
  }
}

main().catch((err) => {
  process.stderr.write(
    `khu demo: ${err instanceof KhuError ? err.message : err instanceof Error ? err.stack : String(err)}\n`,
  );
  process.exit(1);
});
