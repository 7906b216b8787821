import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type as T } from '@sinclair/typebox';
import { badRequest } from '../../core/errors.js';
import { actorOf, requireRole, user } from '../auth.js';
import { Name, responses } from '../schemas.js';

const Camera = T.Object({
  id: T.String(),
  name: T.String(),
  kind: T.String(),
  onvifAddress: T.Union([T.String(), T.Null()]),
  mainUri: T.String(),
  subUri: T.Union([T.String(), T.Null()]),
  hasSnapshot: T.Boolean(),
  status: T.String({ description: 'starting, recording, reconnecting, stopped or offline' }),
  lastSegmentAt: T.Union([T.String(), T.Null()]),
  manufacturer: T.Union([T.String(), T.Null()]),
  model: T.Union([T.String(), T.Null()]),
  createdAt: T.String(),
});

const Login = { username: T.String({ minLength: 1, maxLength: 64 }), password: T.String({ maxLength: 128 }) };

/** Requests accept any ISO 8601 offset; answers speak UTC. */
function utc(value: string, name: string): string {
  const t = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(value)
    ? new Date(value)
    : new Date(Number.NaN);
  if (Number.isNaN(t.getTime()))
    throw badRequest(`${name}: an ISO 8601 time with offset, e.g. 2026-11-26T19:00:00+07:00`);
  return t.toISOString();
}

const MAX_RANGE_MS = 31 * 86_400_000;

export const cameraRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const cameras = app.services.cameras;

  app.get(
    '/cameras',
    {
      preHandler: requireRole('resident'),
      schema: {
        tags: ['cameras'],
        summary: 'Cameras and whether they record',
        response: responses({ 200: T.Array(Camera) }),
      },
    },
    async () => cameras.list(),
  );

  app.post(
    '/cameras',
    {
      preHandler: requireRole('technician'),
      schema: {
        tags: ['cameras'],
        summary: 'Add a camera by its ONVIF login, or by its RTSP address; it starts recording',
        body: T.Object(
          {
            name: Name,
            onvif: T.Optional(
              T.Object(
                { address: T.String({ minLength: 1, maxLength: 260 }), ...Login },
                { additionalProperties: false },
              ),
            ),
            rtsp: T.Optional(
              T.Object(
                {
                  url: T.String({ minLength: 1, maxLength: 2048 }),
                  username: T.Optional(Login.username),
                  password: T.Optional(Login.password),
                },
                { additionalProperties: false },
              ),
            ),
          },
          { additionalProperties: false },
        ),
        response: responses({ 201: Camera }),
      },
    },
    async (req, reply) => reply.status(201).send(await cameras.add(req.body, actorOf(user(req)))),
  );

  app.delete(
    '/cameras/:id',
    {
      preHandler: requireRole('technician'),
      schema: {
        tags: ['cameras'],
        summary: 'Remove a camera and its recordings',
        params: T.Object({ id: T.String({ minLength: 1, maxLength: 64 }) }),
        response: responses({ 204: T.Null() }),
      },
    },
    async (req, reply) => {
      await cameras.remove(req.params.id, actorOf(user(req)));
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/cameras/:id/recordings',
    {
      preHandler: requireRole('resident'),
      schema: {
        tags: ['cameras'],
        summary: 'What was recorded between two times: segments (the one being written included) and gaps',
        params: T.Object({ id: T.String({ minLength: 1, maxLength: 64 }) }),
        querystring: T.Object(
          { from: T.String({ maxLength: 40 }), to: T.String({ maxLength: 40 }) },
          { additionalProperties: false },
        ),
        response: responses({
          200: T.Object({
            segments: T.Array(
              T.Object({ start: T.String(), end: T.String(), durationMs: T.Integer(), bytes: T.Integer() }),
            ),
            gaps: T.Array(T.Object({ start: T.String(), end: T.String() })),
          }),
        }),
      },
    },
    async (req) => {
      const from = utc(req.query.from, 'from');
      const to = utc(req.query.to, 'to');
      if (to <= from) throw badRequest('to: must be after from');
      if (Date.parse(to) - Date.parse(from) > MAX_RANGE_MS)
        throw badRequest('to: at most 31 days after from');
      return cameras.recordings(req.params.id, from, to);
    },
  );

  app.get(
    '/cameras/:id/snapshot.jpg',
    {
      preHandler: requireRole('resident'),
      schema: {
        tags: ['cameras'],
        summary:
          'What the camera sees now, as a JPEG (from its snapshot address, else a frame of its stream)',
        description:
          'Taken at most once per camera every ~2 s, however many ask: a grid of tiles costs the camera one fetch. ' +
          'The header x-khu-snapshot-source says where the picture came from (onvif or stream).',
        params: T.Object({ id: T.String({ minLength: 1, maxLength: 64 }) }),
        response: responses({
          200: T.Unsafe<Buffer>({
            description: 'JPEG',
            headers: {
              'x-khu-snapshot-source': { type: 'string', enum: ['onvif', 'stream'] },
              'cache-control': { type: 'string', enum: ['no-store'] },
            },
            content: { 'image/jpeg': { schema: { type: 'string', format: 'binary' } } },
          }),
        }),
      },
    },
    async (req, reply) => {
      const shot = await cameras.snapshot(req.params.id);
      return reply
        .header('content-type', 'image/jpeg')
        .header('cache-control', 'no-store')
        .header('x-khu-snapshot-source', shot.source)
        .send(shot.jpeg);
    },
  );

  app.post(
    '/cameras/discover',
    {
      preHandler: requireRole('technician'),
      schema: {
        tags: ['cameras'],
        summary: 'Look for ONVIF cameras: multicast on the LAN, and unicast to addresses or ranges',
        body: T.Object(
          {
            multicast: T.Optional(T.Boolean()),
            unicast: T.Optional(T.Array(T.String({ maxLength: 40 }), { maxItems: 64 })),
          },
          { additionalProperties: false },
        ),
        response: responses({
          200: T.Array(
            T.Object({
              endpoint: T.String(),
              address: T.String(),
              xaddrs: T.Array(T.String()),
              name: T.Union([T.String(), T.Null()]),
              location: T.Union([T.String(), T.Null()]),
              hardware: T.Union([T.String(), T.Null()]),
              from: T.String(),
            }),
          ),
        }),
      },
    },
    async (req) => cameras.discover(req.body),
  );
};
