import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CamerasRepo } from '../../hub/src/store/cameras-repo.js';
import { type Db, openDatabase } from '../../hub/src/store/db.js';

let dir: string;
let db: Db;
let repo: CamerasRepo;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'khu-cams-'));
  db = openDatabase(join(dir, 'khu.db'));
  repo = new CamerasRepo(db);
  repo.insertCamera({
    id: 'cong-chinh',
    name: 'Cổng chính',
    kind: 'onvif',
    onvifAddress: '127.0.0.2:8000',
    username: 'admin',
    password: 'cam-secret',
    mainUri: 'rtsp://127.0.0.2:8554/main',
    subUri: 'rtsp://127.0.0.2:8554/sub',
    snapshotUri: null,
    info: { manufacturer: 'Khu Sim' },
    retentionDays: null,
    createdAt: '2026-11-26T00:00:00.000Z',
  });
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const segment = (start: string, end: string, complete = true) => ({
  cameraId: 'cong-chinh',
  start: `2026-11-26T10:${start}.000Z`,
  end: `2026-11-26T10:${end}.000Z`,
  durationMs: 10_000,
  bytes: 2_500_000,
  path: `cong-chinh/20261126T10${start.replace(':', '')}Z.mp4`,
  complete,
});

describe('CamerasRepo', () => {
  it('keeps a camera with what it said about itself', () => {
    expect(repo.getCamera('cong-chinh')).toMatchObject({
      name: 'Cổng chính',
      info: { manufacturer: 'Khu Sim' },
    });
    expect(repo.listCameras()).toHaveLength(1);
  });

  it('indexes the segment being written, then completes it in place', () => {
    repo.upsertSegment(segment('00:00', '00:04', false));
    expect(repo.lastSegment('cong-chinh')).toMatchObject({ complete: false });
    repo.upsertSegment(segment('00:00', '00:10'));
    const all = repo.segments('cong-chinh', '2026-11-26T00:00:00.000Z', '2026-11-27T00:00:00.000Z');
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ end: '2026-11-26T10:00:10.000Z', complete: true });
  });

  it('answers the segments overlapping a range, oldest first', () => {
    for (const [a, b] of [
      ['00:20', '00:30'],
      ['00:00', '00:10'],
      ['00:10', '00:20'],
    ] as const)
      repo.upsertSegment(segment(a, b));
    const inRange = repo.segments('cong-chinh', '2026-11-26T10:00:05.000Z', '2026-11-26T10:00:15.000Z');
    expect(inRange.map((s) => s.start.slice(14, 19))).toEqual(['00:00', '00:10']);
    expect(repo.oldestSegments(2).map((s) => s.start.slice(14, 19))).toEqual(['00:00', '00:10']);
  });

  it('never offers the segment being written for deletion', () => {
    repo.upsertSegment(segment('00:00', '00:10', false));
    expect(repo.oldestSegments(10)).toEqual([]);
  });

  it('drops the index of a camera with it', () => {
    repo.upsertSegment(segment('00:00', '00:10'));
    expect(repo.removeCamera('cong-chinh')).toBe(true);
    expect(repo.allSegmentPaths('cong-chinh')).toEqual([]);
  });
});
