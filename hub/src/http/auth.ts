import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasRole, type Role } from '../auth/roles.js';
import type { User, UsersService } from '../auth/users-service.js';
import { forbidden, KhuError } from '../core/errors.js';
import type { Actor } from '../core/event-bus.js';

export const SESSION_COOKIE = 'khu_session';
export const CSRF_COOKIE = 'khu_csrf';
export const CSRF_HEADER = 'x-csrf-token';

declare module 'fastify' {
  interface FastifyRequest {
    user: User | null;
  }
}

export const actorOf = (user: User): Actor => ({ kind: 'user', name: user.username });

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Who is asking: a Bearer token, or the web app's session cookie (HttpOnly, SameSite=Strict).
 * A state-changing request that authenticates by cookie must also carry the CSRF token
 * (double submit: the `khu_csrf` cookie echoed in the `X-CSRF-Token` header).
 */
export function registerAuth(app: FastifyInstance, users: UsersService): void {
  app.decorateRequest('user', null);
  app.addHook('onRequest', async (req) => {
    const header = req.headers.authorization;
    if (header?.startsWith('Bearer ')) {
      req.user = users.authenticate(header.slice(7).trim()) ?? null;
      return;
    }
    const cookie = req.cookies[SESSION_COOKIE];
    if (!cookie) return;
    const user = users.authenticate(cookie);
    if (!user) return;
    if (!SAFE_METHODS.has(req.method)) {
      const sent = req.headers[CSRF_HEADER];
      const expected = req.cookies[CSRF_COOKIE];
      if (typeof sent !== 'string' || !expected || !sameSecret(sent, expected)) {
        throw new KhuError('KHU_FORBIDDEN', 'missing or wrong CSRF token');
      }
    }
    req.user = user;
  });
}

/** A preHandler that lets through only logged-in users of at least `role`. */
export function requireRole(role: Role) {
  return async (req: FastifyRequest) => {
    if (!req.user) throw new KhuError('KHU_UNAUTHORIZED', 'log in first');
    if (!hasRole(req.user.role, role)) throw forbidden(`needs the ${role} role or above`);
  };
}

export function user(req: FastifyRequest): User {
  if (!req.user) throw new KhuError('KHU_UNAUTHORIZED', 'log in first');
  return req.user;
}

export function setSessionCookies(
  reply: FastifyReply,
  token: string,
  expiresAt: string,
  secure: boolean,
): string {
  const csrf = randomBytes(18).toString('base64url');
  const expires = new Date(expiresAt);
  reply.setCookie(SESSION_COOKIE, token, { httpOnly: true, sameSite: 'strict', path: '/', expires, secure });
  reply.setCookie(CSRF_COOKIE, csrf, { httpOnly: false, sameSite: 'strict', path: '/', expires, secure });
  return csrf;
}

export function clearSessionCookies(reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, { path: '/' });
  reply.clearCookie(CSRF_COOKIE, { path: '/' });
}
