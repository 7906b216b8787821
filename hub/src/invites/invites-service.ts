import { createHash, randomBytes } from 'node:crypto';
import { LoginLimiter } from '../auth/login-limiter.js';
import { hasRole, type Role } from '../auth/roles.js';
import { USERNAME_PATTERN, type User, type UsersService } from '../auth/users-service.js';
import { badRequest, conflict, forbidden, KhuError } from '../core/errors.js';
import type { Actor, EventBus } from '../core/event-bus.js';
import type { Logger } from '../core/log.js';
import type { HubModule } from '../core/module.js';
import type { InviteRecord, InvitesRepo } from '../store/invites-repo.js';

export type InviteStatus = 'pending' | 'used' | 'expired' | 'revoked';

export interface InviteView {
  id: string;
  role: Role;
  household: string;
  zones: string[];
  status: InviteStatus;
  createdBy: string;
  createdAt: string;
  expiresAt: string;
  usedAt: string | null;
  usedBy: string | null;
  revokedAt: string | null;
}

export interface NewInvite {
  role: Role;
  household: string;
  zones?: string[];
  ttlHours?: number;
}

export const DEFAULT_TTL_HOURS = 72;
export const MAX_TTL_HOURS = 720;
/** A password of at least 8 characters, or a PIN of exactly 6 digits (easier on an elderly resident's phone). */
export const MIN_INVITE_PASSWORD = 8;
const PIN = /^\d{6}$/;
/** Codes of pending invitations kept in memory for their QR codes; the oldest go first past this. */
const MAX_HELD_CODES = 1000;

export const hashCode = (code: string): string => createHash('sha256').update(code).digest('hex');

/** A login name from a household's name: "Nhà ông Ba, xóm 2" → "ong-ba-xom-2". */
export function usernameFromHousehold(household: string): string {
  const slug = household
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .replace(/[đĐ]/g, 'd')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    // "Nhà …", "Gia đình …", "Hộ …" say nothing about who lives there.
    .replace(/^(nha|gia-dinh|ho)-(?=.)/, '')
    .slice(0, 24)
    .replace(/-+$/, '');
  return slug.length >= 2 ? slug : 'cudan';
}

/**
 * Invitations: the area head creates one for a household; whoever holds its code (a QR code at
 * the cultural house) may create one account with the invitation's role and zones, once, before
 * it expires. The code is stored only as its SHA-256 (a long random code needs no slow hash).
 *
 * To draw the QR code again after creating it, the plain code of each pending invitation is
 * kept in memory only (never on disk); after a hub restart an older invitation's QR cannot be
 * drawn again: revoke it and create a new one.
 */
export class InvitesService implements HubModule {
  readonly name = 'invites';
  #repo: InvitesRepo;
  #users: UsersService;
  #bus: EventBus;
  #log: Logger;
  #limiter: LoginLimiter;
  #now: () => Date;
  #codes = new Map<string, string>();

  constructor(deps: {
    repo: InvitesRepo;
    users: UsersService;
    bus: EventBus;
    log: Logger;
    /** Failed code look-ups allowed per address in the window (the login limits). */
    maxAttempts: number;
    windowSec: number;
    now?: () => Date;
  }) {
    this.#repo = deps.repo;
    this.#users = deps.users;
    this.#bus = deps.bus;
    this.#log = deps.log;
    this.#now = deps.now ?? (() => new Date());
    this.#limiter = new LoginLimiter(deps.maxAttempts, deps.windowSec, () => this.#now().getTime());
  }

  start(): void {}

  stop(): void {
    this.#codes.clear();
  }

