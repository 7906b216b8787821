import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type as T } from '@sinclair/typebox';
import { badRequest } from '../../core/errors.js';
import { requireRole } from '../auth.js';
import { Light, responses } from '../schemas.js';

const Event = T.Object({
  id: T.Integer(),
  at: T.String(),
  type: T.String(),
  actor: T.Union([T.String(), T.Null()]),
  target: T.Union([T.String(), T.Null()]),
  message: T.String(),
  data: T.Union([T.Record(T.String(), T.Unknown()), T.Null()]),
});

/** Requests accept any ISO 8601 offset; the store speaks UTC. */
function toUtc(value: string | undefined, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) {
    throw badRequest(`${name}: an ISO 8601 time such as 2026-11-26T19:00:00+07:00`);
  }
  const t = new Date(value);
  if (Number.isNaN(t.getTime())) throw badRequest(`${name}: not a valid time`);
  return t.toISOString();
}

const HEARTBEAT_MS = 25_000;

export const eventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { events, bus, lights } = app.services;

  app.get(
    '/events',
    {
      preHandler: requireRole('head'),
      schema: {
        tags: ['events'],
        summary: 'The event log, newest first: switches, devices, alarms, logins',
        querystring: T.Object(
          {
            type: T.Optional(
              T.String({ maxLength: 200, description: 'types, comma separated; `alarm.*` for a family' }),
            ),
            actor: T.Optional(T.String({ maxLength: 100, description: 'e.g. user:alice' })),
            target: T.Optional(T.String({ maxLength: 100, description: 'a light or device id' })),
            from: T.Optional(T.String({ maxLength: 40 })),
            to: T.Optional(T.String({ maxLength: 40 })),
            before: T.Optional(T.Integer({ minimum: 1, description: 'page: events older than this id' })),
            limit: T.Integer({ minimum: 1, maximum: 500, default: 100 }),
          },
          { additionalProperties: false },
        ),
        response: responses({
          200: T.Object({ events: T.Array(Event), next: T.Union([T.Integer(), T.Null()]) }),
        }),
      },
    },
    async (req) => {
      const q = req.query;
      const kinds =
        q.type
          ?.split(',')
          .map((s) => s.trim())
          .filter(Boolean) ?? [];

      if (kinds.some((k) => !/^[a-z_]+(\.[a-z_]+|\.\*)?$/.test(k)))
        throw badRequest('type: names such as light.switched or alarm.*');
      const list = events.query({
        types: kinds.filter((k) => !k.endsWith('.*')),
        typePrefixes: kinds.filter((k) => k.endsWith('.*')).map((k) => k.slice(0, -1)),
        actor: q.actor,
        target: q.target,
        from: toUtc(q.from, 'from'),
        to: toUtc(q.to, 'to'),
        before: q.before,
        limit: q.limit,
      });
      return { events: list, next: list.length === q.limit ? list[list.length - 1]!.id : null };
    },
  );

  const streams = new Set<ServerResponse>();
  app.addHook('preClose', async () => {
    for (const s of streams) s.end();
  });

  app.get(
    '/events/stream',
    {
      preHandler: requireRole('resident'),
      schema: {
        tags: ['events'],
        summary: 'Server-sent events: `lights` (all, on connect) then `light` on every change',
        response: {
          200: { description: 'text/event-stream', content: { 'text/event-stream': { schema: Light } } },
        },
      },
    },
    async (req, reply) => {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.socket?.setNoDelay(true);
      const send = (event: string, data: unknown) =>
        res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      send('lights', lights.list());
      const owner = `sse:${req.id}`;
      bus.on(owner, 'lightChanged', ({ light }) => send('light', light));
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
      streams.add(res);
      res.on('close', () => {
        clearInterval(heartbeat);
        bus.removeOwner(owner);
        streams.delete(res);
      });
    },
  );
};
