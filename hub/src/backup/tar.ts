/**
 * The smallest tar we need: POSIX ustar, regular files only, names up to 100 bytes. A Khu
 * backup is such a tar, so `tar tf backup.tar` and `tar xf` work on any box without our tools.
 */

const BLOCK = 512;

export interface TarEntry {
  name: string;
  size: number;
  /** Seconds since the epoch. */
  mtime?: number;
  mode?: number;
}

function octal(value: number, width: number): string {
  // width - 1 digits and a NUL, as GNU and BSD tar write them.
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

/** The 512-byte header of one regular file. */
export function tarHeader(entry: TarEntry): Buffer {
  const name = Buffer.from(entry.name, 'utf8');
  if (name.length === 0 || name.length > 100) throw new Error(`tar: name must be 1–100 bytes: ${entry.name}`);
  if (!Number.isSafeInteger(entry.size) || entry.size < 0 || entry.size >= 8 ** 11)
    throw new Error(`tar: size out of range for ${entry.name}`);
  const h = Buffer.alloc(BLOCK, 0);
  name.copy(h, 0);
  h.write(octal(entry.mode ?? 0o600, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii'); // uid
  h.write(octal(0, 8), 116, 'ascii'); // gid
  h.write(octal(entry.size, 12), 124, 'ascii');
  h.write(octal(entry.mtime ?? Math.floor(Date.now() / 1000), 12), 136, 'ascii');
  h.write('        ', 148, 'ascii'); // checksum field counts as spaces while summing
  h.write('0', 156, 'ascii'); // regular file
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

/** Zero bytes that bring a file's data to a whole number of blocks. */
export function tarPadding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK, 0);
}

/** Two zero blocks end an archive. */
export const tarTrailer = (): Buffer => Buffer.alloc(BLOCK * 2, 0);

/** A whole archive of small in-memory files (tests, and the CLI's own checks). */
export function tarPack(files: Array<{ name: string; data: Buffer }>): Buffer {
  const parts: Buffer[] = [];
  for (const f of files)
    parts.push(tarHeader({ name: f.name, size: f.data.length }), f.data, tarPadding(f.data.length));
  parts.push(tarTrailer());
  return Buffer.concat(parts);
}

/**
 * The regular files of a tar held in memory. Anything we did not write (links, devices, bad
 * checksums, names that climb out with `..`) is refused with an error that says so.
 */
export function tarUnpack(archive: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let offset = 0;
  while (offset + BLOCK <= archive.length) {
    const h = archive.subarray(offset, offset + BLOCK);
    if (h.every((b) => b === 0)) return files;
    const field = (start: number, len: number) =>
      h
        .subarray(start, start + len)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const stored = Number.parseInt(field(148, 8).trim(), 8);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    if (stored !== sum) throw new Error('not a Khu backup (tar header checksum does not match)');
    const name = field(0, 100);
    const type = field(156, 1) || '0';
    const size = Number.parseInt(field(124, 12).trim() || '0', 8);
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`tar: bad size for ${name}`);
    if (type !== '0') throw new Error(`tar: ${name} is not a regular file`);
    if (name.startsWith('/') || name.split('/').includes('..')) throw new Error(`tar: unsafe name ${name}`);
    const start = offset + BLOCK;
    if (start + size > archive.length) throw new Error(`the backup is cut short (in ${name})`);
    files.set(name, archive.subarray(start, start + size));
    offset = start + size + tarPadding(size).length;
  }
  throw new Error('the backup is cut short (no end-of-archive blocks)');
}
