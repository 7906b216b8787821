/**
 * Pidfiles for ffmpeg processes, so that a hub that died does not leave a camera with two
 * recorder sessions: an ffmpeg outlives its parent (it ignores SIGPIPE on its progress pipe and
 * EOF on stdin). Each file holds the pid and the process start time from /proc (proc(5),
 * /proc/<pid>/stat field 22), so that a recycled pid is never killed.
 */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { readdir, readFile, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from '../core/log.js';

export interface PidfileContent {
  pid: number;
  /** Start time in clock ticks since boot, as /proc/<pid>/stat says. */
  startTicks: string;
}

export interface ProcInfo {
  startTicks: string;
  /** Single-letter state (`R`, `S`, `Z`…). */
  state: string;
}

/** State and start time of a process, or undefined when there is none with this pid. */
export function readProcStat(pid: number): ProcInfo | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: fields are counted after the last `)`.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = rest[0];
  const startTicks = rest[19];
  if (!state || !startTicks) return undefined;
  return { state, startTicks };
}

/** argv of a process (empty for a zombie or a process that is gone). */
export function readProcCmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((a) => a !== '');
  } catch {
    return [];
  }
}

/** Written synchronously right after the spawn: no await between the two for a crash to fall into. */
export function writePidfile(path: string, pid: number): PidfileContent | undefined {
  const info = readProcStat(pid);
  if (!info) return undefined;
  const content: PidfileContent = { pid, startTicks: info.startTicks };
  writeFileSync(path, `${JSON.stringify(content)}\n`);
  return content;
}

export function removePidfile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

function parsePidfile(text: string): PidfileContent | undefined {
  try {
    const v = JSON.parse(text) as Partial<PidfileContent>;
    if (Number.isSafeInteger(v.pid) && (v.pid as number) > 1 && typeof v.startTicks === 'string') {
      return { pid: v.pid as number, startTicks: v.startTicks };
    }
  } catch {
    // torn or foreign file: treated as stale
  }
  return undefined;
}

const alive = (pid: number) => {
  const info = readProcStat(pid);
  return info !== undefined && info.state !== 'Z' && info.state !== 'X';
};

/** The process is not our child: nothing to wait on but /proc. */
async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone meanwhile
  }
}

export type ReapOutcome = 'killed' | 'stale' | 'foreign' | 'survived';

/**
 * Handles one pidfile: an ffmpeg that is still running with the recorded start time is stopped
 * (SIGTERM twice, then SIGKILL: its stdin is gone, so no `q`), and the file is removed. A pid
 * that is gone, recycled (other start time) or not ffmpeg is left alone.
 */
export async function reapPidfile(
  path: string,
  log: Logger,
  options: { ffmpegName?: string; termMs?: number } = {},
): Promise<ReapOutcome> {
  const ffmpegName = options.ffmpegName ?? 'ffmpeg';
  const termMs = options.termMs ?? 1000;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return 'stale';
  }
  const recorded = parsePidfile(text);
  let outcome: ReapOutcome = 'stale';
  if (recorded && alive(recorded.pid)) {
    const info = readProcStat(recorded.pid);
    const argv0 = readProcCmdline(recorded.pid)[0] ?? '';
    if (info?.startTicks !== recorded.startTicks || !basename(argv0).includes(ffmpegName)) {
      outcome = 'foreign';
      log.warn(
        { pidfile: path, pid: recorded.pid },
        'pidfile names a process that is not our ffmpeg; left alone',
      );
    } else {
      signal(recorded.pid, 'SIGTERM');
      if (!(await waitGone(recorded.pid, termMs))) signal(recorded.pid, 'SIGTERM');
      if (!(await waitGone(recorded.pid, termMs))) signal(recorded.pid, 'SIGKILL');
      outcome = (await waitGone(recorded.pid, termMs)) ? 'killed' : 'survived';
      log.warn({ pidfile: path, pid: recorded.pid, outcome }, 'stopped an ffmpeg left by an earlier hub');
    }
  }
  if (outcome !== 'survived') await unlink(path).catch(() => {});
  return outcome;
}

/** Every `*.pid` file of `runDir` (missing dir: nothing to do). */
export async function reapOrphans(
  runDir: string,
  log: Logger,
  options: { ffmpegName?: string; termMs?: number } = {},
): Promise<Record<string, ReapOutcome>> {
  let names: string[];
  try {
    names = (await readdir(runDir)).filter((n) => n.endsWith('.pid'));
  } catch {
    return {};
  }
  const outcomes = await Promise.all(names.map((n) => reapPidfile(join(runDir, n), log, options)));
  return Object.fromEntries(names.map((n, i) => [n, outcomes[i] as ReapOutcome]));
}

/**
 * ffmpegs whose command line names `marker` (a recorder writes under its recordings folder),
 * whoever started them: what a dead hub left running even when its pidfile was lost (a power
 * cut between spawn and pidfile, or two runs racing over one file). Call it before starting
 * any ffmpeg of ours. Stopped with SIGTERM twice, then SIGKILL.
 */
export async function reapByCommandLine(
  marker: string,
  log: Logger,
  options: { ffmpegName?: string; termMs?: number } = {},
): Promise<number[]> {
  const ffmpegName = options.ffmpegName ?? 'ffmpeg';
  const termMs = options.termMs ?? 1000;
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return [];
  }
  const found = entries
    .filter((n) => /^\d+$/.test(n) && Number(n) !== process.pid)
    .map(Number)
    .filter((pid) => {
      const argv = readProcCmdline(pid);
      return basename(argv[0] ?? '').includes(ffmpegName) && argv.some((a) => a.includes(marker));
    });
  await Promise.all(
    found.map(async (pid) => {
      signal(pid, 'SIGTERM');
      if (!(await waitGone(pid, termMs))) signal(pid, 'SIGTERM');
      if (!(await waitGone(pid, termMs))) signal(pid, 'SIGKILL');
      log.warn({ pid }, 'stopped an ffmpeg left recording by an earlier hub');
    }),
  );
  return found;
}
