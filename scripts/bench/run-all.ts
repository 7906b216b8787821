/**
 * `npm run bench`: every benchmark, one after the other, each in its own process. Their JSON
 * lines (one per figure) are forwarded to stdout as they come; progress goes to stderr, with a
 * summary at the end. A missed target is a figure with `"ok": false`, not a failure: the exit
 * status is 0 unless a bench itself failed (crashed, timed out, or printed no figure).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { emit, type Figure, figure, progress, ROOT } from './lib.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const BENCHES: Array<{ name: string; file: string; timeoutMs: number }> = [
  { name: 'lights', file: 'lights.js', timeoutMs: 150_000 },
  { name: 'broker', file: 'broker.js', timeoutMs: 90_000 },
  // Three transitions of 1000 lights, then 8 cameras and three boots: ~1.5 min.
  { name: 'schedule', file: 'schedule.js', timeoutMs: 240_000 },
  // 2 × 120 s of recording, a 60 s outage, 64 s of 2 s segments, set-up and 1000 relays: ~7 min.
  { name: 'recording', file: 'recording.js', timeoutMs: 720_000 },
  // Chromium first frame and glass to glass, 50 viewers for 30 s, a one-hour clip: ~2 min.
  { name: 'live', file: 'live.js', timeoutMs: 300_000 },
];

let current: ChildProcess | undefined;
let interrupted = false;

function isFigure(value: unknown): value is Figure {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return typeof v.name === 'string' && typeof v.value === 'number' && typeof v.unit === 'string';
}

/** Run one bench file; forward its figures. Resolves with them and how it ended. */
function runOne(
  name: string,
  file: string,
  timeoutMs: number,
): Promise<{ figures: Figure[]; code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(HERE, file)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    current = child;
    const figures: Figure[] = [];
    const lines = createInterface({ input: child.stdout! });
    const closed = new Promise<void>((r) => lines.once('close', () => r()));
    lines.on('line', (line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = undefined;
      }
      if (isFigure(parsed)) {
        figures.push(parsed);
        process.stdout.write(`${line}\n`);
      } else if (line.trim()) {
        process.stderr.write(`[${name} stdout] ${line}\n`);
      }
    });
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      progress(`${name}: no end after ${timeoutMs / 1000} s: SIGTERM (it cleans up), SIGKILL 20 s later`);
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      current = undefined;
      // Let the last stdout lines through before resolving.
      void closed.then(() => resolve({ figures, code, signal, timedOut }));
    });
  });
}

function preflight(): void {
  const script = join(ROOT, 'scripts', 'preflight.sh');
  if (!existsSync(script)) return;
  // Installs Debian's mosquitto when missing (root with apt-get), else explains; stdout stays clean.
  const r = spawnSync('bash', [script, '--quiet', '--bench'], { cwd: ROOT, stdio: ['ignore', 2, 2] });
  if (r.status !== 0) progress(`preflight --bench exited ${r.status ?? r.signal}: the broker bench may fail`);
}

async function main(): Promise<void> {
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    progress(`run-all: ${signal}: stopping the running bench (it cleans up)`);
    current?.kill('SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const started = performance.now();
  const load1 = loadavg()[0] ?? 0;
  emit(
    figure('bench.box.load1', load1, 'load', undefined, {
      cpus: cpus().length,
      note: '1-minute load average before the run; other work on the box makes the figures noisy',
    }),
  );
  preflight();

  const all: Figure[] = [];
  const failed: string[] = [];
  for (const b of BENCHES) {
    if (interrupted) break;
    progress(`run-all: ${b.name} …`);
    const r = await runOne(b.name, b.file, b.timeoutMs);
    all.push(...r.figures);
    if (r.code !== 0 || r.timedOut || r.figures.length === 0) {
      failed.push(b.name);
      const how = r.timedOut ? 'timed out' : r.code !== null ? `exit status ${r.code}` : `signal ${r.signal}`;
      emit(
        figure(`bench.${b.name}.failed`, 1, 'count', undefined, {
          ok: false,
          figures: r.figures.length,
          note: `${b.name} did not finish (${how}); see stderr`,
        }),
      );
    }
  }
  const totalS = (performance.now() - started) / 1000;
  emit(
    figure('bench.total_s', totalS, 's', undefined, { note: 'wall time of run-all (the build excluded)' }),
  );

  const width = Math.max(...all.map((f) => f.name.length), 10);
  const rows = all.map((f) => {
    const mark = f.ok === undefined ? '  ' : f.ok ? 'ok' : '✗ ';
    return `  ${mark} ${f.name.padEnd(width)} ${String(f.value).padStart(10)} ${f.unit}${f.target ? `  (target ${f.target})` : ''}`;
  });
  const missed = all.filter((f) => f.ok === false).map((f) => f.name);
  process.stderr.write(
    `\nKhu benchmarks, ${totalS.toFixed(1)} s, load ${load1.toFixed(2)} → ${(loadavg()[0] ?? 0).toFixed(2)} on ${cpus().length} CPUs\n${rows.join('\n')}\n` +
      `${missed.length ? `  targets missed: ${missed.join(', ')}\n` : '  every target met\n'}` +
      `${failed.length ? `  benches FAILED: ${failed.join(', ')}\n` : ''}`,
  );
  process.exitCode = failed.length > 0 || interrupted ? 1 : 0;
}

await main();
