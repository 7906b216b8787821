import { createWriteStream, existsSync, renameSync, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from '../command.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { bytes, localTime } from '../format.js';
import { RESTORED_CONFIG_DIR, restoreBackup } from '../restore.js';

export const backup: Command = {
  name: 'backup',
  summary: 'save the hub’s database and settings to a file (sao lưu)',
  help: `Usage: khu backup <file> [--force]

Downloads a consistent backup of the running hub: its database (accounts, relays, lights,
cameras, invitations, event log, recording index) and its settings, as one tar file.
Recordings are not included. The hub keeps running meanwhile. Needs a technician account.

Options:
  --force   overwrite <file> if it exists

Restore with: khu restore <file> --data-dir /var/lib/khu   (on the box, hub stopped)`,
  options: { force: { type: 'boolean' } },
  positionals: [1, 1],
  async run(ctx) {
    const file = ctx.positionals[0]!;
    if (existsSync(file) && !ctx.values.force)
      throw usageError(`${file} exists; add --force to overwrite it`, 'backup');
    const res = await ctx.client().raw('GET', '/api/admin/backup', { timeoutMs: 0 });
    if (!res.body) throw new CliError('the hub sent an empty backup');
    const part = `${file}.part`;
    let written = 0;
    const tty = process.stderr.isTTY && !ctx.out.json;
    const counted = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    counted.on('data', (chunk: Buffer) => {
      written += chunk.length;
      if (tty) process.stderr.write(`\r  ${bytes(written)}…`);
    });
    try {
      await pipeline(counted, createWriteStream(part, { mode: 0o600 }));
    } catch (err) {
      rmSync(part, { force: true });
      throw new CliError(`the backup was not saved: ${(err as Error).message}`, {
        hint: 'check the free space and that you may write there, then try again',
      });
    }
    if (tty) process.stderr.write('\n');
    renameSync(part, file);
    if (ctx.out.json) ctx.out.data({ file, bytes: written });
    else ctx.out.print(`Backup saved to ${file} (${bytes(written)}). Keep a copy off the box.`);
    return EXIT.ok;
  },
};

export const restore: Command = {
  name: 'restore',
  summary: 'put a backup into a data dir, with the hub stopped (khôi phục)',
  help: `Usage: khu restore <file> --data-dir DIR [--force]

Offline: run it on the box, with the hub stopped (sudo systemctl stop khu). Writes the
backup's database into DIR (the hub's KHU_DATA_DIR, /var/lib/khu on an installed box) and
its settings into DIR/${RESTORED_CONFIG_DIR}/ (copy khu.yaml to where KHU_CONFIG points if you
want them back). Then start the hub. Recordings are not in backups: the ones already in
DIR stay, and the hub reconciles its index with them.

Refuses a DIR that is not empty unless --force, and always refuses a database that a
running hub has open. Does not talk to the hub.

Options:
  --data-dir DIR   the hub's data folder
  --force          replace the database of a non-empty DIR`,
  options: { 'data-dir': { type: 'string' }, force: { type: 'boolean' } },
  positionals: [1, 1],
  run(ctx) {
    const file = ctx.positionals[0]!;
    const dataDir = ctx.values['data-dir'];
    if (typeof dataDir !== 'string' || !dataDir) throw usageError('--data-dir is required', 'restore');
    const r = restoreBackup(file, dataDir, Boolean(ctx.values.force));
    if (ctx.out.json) {
      ctx.out.data(r);
      return EXIT.ok;
    }
    ctx.out.print(
      `Restored the backup of ${localTime(r.manifest.createdAt)} (site "${r.manifest.site}", hub ${r.manifest.hubVersion}) into ${r.database}${r.replaced ? ', replacing the database that was there' : ''}.`,
    );
    if (r.config.length) ctx.out.print(`Settings from the backup: ${r.config.join(', ')}`);
    ctx.out.print('Start the hub: sudo systemctl start khu');
    return EXIT.ok;
  },
};
