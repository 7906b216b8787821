import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type as T } from '@sinclair/typebox';
import { clearSessionCookies, setSessionCookies, user } from '../auth.js';
import { responses, UserView } from '../schemas.js';

export const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Log in: a Bearer token, and the web app session cookie',
        security: [],
        body: T.Object(
          {
            username: T.String({ minLength: 1, maxLength: 64 }),
            password: T.String({ minLength: 1, maxLength: 256 }),
          },
          { additionalProperties: false },
        ),
        response: responses({
          200: T.Object({ token: T.String(), expiresAt: T.String(), csrfToken: T.String(), user: UserView }),
        }),
      },
    },
    async (req, reply) => {
      const { username, password } = req.body;
      const result = await app.services.users.login(username, password, req.ip);
      const csrfToken = setSessionCookies(reply, result.token, result.expiresAt, req.protocol === 'https');
      return { ...result, csrfToken };
    },
  );

  app.post(
    '/auth/logout',
    {
      schema: {
        tags: ['auth'],
        summary: 'Forget the session cookie',
        response: responses({ 204: T.Null() }),
      },
    },
    async (_req, reply) => {
      clearSessionCookies(reply);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/auth/me',
    { schema: { tags: ['auth'], summary: 'Who am I', response: responses({ 200: UserView }) } },
    async (req) => user(req),
  );
};
