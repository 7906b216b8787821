import type { PowerState } from '../protocol/tasmota.js';
import type { Db } from './db.js';

export interface DeviceRecord {
  id: string;
  name: string;
  kind: 'tasmota';
  channels: number;
  secretHash: string;
  createdAt: string;
  lastSeen: string | null;
}

export interface LightRecord {
  id: string;
  deviceId: string;
  channel: number;
  name: string;
  zone: string;
  desired: PowerState | null;
  desiredBy: string | null;
  desiredAt: string | null;
  reported: PowerState | null;
  reportedAt: string | null;
}

interface DeviceRow {
  id: string;
  name: string;
  kind: 'tasmota';
  channels: number;
  secret_hash: string;
  created_at: string;
  last_seen: string | null;
}

interface LightRow {
  id: string;
  device_id: string;
  channel: number;
  name: string;
  zone: string;
  desired: PowerState | null;
  desired_by: string | null;
  desired_at: string | null;
  reported: PowerState | null;
  reported_at: string | null;
}

const toDevice = (r: DeviceRow): DeviceRecord => ({
  id: r.id,
  name: r.name,
  kind: r.kind,
  channels: r.channels,
  secretHash: r.secret_hash,
  createdAt: r.created_at,
  lastSeen: r.last_seen,
});

const toLight = (r: LightRow): LightRecord => ({
  id: r.id,
  deviceId: r.device_id,
  channel: r.channel,
  name: r.name,
  zone: r.zone,
  desired: r.desired,
  desiredBy: r.desired_by,
  desiredAt: r.desired_at,
  reported: r.reported,
  reportedAt: r.reported_at,
});

/** Relays and their channels (lights): one repository, since a light never outlives its device. */
export class DevicesRepo {
  #db: Db;
  #setDesired;
  #setReported;
  #seen;

  constructor(db: Db) {
    this.#db = db;
    this.#setDesired = db.prepare(
      'UPDATE lights SET desired = ?, desired_by = ?, desired_at = ? WHERE id = ?',
    );
    this.#setReported = db.prepare('UPDATE lights SET reported = ?, reported_at = ? WHERE id = ?');
    this.#seen = db.prepare('UPDATE devices SET last_seen = ? WHERE id = ?');
  }

  listDevices(): DeviceRecord[] {
    return this.#db.prepare<[], DeviceRow>('SELECT * FROM devices ORDER BY id').all().map(toDevice);
  }

  listLights(): LightRecord[] {
    return this.#db
      .prepare<[], LightRow>('SELECT * FROM lights ORDER BY zone, device_id, channel')
      .all()
      .map(toLight);
  }

  /** A device and its lights, in one transaction. */
  insertDevice(device: Omit<DeviceRecord, 'lastSeen'>, lights: LightRecord[]): void {
    this.#db.transaction(() => {
      this.#db
        .prepare(
          'INSERT INTO devices (id, name, kind, channels, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)',
        )
        .run(device.id, device.name, device.kind, device.channels, device.secretHash, device.createdAt);
      const insert = this.#db.prepare(
        'INSERT INTO lights (id, device_id, channel, name, zone) VALUES (?, ?, ?, ?, ?)',
      );
      for (const l of lights) insert.run(l.id, device.id, l.channel, l.name, l.zone);
    })();
  }

  lightIdTaken(id: string): boolean {
    return this.#db.prepare('SELECT 1 FROM lights WHERE id = ?').get(id) !== undefined;
  }

  removeDevice(id: string): boolean {
    return this.#db.prepare('DELETE FROM devices WHERE id = ?').run(id).changes > 0;
  }

  setSecret(id: string, secretHash: string): void {
    this.#db.prepare('UPDATE devices SET secret_hash = ? WHERE id = ?').run(secretHash, id);
  }

  setDesired(updates: Array<{ id: string; desired: PowerState; by: string; at: string }>): void {
    this.#db.transaction(() => {
      for (const u of updates) this.#setDesired.run(u.desired, u.by, u.at, u.id);
    })();
  }

  setReported(updates: Array<{ id: string; reported: PowerState; at: string }>): void {
    this.#db.transaction(() => {
      for (const u of updates) this.#setReported.run(u.reported, u.at, u.id);
    })();
  }

  setLastSeen(updates: Array<{ id: string; at: string }>): void {
    this.#db.transaction(() => {
      for (const u of updates) this.#seen.run(u.at, u.id);
    })();
  }
}
