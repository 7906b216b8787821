import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type as T } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import type { WebSocket } from 'ws';
import { KhuError, notFound } from '../../core/errors.js';
import { videoCodec } from '../../live/fmp4.js';
import type { LiveViewer } from '../../live/live-stream.js';
import { requireRole, SESSION_COOKIE } from '../auth.js';

/** How often a live socket checks that its session still holds (logout, password change, expiry). */
const SESSION_CHECK_MS = 5000;

/**
 * `GET /api/cameras/:id/live` (WebSocket): fragmented MP4 for Media Source Extensions. Binary
 * messages are the init segment and the fragments, in order; text messages are JSON:
 * `{"type":"init","codec":"avc1.64001f"}` before each init segment (a new one means the decoder
 * starts over), `{"type":"offline"}` while the camera sends nothing. The viewer starts at the
 * latest key frame and follows live; one that cannot keep up skips to the next key frame.
 */
export const liveRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { cameras, live, users } = app.services;

  app.get(
    '/cameras/:id/live',
    {
      websocket: true,
      preHandler: [
        requireRole('resident'),
        async (req) => {
          // A page of another site must not open a camera with the resident's cookie.
          const origin = req.headers.origin;
          if (origin && new URL(origin).host !== req.headers.host) {
            throw new KhuError('KHU_FORBIDDEN', 'live video only for pages of this hub');
          }
          cameras.get((req.params as { id: string }).id); // 404 before the upgrade
        },
      ],
      schema: {
        tags: ['cameras'],
        summary: 'Live video as fragmented MP4 over a WebSocket (tiles: ?stream=sub)',
        params: T.Object({ id: T.String({ maxLength: 64 }) }),
        querystring: T.Object({ stream: T.Optional(T.Union([T.Literal('main'), T.Literal('sub')])) }),
      },
    },
    (socket: WebSocket, req) => {
      const { id } = req.params as { id: string };
      const name = (req.query as { stream?: 'main' | 'sub' }).stream ?? 'main';
      const stream = live.stream(id, name);
      const token =
        req.headers.authorization?.startsWith('Bearer ') === true
          ? req.headers.authorization.slice(7).trim()
          : (req.cookies[SESSION_COOKIE] ?? '');
      const sendInit = (init: Buffer) => {
        if (socket.readyState !== socket.OPEN) return;
        socket.send(JSON.stringify({ type: 'init', codec: videoCodec(init) ?? null, stream: name }));
      };
      const viewer: LiveViewer = {
        send: (data) => {
          if (socket.readyState !== socket.OPEN) return;
          // The init segment is announced first so the page can set up its decoder.
          if (data === stream.init) sendInit(data);
          socket.send(data, { binary: true });
        },
        bufferedBytes: () => socket.bufferedAmount,
      };
      const remove = stream.add(viewer);
      if (!stream.init) socket.send(JSON.stringify({ type: 'offline' }));
      const check = setInterval(() => {
        if (!users.authenticate(token)) socket.close(4401, 'session ended');
      }, SESSION_CHECK_MS);
      socket.on('message', () => {}); // nothing to say: pings are answered by ws itself
      socket.on('close', () => {
        clearInterval(check);
        remove();
      });
    },
  );

  const Params = T.Object({ id: T.String({ maxLength: 64 }) });
  const send = (reply: FastifyReply, type: string, body: string | Buffer | undefined, what: string) => {
    if (body === undefined) throw notFound(what);
    return reply.header('content-type', type).header('cache-control', 'no-store').send(body);
  };

  app.get(
    '/cameras/:id/live.m3u8',
    {
      preHandler: requireRole('resident'),
      schema: {
        tags: ['cameras'],
        summary:
          'Live video as HLS (fMP4 segments from key frame to key frame), for phones without Media Source',
        params: Params,
        // Tiles ask for the sub stream; HLS serves the main one for now (docs/decisions.md).
        querystring: T.Object({ stream: T.Optional(T.Union([T.Literal('main'), T.Literal('sub')])) }),
      },
    },
    async (req, reply) => {
      cameras.get(req.params.id);
      const text = await live.hls(req.params.id).playlist();
      if (text === undefined) throw new KhuError('KHU_CAMERA_UNREACHABLE', 'the camera sends no video now');
      return send(reply, 'application/vnd.apple.mpegurl', text, 'playlist');
    },
  );

  app.get(
    '/cameras/:id/live/:file',
    {
      preHandler: requireRole('resident'),
      schema: {
        tags: ['cameras'],
        summary: 'A piece of the live HLS stream (init-<n>.mp4 or <n>.m4s)',
        params: T.Object({
          id: T.String({ maxLength: 64 }),
          file: T.String({ pattern: '^(init-[0-9]{1,9}\\.mp4|[0-9]{1,12}\\.m4s)$' }),
        }),
      },
    },
    async (req, reply) => {
      cameras.get(req.params.id);
      const hls = live.hls(req.params.id);
      const n = Number(/[0-9]+/.exec(req.params.file)![0]);
      return req.params.file.startsWith('init-')
        ? send(reply, 'video/mp4', hls.init(n), 'live init segment')
        : send(
            reply,
            'video/iso.segment',
            hls.segment(n),
            'live segment (gone from the window: reload the playlist)',
          );
    },
  );
};
