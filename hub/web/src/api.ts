/**
 * The hub's API from the page: same-origin fetch with the session cookie, the CSRF header on
 * every state-changing request (double submit: the `khu_csrf` cookie, or the token the login
 * answer carried), errors as `ApiError` with the hub's stable code.
 */
export type Role = 'resident' | 'head' | 'technician' | 'admin';

export interface User {
  username: string;
  role: Role;
  displayName: string;
  zones: string[];
}

export interface Light {
  id: string;
  name: string;
  zone: string;
  desired: 'on' | 'off' | null;
  reported: 'on' | 'off' | null;
  online: boolean;
  pending: boolean;
}

export interface Camera {
  id: string;
  name: string;
  subUri: string | null;
  hasSnapshot: boolean;
  status: string;
}

export interface LoginAnswer {
  token: string;
  expiresAt: string;
  csrfToken: string;
  user: User;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryAfterSec: number | undefined;
  constructor(status: number, code: string, message: string, retryAfterSec?: number) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfterSec = retryAfterSec;
  }
}

let csrfFromLogin = '';
let onUnauthorized: () => void = () => {};

export function setCsrfToken(token: string): void {
  csrfFromLogin = token;
}

/** Called when the hub answers 401 to a logged-in request: the session ended. */
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

function csrfToken(): string {
  const m = /(?:^|;\s*)khu_csrf=([^;]+)/.exec(document.cookie);
  return m ? decodeURIComponent(m[1]!) : csrfFromLogin;
}

const ROLES: Role[] = ['resident', 'head', 'technician', 'admin'];
export const hasRole = (user: User | null, atLeast: Role): boolean =>
  !!user && ROLES.indexOf(user.role) >= ROLES.indexOf(atLeast);

export const enc = encodeURIComponent;

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') headers['x-csrf-token'] = csrfToken();
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'network');
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: handled below as an error without a code.
  }
  if (!res.ok) {
    const err = (parsed as { error?: { code?: string; message?: string; retryAfterSec?: number } } | null)
      ?.error;
    if (res.status === 401 && !path.startsWith('/api/auth/') && !path.startsWith('/api/invites/')) {
      onUnauthorized();
    }
    throw new ApiError(
      res.status,
      err?.code ?? `HTTP_${res.status}`,
      err?.message ?? text,
      err?.retryAfterSec,
    );
  }
  return parsed as T;
}
