import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RetentionSweeper } from '../../hub/src/recording/retention.js';
import { CamerasRepo } from '../../hub/src/store/cameras-repo.js';
import { type Db, openDatabase } from '../../hub/src/store/db.js';

const NOW = Date.parse('2026-11-26T12:00:00.000Z');
const DAY = 86_400_000;
const SEGMENT_BYTES = 1000;

let dir: string;
let db: Db;
let repo: CamerasRepo;

function camera(id: string, retentionDays: number | null): void {
  repo.insertCamera({
    id,
    name: id,
    kind: 'rtsp',
    onvifAddress: null,
    username: null,
    password: null,
    mainUri: `rtsp://127.0.0.1/${id}`,
    subUri: null,
    snapshotUri: null,
    info: {},
    retentionDays,
    createdAt: new Date(NOW - 60 * DAY).toISOString(),
  });
  mkdirSync(join(dir, 'rec', id), { recursive: true });
}

/** A real file of SEGMENT_BYTES and its index row, `ageDays` old. */
function segment(cameraId: string, ageDays: number, complete = true): string {
  const start = new Date(NOW - ageDays * DAY).toISOString();
  const path = join(cameraId, `${start.replace(/[:.]/g, '')}.mp4`);
  writeFileSync(join(dir, 'rec', path), Buffer.alloc(SEGMENT_BYTES));
  repo.upsertSegment({
    cameraId,
    start,
    end: new Date(Date.parse(start) + 10_000).toISOString(),
    durationMs: 10_000,
    bytes: SEGMENT_BYTES,
    path,
    complete,
  });
  return path;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'khu-ret-'));
  db = openDatabase(join(dir, 'khu.db'));
  repo = new CamerasRepo(db);
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const sweeper = (minFreeBytes: number, free: () => number) =>
  new RetentionSweeper({
    repo,
    log: pino({ level: 'silent' }),
    options: { dir: join(dir, 'rec'), retentionDays: 30, minFreeBytes },
    freeBytes: async () => free(),
    now: () => NOW,
  });

describe('RetentionSweeper', () => {
  it('deletes segments past each camera’s retention, files and index together', async () => {
    camera('gate', null); // the site's 30 days
    camera('market', 7);
    const keep = [segment('gate', 29), segment('market', 6)];
    const gone = [segment('gate', 31), segment('market', 8)];
    const result = await sweeper(0, () => 1e12).sweep();
    expect(result).toMatchObject({ deletedByAge: 2, deletedForSpace: 0, freedBytes: 2 * SEGMENT_BYTES });
    for (const p of keep) expect(existsSync(join(dir, 'rec', p))).toBe(true);
    for (const p of gone) expect(existsSync(join(dir, 'rec', p))).toBe(false);
    expect(
      repo
        .oldestSegments(10)
        .map((s) => s.path)
        .sort(),
    ).toEqual([...keep].sort());
  });

  it('deletes the oldest recordings of any camera first while free space is under the floor', async () => {
    camera('gate', null);
    camera('market', null);
    const oldest = segment('market', 5);
    const next = segment('gate', 4);
    const newest = segment('gate', 1);
    // A simulated disk: 500 bytes free, and each deleted segment frees its bytes.
    const free = () => 500 + (3 - repo.oldestSegments(10).length) * SEGMENT_BYTES;
    const result = await sweeper(2500, free).sweep();
    expect(result).toMatchObject({ deletedByAge: 0, deletedForSpace: 2, stillShort: false });
    expect(existsSync(join(dir, 'rec', oldest))).toBe(false);
    expect(existsSync(join(dir, 'rec', next))).toBe(false);
    expect(existsSync(join(dir, 'rec', newest))).toBe(true);
  });

  it('never deletes the segment being written, and says so when the disk stays full', async () => {
    camera('gate', null);
    const writing = segment('gate', 0, false);
    const result = await sweeper(1e15, () => 0).sweep();
    expect(result).toMatchObject({ deletedForSpace: 0, stillShort: true });
    expect(existsSync(join(dir, 'rec', writing))).toBe(true);
  });

  it('drops the index row of a file that is already gone', async () => {
    camera('gate', null);
    const p = segment('gate', 40);
    rmSync(join(dir, 'rec', p));
    const result = await sweeper(0, () => 1e12).sweep();
    expect(result).toMatchObject({ deletedByAge: 1, freedBytes: 0 });
    expect(repo.oldestSegments(10)).toEqual([]);
  });
});
