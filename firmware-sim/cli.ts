/**
 * `npm run sim -- --hub <url> [--user admin] [--relays 30] [--zones 3] [--provisioning <file>]`:
 * logs in to the hub's HTTP API, provisions a fleet of simulated relays (a new password for
 * those that exist), optionally writes their logins to a file (mode 0600), and runs them.
 * `npm run sim -- --provisioning <file>`: runs the relays of an existing provisioning file.
 * Either way `[--host h] [--port p] [--tele-period s] [--concurrency n]`, until SIGINT/SIGTERM.
 *
 * Exit codes: 0 stopped by a signal, 1 the hub refused or could not be reached (or no relay
 * could connect), 2 a bad command line or provisioning file.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { SimFleet, type SimFleetStartResult } from './fleet.js';
import {
  HubApiError,
  hostOf,
  MAX_RELAYS,
  MAX_ZONES,
  provisionFleet,
  writeProvisioningFile,
} from './provision-fleet.js';
import { type Provisioning, readProvisioningFile } from './provisioning.js';

const USAGE = `usage: npm run sim -- --hub <url> [--user <name>] [--password <pw>] [--relays <n>] [--zones <n>] [--provisioning <file>] [options]
       npm run sim -- --provisioning <file> [options]
  --hub           the hub's address, e.g. http://127.0.0.1:8080: log in, provision the relays
                  (sim-a01, sim-a02, …; one that exists gets a new password), then run them
  --user          a technician or admin account (default admin)
  --password      its password; better: the environment variable KHU_ADMIN_PASSWORD
  --relays        how many relays (default 30, at most ${MAX_RELAYS}); every third has 2 channels
  --zones         streets "Phố mô phỏng A", "B", … (default 3, at most ${MAX_ZONES})
  --provisioning  with --hub: where to write the relays' logins (mode 0600);
                  alone: the JSON file to run (the demo's, or one written with --hub)
  --host, --port  the broker address (default: the hub URL's host and the port the hub
                  answers with --hub; the file's otherwise)
  --tele-period   tele/<topic>/STATE period in seconds (default 300, 0 = off)
  --concurrency   relays connecting at the same time (default 100)`;

/** A bad command line: printed with the usage, exit code 2. */
export class CliUsageError extends Error {
  override name = 'CliUsageError';
}

/** `--hub` mode: provision through the hub's API. */
export interface CliHubOptions {
  url: URL;
  username: string;
  /** From --password or KHU_ADMIN_PASSWORD; never printed. */
  password: string;
  relays: number;
  zones: number;
}

export interface CliOptions {
  /** With `hub`: where to write the provisioning; without: the file to read. */
  provisioning?: string;
  hub?: CliHubOptions;
  host?: string;
  port?: number;
  telePeriodSec?: number;
  concurrency?: number;
  help: boolean;
}

function integer(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new CliUsageError(
      `${flag} must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`,
    );
  }
  return n;
}

function hubUrl(value: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {}
  if (url?.username || url?.password) {
    // Do not echo it: it may hold a password.
    throw new CliUsageError('--hub must not hold a user or password: use --user and KHU_ADMIN_PASSWORD');
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.hostname) {
    throw new CliUsageError(
      `--hub must be an http:// or https:// URL such as http://127.0.0.1:8080 (got ${JSON.stringify(value)})`,
    );
  }
  return url;
}

/** Parse the command line; the password may come from `env.KHU_ADMIN_PASSWORD`. */
export function parseCliArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): CliOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        hub: { type: 'string' },
        user: { type: 'string' },
        password: { type: 'string' },
        relays: { type: 'string' },
        zones: { type: 'string' },
        provisioning: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        'tele-period': { type: 'string' },
        concurrency: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new CliUsageError((err as Error).message);
  }
  if (values.help) return { help: true };
  const str = (name: string) => values[name] as string | undefined;

  const provisioning = str('provisioning');
  if (provisioning === '') throw new CliUsageError('--provisioning must not be empty');
  const host = str('host');
  if (host !== undefined && host.trim() === '') throw new CliUsageError('--host must not be empty');
  const common = {
    provisioning,
    host,
    port: integer('--port', str('port'), 1, 65535),
    telePeriodSec: integer('--tele-period', str('tele-period'), 0, 86400),
    concurrency: integer('--concurrency', str('concurrency'), 1, 10000),
    help: false,
  };

  const hubFlags = ['user', 'password', 'relays', 'zones'].filter((f) => values[f] !== undefined);
  const hub = str('hub');
  if (hub === undefined) {
    if (hubFlags.length > 0) {
      throw new CliUsageError(`${hubFlags.map((f) => `--${f}`).join(', ')} only go with --hub <url>`);
    }
    if (!provisioning) throw new CliUsageError('--hub <url> or --provisioning <file> is required');
    return common;
  }

  const url = hubUrl(hub);
  const relays = integer('--relays', str('relays'), 1, MAX_RELAYS) ?? 30;
  const zones = integer('--zones', str('zones'), 1, MAX_ZONES) ?? 3;
  const username = str('user') ?? 'admin';
  if (username.trim() === '') throw new CliUsageError('--user must not be empty');
  const password = str('password') || env.KHU_ADMIN_PASSWORD || '';
  if (password === '') {
    throw new CliUsageError(
      `--hub needs the password of ${JSON.stringify(username)}: set KHU_ADMIN_PASSWORD in the environment (or pass --password)`,
    );
  }
  return {
    ...common,
    hub: { url, username, password, relays, zones },
  };
}

