import { CliError, EXIT } from './errors.js';

interface HubErrorBody {
  error?: { code?: string; message?: string; retryAfterSec?: number };
}

const LOGIN_HINT = 'run: khu login';

/** Why fetch failed, in words a technician can act on. */
function unreachable(base: string, err: unknown): CliError {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const code = cause?.code ?? (err instanceof Error && err.name === 'TimeoutError' ? 'timed out' : undefined);
  const why =
    code === 'ECONNREFUSED'
      ? 'connection refused: nothing listens there'
      : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
        ? 'unknown host name'
        : code === 'EHOSTUNREACH' || code === 'ENETUNREACH'
          ? 'no route to that address'
          : (code ?? cause?.message ?? (err instanceof Error ? err.message : String(err)));
  return new CliError(`cannot reach the hub at ${base} (${why})`, {
    exitCode: EXIT.unreachable,
    hint: 'is the hub running (systemctl status khu)? Is the address right? Use --hub http://<box address>:8080 or run khu login --hub …',
  });
}

/** The hub's HTTP API, with its errors turned into messages that say what to do. */
export class HubClient {
  readonly base: string;
  readonly #token: string | undefined;

  constructor(base: string, token?: string) {
    this.base = base.replace(/\/+$/, '');
    this.#token = token;
  }

  async json<T>(
    method: string,
    path: string,
    options: { body?: unknown; auth?: boolean; timeoutMs?: number } = {},
  ): Promise<T> {
    const res = await this.raw(method, path, options);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`${this.base} answered something that is not a Khu hub's JSON`, {
        hint: 'check the address (--hub): it should be the hub, e.g. http://198.51.100.10:8080',
      });
    }
  }

  /** The response of a successful request (2xx); anything else becomes a CliError. */
  async raw(
    method: string,
    path: string,
    options: { body?: unknown; auth?: boolean; timeoutMs?: number } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = {};
    const auth = options.auth ?? true;
    if (auth) {
      if (!this.#token) throw new CliError('not logged in', { exitCode: EXIT.auth, hint: LOGIN_HINT });
      headers.authorization = `Bearer ${this.#token}`;
    }
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers,
        body,
        signal: options.timeoutMs === 0 ? undefined : AbortSignal.timeout(options.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw unreachable(this.base, err);
    }
    if (res.ok) return res;
    const text = await res.text().catch(() => '');
    let parsed: HubErrorBody = {};
    try {
      parsed = JSON.parse(text) as HubErrorBody;
    } catch {}
    const code = parsed.error?.code;
    const message = parsed.error?.message ?? `HTTP ${res.status}`;
    if (!code) {
      throw new CliError(`${this.base} answered HTTP ${res.status}, not like a Khu hub`, {
        hint: 'check the address (--hub)',
      });
    }
    if (res.status === 401 && auth) {
      throw new CliError('your session has expired or was ended (password changed, account removed)', {
        exitCode: EXIT.auth,
        hint: LOGIN_HINT,
        code,
      });
    }
    if (res.status === 401) throw new CliError(message, { exitCode: EXIT.auth, code });
    if (res.status === 403) {
      throw new CliError(`not allowed: ${message}`, {
        code,
        hint: 'log in with an account of a higher role: khu login --user <name>',
      });
    }
    if (code === 'KHU_RATE_LIMITED') {
      throw new CliError(message, { code, hint: 'wait, then try again' });
    }
    throw new CliError(`the hub refused: ${message}`, { code });
  }
}
