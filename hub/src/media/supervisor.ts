/**
 * Keeps one ffmpeg command running for one camera: restarts on any exit (ffmpeg exits 0 when
 * an RTSP server goes away), backs off exponentially up to a cap, asks an optional cheap probe
 * before spawning, and restarts an ffmpeg whose progress stops advancing.
 */
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from '../core/log.js';
import type { HubModule } from '../core/module.js';
import {
  type FfmpegExit,
  type FfmpegProcess,
  type FfmpegProgress,
  ffmpegArgs,
  type SpawnFfmpegOptions,
  spawnFfmpeg,
} from './ffmpeg.js';
import { maskArgs } from './ffmpeg-args.js';
import { type ReapOutcome, reapOrphans, reapPidfile, removePidfile, writePidfile } from './pidfiles.js';

export interface FfmpegSupervisorOptions {
  /** Unique per supervisor (the camera id): names the pidfile and the log lines. */
  name: string;
  /** Arguments after ffmpeg's global options; a function is called before each spawn. */
  args: readonly string[] | (() => readonly string[]);
  log: Logger;
  /** Where `<name>.pid` is written while ffmpeg runs; no pidfile without it. */
  runDir?: string;
  ffmpegPath?: string;
  loglevel?: string;
  progressPeriodMs?: number;
  /** Media each run writes to a FIFO (see SpawnFfmpegOptions.media). */
  media?: SpawnFfmpegOptions['media'];
  /** What each run writes to `pipe:4` (see SpawnFfmpegOptions.onFd4). */
  onFd4?: (chunk: string) => void;
  /** First restart delay, doubled after each failed run up to `backoffMaxMs`. Default 250 ms. */
  backoffInitialMs?: number;
  /** Default 2000 ms: a camera that comes back is retried at most this long after. */
  backoffMaxMs?: number;
  /** Progress that keeps advancing this long makes a run healthy: the backoff starts over. Default 10 s. */
  healthyAfterMs?: number;
  /** No advancing `frame` or `out_time` for this long (startup included) → restart. Default 10 s. */
  stallMs?: number;
  /** Asked before every spawn; false (or a throw, or no answer within `probeTimeoutMs`) → wait and ask again. */
  probe?: (signal: AbortSignal) => Promise<boolean>;
  probeTimeoutMs?: number;
  /** While the probe fails, how often it is asked again. Default 500 ms. */
  probeIntervalMs?: number;
  /** Escalation of a stop: `q`, then SIGTERM twice, then SIGKILL (see FfmpegProcess.stop). */
  stopGraceMs?: number;
  stopTermMs?: number;
}

export interface SupervisorExit extends FfmpegExit {
  stderrTail: string[];
  runMs: number;
  /** Why it ended: on its own, by the watchdog, by restart() or by stop(). */
  reason: 'exited' | 'stalled' | 'restarted' | 'stopped';
}

export interface FfmpegSupervisorEvents {
  started: [{ pid: number; attempt: number }];
  exited: [SupervisorExit];
  stalled: [{ pid: number; sinceMs: number }];
  restarting: [{ delayMs: number; attempt: number }];
  probe: [{ ok: boolean; attempt: number }];
  progress: [FfmpegProgress];
}

interface Run {
  proc: FfmpegProcess;
  startedAt: number;
  lastAdvanceAt: number;
  firstAdvanceAt: number | undefined;
  frame: number;
  outTimeMs: number;
  /** Set when we ended it (watchdog, restart()) rather than ffmpeg on its own. */
  endedBy: 'stalled' | 'restarted' | undefined;
}

const SAFE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

export class FfmpegSupervisor extends EventEmitter<FfmpegSupervisorEvents> implements HubModule {
  readonly name: string;
  #o: FfmpegSupervisorOptions;
  #log: Logger;
  #pidfile: string | undefined;
  #run: Run | undefined;
  #running = false;
  /** Failed runs in a row: sets the next delay. */
  #failures = 0;
  #spawns = 0;
  #timer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #probeAbort: AbortController | undefined;
  #runEnded: Promise<void> | undefined;
  #attempting: Promise<void> | undefined;

  constructor(options: FfmpegSupervisorOptions) {
    super();
    if (!SAFE_NAME.test(options.name))
      throw new Error(`supervisor name "${options.name}" is not a safe file name`);
    this.name = options.name;
    this.#o = options;
    this.#log = options.log.child({ ffmpeg: options.name });
    this.#pidfile = options.runDir ? join(options.runDir, `${options.name}.pid`) : undefined;
  }

  /** Kills ffmpeg processes left by a hub that died (see pidfiles.ts) and removes stale pidfiles. */
  static reapOrphans(
    runDir: string,
    log: Logger,
    ffmpegPath = 'ffmpeg',
  ): Promise<Record<string, ReapOutcome>> {
    return reapOrphans(runDir, log, { ffmpegName: basename(ffmpegPath) });
  }

