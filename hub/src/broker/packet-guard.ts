import type { Socket } from 'node:net';

/**
 * Enforces a maximum MQTT packet size on a socket. aedes and mqtt-packet have no such limit and
 * would buffer a 256 MB packet; this reads each fixed header's Remaining Length (MQTT 3.1.1
 * §2.2.3) as the bytes go by and destroys the socket as soon as a packet announces more than
 * `maxBytes`, before its body is buffered.
 */
export function guardPacketSize(socket: Socket, maxBytes: number, onTooLarge: (size: number) => void): void {
  let state: 'type' | 'length' | 'body' = 'type';
  let remaining = 0;
  let multiplier = 1;
  let lengthBytes = 0;

  const feed = (buf: Buffer): boolean => {
    let i = 0;
    while (i < buf.length) {
      if (state === 'body') {
        const take = Math.min(remaining, buf.length - i);
        remaining -= take;
        i += take;
        if (remaining === 0) state = 'type';
        continue;
      }
      const byte = buf[i++]!;
      if (state === 'type') {
        state = 'length';
        remaining = 0;
        multiplier = 1;
        lengthBytes = 0;
        continue;
      }
      remaining += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      lengthBytes++;
      if (byte & 0x80) {
        if (lengthBytes >= 4) return false; // malformed: more than four length bytes
        continue;
      }
      if (remaining + 1 + lengthBytes > maxBytes) {
        onTooLarge(remaining + 1 + lengthBytes);
        return false;
      }
      state = remaining === 0 ? 'type' : 'body';
    }
    return true;
  };

  // aedes pulls data with `conn.read()` on 'readable'; we look at what it pulls.
  const read = socket.read.bind(socket);
  socket.read = (size?: number) => {
    const chunk = read(size) as Buffer | string | null;
    if (chunk !== null && typeof chunk !== 'string' && !feed(chunk)) {
      socket.destroy();
      return null;
    }
    return chunk;
  };
}
