import { randomBytes } from 'node:crypto';
import { badRequest, conflict, KhuError, notFound } from '../core/errors.js';
import type { Actor, EventBus } from '../core/event-bus.js';
import type { Logger } from '../core/log.js';
import type { HubModule } from '../core/module.js';
import type { SettingsRepo } from '../store/settings-repo.js';
import type { UserRecord, UsersRepo } from '../store/users-repo.js';
import { LoginLimiter } from './login-limiter.js';
import { generatePassword, hashPassword, verifyPassword } from './passwords.js';
import type { Role } from './roles.js';
import { TokenSigner } from './tokens.js';

export interface User {
  username: string;
  role: Role;
  displayName: string;
  zones: string[];
}

export interface NewUser {
  username: string;
  password: string;
  role: Role;
  displayName?: string;
  zones?: string[];
}

export const USERNAME_PATTERN = /^[a-z0-9][a-z0-9._-]{1,31}$/;
export const MIN_PASSWORD = 6;

const toUser = (u: UserRecord): User => ({
  username: u.username,
  role: u.role,
  displayName: u.displayName,
  zones: u.zones,
});

/**
 * People: accounts with a role and zones, scrypt password hashes, signed expiring tokens, and
 * login attempts limited per username and per address.
 */
export class UsersService implements HubModule {
  readonly name = 'users';
  #repo: UsersRepo;
  #settings: SettingsRepo;
  #bus: EventBus;
  #log: Logger;
  #ttlSec: number;
  #limiter: LoginLimiter;
  #signer: TokenSigner | undefined;
  // A hash to compare against when the user does not exist, so timing does not tell.
  #dummyHash: Promise<string> | undefined;

  constructor(deps: {
    repo: UsersRepo;
    settings: SettingsRepo;
    bus: EventBus;
    log: Logger;
    tokenTtlHours: number;
    loginMaxAttempts: number;
    loginWindowSec: number;
  }) {
    this.#repo = deps.repo;
    this.#settings = deps.settings;
    this.#bus = deps.bus;
    this.#log = deps.log;
    this.#ttlSec = deps.tokenTtlHours * 3600;
    this.#limiter = new LoginLimiter(deps.loginMaxAttempts, deps.loginWindowSec);
  }

  start(): void {
    let secret = this.#settings.get('token_secret');
    if (!secret) {
      secret = randomBytes(32).toString('base64url');
      this.#settings.set('token_secret', secret);
    }
    this.#signer = new TokenSigner(Buffer.from(secret, 'base64url'));
  }

  stop(): void {}

  /**
   * On a fresh database, create `admin` with the given password, or a generated one that is
   * returned so the caller can print it once.
   */
  async ensureAdmin(password: string | undefined): Promise<{ created: boolean; generatedPassword?: string }> {
    // Only on a fresh database: an admin removed on purpose must not come back at a restart.
    if (this.#repo.count() > 0) return { created: false };
    const generated = password ? undefined : generatePassword();
    await this.create(
      { username: 'admin', password: password ?? generated!, role: 'admin', displayName: 'Quản trị' },
      { kind: 'system', name: 'first-start' },
    );
    return { created: true, generatedPassword: generated };
  }

  async login(
    username: string,
    password: string,
    address: string,
  ): Promise<{ token: string; user: User; expiresAt: string }> {
    const name = username.trim().toLowerCase();
    const wait = this.#limiter.retryAfterSec(name, address);
    if (wait > 0) {
      // Not an event: refused attempts cost the sender nothing and would fill the log.
      this.#log.info({ username: name, address }, 'login refused: too many failures');
      throw new KhuError('KHU_RATE_LIMITED', `too many failed logins; try again in ${wait} s`, {
        retryAfterSec: wait,
      });
    }
    // Counted before the slow password check, so that guesses sent in parallel are limited too.
    this.#limiter.failed(name, address);
    const record = this.#repo.get(name);
    // An unknown user costs the same scrypt as a known one, so timing does not tell them apart.
    const checked = await verifyPassword(password, record?.passwordHash ?? (await this.#dummy()));
    const ok = record !== undefined && checked;
    if (!record || !ok) {
      this.#bus.emit('userLogin', { username: name, ok: false, address, reason: 'bad credentials' });
      throw new KhuError('KHU_UNAUTHORIZED', 'wrong username or password');
    }
    this.#limiter.succeeded(name, address);
    this.#bus.emit('userLogin', { username: name, ok: true, address });
    const now = Math.floor(Date.now() / 1000);
    const exp = now + this.#ttlSec;
    const token = this.#signer!.sign({ sub: record.username, ver: record.tokenVersion, iat: now, exp });
    return { token, user: toUser(record), expiresAt: new Date(exp * 1000).toISOString() };
  }

  /** The user behind a token, read fresh (role, zones); undefined when the token is not valid now. */
  authenticate(token: string): User | undefined {
    const claims = this.#signer?.verify(token);
    if (!claims) return undefined;
    const record = this.#repo.get(claims.sub);
    if (!record || record.tokenVersion !== claims.ver) return undefined;
    return toUser(record);
  }

  list(): User[] {
    return this.#repo.list().map(toUser);
  }

  async create(u: NewUser, actor: Actor): Promise<User> {
    const username = u.username.trim().toLowerCase();
    if (!USERNAME_PATTERN.test(username)) {
      throw badRequest(
        'username: 2–32 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit',
      );
    }
    if (u.password.length < MIN_PASSWORD) throw badRequest(`password: at least ${MIN_PASSWORD} characters`);
    if (this.#repo.get(username)) throw conflict(`user ${username} exists already`);
    const record = {
      username,
      role: u.role,
      passwordHash: await hashPassword(u.password),
      displayName: u.displayName ?? '',
      zones: u.zones ?? [],
      createdAt: new Date().toISOString(),
    };
    const tokenVersion = this.#repo.insert(record);
    this.#bus.emit('audit', { actor, action: 'user.created', target: username, data: { role: u.role } });
    this.#log.info({ username, role: u.role }, 'user created');
    return toUser({ ...record, tokenVersion });
  }

  get(username: string): User {
    const record = this.#repo.get(username);
    if (!record) throw notFound(`user ${username}`);
    return toUser(record);
  }

  remove(username: string, actor: Actor): void {
    if (!this.#repo.remove(username)) throw notFound(`user ${username}`);
    this.#bus.emit('audit', { actor, action: 'user.removed', target: username });
  }

  async setPassword(username: string, password: string, actor: Actor): Promise<void> {
    if (password.length < MIN_PASSWORD) throw badRequest(`password: at least ${MIN_PASSWORD} characters`);
    if (!this.#repo.get(username)) throw notFound(`user ${username}`);
    this.#repo.setPassword(username, await hashPassword(password));
    this.#bus.emit('audit', { actor, action: 'user.password_changed', target: username });
  }

  #dummy(): Promise<string> {
    this.#dummyHash ??= hashPassword(randomBytes(12).toString('hex'));
    return this.#dummyHash;
  }
}
