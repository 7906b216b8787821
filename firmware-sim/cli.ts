/**
 * `npm run sim -- --provisioning <file> [--host h] [--port p] [--tele-period s] [--concurrency n]`
 * Runs the simulated relay fleet until SIGINT/SIGTERM.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { SimFleet } from './fleet.js';
import { readProvisioningFile } from './provisioning.js';

const USAGE = `usage: npm run sim -- --provisioning <file> [--host <host>] [--port <port>] [--tele-period <seconds>] [--concurrency <n>]
  --provisioning  the JSON file the hub's demo writes (broker and relays)
  --host, --port  override the broker address in the file
  --tele-period   tele/<topic>/STATE period in seconds (default 300, 0 = off)
  --concurrency   relays connecting at the same time (default 100)`;

/** A bad command line: printed with the usage, exit code 2. */
export class CliUsageError extends Error {
  override name = 'CliUsageError';
}

export interface CliOptions {
  provisioning: string;
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

export function parseCliArgs(argv: string[]): CliOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
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
  if (values.help) return { provisioning: '', help: true };
  const provisioning = values.provisioning as string | undefined;
  if (!provisioning) throw new CliUsageError('--provisioning <file> is required');
  const host = values.host as string | undefined;
  if (host !== undefined && host.trim() === '') throw new CliUsageError('--host must not be empty');
  return {
    provisioning,
    host,
    port: integer('--port', values.port as string | undefined, 1, 65535),
    telePeriodSec: integer('--tele-period', values['tele-period'] as string | undefined, 0, 86400),
    concurrency: integer('--concurrency', values.concurrency as string | undefined, 1, 10000),
    help: false,
  };
}

export async function main(argv: string[]): Promise<number> {
  let options: CliOptions;
  let fleet: SimFleet;
  try {
    options = parseCliArgs(argv);
    if (options.help) {
      console.log(USAGE);
      return 0;
    }
    const provisioning = await readProvisioningFile(options.provisioning);
    fleet = new SimFleet(provisioning, {
      host: options.host,
      port: options.port,
      telePeriodSec: options.telePeriodSec,
      concurrency: options.concurrency,
    });
  } catch (err) {
    console.error(`sim: ${(err as Error).message}`);
    if (err instanceof CliUsageError) console.error(USAGE);
    return 2;
  }

  let stopping = false;
  const stopped = new Promise<string>((resolve) => {
    const onSignal = (signal: string) => {
      stopping = true;
      resolve(signal);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  const total = fleet.relays.length;
  console.log(`sim: connecting ${total} relays to ${fleet.host}:${fleet.port}`);
  // Say once why nothing connects yet; the relays keep retrying with backoff.
  let warned = false;
  for (const relay of fleet.relays) {
    relay.on('connectFailed', (err) => {
      if (warned || relay.connectCount > 0) return;
      warned = true;
      console.error(`sim: ${err.message} (retrying)`);
    });
  }
  const t0 = performance.now();
  const started = fleet.start().then((result) => {
    if (stopping) return result;
    const ms = Math.round(performance.now() - t0);
    const failed = result.failed.map((f) => f.error.message);
    const tail = failed.length ? `; ${failed.length} failed: ${failed.slice(0, 3).join('; ')}` : '';
    console.log(`sim: ${fleet.connectedCount}/${total} relays connected in ${ms} ms${tail}`);
    return result;
  });
  const outcome = await Promise.race([started, stopped]);
  if (typeof outcome !== 'string' && total > 0 && outcome.started === 0) {
    await fleet.stop();
    return 1;
  }
  const signal = typeof outcome === 'string' ? outcome : await stopped;
  await fleet.stop();
  console.log(`sim: ${signal}, stopped`);
  return 0;
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