  /** Create an invitation; the answer holds the code, shown this once. `baseUrl` is where phones reach the hub. */
  create(spec: NewInvite, creator: User, baseUrl: string): InviteView & { code: string; url: string } {
    if (spec.role !== 'resident' && !hasRole(creator.role, 'admin'))
      throw forbidden('an area head invites residents only; other roles need an admin');
    const household = spec.household.trim();
    if (!household) throw badRequest('household: the household’s name, e.g. "Nhà ông Ba, xóm 2"');
    const ttlHours = spec.ttlHours ?? DEFAULT_TTL_HOURS;
    const zones = [...new Set((spec.zones ?? []).map((z) => z.trim()))];
    if (zones.some((z) => !z)) throw badRequest('zones: a zone name must not be blank');
    const now = this.#now();
    const record = {
      id: randomBytes(6).toString('hex'),
      codeHash: '',
      role: spec.role,
      household,
      zones,
      createdBy: creator.username,
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + ttlHours * 3_600_000).toISOString(),
    };
    const code = randomBytes(24).toString('base64url');
    record.codeHash = hashCode(code);
    this.#repo.insert(record);
    const url = `${baseUrl.replace(/\/+$/, '')}/#/join/${code}`;
    this.#hold(record.id, url);
    this.#bus.emit('audit', {
      actor: { kind: 'user', name: creator.username },
      action: 'invite.created',
      target: record.id,
      data: { role: spec.role, household, zones, expiresAt: record.expiresAt },
    });
    this.#log.info({ inviteId: record.id, role: spec.role }, 'invitation created');
    return {
      ...this.#view({ ...record, usedAt: null, usedBy: null, revokedAt: null, revokedBy: null }),
      code,
      url,
    };
  }

  list(): InviteView[] {
    return this.#repo.list().map((r) => this.#view(r));
  }

  get(id: string): InviteView {
    return this.#view(this.#find(id));
  }

  revoke(id: string, actor: User): void {
    const record = this.#find(id);
    this.#refuseUnlessPending(record);
    if (!this.#repo.revoke(id, actor.username, this.#now().toISOString())) {
      this.#refuseUnlessPending(this.#find(id));
    }
    this.#codes.delete(id);
    this.#bus.emit('audit', {
      actor: { kind: 'user', name: actor.username },
      action: 'invite.revoked',
      target: id,
      data: { household: record.household },
    });
  }

  /** The join address of a pending invitation, for its QR code. */
  url(id: string): string {
    const record = this.#find(id);
    this.#refuseUnlessPending(record);
    const url = this.#codes.get(id);
    if (!url)
      throw new KhuError(
        'KHU_INVITE_CODE_UNAVAILABLE',
        'the hub restarted since this invitation was made and keeps only a hash of its code; revoke it and create a new one',
      );
    return url;
  }

  /** Whether a code may be used now: the household and role it is for. Limited like logins. */
  check(code: string, address: string): { household: string; role: Role; expiresAt: string } {
    const record = this.#usable(code, address);
    return { household: record.household, role: record.role, expiresAt: record.expiresAt };
  }

  /**
   * Create the account an invitation offers, then log it in (the same answer as a login). The
   * invitation is claimed atomically before the account is made, and given back if that fails.
   */
  async accept(
    code: string,
    body: { username?: string; password: string },
    address: string,
  ): Promise<{ token: string; expiresAt: string; user: User }> {
    const record = this.#usable(code, address);
    const { password } = body;
    if (!PIN.test(password) && password.length < MIN_INVITE_PASSWORD)
      throw badRequest(`password: at least ${MIN_INVITE_PASSWORD} characters, or a PIN of exactly 6 digits`);
    let username: string;
    if (body.username !== undefined) {
      username = body.username.trim().toLowerCase();
      if (!USERNAME_PATTERN.test(username))
        throw badRequest(
          'username: 2–32 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit',
        );
      if (this.#exists(username)) throw conflict(`username ${username} is taken; choose another`);
    } else {
      username = this.#freeUsername(usernameFromHousehold(record.household));
    }
    if (!this.#repo.claim(record.id, username, this.#now().toISOString())) {
      this.#refuseUnlessPending(this.#find(record.id));
      throw conflict('the invitation changed meanwhile; try again');
    }
    const actor: Actor = { kind: 'system', name: `invite:${record.id}` };
    try {
      await this.#users.create(
        { username, password, role: record.role, displayName: record.household, zones: record.zones },
        actor,
      );
    } catch (err) {
      this.#repo.unclaim(record.id, username);
      throw err;
    }
    this.#codes.delete(record.id);
    this.#bus.emit('audit', {
      actor: { kind: 'user', name: username },
      action: 'invite.accepted',
      target: record.id,
      data: { household: record.household, role: record.role, createdBy: record.createdBy },
    });
    // The login limiter of the users service applies here too: an address locked out by failed
    // logins gets 429, and the new account (which exists now) logs in later as usual.
    return this.#users.login(username, password, address);
  }

  /** The invitation behind a code, if it may be used now; failed look-ups count against the address. */
  #usable(code: string, address: string): InviteRecord {
    const key = `invite:${address}`;
    const wait = this.#limiter.retryAfterSec(key, address);
    if (wait > 0)
      throw new KhuError('KHU_RATE_LIMITED', `too many wrong invitation codes; try again in ${wait} s`, {
        retryAfterSec: wait,
      });
    this.#limiter.failed(key, address);
    const record = this.#repo.byCodeHash(hashCode(code));
    if (!record)
      throw new KhuError(
        'KHU_INVITE_NOT_FOUND',
        'no invitation has this code; ask the area head for a new one',
      );
    this.#limiter.succeeded(key, address);
    this.#refuseUnlessPending(record);
    return record;
  }

  #refuseUnlessPending(record: InviteRecord): void {
    switch (this.#status(record)) {
      case 'used':
        throw new KhuError(
          'KHU_INVITE_USED',
          'this invitation has been used already; ask the area head for a new one',
        );
      case 'revoked':
        throw new KhuError(
          'KHU_INVITE_REVOKED',
          'this invitation was withdrawn; ask the area head for a new one',
        );
      case 'expired':
        throw new KhuError(
          'KHU_INVITE_EXPIRED',
          'this invitation has expired; ask the area head for a new one',
        );
      case 'pending':
        return;
    }
  }

  #find(id: string): InviteRecord {
    const record = this.#repo.get(id);
    if (!record) throw new KhuError('KHU_INVITE_NOT_FOUND', `invitation ${id} not found`);
    return record;
  }

  #status(r: InviteRecord): InviteStatus {
    if (r.revokedAt) return 'revoked';
    if (r.usedAt) return 'used';
    return r.expiresAt <= this.#now().toISOString() ? 'expired' : 'pending';
  }

  #view(r: InviteRecord): InviteView {
    return {
      id: r.id,
      role: r.role,
      household: r.household,
      zones: r.zones,
      status: this.#status(r),
      createdBy: r.createdBy,
      createdAt: r.createdAt,
      expiresAt: r.expiresAt,
      usedAt: r.usedAt,
      usedBy: r.usedBy,
      revokedAt: r.revokedAt,
    };
  }

  #hold(id: string, url: string): void {
    this.#codes.set(id, url);
    while (this.#codes.size > MAX_HELD_CODES) {
      const oldest = this.#codes.keys().next().value;
      if (oldest === undefined) break;
      this.#codes.delete(oldest);
    }
  }

  #exists(username: string): boolean {
    try {
      this.#users.get(username);
      return true;
    } catch {
      return false;
    }
  }

  #freeUsername(base: string): string {
    if (!this.#exists(base)) return base;
    for (let n = 2; ; n++) {
      const candidate = `${base.slice(0, 28)}-${n}`;
      if (!this.#exists(candidate)) return candidate;
    }
  }
}
