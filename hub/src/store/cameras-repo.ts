import type { Db } from './db.js';

export interface CameraRecord {
  id: string;
  name: string;
  kind: 'onvif' | 'rtsp';
  onvifAddress: string | null;
  username: string | null;
  password: string | null;
  mainUri: string;
  subUri: string | null;
  snapshotUri: string | null;
  /** What the camera told us about itself (manufacturer, model, profiles…). */
  info: Record<string, unknown>;
  retentionDays: number | null;
  createdAt: string;
}

export interface SegmentRecord {
  id: number;
  cameraId: string;
  start: string;
  end: string;
  durationMs: number;
  bytes: number;
  path: string;
  complete: boolean;
}

interface CameraRow {
  id: string;
  name: string;
  kind: 'onvif' | 'rtsp';
  onvif_address: string | null;
  username: string | null;
  password: string | null;
  main_uri: string;
  sub_uri: string | null;
  snapshot_uri: string | null;
  info: string;
  retention_days: number | null;
  created_at: string;
}

interface SegmentRow {
  id: number;
  camera_id: string;
  start: string;
  end: string;
  duration_ms: number;
  bytes: number;
  path: string;
  complete: number;
}

const toCamera = (r: CameraRow): CameraRecord => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  onvifAddress: r.onvif_address,
  username: r.username,
  password: r.password,
  mainUri: r.main_uri,
  subUri: r.sub_uri,
  snapshotUri: r.snapshot_uri,
  info: JSON.parse(r.info) as Record<string, unknown>,
  retentionDays: r.retention_days,
  createdAt: r.created_at,
});

const toSegment = (r: SegmentRow): SegmentRecord => ({
  id: r.id,
  cameraId: r.camera_id,
  start: r.start,
  end: r.end,
  durationMs: r.duration_ms,
  bytes: r.bytes,
  path: r.path,
  complete: r.complete === 1,
});

/** Cameras and the index of their recorded segments. */
export class CamerasRepo {
  #db: Db;
  #insertSegment;
  #range;

  constructor(db: Db) {
    this.#db = db;
    this.#insertSegment = db.prepare(
      `INSERT INTO segments (camera_id, start, end, duration_ms, bytes, path, complete)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(path) DO UPDATE SET end = excluded.end, duration_ms = excluded.duration_ms,
         bytes = excluded.bytes, complete = excluded.complete`,
    );
    // Segments overlapping [from, to): those that end after `from` and start before `to`.
    this.#range = db.prepare<[string, string, string], SegmentRow>(
      'SELECT * FROM segments WHERE camera_id = ? AND end > ? AND start < ? ORDER BY start',
    );
  }

  listCameras(): CameraRecord[] {
    return this.#db.prepare<[], CameraRow>('SELECT * FROM cameras ORDER BY name, id').all().map(toCamera);
  }

  getCamera(id: string): CameraRecord | undefined {
    const row = this.#db.prepare<[string], CameraRow>('SELECT * FROM cameras WHERE id = ?').get(id);
    return row && toCamera(row);
  }

  insertCamera(c: CameraRecord): void {
    this.#db
      .prepare(
        `INSERT INTO cameras (id, name, kind, onvif_address, username, password, main_uri, sub_uri,
           snapshot_uri, info, retention_days, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        c.id,
        c.name,
        c.kind,
        c.onvifAddress,
        c.username,
        c.password,
        c.mainUri,
        c.subUri,
        c.snapshotUri,
        JSON.stringify(c.info),
        c.retentionDays,
        c.createdAt,
      );
  }

  /** The camera and its segment index; the files are the caller's to remove. */
  removeCamera(id: string): boolean {
    return this.#db.prepare('DELETE FROM cameras WHERE id = ?').run(id).changes > 0;
  }

  /** Insert a segment, or update it (same path) as ffmpeg finishes writing it. */
  upsertSegment(s: Omit<SegmentRecord, 'id'>): void {
    this.#insertSegment.run(s.cameraId, s.start, s.end, s.durationMs, s.bytes, s.path, s.complete ? 1 : 0);
  }

  segments(cameraId: string, from: string, to: string): SegmentRecord[] {
    return this.#range.all(cameraId, from, to).map(toSegment);
  }

  allSegmentPaths(cameraId: string): Array<{ id: number; path: string; complete: boolean }> {
    return this.#db
      .prepare<[string], { id: number; path: string; complete: number }>(
        'SELECT id, path, complete FROM segments WHERE camera_id = ? ORDER BY start',
      )
      .all(cameraId)
      .map((r) => ({ id: r.id, path: r.path, complete: r.complete === 1 }));
  }

  /** The oldest segments across cameras (for the free-space sweeper), or of one camera before a time. */
  oldestSegments(limit: number, cameraId?: string, before?: string): SegmentRecord[] {
    const where: string[] = ['complete = 1'];
    const args: Array<string | number> = [];
    if (cameraId) {
      where.push('camera_id = ?');
      args.push(cameraId);
    }
    if (before) {
      where.push('end <= ?');
      args.push(before);
    }
    args.push(limit);
    return this.#db
      .prepare<Array<string | number>, SegmentRow>(
        `SELECT * FROM segments WHERE ${where.join(' AND ')} ORDER BY start LIMIT ?`,
      )
      .all(...args)
      .map(toSegment);
  }

  removeSegments(ids: number[]): void {
    const del = this.#db.prepare('DELETE FROM segments WHERE id = ?');
    this.#db.transaction(() => {
      for (const id of ids) del.run(id);
    })();
  }

  getSegment(cameraId: string, id: number): SegmentRecord | undefined {
    const row = this.#db
      .prepare<[string, number], SegmentRow>('SELECT * FROM segments WHERE camera_id = ? AND id = ?')
      .get(cameraId, id);
    return row && toSegment(row);
  }

  lastSegment(cameraId: string): SegmentRecord | undefined {
    const row = this.#db
      .prepare<[string], SegmentRow>('SELECT * FROM segments WHERE camera_id = ? ORDER BY start DESC LIMIT 1')
      .get(cameraId);
    return row && toSegment(row);
  }
}
