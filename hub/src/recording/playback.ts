/**
 * Recorded video for players: an HLS playlist over the segment index, and the pieces of a
 * segment file a player fetches. Each recorded file is fragmented MP4 with its own init segment
 * (`ftyp` + `moov`) and timestamps starting at 0, so every file is one HLS media segment with
 * its own EXT-X-MAP, after an EXT-X-DISCONTINUITY. Gaps in recording are simply not in the
 * playlist; EXT-X-PROGRAM-DATE-TIME tells the player the wall-clock time of each file.
 */
import { open } from 'node:fs/promises';

export interface PlayableSegment {
  /** How the route names this segment: its index id, or `open` for the one being written. */
  ref: string;
  start: string;
  durationMs: number;
}

/**
 * The playlist for segments in time order, starting `fromMs` (inside the first segment, or
 * before it) — EXT-X-START puts the player there. `uri(ref, part)` builds the links.
 */
export function vodPlaylist(
  segments: readonly PlayableSegment[],
  fromMs: number,
  uri: (ref: string, part: 'init.mp4' | 'media.m4s') => string,
): string {
  const target = Math.max(1, ...segments.map((s) => Math.ceil(s.durationMs / 1000)));
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${target}`,
    '#EXT-X-PLAYLIST-TYPE:VOD',
  ];
  lines.push('#EXT-X-MEDIA-SEQUENCE:0', '#EXT-X-INDEPENDENT-SEGMENTS');
  const first = segments[0];
  if (first) {
    const offset = Math.max(0, (fromMs - Date.parse(first.start)) / 1000);
    if (offset > 0) lines.push(`#EXT-X-START:TIME-OFFSET=${offset.toFixed(3)},PRECISE=YES`);
  }
  for (const [i, s] of segments.entries()) {
    if (i > 0) lines.push('#EXT-X-DISCONTINUITY');
    lines.push(`#EXT-X-MAP:URI="${uri(s.ref, 'init.mp4')}"`);
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${s.start}`);
    lines.push(`#EXTINF:${(s.durationMs / 1000).toFixed(3)},`);
    lines.push(uri(s.ref, 'media.m4s'));
  }
  lines.push('#EXT-X-ENDLIST', '');
  return lines.join('\n');
}

export interface Fmp4Layout {
  /** Bytes [0, initEnd) are `ftyp` + `moov`. */
  initEnd: number;
  /** Bytes [initEnd, mediaEnd) are whole `moof` + `mdat` pairs (a file being written may go on). */
  mediaEnd: number;
}

/**
 * Where a fragmented MP4 file's init segment ends and its last complete fragment ends, read
 * box header by box header (a few dozen 16-byte reads for a 10 s segment). Undefined when the
 * file does not begin with an init segment.
 */
export async function fmp4Layout(file: string): Promise<Fmp4Layout | undefined> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(16);
    let at = 0;
    let initEnd = 0;
    let mediaEnd = 0;
    let moofAt = -1;
    while (at + 8 <= size) {
      const { bytesRead } = await fh.read(head, 0, 16, at);
      if (bytesRead < 8) break;
      let boxSize = head.readUInt32BE(0);
      const type = head.toString('latin1', 4, 8);
      if (boxSize === 1 && bytesRead >= 16) boxSize = Number(head.readBigUInt64BE(8));
      if (boxSize < 8 || at + boxSize > size) break; // a box still being written
      if (type === 'moov') initEnd = at + boxSize;
      else if (type === 'moof') moofAt = at;
      else if (type === 'mdat' && moofAt >= 0 && initEnd > 0) {
        mediaEnd = at + boxSize;
        moofAt = -1;
      }
      at += boxSize;
    }
    if (initEnd === 0) return undefined;
    return { initEnd, mediaEnd: Math.max(mediaEnd, initEnd) };
  } finally {
    await fh.close();
  }
}
