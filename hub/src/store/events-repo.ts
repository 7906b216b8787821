import type { Db } from './db.js';

export interface EventRecord {
  id: number;
  at: string;
  type: string;
  actor: string | null;
  target: string | null;
  message: string;
  data: Record<string, unknown> | null;
}

export type NewEvent = Omit<EventRecord, 'id'>;

export interface EventQuery {
  /** Exact types and type families (`alarm.` prefixes): an event of any of them matches. */
  types?: string[];
  typePrefixes?: string[];
  actor?: string;
  target?: string;
  from?: string;
  to?: string;
  /** Page backwards from this id (exclusive). */
  before?: number;
  limit: number;
}

interface Row {
  id: number;
  at: string;
  type: string;
  actor: string | null;
  target: string | null;
  message: string;
  data: string | null;
}

export class EventsRepo {
  #db: Db;
  #insert;

  constructor(db: Db) {
    this.#db = db;
    this.#insert = db.prepare(
      'INSERT INTO events (at, type, actor, target, message, data) VALUES (?, ?, ?, ?, ?, ?)',
    );
  }

  insertMany(events: NewEvent[]): void {
    this.#db.transaction(() => {
      for (const e of events) {
        this.#insert.run(e.at, e.type, e.actor, e.target, e.message, e.data ? JSON.stringify(e.data) : null);
      }
    })();
  }

  /** Newest first. */
  query(q: EventQuery): EventRecord[] {
    const where: string[] = [];
    const args: Array<string | number> = [];
    const kinds: string[] = [];
    if (q.types?.length) {
      kinds.push(`type IN (${q.types.map(() => '?').join(', ')})`);
      args.push(...q.types);
    }
    for (const prefix of q.typePrefixes ?? []) {
      kinds.push('substr(type, 1, ?) = ?');
      args.push(prefix.length, prefix);
    }
    if (kinds.length) where.push(`(${kinds.join(' OR ')})`);
    if (q.actor) {
      where.push('actor = ?');
      args.push(q.actor);
    }
    if (q.target) {
      where.push('target = ?');
      args.push(q.target);
    }
    if (q.from) {
      where.push('at >= ?');
      args.push(q.from);
    }
    if (q.to) {
      where.push('at < ?');
      args.push(q.to);
    }
    if (q.before !== undefined) {
      where.push('id < ?');
      args.push(q.before);
    }
    const sql = `SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    args.push(q.limit);
    return this.#db
      .prepare<Array<string | number>, Row>(sql)
      .all(...args)
      .map((r) => ({ ...r, data: r.data ? (JSON.parse(r.data) as Record<string, unknown>) : null }));
  }
}
