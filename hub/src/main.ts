import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import closeWithGrace from 'close-with-grace';
import { UsersService } from './auth/users-service.js';
import { BackupService } from './backup/backup-service.js';
import { Broker } from './broker/broker.js';
import { CamerasService } from './cameras/cameras-service.js';
import { loadConfig, projectRoot } from './config/load.js';
import type { Config } from './config/schema.js';
import { KhuError } from './core/errors.js';
import { EventBus } from './core/event-bus.js';
import { createLogger, type Logger } from './core/log.js';
import type { HubModule } from './core/module.js';
import { DevicesService } from './devices/devices-service.js';
import { EventLog } from './events/event-log.js';
import { type App, buildHttp } from './http/server.js';
import { InvitesService } from './invites/invites-service.js';
import { LightsService } from './lights/lights-service.js';
import { LiveService, type SubSource } from './live/live-service.js';
import { SchedulesService } from './schedules/schedules-service.js';
import { CamerasRepo } from './store/cameras-repo.js';
import { openDatabase } from './store/db.js';
import { DevicesRepo } from './store/devices-repo.js';
import { EventsRepo } from './store/events-repo.js';
import { InvitesRepo } from './store/invites-repo.js';
import { SchedulesRepo } from './store/schedules-repo.js';
import { SettingsRepo } from './store/settings-repo.js';
import { UsersRepo } from './store/users-repo.js';

export interface Hub {
  config: Config;
  log: Logger;
  bus: EventBus;
  users: UsersService;
  lights: LightsService;
  devices: DevicesService;
  schedules: SchedulesService;
  cameras: CamerasService;
  live: LiveService;
  events: EventLog;
  broker: Broker;
  http: App;
  /** The address the HTTP API listens on, once started. */
  url: string;
  /** Set when this start created the admin account with a generated password. */
  generatedAdminPassword?: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { version: string })
      .version;
  } catch {
    return '0.0.0';
  }
}

/**
 * The composition root: builds every module with its dependencies, starts them in order and
 * stops them in reverse. Used by `npm start`, the demo, the tests and the benchmarks alike.
 */