  /** Restarts since start(): every spawn after the first. */
  get restarts(): number {
    return Math.max(0, this.#spawns - 1);
  }

  /** The running ffmpeg's pid, if any. */
  get pid(): number | undefined {
    return this.#run?.proc.pid;
  }

  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#failures = 0;
    this.#spawns = 0;
    try {
      if (this.#o.runDir) await mkdir(this.#o.runDir, { recursive: true });
      // Our own leftover first: a camera never gets two sessions.
      if (this.#pidfile) await reapPidfile(this.#pidfile, this.#log, { ffmpegName: this.#ffmpegName() });
    } catch (err) {
      this.#running = false;
      throw err;
    }
    if (this.#running) this.#attempting = this.#attempt(0);
  }

  /** Stops ffmpeg gracefully and restarts no more; nothing of this supervisor remains running. */
  async stop(): Promise<void> {
    if (this.#running) {
      this.#running = false;
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#probeAbort?.abort();
    }
    await this.#attempting;
    const run = this.#run;
    if (run) {
      this.#log.info({ pid: run.proc.pid }, 'stopping ffmpeg');
      await run.proc.stop({ graceMs: this.#o.stopGraceMs, termMs: this.#o.stopTermMs });
    }
    await this.#runEnded;
  }

  /**
   * Ends the running ffmpeg gracefully so that it starts again (after the backoff), e.g. when
   * its output shows no new segment in time. False when nothing is running.
   */
  restart(reason: string): boolean {
    const run = this.#run;
    if (!this.#running || !run || run.endedBy) return false;
    run.endedBy = 'restarted';
    this.#log.info({ pid: run.proc.pid, reason }, 'restarting ffmpeg on request');
    void run.proc.stop({ graceMs: this.#o.stopGraceMs, termMs: this.#o.stopTermMs });
    return true;
  }

  #ffmpegName(): string {
    return basename(this.#o.ffmpegPath ?? 'ffmpeg');
  }

  /** Probe (if any), then spawn; `attempt` is the number of failed runs before this one. */
  async #attempt(attempt: number): Promise<void> {
    this.#timer = undefined;
    if (!this.#running) return;
    if (this.#o.probe && !(await this.#probe(attempt))) {
      // The probe is cheap (a TCP connect): while the source is down it is asked again soon,
      // so that recording resumes within a second or so of the camera's return.
      if (this.#running) this.#schedule(this.#o.probeIntervalMs ?? 500);
      return;
    }
    if (!this.#running) return;
    let proc: FfmpegProcess;
    let spawnOptions: SpawnFfmpegOptions;
    try {
      spawnOptions = {
        args: typeof this.#o.args === 'function' ? this.#o.args() : this.#o.args,
        ffmpegPath: this.#o.ffmpegPath,
        loglevel: this.#o.loglevel,
        progressPeriodMs: this.#o.progressPeriodMs,
        media: this.#o.media,
        onFd4: this.#o.onFd4,
      };
      proc = spawnFfmpeg(spawnOptions);
    } catch (err) {
      this.#log.error({ err }, 'ffmpeg could not be started');
      this.#failures++;
      this.#schedule();
      return;
    }
    this.#spawns++;
    const now = Date.now();
    const run: Run = {
      proc,
      startedAt: now,
      lastAdvanceAt: now,
      firstAdvanceAt: undefined,
      frame: -1,
      outTimeMs: Number.NEGATIVE_INFINITY,
      endedBy: undefined,
    };
    this.#run = run;
    if (this.#pidfile) {
      try {
        writePidfile(this.#pidfile, proc.pid);
      } catch (err) {
        this.#log.warn({ err, pidfile: this.#pidfile }, 'pidfile not written');
      }
    }
    proc.on('progress', (p) => this.#onProgress(run, p));
    this.#runEnded = proc.exited.then((exit) => this.#onExit(run, exit));
    this.#armWatchdog(run);
    const level = attempt <= 3 || attempt % 30 === 0 ? 'info' : 'debug';
    this.#log[level]({ pid: proc.pid, attempt, args: maskArgs(ffmpegArgs(spawnOptions)) }, 'ffmpeg started');
    this.#emit('started', { pid: proc.pid, attempt });
  }

  async #probe(attempt: number): Promise<boolean> {
    const probe = this.#o.probe;
    if (!probe) return true;
    const abort = new AbortController();
    this.#probeAbort = abort;
    const timer = setTimeout(() => abort.abort(), this.#o.probeTimeoutMs ?? 1500);
    // Ends at the answer, the timeout or stop(), whichever comes first: a probe that ignores
    // its signal keeps nothing of ours alive.
    const aborted = new Promise<boolean>((resolve) =>
      abort.signal.addEventListener('abort', () => resolve(false)),
    );
    const ok = await Promise.race([probe(abort.signal).then(Boolean, () => false), aborted]);
    clearTimeout(timer);
    abort.abort();
    this.#probeAbort = undefined;
    if (!this.#running) return false;
    if (!ok) this.#failures++;
    this.#emit('probe', { ok, attempt });
    this.#log.debug({ ok, attempt }, 'probe');
    return ok;
  }

  #onProgress(run: Run, p: FfmpegProgress): void {
    const frame = p.frame ?? -1;
    const outTimeMs = p.outTimeMs ?? Number.NEGATIVE_INFINITY;
    if (frame > run.frame || outTimeMs > run.outTimeMs) {
      run.lastAdvanceAt = Date.now();
      run.firstAdvanceAt ??= run.lastAdvanceAt;
      run.frame = Math.max(run.frame, frame);
      run.outTimeMs = Math.max(run.outTimeMs, outTimeMs);
    }
    this.#emit('progress', p);
  }

  /** One timer per run, re-armed for the time left rather than on every progress block. */
  #armWatchdog(run: Run): void {
    const stallMs = this.#o.stallMs ?? 10_000;
    const left = run.lastAdvanceAt + stallMs - Date.now();
    this.#watchdog = setTimeout(
      () => {
        this.#watchdog = undefined;
        // Ending already (restart(), an earlier stall): the exit restarts it.
        if (this.#run !== run || !this.#running || run.endedBy) return;
        const sinceMs = Date.now() - run.lastAdvanceAt;
        if (sinceMs < stallMs) return this.#armWatchdog(run);
        run.endedBy = 'stalled';
        this.#log.warn(
          { pid: run.proc.pid, sinceMs, frame: run.frame },
          'ffmpeg stalled: no progress; restarting',
        );
        this.#emit('stalled', { pid: run.proc.pid, sinceMs });
        void run.proc.stop({ graceMs: this.#o.stopGraceMs, termMs: this.#o.stopTermMs });
      },
      Math.max(left, 1),
    );
  }

  #onExit(run: Run, exit: FfmpegExit): void {
    clearTimeout(this.#watchdog);
    this.#watchdog = undefined;
    if (this.#pidfile) removePidfile(this.#pidfile);
    if (this.#run === run) this.#run = undefined;
    run.proc.removeAllListeners();
    const now = Date.now();
    const runMs = now - run.startedAt;
    const reason = !this.#running ? 'stopped' : (run.endedBy ?? 'exited');
    const healthy =
      run.firstAdvanceAt !== undefined && now - run.firstAdvanceAt >= (this.#o.healthyAfterMs ?? 10_000);
    if (reason !== 'stopped') this.#failures = healthy ? 1 : this.#failures + 1;
    const stderrTail = run.proc.stderrTail();
    // A camera down for hours must not fill the log: the first failures and every 30th are warnings.
    const quiet = reason === 'exited' && this.#failures > 3 && this.#failures % 30 !== 0;
    const restartInMs = this.#running ? this.#delayMs() : undefined;
    this.#log[reason === 'stopped' ? 'info' : quiet ? 'debug' : 'warn'](
      { pid: run.proc.pid, ...exit, runMs, reason, failures: this.#failures, restartInMs, stderrTail },
      'ffmpeg exited',
    );
    this.#emit('exited', { ...exit, stderrTail, runMs, reason });
    this.#schedule();
  }

  #delayMs(): number {
    const initial = this.#o.backoffInitialMs ?? 250;
    const n = Math.max(this.#failures, 1);
    return Math.min(this.#o.backoffMaxMs ?? 2000, initial * 2 ** Math.min(n - 1, 30));
  }

  /** A listener that throws is logged; it never breaks the restart loop. */
  #emit<K extends keyof FfmpegSupervisorEvents>(event: K, ...args: FfmpegSupervisorEvents[K]): void {
    try {
      // biome-ignore lint/suspicious/noExplicitAny: the typed map is checked at the call sites
      (this.emit as any)(event, ...args);
    } catch (err) {
      this.#log.error({ err, event }, 'supervisor event listener threw');
    }
  }

  /** Next attempt after the backoff for the failures so far (or after `delay`). */
  #schedule(delay?: number): void {
    if (!this.#running || this.#timer) return;
    const delayMs = delay ?? this.#delayMs();
    const attempt = Math.max(this.#failures, 1);
    this.#timer = setTimeout(() => {
      this.#attempting = this.#attempt(attempt);
    }, delayMs);
    this.#emit('restarting', { delayMs, attempt });
  }
}
