/**
 * The one place where the hub starts ffmpeg: no shell, stdin kept for `q`, progress on fd 3 (so
 * that stdout stays free for media), stderr kept as a short tail of lines, and a stop that
 * escalates until the process is really gone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Readable } from 'node:stream';
import { KhuError } from '../core/errors.js';
import { maskSecrets } from './ffmpeg-args.js';
import { type FfmpegProgress, ProgressParser } from './ffmpeg-progress.js';
import { type FifoReader, readFifo } from './fifo.js';

export type { FfmpegProgress } from './ffmpeg-progress.js';

export interface SpawnFfmpegOptions {
  /** Everything after the global options: inputs, filters, outputs. Never through a shell. */
  args: readonly string[];
  /** Default `ffmpeg` on PATH. */
  ffmpegPath?: string;
  /** Default `error`: the tail then holds what went wrong and little else. */
  loglevel?: string;
  /** How many stderr lines to keep for the exit log; default 20. */
  stderrLines?: number;
  /** How often ffmpeg prints progress (`-stats_period`); ffmpeg's default is 500 ms. */
  progressPeriodMs?: number;
  /** Media on stdout. Without it stdout goes to /dev/null. */
  onStdout?: (chunk: Buffer) => void;
  /**
   * Media written to a FIFO (an output of `args` names `fifo`), read with one reused buffer:
   * `onData` gets a view valid only during the call. For outputs read all day (live video).
   */
  media?: { fifo: string; onData: (view: Buffer) => void };
  /** Media on stdout read through `FfmpegProcess.stdout`, with backpressure (e.g. into an HTTP reply). */
  pipeStdout?: boolean;
  /** Text ffmpeg writes to `pipe:4` (the segment list of a recorder), as it comes. */
  onFd4?: (chunk: string) => void;
  env?: NodeJS.ProcessEnv;
}

export interface FfmpegExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StopOptions {
  /** After `q`: time to finish the outputs cleanly before SIGTERM. Default 2000 ms. */
  graceMs?: number;
  /** After each of the two SIGTERMs, before the next step. Default 500 ms. */
  termMs?: number;
}

export interface FfmpegProcessEvents {
  progress: [FfmpegProgress];
  /** One stderr line, credentials masked. */
  stderr: [string];
}

/** Longest stderr line kept: a flood without newlines must not grow without bound. */
const MAX_STDERR_LINE = 1000;

/**
 * A running ffmpeg. `exited` resolves (never rejects) once the process has been reaped and every
 * pipe to it is closed: nothing of it remains.
 */
export class FfmpegProcess extends EventEmitter<FfmpegProcessEvents> {
  readonly pid: number;
  readonly exited: Promise<FfmpegExit>;
  #child: ChildProcess;
  #tail: string[] = [];
  #tailMax: number;
  #partialErr = '';
  #exit: FfmpegExit | undefined;
  #stopping: Promise<FfmpegExit> | undefined;
  #media: FifoReader | undefined;

