/** Exit codes: what a script calling `khu` can tell apart. Documented in docs/cli.md. */
export const EXIT = {
  ok: 0,
  /** The hub (or the file system) refused or failed: the message says why. */
  failed: 1,
  /** Bad arguments: nothing was sent to the hub. */
  usage: 2,
  /** The hub did not answer at all. */
  unreachable: 3,
  /** Not logged in, the session expired, or a wrong password. */
  auth: 4,
} as const;

/** An error the CLI explains to the person: what went wrong, then what to do. */
export class CliError extends Error {
  readonly exitCode: number;
  readonly hint?: string;
  /** The hub's error code, when the hub answered with one. */
  readonly code?: string;

  constructor(message: string, options: { exitCode?: number; hint?: string; code?: string } = {}) {
    super(message);
    this.name = 'CliError';
    this.exitCode = options.exitCode ?? EXIT.failed;
    this.hint = options.hint;
    this.code = options.code;
  }
}

export const usageError = (message: string, command: string) =>
  new CliError(message, { exitCode: EXIT.usage, hint: `see: khu ${command} --help` });
