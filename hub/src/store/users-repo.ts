import { randomInt } from 'node:crypto';
import type { Db } from './db.js';

export const ROLES = ['resident', 'head', 'technician', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface UserRecord {
  username: string;
  role: Role;
  passwordHash: string;
  displayName: string;
  /** Zones this user may switch; empty = all. */
  zones: string[];
  tokenVersion: number;
  createdAt: string;
}

interface Row {
  username: string;
  role: Role;
  password_hash: string;
  display_name: string;
  zones: string;
  token_version: number;
  created_at: string;
}

const toRecord = (r: Row): UserRecord => ({
  username: r.username,
  role: r.role,
  passwordHash: r.password_hash,
  displayName: r.display_name,
  zones: JSON.parse(r.zones) as string[],
  tokenVersion: r.token_version,
  createdAt: r.created_at,
});

export class UsersRepo {
  #db: Db;
  #get;

  constructor(db: Db) {
    this.#db = db;
    // Read on every authenticated request: prepared once.
    this.#get = db.prepare<[string], Row>('SELECT * FROM users WHERE username = ?');
  }

  get(username: string): UserRecord | undefined {
    const row = this.#get.get(username);
    return row && toRecord(row);
  }

  list(): UserRecord[] {
    return this.#db.prepare<[], Row>('SELECT * FROM users ORDER BY username').all().map(toRecord);
  }

  count(): number {
    return (this.#db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
  }

  /**
   * The token version starts at a random number: tokens of a removed account never fit a new
   * account that later takes the same username.
   */
  insert(u: Omit<UserRecord, 'tokenVersion'>): number {
    const tokenVersion = randomInt(1, 2 ** 47);
    this.#db
      .prepare(
        `INSERT INTO users (username, role, password_hash, display_name, zones, token_version, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        u.username,
        u.role,
        u.passwordHash,
        u.displayName,
        JSON.stringify(u.zones),
        tokenVersion,
        u.createdAt,
      );
    return tokenVersion;
  }

  /** Changing the password also ends every session of the user. */
  setPassword(username: string, passwordHash: string): void {
    this.#db
      .prepare('UPDATE users SET password_hash = ?, token_version = token_version + 1 WHERE username = ?')
      .run(passwordHash, username);
  }

  remove(username: string): boolean {
    return this.#db.prepare('DELETE FROM users WHERE username = ?').run(username).changes > 0;
  }
}
