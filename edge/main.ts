/**
 * `npm run edge -- --config edge.yaml`: the light-cabinet agent. Runs until SIGINT/SIGTERM.
 * Exit codes: 0 stopped by a signal, 1 a failure at start (relays, state dir), 2 a bad command
 * line or configuration.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createLogger } from '../hub/src/core/log.js';
import { EdgeAgent } from './agent.js';
import { EdgeConfigError, loadEdgeConfig } from './config.js';

const USAGE = `usage: npm run edge -- --config <file.yaml>
  --config  the agent's configuration (see config/edge.example.yaml); the MQTT password may
            come from the environment variable KHU_EDGE_MQTT_PASSWORD instead`;

export class EdgeUsageError extends Error {
  override name = 'EdgeUsageError';
}

export function parseEdgeArgs(argv: string[]): { config: string; help: boolean } {
  let values: { config?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new EdgeUsageError((err as Error).message);
  }
  if (values.help) return { config: '', help: true };
  if (!values.config) throw new EdgeUsageError('--config <file> is required');
  return { config: values.config, help: false };
}

export async function main(argv: string[]): Promise<number> {
  let args: { config: string; help: boolean };
  try {
    args = parseEdgeArgs(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const log = createLogger().child({ module: 'edge' });
  let agent: EdgeAgent;
  try {
    const config = await loadEdgeConfig(args.config);
    agent = new EdgeAgent({ config, log });
    await agent.start();
  } catch (err) {
    const bad = err instanceof EdgeConfigError;
    process.stderr.write(`khu-edge: ${(err as Error).message}\n`);
    log.flush?.();
    return bad ? 2 : 1;
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  log.info('stopping');
  await agent.stop();
  return 0;
}

const isEntry = (() => {
  try {
    return import.meta.url === pathToFileURL(realpathSync(process.argv[1] ?? '')).href;
  } catch {
    return false;
  }
})();

if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`khu-edge: ${(err as Error).stack ?? err}\n`);
      process.exitCode = 1;
    },
  );
}
