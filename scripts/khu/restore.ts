import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import {
  BACKUP_CONFIG_EFFECTIVE,
  BACKUP_CONFIG_FILE,
  BACKUP_DB,
  BACKUP_MANIFEST,
  type BackupManifest,
} from '../../hub/src/backup/backup-service.js';
import { tarUnpack } from '../../hub/src/backup/tar.js';
import { migrations } from '../../hub/src/store/migrations.js';
import { CliError } from './errors.js';

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
export const RESTORED_CONFIG_DIR = 'restored-config';

/**
 * Whether a hub has the database open. The hub keeps it in WAL mode; SQLite lets a connection
 * leave WAL mode only when it is the only one open, so a refused switch means someone else
 * (a running hub) has it. The switch does change an unused file: it is about to be replaced.
 */
export function databaseInUse(file: string): boolean {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true, timeout: 0 });
    const mode = db.pragma('journal_mode = DELETE', { simple: true });
    return mode !== 'delete';
  } catch (err) {
    if ((err as { code?: string }).code?.startsWith('SQLITE_BUSY')) return true;
    throw new CliError(`cannot open ${file} to check it: ${(err as Error).message}`);
  } finally {
    db?.close();
  }
}

export interface RestoreResult {
  dataDir: string;
  manifest: BackupManifest;
  database: string;
  config: string[];
  replaced: boolean;
}

/**
 * Offline restore: unpack a `khu backup` archive into a data dir while no hub runs on it.
 * Refuses a data dir that is not empty unless `force`; refuses, even with `force`, a database a
 * running hub holds. Recordings in the data dir are left as they are; the restored hub
 * reconciles its index with them at start.
 */
export function restoreBackup(archiveFile: string, dataDirArg: string, force: boolean): RestoreResult {
  let archive: Buffer;
  try {
    archive = readFileSync(archiveFile);
  } catch (err) {
    throw new CliError(`cannot read ${archiveFile}: ${(err as Error).message}`);
  }
  let files: Map<string, Buffer>;
  try {
    files = tarUnpack(archive);
  } catch (err) {
    throw new CliError(`${archiveFile} is not a Khu backup: ${(err as Error).message}`, {
      hint: 'make one with: khu backup <file>',
    });
  }
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(files.get(BACKUP_MANIFEST)?.toString('utf8') ?? '') as BackupManifest;
  } catch {
    throw new CliError(`${archiveFile} is not a Khu backup (no ${BACKUP_MANIFEST})`, {
      hint: 'make one with: khu backup <file>',
    });
  }
  if (manifest?.format !== 'khu-backup' || manifest.formatVersion !== 1)
    throw new CliError(`${archiveFile}: unknown backup format`, {
      hint: 'restore it with the khu version that made it',
    });
  const db = files.get(BACKUP_DB);
  if (!db?.subarray(0, 16).equals(SQLITE_MAGIC))
    throw new CliError(`${archiveFile}: the database in it is missing or damaged`);
  const known = Math.max(...migrations.map((m) => m.version));
  if (manifest.schemaVersion > known)
    throw new CliError(
      `${archiveFile} comes from a newer hub (database version ${manifest.schemaVersion}; this khu knows up to ${known})`,
      { hint: 'update Khu on this box first, then restore' },
    );

  const dataDir = resolve(dataDirArg);
  const target = join(dataDir, 'khu.db');
  const present = existsSync(dataDir) ? readdirSync(dataDir) : [];
  if (present.length > 0 && !force)
    throw new CliError(
      `${dataDir} is not empty (${present.slice(0, 5).join(', ')}${present.length > 5 ? ', …' : ''})`,
      {
        hint: 'restore into an empty folder, or add --force to replace its database (recordings stay)',
      },
    );
  if (existsSync(target) && databaseInUse(target))
    throw new CliError(`a running hub is using ${target}`, {
      hint: 'stop it first (sudo systemctl stop khu), then restore, then start it again',
    });

  mkdirSync(dataDir, { recursive: true, mode: 0o750 });
  // The new database is checked in place before it replaces anything.
  const incoming = join(dataDir, `.khu.db.restoring-${process.pid}`);
  writeFileSync(incoming, db, { mode: 0o600 });
  const fd = openSync(incoming, 'r+');
  fsyncSync(fd);
  closeSync(fd);
  try {
    // The copy carries the hub's WAL flag: back to a single file (the hub turns WAL on again at start).
    const check = new Database(incoming, { fileMustExist: true });
    try {
      check.pragma('journal_mode = DELETE');
      const ok = check.pragma('quick_check', { simple: true });
      if (ok !== 'ok') throw new Error(String(ok));
      check.prepare('SELECT count(*) FROM users').get();
    } finally {
      check.close();
    }
  } catch (err) {
    for (const f of [incoming, `${incoming}-wal`, `${incoming}-shm`]) rmSync(f, { force: true });
    throw new CliError(
      `${archiveFile}: the database in it does not pass SQLite's check (${(err as Error).message})`,
    );
  }
  // A WAL left beside the old database would be replayed into the new one.
  rmSync(`${target}-wal`, { force: true });
  rmSync(`${target}-shm`, { force: true });
  const replaced = existsSync(target);
  renameSync(incoming, target);

  const config: string[] = [];
  for (const name of [BACKUP_CONFIG_FILE, BACKUP_CONFIG_EFFECTIVE]) {
    const data = files.get(name);
    if (!data) continue;
    const dir = join(dataDir, RESTORED_CONFIG_DIR);
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    const out = join(dir, name.replace(/^config\//, ''));
    writeFileSync(out, data, { mode: 0o640 });
    config.push(out);
  }
  return { dataDir, manifest, database: target, config, replaced };
}
