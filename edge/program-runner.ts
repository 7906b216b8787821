/**
 * Runs a stored program: wakes at each programmed instant (a rule, a night-cut boundary) and
 * hands the instant to `apply`. Started when the hub is lost, stopped when it is back.
 */
import { nextProgramInstant, type Program } from '../hub/src/protocol/program.js';

/** Re-plan at least this often, so that a clock step (NTP, `date -s`) is noticed. */
const MAX_SLEEP_MS = 60_000;

export interface ProgramRunnerOptions {
  clock: () => number;
  apply: (program: Program, at: number) => void;
}

export class ProgramRunner {
  readonly #clock: () => number;
  readonly #apply: ProgramRunnerOptions['apply'];
  #program: Program | undefined;
  #timer: NodeJS.Timeout | undefined;
  #next: number | undefined;

  constructor(options: ProgramRunnerOptions) {
    this.#clock = options.clock;
    this.#apply = options.apply;
  }

  get running(): boolean {
    return this.#program !== undefined;
  }

  /** The next instant planned (epoch ms), for logs and tests. */
  get nextInstant(): number | undefined {
    return this.#next;
  }

  start(program: Program): void {
    this.stop();
    this.#program = program;
    this.#plan(this.#clock());
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#program = undefined;
    this.#next = undefined;
  }

  #plan(after: number): void {
    const program = this.#program;
    if (!program) return;
    this.#next = nextProgramInstant(program, after);
    const now = this.#clock();
    const wait =
      this.#next === undefined ? MAX_SLEEP_MS : Math.min(Math.max(this.#next - now, 0), MAX_SLEEP_MS);
    this.#timer = setTimeout(() => this.#wake(after), wait);
  }

  #wake(plannedAfter: number): void {
    this.#timer = undefined;
    const program = this.#program;
    if (!program) return;
    const now = this.#clock();
    const due = this.#next;
    if (due !== undefined && now >= due) {
      this.#apply(program, Math.max(now, due));
      this.#plan(Math.max(now, due));
    } else if (now < plannedAfter) {
      // The clock went back: plan again from now.
      this.#plan(now);
    } else {
      this.#plan(plannedAfter);
    }
  }
}