  /** Use `spawnFfmpeg`. */
  constructor(child: ChildProcess & { pid: number }, options: SpawnFfmpegOptions, media?: FifoReader) {
    super();
    this.#child = child;
    this.pid = child.pid;
    this.#tailMax = options.stderrLines ?? 20;
    // A `q` written after ffmpeg exited is EPIPE: nothing to report.
    child.stdin?.on('error', () => {});
    const parser = new ProgressParser();
    const progress = child.stdio[3] as Readable;
    progress.setEncoding('utf8');
    progress.on('data', (chunk: string) => {
      for (const p of parser.push(chunk)) this.emit('progress', p);
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => this.#onStderr(chunk));
    if (options.onStdout) child.stdout?.on('data', options.onStdout);
    this.#media = media;
    const fd4 = child.stdio[4] as Readable | undefined;
    if (fd4 && options.onFd4) {
      fd4.setEncoding('utf8');
      fd4.on('data', options.onFd4);
    }
    this.exited = new Promise<FfmpegExit>((resolve) => {
      // `close` comes after `exit` (the process is reaped) and after stdout, stderr and fd 3
      // reached EOF; stdin is ours to close.
      child.once('close', (code, signal) => {
        child.stdin?.destroy();
        this.#media?.close();
        if (this.#partialErr) this.#pushLine(this.#partialErr);
        this.#partialErr = '';
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
  }

  /** ffmpeg's stdout, when spawned with `pipeStdout`. */
  get stdout(): Readable | null {
    return this.#child.stdout;
  }

  /** The exit status once exited. */
  get exitStatus(): FfmpegExit | undefined {
    return this.#exit;
  }

  /** The last stderr lines, credentials masked. */
  stderrTail(): string[] {
    return [...this.#tail];
  }

  /**
   * `q` on stdin (ffmpeg finishes its outputs), then SIGTERM, then SIGTERM again (after it has
   * started, ffmpeg blocked on a stalled input ignores the first: its I/O interrupt fires only
   * on the second signal), then SIGKILL. Resolves when the process is gone; idempotent.
   */
  stop(options: StopOptions = {}): Promise<FfmpegExit> {
    if (this.#exit) return Promise.resolve(this.#exit);
    this.#stopping ??= this.#escalate(options.graceMs ?? 2000, options.termMs ?? 500);
    return this.#stopping;
  }

  /** Immediate SIGKILL (a hub that must go now); resolves when the process is gone. */
  kill(): Promise<FfmpegExit> {
    if (!this.#exit) this.#child.kill('SIGKILL');
    return this.exited;
  }

  async #escalate(graceMs: number, termMs: number): Promise<FfmpegExit> {
    const steps: Array<[number, () => void]> = [
      [graceMs, () => this.#child.kill('SIGTERM')],
      [termMs, () => this.#child.kill('SIGTERM')],
      [termMs, () => this.#child.kill('SIGKILL')],
    ];
    const stdin = this.#child.stdin;
    if (stdin?.writable) stdin.end('q');
    for (const [waitMs, next] of steps) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        this.exited.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), waitMs);
        }),
      ]);
      clearTimeout(timer);
      if (!timedOut) break;
      next();
    }
    return this.exited;
  }

  #onStderr(chunk: string): void {
    const lines = (this.#partialErr + chunk).split(/\r?\n|\r/);
    this.#partialErr = (lines.pop() ?? '').slice(0, MAX_STDERR_LINE);
    for (const line of lines) if (line.trim() !== '') this.#pushLine(line);
  }

  #pushLine(line: string): void {
    const masked = maskSecrets(line.slice(0, MAX_STDERR_LINE));
    this.#tail.push(masked);
    if (this.#tail.length > this.#tailMax) this.#tail.shift();
    this.emit('stderr', masked);
  }
}

/** The full argument list ffmpeg gets for `options` (also what gets logged, masked). */
export function ffmpegArgs(options: SpawnFfmpegOptions): string[] {
  // -y: an output that exists (a FIFO of an earlier run) must never make ffmpeg ask on stdin.
  const args = [
    '-hide_banner',
    '-y',
    '-loglevel',
    options.loglevel ?? 'error',
    '-nostats',
    '-progress',
    'pipe:3',
  ];
  if (options.progressPeriodMs !== undefined)
    args.push('-stats_period', String(options.progressPeriodMs / 1000));
  return [...args, ...options.args];
}

/**
 * Starts ffmpeg. Throws `KHU_INTERNAL` when it cannot be started at all (not installed, not
 * executable); every later failure shows as an exit.
 */
export function spawnFfmpeg(options: SpawnFfmpegOptions): FfmpegProcess {
  const path = options.ffmpegPath ?? 'ffmpeg';
  // Opened first: ffmpeg's open of the FIFO for writing then never waits for a reader.
  const media = options.media && readFifo(options.media.fifo, options.media.onData);
  const child = spawn(path, ffmpegArgs(options), {
    stdio: [
      'pipe',
      options.onStdout || options.pipeStdout ? 'pipe' : 'ignore',
      'pipe',
      'pipe',
      ...(options.onFd4 ? (['pipe'] as const) : []),
    ],
    env: options.env,
    shell: false,
    windowsHide: true,
  });
  if (child.pid === undefined) {
    // The spawn error is emitted on the next tick; take it so that it is not unhandled.
    child.once('error', () => {});
    for (const s of child.stdio) s?.destroy();
    media?.close();
    throw new KhuError('KHU_INTERNAL', `cannot start ffmpeg ("${path}"): is it installed and on PATH?`);
  }
  return new FfmpegProcess(child as ChildProcess & { pid: number }, options, media);
}
