import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type as T } from '@sinclair/typebox';
import { hasRole } from '../../auth/roles.js';
import { forbidden } from '../../core/errors.js';
import { actorOf, requireRole, user } from '../auth.js';
import { Role, responses, UserView, Zone } from '../schemas.js';

export const userRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const users = app.services.users;

  app.get(
    '/users',
    {
      preHandler: requireRole('head'),
      schema: {
        tags: ['users'],
        summary: 'Accounts (area head and above)',
        response: responses({ 200: T.Array(UserView) }),
      },
    },
    async (req) => {
      const me = user(req);
      // An area head manages residents; only an admin sees every account.
      return users.list().filter((u) => hasRole(me.role, 'admin') || u.role === 'resident');
    },
  );

  app.post(
    '/users',
    {
      preHandler: requireRole('head'),
      schema: {
        tags: ['users'],
        summary: 'Create an account: an area head creates residents, an admin any role',
        body: T.Object(
          {
            username: T.String({ minLength: 2, maxLength: 32 }),
            password: T.String({ minLength: 6, maxLength: 256 }),
            role: Role,
            displayName: T.Optional(T.String({ maxLength: 80 })),
            zones: T.Optional(T.Array(Zone, { maxItems: 50 })),
          },
          { additionalProperties: false },
        ),
        response: responses({ 201: UserView }),
      },
    },
    async (req, reply) => {
      const me = user(req);
      if (req.body.role !== 'resident' && !hasRole(me.role, 'admin'))
        throw forbidden('only an admin creates this role');
      return reply.status(201).send(await users.create(req.body, actorOf(me)));
    },
  );

  app.delete(
    '/users/:username',
    {
      preHandler: requireRole('head'),
      schema: {
        tags: ['users'],
        params: T.Object({ username: T.String({ minLength: 1, maxLength: 64 }) }),
        response: responses({ 204: T.Null() }),
      },
    },
    async (req, reply) => {
      const me = user(req);
      const target = users.get(req.params.username);
      if (target.role !== 'resident' && !hasRole(me.role, 'admin'))
        throw forbidden('only an admin removes this account');
      if (target.username === me.username) throw forbidden('you cannot remove your own account');
      users.remove(target.username, actorOf(me));
      return reply.status(204).send(null);
    },
  );
};
