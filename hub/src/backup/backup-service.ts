import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Config } from '../config/schema.js';
import type { Actor, EventBus } from '../core/event-bus.js';
import type { Logger } from '../core/log.js';
import type { Db } from '../store/db.js';
import { tarHeader, tarPadding, tarTrailer } from './tar.js';

/** What `khu-backup.json`, the first file of every backup, says. */
export interface BackupManifest {
  format: 'khu-backup';
  formatVersion: 1;
  createdAt: string;
  hubVersion: string;
  /** The highest database migration applied: a restore refuses a backup newer than its code. */
  schemaVersion: number;
  site: string;
  files: string[];
}

export const BACKUP_MANIFEST = 'khu-backup.json';
export const BACKUP_DB = 'khu.db';
export const BACKUP_CONFIG_EFFECTIVE = 'config/effective.json';
export const BACKUP_CONFIG_FILE = 'config/khu.yaml';

/**
 * A consistent backup of a running hub: SQLite's online backup API copies the database into a
 * temporary file (writers carry on meanwhile), which is streamed out in a tar with the
 * configuration. Recordings are not included: they are large, and the index in the database is
 * reconciled with whatever files exist when a restored hub starts.
 */
export class BackupService {
  #db: Db;
  #config: Config;
  #configFile: string | undefined;
  #version: string;
  #bus: EventBus;
  #log: Logger;

  constructor(deps: {
    db: Db;
    config: Config;
    /** The YAML file named by KHU_CONFIG, if any: packed as it is. */
    configFile?: string;
    version: string;
    bus: EventBus;
    log: Logger;
  }) {
    this.#db = deps.db;
    this.#config = deps.config;
    this.#configFile = deps.configFile;
    this.#version = deps.version;
    this.#bus = deps.bus;
    this.#log = deps.log;
  }

  /** Make the database copy now, then stream the archive; the temporary copy goes when the stream ends or is dropped. */
  async create(actor: Actor): Promise<{ filename: string; stream: Readable }> {
    // In the data dir rather than /tmp: same disk as the database, and /tmp may be a small tmpfs.
    const dir = mkdtempSync(join(this.#config.dataDir, '.backup-'));
    const dbCopy = join(dir, BACKUP_DB);
    try {
      await this.#db.backup(dbCopy);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    const createdAt = new Date().toISOString();
    const schemaVersion = (
      this.#db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number }
    ).v;
    const extra: Array<{ name: string; data: Buffer }> = [
      { name: BACKUP_CONFIG_EFFECTIVE, data: Buffer.from(`${JSON.stringify(this.#config, null, 2)}\n`) },
    ];
    if (this.#configFile && existsSync(this.#configFile))
      extra.push({ name: BACKUP_CONFIG_FILE, data: readFileSync(this.#configFile) });
    const manifest: BackupManifest = {
      format: 'khu-backup',
      formatVersion: 1,
      createdAt,
      hubVersion: this.#version,
      schemaVersion,
      site: this.#config.site.name,
      files: [BACKUP_DB, ...extra.map((e) => e.name)],
    };
    const manifestData = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
    const size = statSync(dbCopy).size;
    const log = this.#log;

    async function* archive(): AsyncGenerator<Buffer> {
      yield tarHeader({ name: BACKUP_MANIFEST, size: manifestData.length });
      yield manifestData;
      yield tarPadding(manifestData.length);
      yield tarHeader({ name: BACKUP_DB, size });
      for await (const chunk of createReadStream(dbCopy)) yield chunk as Buffer;
      yield tarPadding(size);
      for (const e of extra) {
        yield tarHeader({ name: e.name, size: e.data.length });
        yield e.data;
        yield tarPadding(e.data.length);
      }
      yield tarTrailer();
    }
    const stream = Readable.from(archive(), { objectMode: false });
    // 'close' comes after the end and after a dropped download alike.
    stream.once('close', () => {
      rmSync(dir, { recursive: true, force: true });
      log.debug({ dir }, 'backup copy removed');
    });

    this.#bus.emit('audit', { actor, action: 'hub.backup', data: { bytes: size, schemaVersion } });
    this.#log.info({ bytes: size }, 'backup made');
    const stamp = createdAt.replace(/[:.]/g, '-');
    return { filename: `khu-backup-${stamp}.tar`, stream };
  }
}
