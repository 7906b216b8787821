/**
 * Relay drivers behind one small interface: `gpio` (the Linux GPIO character device through
 * Debian gpiod's `gpioset`, spawned without a shell) and `file` (channel states in a JSON file:
 * the test driver, also handy for a dry run on a laptop).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type { PowerState } from '../hub/src/protocol/tasmota.js';
import type { DriverConfig, FileDriverConfig, GpioDriverConfig } from './config.js';
import { writeFileAtomic } from './store.js';

export interface RelayDriver {
  readonly kind: string;
  /** Claim the outputs and set them to `states` (channel 1 first). */
  start(states: readonly PowerState[]): Promise<void>;
  /** Set every channel; resolves once the outputs hold the new states. */
  set(states: readonly PowerState[]): Promise<void>;
  /** Release the outputs (they keep their level where the hardware allows it). */
  stop(): Promise<void>;
}

export class DriverError extends Error {
  override name = 'DriverError';
  readonly code = 'KHU_EDGE_DRIVER';
}

export function createDriver(config: DriverConfig): RelayDriver {
  return config.kind === 'file' ? new FileDriver(config) : new GpioDriver(config);
}

/** `{"1":"on","2":"off"}`, rewritten atomically on every change. */
export class FileDriver implements RelayDriver {
  readonly kind = 'file';
  readonly #path: string;
  constructor(config: FileDriverConfig) {
    this.#path = config.path;
  }
  start(states: readonly PowerState[]): Promise<void> {
    return this.set(states);
  }
  async set(states: readonly PowerState[]): Promise<void> {
    const doc = Object.fromEntries(states.map((s, i) => [String(i + 1), s]));
    await writeFileAtomic(this.#path, `${JSON.stringify(doc)}\n`);
  }
  async stop(): Promise<void> {}
}

const execFileAsync = promisify(execFile);

/** How long a fresh gpioset must stay up before we take it that it holds the lines. */
const GPIOSET_SETTLE_MS = 150;

/**
 * The command line that holds every line at its level until the process is signalled.
 * libgpiod 2 (Debian 13): `gpioset -c <chip> [-l] 17=1 27=0` holds by default.
 * libgpiod 1 (Debian 11/12): `gpioset --mode=signal [-l] <chip> 17=1 27=0`.
 */
export function gpiosetArgs(
  major: 1 | 2,
  config: Pick<GpioDriverConfig, 'chip' | 'lines' | 'activeLow'>,
  states: readonly PowerState[],
): string[] {
  const values = config.lines.map((line, i) => `${line}=${states[i] === 'on' ? 1 : 0}`);
  const low = config.activeLow ? ['-l'] : [];
  return major === 2
    ? ['-c', config.chip, ...low, ...values]
    : ['--mode=signal', ...low, config.chip, ...values];
}

/** `gpioset (libgpiod) v1.6.3` → 1, `v2.1` → 2. */
export function parseGpiodMajor(versionOutput: string): 1 | 2 | undefined {
  const m = /libgpiod\)?\s+v?(\d+)\./.exec(versionOutput);
  if (!m) return undefined;
  return m[1] === '1' ? 1 : m[1] === '2' ? 2 : undefined;
}

/**
 * One long-running `gpioset` holds all lines; a change replaces it with one holding the new
 * levels. We never run `gpioget` on the outputs: with libgpiod 1 it requests the line as an
 * input, which can drop a relay. The last states come from the agent's state file instead.
 */
export class GpioDriver implements RelayDriver {
  readonly kind = 'gpio';
  readonly #config: GpioDriverConfig;
  #major: 1 | 2 | undefined;
  #child: ChildProcess | undefined;

  constructor(config: GpioDriverConfig) {
    this.#config = config;
  }

  async start(states: readonly PowerState[]): Promise<void> {
    let out: string;
    try {
      const r = await execFileAsync(this.#config.gpioset, ['--version'], { timeout: 5000 });
      out = `${r.stdout}${r.stderr}`;
    } catch (err) {
      throw new DriverError(
        `cannot run ${this.#config.gpioset} (install Debian's gpiod package: apt-get install gpiod): ${(err as Error).message}`,
      );
    }
    this.#major = parseGpiodMajor(out);
    if (!this.#major) throw new DriverError(`unknown gpioset version: ${out.trim().split('\n')[0]}`);
    await this.set(states);
  }

  async set(states: readonly PowerState[]): Promise<void> {
    if (!this.#major) throw new DriverError('gpio driver not started');
    await this.#release();
    const args = gpiosetArgs(this.#major, this.#config, states);
    const child = spawn(this.#config.gpioset, args, { stdio: ['ignore', 'ignore', 'pipe'], shell: false });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    this.#child = child;
    await new Promise<void>((resolve, reject) => {
      const settled = setTimeout(() => {
        child.off('exit', onExit);
        resolve();
      }, GPIOSET_SETTLE_MS);
      const onExit = (code: number | null) => {
        clearTimeout(settled);
        this.#child = undefined;
        reject(new DriverError(`gpioset ${args.join(' ')} exited with ${code}: ${stderr.trim()}`));
      };
      child.once('exit', onExit);
      child.once('error', (err) => {
        clearTimeout(settled);
        this.#child = undefined;
        reject(new DriverError(`cannot start gpioset: ${err.message}`));
      });
    });
  }

  async stop(): Promise<void> {
    await this.#release();
  }

  async #release(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 2000);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }
}
