import type { ParseArgsConfig } from 'node:util';
import type { Out } from './format.js';
import type { HubClient } from './hub-client.js';

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | Array<string | boolean> | undefined>;

export interface Ctx {
  values: Values;
  positionals: string[];
  out: Out;
  env: NodeJS.ProcessEnv;
  /** The hub from --hub, KHU_HUB, or the one `khu login` saved, with the saved token. */
  client(): HubClient;
}

export interface Command {
  /** "relay add" */
  name: string;
  summary: string;
  /** Full help: usage line, arguments, options, examples. */
  help: string;
  options?: Options;
  /** Positional arguments: exact count, or [min, max]. */
  positionals?: [number, number];
  run(ctx: Ctx): Promise<number | undefined> | number | undefined;
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: Options = {
  hub: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export const GLOBAL_HELP = `Options of every command:
  --hub URL     the hub's address (default: the one khu login saved, else KHU_HUB, else http://127.0.0.1:8080)
  --json        machine-readable output on stdout (errors stay on stderr)
  -h, --help    this help`;

export const str = (v: Values[string]): string | undefined => (typeof v === 'string' ? v : undefined);
