import type { Db } from './db.js';
import type { Role } from './users-repo.js';

export interface InviteRecord {
  id: string;
  /** SHA-256 of the code, hex. */
  codeHash: string;
  role: Role;
  household: string;
  zones: string[];
  createdBy: string;
  createdAt: string;
  expiresAt: string;
  usedAt: string | null;
  usedBy: string | null;
  revokedAt: string | null;
  revokedBy: string | null;
}

interface Row {
  id: string;
  code_hash: string;
  role: Role;
  household: string;
  zones: string;
  created_by: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
  used_by: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
}

const toRecord = (r: Row): InviteRecord => ({
  id: r.id,
  codeHash: r.code_hash,
  role: r.role,
  household: r.household,
  zones: JSON.parse(r.zones) as string[],
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  usedAt: r.used_at,
  usedBy: r.used_by,
  revokedAt: r.revoked_at,
  revokedBy: r.revoked_by,
});

export class InvitesRepo {
  #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  insert(i: Omit<InviteRecord, 'usedAt' | 'usedBy' | 'revokedAt' | 'revokedBy'>): void {
    this.#db
      .prepare(
        `INSERT INTO invites (id, code_hash, role, household, zones, created_by, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        i.id,
        i.codeHash,
        i.role,
        i.household,
        JSON.stringify(i.zones),
        i.createdBy,
        i.createdAt,
        i.expiresAt,
      );
  }

  get(id: string): InviteRecord | undefined {
    const row = this.#db.prepare<[string], Row>('SELECT * FROM invites WHERE id = ?').get(id);
    return row && toRecord(row);
  }

  byCodeHash(codeHash: string): InviteRecord | undefined {
    const row = this.#db.prepare<[string], Row>('SELECT * FROM invites WHERE code_hash = ?').get(codeHash);
    return row && toRecord(row);
  }

  /** Newest first. */
  list(limit = 500): InviteRecord[] {
    return this.#db
      .prepare<[number], Row>('SELECT * FROM invites ORDER BY created_at DESC, id LIMIT ?')
      .all(limit)
      .map(toRecord);
  }

  /**
   * Take a pending invitation for `username`, atomically: false when it was used, revoked or
   * expired meanwhile (two phones accepting the same code at once: only one wins).
   */
  claim(id: string, username: string, now: string): boolean {
    return (
      this.#db
        .prepare(
          `UPDATE invites SET used_at = ?, used_by = ?
           WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?`,
        )
        .run(now, username, id, now).changes === 1
    );
  }

  /** Undo a claim whose account could not be created after all. */
  unclaim(id: string, username: string): void {
    this.#db
      .prepare('UPDATE invites SET used_at = NULL, used_by = NULL WHERE id = ? AND used_by = ?')
      .run(id, username);
  }

  revoke(id: string, by: string, now: string): boolean {
    return (
      this.#db
        .prepare(
          `UPDATE invites SET revoked_at = ?, revoked_by = ?
           WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?`,
        )
        .run(now, by, id, now).changes === 1
    );
  }
}
