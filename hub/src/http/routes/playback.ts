import { createReadStream } from 'node:fs';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type as T } from '@sinclair/typebox';
import { badRequest, KhuError, notFound } from '../../core/errors.js';
import { startClip } from '../../recording/clip.js';
import { concatFragments, writeChunks } from '../../recording/fmp4-concat.js';
import { fmp4Layout, vodPlaylist } from '../../recording/playback.js';
import { requireRole } from '../auth.js';

/** Requests accept any ISO 8601 offset; answers speak UTC. */
function instant(value: string, name: string): number {
  const ok = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(value);
  const t = ok ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(t))
    throw badRequest(`${name}: an ISO 8601 time with offset, e.g. 2026-11-26T19:00:00+07:00`);
  return t;
}

const Range = T.Object({
  from: T.String({ maxLength: 40, description: 'ISO 8601 with offset' }),
  to: T.String({ maxLength: 40, description: 'ISO 8601 with offset' }),
});
const Params = T.Object({ id: T.String({ maxLength: 64 }) });
/** A playlist covers at most this much: a player asks again for the next stretch. */
const MAX_PLAYLIST_MS = 24 * 3_600_000;

/** Local time for file names people see: `2026-11-26_19-05` (Asia/Ho_Chi_Minh by default). */
function localStamp(ms: number, timeZone: string): string {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(ms));
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '00';
  return `${get('year')}-${get('month')}-${get('day')}_${get('hour')}-${get('minute')}`;
}

/**
 * Recorded video: an HLS VOD playlist for a time range (every segment file one media segment,
 * gaps left out), the pieces a player fetches, and a stretch saved as one MP4.
 */
export const playbackRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { cameras, config } = app.services;
  const timeZone = config.site.timezone;

  function range(
    q: { from: string; to: string },
    maxMs: number,
    what: string,
  ): { fromMs: number; toMs: number } {
    const fromMs = instant(q.from, 'from');
    const toMs = instant(q.to, 'to');
    if (toMs <= fromMs) throw badRequest('to must be after from');
    if (toMs - fromMs > maxMs) throw badRequest(`${what} at most ${Math.round(maxMs / 60_000)} minutes long`);
    return { fromMs, toMs };
  }

  app.get(
    '/cameras/:id/playback.m3u8',
    {
      preHandler: requireRole('resident'),
      schema: {
        tags: ['cameras'],
        summary: 'Recorded video from `from` to `to` as an HLS playlist (fMP4); starts exactly at `from`',
        params: Params,
        querystring: Range,
      },
    },
    async (req, reply) => {
      const { fromMs, toMs } = range(req.query, MAX_PLAYLIST_MS, 'a playlist covers');
      const segments = cameras.playable(
        req.params.id,
        new Date(fromMs).toISOString(),
        new Date(toMs).toISOString(),
      );
      if (segments.length === 0) throw new KhuError('KHU_NOT_FOUND', 'nothing was recorded in that range');
      const body = vodPlaylist(segments, fromMs, (ref, part) => `segments/${ref}/${part}`);
      return reply
        .header('content-type', 'application/vnd.apple.mpegurl')
        .header('cache-control', 'no-store')
        .send(body);
    },
  );

  app.get(
    '/cameras/:id/segments/:ref/:part',
    {
      preHandler: requireRole('resident'),
      schema: {
        tags: ['cameras'],
        summary: 'A recorded segment for players: its init segment or its fragments',
        params: T.Object({
          id: T.String({ maxLength: 64 }),
          ref: T.String({ pattern: '^(open|[0-9]{1,15})$' }),
          part: T.Union([T.Literal('init.mp4'), T.Literal('media.m4s')]),
        }),
      },
    },
    async (req, reply) => {
      const file = cameras.segmentFile(req.params.id, req.params.ref);
      const layout = await fmp4Layout(file).catch(() => undefined);
      if (!layout) throw notFound('segment file (deleted by retention, or not written yet)');
      const [start, end] =
        req.params.part === 'init.mp4' ? [0, layout.initEnd] : [layout.initEnd, layout.mediaEnd];
      return reply
        .header('content-type', req.params.part === 'init.mp4' ? 'video/mp4' : 'video/iso.segment')
        .header('content-length', String(end - start))
        .header('cache-control', req.params.ref === 'open' ? 'no-store' : 'private, max-age=3600')
        .send(end > start ? createReadStream(file, { start, end: end - 1 }) : Buffer.alloc(0));
    },
  );

  app.get(
    '/cameras/:id/clip.mp4',
    {
      preHandler: requireRole('resident'),
      schema: {
        tags: ['cameras'],
        summary: 'Save a stretch of recording as one MP4 (up to recording.clipMaxMinutes)',
        params: Params,
        querystring: Range,
      },
    },
    async (req, reply) => {
      const { fromMs, toMs } = range(req.query, config.recording.clipMaxMinutes * 60_000, 'a clip is');
      const segments = cameras.playable(
        req.params.id,
        new Date(fromMs).toISOString(),
        new Date(toMs).toISOString(),
      );
      if (segments.length === 0) throw new KhuError('KHU_NOT_FOUND', 'nothing was recorded in that range');
      const pieces = segments.map((s) => ({
        file: s.file,
        startMs: Date.parse(s.start),
        durationMs: s.durationMs,
      }));
      const name = `khu-${req.params.id}-${localStamp(fromMs, timeZone)}.mp4`;
      reply
        .header('content-type', 'video/mp4')
        .header('content-disposition', `attachment; filename="${name}"`)
        .header('cache-control', 'no-store');
      // The files of a run share their init segment: their fragments are joined as they are.
      const joined = await concatFragments(pieces, fromMs, toMs).catch((err) => {
        req.log.warn({ err }, 'could not join the segments directly: ffmpeg joins them');
        return undefined;
      });
      if (joined) {
        // Written here, one chunk after the other (they are slices of reused buffers).
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, reply.getHeaders() as Record<string, string>);
        try {
          await writeChunks(joined, res);
          res.end();
        } catch (err) {
          // The viewer went away, or a file could not be read: the download ends short.
          req.log.warn({ err }, 'clip export ended early');
          res.destroy();
        }
        return reply;
      }
      const clip = await startClip({ pieces, fromMs, toMs, ffmpegPath: config.recording.ffmpegPath });
      void clip.proc.exited.then(async (exit) => {
        await clip.cleanup();
        if (exit.code !== 0 && exit.signal === null) {
          req.log.warn({ exit, stderr: clip.proc.stderrTail() }, 'clip export failed');
        }
      });
      // The viewer went away: no need to finish the clip.
      reply.raw.on('close', () => {
        if (!reply.raw.writableFinished) void clip.proc.stop({ graceMs: 0, termMs: 500 });
      });
      return reply.send(clip.proc.stdout!);
    },
  );
};
