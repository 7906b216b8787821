/**
 * A named pipe that an ffmpeg writes media to and the hub reads with one reused buffer.
 *
 * Why not ffmpeg's stdout: Node reads a child's pipe into a fresh 64 KiB buffer for every read.
 * A recorder's live output is read all day (~250 KB/s per camera), and those allocations cost
 * about 0.17 % of a core per camera, more than all the rest of the hub's work for it. Read
 * through `net.Socket`'s `onread` into one buffer, the same bytes cost about a third of that
 * (docs/decisions.md, "Live output through a FIFO").
 *
 * The FIFO is opened read-write: the open never blocks, ffmpeg's open for writing never blocks
 * either, and the reader sees no end of file between runs. Closing it (after ffmpeg is gone)
 * drops whatever the pipe still held.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, constants, lstatSync, openSync, unlinkSync } from 'node:fs';
import { type OnReadOpts, Socket, type SocketConstructorOpts } from 'node:net';

/** Default read buffer: four times a pipe's capacity, so one read takes all there is. */
const READ_BUFFER_BYTES = 256 * 1024;

/** Makes `path` a FIFO (mode 600), replacing anything else there. */
export function ensureFifo(path: string): void {
  try {
    if (lstatSync(path).isFIFO()) return;
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  // Node has no mkfifo(3); coreutils' mkfifo is on every system ffmpeg is.
  execFileSync('mkfifo', ['-m', '600', path], { stdio: 'ignore' });
}

export interface FifoReader {
  /** Stops reading and closes the FIFO; idempotent. */
  close(): void;
}

/**
 * Reads `path` (made a FIFO if it is not one) until `close()`. `onData` gets a view of the
 * reused buffer: valid only during the call, to be copied if kept.
 */
export function readFifo(path: string, onData: (view: Buffer) => void): FifoReader {
  ensureFifo(path);
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  let socket: Socket;
  try {
    const buffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
    // Node takes `onread` in the constructor too (lib/net.js); its types list it for connect() only.
    const options: SocketConstructorOpts & { onread: OnReadOpts } = {
      fd,
      readable: true,
      writable: false,
      onread: {
        buffer,
        callback: (n: number, buf: Uint8Array) => {
          onData(Buffer.from(buf.buffer, buf.byteOffset, n));
          return true;
        },
      },
    };
    socket = new Socket(options);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  // A read error ends the socket: ffmpeg's next write then fails, and its supervisor restarts it.
  socket.on('error', () => {});
  let closed = false;
  return {
    close() {
      if (closed) return;
      closed = true;
      socket.destroy();
    },
  };
}