export interface SimIo {
  /** Progress lines (default console.log). */
  log?: (line: string) => void;
  /** Problems (default console.error). */
  warn?: (line: string) => void;
  /** Where KHU_ADMIN_PASSWORD is read (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface SimRun {
  fleet: SimFleet;
  provisioning: Provisioning;
  /** `fleet.start()`, already under way: resolves when every relay is subscribed or refused. */
  started: Promise<SimFleetStartResult>;
}

/**
 * Everything `npm run sim` does before it waits for a signal: provision through the hub (or read
 * the file), write the file when asked, and start the fleet. The caller stops `run.fleet`.
 * Throws CliUsageError (exit 2), HubApiError (exit 1), or an Error about the file (exit 2).
 */
export async function startSim(options: CliOptions, io: SimIo = {}): Promise<SimRun> {
  const log = io.log ?? console.log;
  const warn = io.warn ?? console.error;
  if (options.help) throw new CliUsageError('--help starts nothing');
  let provisioning: Provisioning;
  let fleet: SimFleet;
  const fleetOptions = { telePeriodSec: options.telePeriodSec, concurrency: options.concurrency };
  if (options.hub) {
    const { url, username, password, relays, zones } = options.hub;
    const result = await provisionFleet({
      hub: url,
      username,
      password,
      relays,
      zones,
      host: options.host ?? hostOf(url),
      port: options.port,
    });
    provisioning = result.provisioning;
    const rotated = result.rotated.length ? `, ${result.rotated.length} given a new password` : '';
    log(
      `sim: ${url.origin} (as ${username}): ${relays} relays, ${result.created.length} provisioned${rotated}`,
    );
    if (options.provisioning) {
      await writeProvisioningFile(options.provisioning, provisioning);
      log(`sim: relays' logins written to ${options.provisioning} (mode 0600)`);
    }
    fleet = new SimFleet(provisioning, fleetOptions);
  } else {
    provisioning = await readProvisioningFile(options.provisioning ?? '');
    fleet = new SimFleet(provisioning, { ...fleetOptions, host: options.host, port: options.port });
  }

  log(`sim: connecting ${fleet.relays.length} relays to ${fleet.host}:${fleet.port}`);
  // Say once why nothing connects yet; the relays keep retrying with backoff.
  let warned = false;
  for (const relay of fleet.relays) {
    relay.on('connectFailed', (err) => {
      if (warned || relay.connectCount > 0) return;
      warned = true;
      warn(`sim: ${err.message} (retrying)`);
    });
  }
  return { fleet, provisioning, started: fleet.start() };
}

export async function main(argv: string[], io: SimIo = {}): Promise<number> {
  const log = io.log ?? console.log;
  const warn = io.warn ?? console.error;
  let run: SimRun;
  try {
    const options = parseCliArgs(argv, io.env ?? process.env);
    if (options.help) {
      log(USAGE);
      return 0;
    }
    run = await startSim(options, { ...io, log, warn });
  } catch (err) {
    warn(`sim: ${(err as Error).message}`);
    if (err instanceof CliUsageError) warn(USAGE);
    return err instanceof HubApiError ? 1 : 2;
  }

  const { fleet } = run;
  let stopping = false;
  let onSignal = (_signal: string) => {};
  const stopped = new Promise<string>((resolve) => {
    onSignal = (signal) => {
      stopping = true;
      resolve(signal);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  try {
    const total = fleet.relays.length;
    const t0 = performance.now();
    const started = run.started.then((result) => {
      if (stopping) return result;
      const ms = Math.round(performance.now() - t0);
      const failed = result.failed.map((f) => f.error.message);
      const tail = failed.length ? `; ${failed.length} failed: ${failed.slice(0, 3).join('; ')}` : '';
      log(`sim: ${fleet.connectedCount}/${total} relays connected in ${ms} ms${tail}`);
      return result;
    });
    const outcome = await Promise.race([started, stopped]);
    if (typeof outcome !== 'string' && total > 0 && outcome.started === 0) {
      await fleet.stop();
      return 1;
    }
    const signal = typeof outcome === 'string' ? outcome : await stopped;
    await fleet.stop();
    log(`sim: ${signal}, stopped`);
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error('sim: fatal', err);
      process.exitCode = 1;
    },
  );
}