export async function createHub(
  config: Config,
  options: {
    log?: Logger;
    adminPassword?: string;
    /** The file named by KHU_CONFIG, packed into backups. */
    configFile?: string;
  } = {},
): Promise<Hub> {
  const log = options.log ?? createLogger({ level: config.log.level });
  const db = openDatabase(resolve(config.dataDir, 'khu.db'));
  const bus = new EventBus((err, event, owner) => log.error({ err, event, owner }, 'event listener failed'));

  const events = new EventLog({ bus, repo: new EventsRepo(db), log: log.child({ module: 'events' }) });
  const users = new UsersService({
    repo: new UsersRepo(db),
    settings: new SettingsRepo(db),
    bus,
    log: log.child({ module: 'users' }),
    ...config.auth,
  });
  const devicesRepo = new DevicesRepo(db);
  let devices: DevicesService | undefined;
  const broker = new Broker({
    options: config.mqtt,
    bus,
    log: log.child({ module: 'broker' }),
    logins: { verify: (username, password) => devices?.verify(username, password) },
  });
  const lights = new LightsService({
    options: config.lights,
    bus,
    repo: devicesRepo,
    sink: broker,
    log: log.child({ module: 'lights' }),
  });
  devices = new DevicesService({
    repo: devicesRepo,
    lights,
    bus,
    log: log.child({ module: 'devices' }),
    disconnect: (id) => broker.disconnect(id),
  });
  const schedules = new SchedulesService({
    options: {
      latitude: config.site.latitude,
      longitude: config.site.longitude,
      timezone: config.site.timezone,
      manualHoldMinutes: config.schedules?.manualHoldMinutes ?? 0,
      pushFallback: config.schedules?.pushFallback ?? true,
    },
    bus,
    repo: new SchedulesRepo(db),
    lights,
    sink: broker,
    log: log.child({ module: 'schedules' }),
  });

  const live: LiveService = new LiveService({
    log: log.child({ module: 'live' }),
    options: {
      ffmpegPath: config.recording.ffmpegPath,
      runDir: resolve(config.dataDir, 'run'),
      subSource: (id): SubSource | undefined => cameras.subSource(id),
    },
  });
  const cameras = new CamerasService({
    repo: new CamerasRepo(db),
    bus,
    log: log.child({ module: 'cameras' }),
    config,
    live,
  });

  const invites = new InvitesService({
    repo: new InvitesRepo(db),
    users,
    bus,
    log: log.child({ module: 'invites' }),
    maxAttempts: config.auth.loginMaxAttempts,
    windowSec: config.auth.loginWindowSec,
  });
  const backup = new BackupService({
    db,
    config,
    configFile: options.configFile,
    version: version(),
    bus,
    log: log.child({ module: 'backup' }),
  });

  const startedAt = new Date();
  const http = await buildHttp(
    {
      config,
      bus,
      users,
      lights,
      devices,
      schedules,
      cameras,
      live,
      invites,
      backup,
      events,
      mqtt: { port: () => broker.port, connectedDevices: () => broker.connectedDevices },
      startedAt,
      version: version(),
    },
    log.child({ module: 'http' }),
  );
  const httpModule: HubModule = {
    name: 'http',
    start: async () => {
      await http.listen({ port: config.http.port, host: config.http.host });
    },
    stop: () => http.close(),
  };
  // Devices before the broker, so that logins work from the first connection; schedules too, so
  // that lights are caught up before relays connect (and then reconciled, not toggled).
  const core: HubModule[] = [events, users, invites, lights, devices, schedules, broker];
  // The API serves before the cameras start: reconciling each camera's recordings with the index
  // reads every file of the retention period (tens of thousands on a real site), and phones,
  // lights and the technician should not wait for that.
  const modules: HubModule[] = [...core, httpModule, live, cameras];
  const started: HubModule[] = [];

  const hub: Hub = {
    config,
    log,
    bus,
    users,
    lights,
    devices,
    schedules,
    cameras,
    live,
    events,
    broker,
    http,
    url: '',
    async start() {
      try {
        for (const m of modules) {
          await m.start();
          started.push(m);
          if (m === users) {
            const admin = await users.ensureAdmin(options.adminPassword);
            hub.generatedAdminPassword = admin.generatedPassword;
          }
        }
      } catch (err) {
        // A port in use, say: undo what did start, so the process can exit cleanly.
        await hub.stop();
        throw err;
      }
      const address = http.server.address();
      const port = typeof address === 'object' && address ? address.port : config.http.port;
      hub.url = `http://127.0.0.1:${port}`;
      log.info({ url: hub.url, mqttPort: broker.port }, 'hub started');
    },
    async stop() {
      if (!db.open) return;
      while (started.length > 0) {
        const m = started.pop()!;
        try {
          await m.stop();
        } catch (err) {
          log.error({ err, module: m.name }, 'module did not stop cleanly');
        }
      }
      db.close();
    },
  };
  return hub;
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`${err instanceof KhuError ? err.message : String(err)}\n`);
    process.exit(1);
  }
  const log = createLogger({ level: config.log.level });
  const hub = await createHub(config, {
    log,
    adminPassword: process.env.KHU_ADMIN_PASSWORD || undefined,
    configFile: process.env.KHU_CONFIG ? resolve(process.env.KHU_CONFIG) : undefined,
  });
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'stopping after an error');
    else log.info({ signal }, 'stopping');
    await hub.stop();
  });
  await hub.start();
  if (hub.generatedAdminPassword) {
    process.stdout.write(
      `\n  Tài khoản quản trị / admin account:  admin  /  ${hub.generatedAdminPassword}\n` +
        '  (mật khẩu chỉ hiện một lần / shown only this once; set KHU_ADMIN_PASSWORD to choose it)\n\n',
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err) => {
    process.stderr.write(`khu: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
