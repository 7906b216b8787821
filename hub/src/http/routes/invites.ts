import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type as T } from '@sinclair/typebox';
import QRCode from 'qrcode';
import { DEFAULT_TTL_HOURS, MAX_TTL_HOURS } from '../../invites/invites-service.js';
import { requireRole, setSessionCookies, user } from '../auth.js';
import { Role, responses, UserView, Zone } from '../schemas.js';

const Invite = T.Object({
  id: T.String(),
  role: Role,
  household: T.String(),
  zones: T.Array(T.String()),
  status: T.Union([T.Literal('pending'), T.Literal('used'), T.Literal('expired'), T.Literal('revoked')]),
  createdBy: T.String(),
  createdAt: T.String(),
  expiresAt: T.String(),
  usedAt: T.Union([T.String(), T.Null()]),
  usedBy: T.Union([T.String(), T.Null()], { description: 'the username the invitation created' }),
  revokedAt: T.Union([T.String(), T.Null()]),
});

const CreatedInvite = T.Composite([
  Invite,
  T.Object({
    code: T.String({ description: 'shown this once; the hub keeps only its hash' }),
    url: T.String({ description: '<publicUrl>/#/join/<code>: what the QR code holds' }),
  }),
]);

const Code = T.String({ minLength: 16, maxLength: 128, pattern: '^[A-Za-z0-9_-]+$' });
const InviteId = T.String({ minLength: 1, maxLength: 64 });

export const inviteRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const invites = app.services.invites;
  const config = app.services.config;

  /** Where phones reach the hub: the public address, else the address the area head reached. */
  const baseUrl = (protocol: string, host: string | undefined): string => {
    if (config.http.publicUrl) return config.http.publicUrl;
    const safeHost = host && /^[A-Za-z0-9.:[\]-]{1,260}$/.test(host) ? host : '127.0.0.1';
    return `${protocol}://${safeHost}`;
  };

  app.post(
    '/invites',
    {
      preHandler: requireRole('head'),
      schema: {
        tags: ['invites'],
        summary: 'Invite a household: an area head invites residents, an admin any role',
        description: 'The answer holds the code and the join link, shown this once.',
        body: T.Object(
          {
            role: Role,
            household: T.String({ minLength: 1, maxLength: 80 }),
            zones: T.Optional(T.Array(Zone, { maxItems: 50 })),
            ttlHours: T.Optional(
              T.Integer({ minimum: 1, maximum: MAX_TTL_HOURS, default: DEFAULT_TTL_HOURS }),
            ),
          },
          { additionalProperties: false },
        ),
        response: responses({ 201: CreatedInvite }),
      },
    },
    async (req, reply) => {
      const created = invites.create(req.body, user(req), baseUrl(req.protocol, req.headers.host));
      reply.header('cache-control', 'no-store');
      return reply.status(201).send(created);
    },
  );

  app.get(
    '/invites',
    {
      preHandler: requireRole('head'),
      schema: {
        tags: ['invites'],
        summary: 'Invitations, newest first, with their status (never their codes)',
        response: responses({ 200: T.Array(Invite) }),
      },
    },
    async () => invites.list(),
  );

  app.delete(
    '/invites/:id',
    {
      preHandler: requireRole('head'),
      schema: {
        tags: ['invites'],
        summary: 'Withdraw a pending invitation',
        params: T.Object({ id: InviteId }),
        response: responses({ 204: T.Null() }),
      },
    },
    async (req, reply) => {
      invites.revoke(req.params.id, user(req));
      return reply.status(204).send(null);
    },
  );

  for (const format of ['svg', 'png'] as const) {
    app.get(
      `/invites/:id/qr.${format}`,
      {
        preHandler: requireRole('head'),
        schema: {
          tags: ['invites'],
          summary: `The join link of a pending invitation as a QR code (${format.toUpperCase()})`,
          description:
            'Available while the hub holds the code in memory: from creation until the invitation is used, ' +
            'revoked or expires, or the hub restarts (410 KHU_INVITE_CODE_UNAVAILABLE).',
          params: T.Object({ id: InviteId }),
          response: responses({
            200: T.Unsafe<Buffer | string>({
              description: format === 'svg' ? 'SVG' : 'PNG',
              content: {
                [format === 'svg' ? 'image/svg+xml' : 'image/png']: {
                  schema: { type: 'string', format: 'binary' },
                },
              },
            }),
          }),
        },
      },
      async (req, reply) => {
        const url = invites.url(req.params.id);
        reply.header('cache-control', 'no-store');
        if (format === 'svg') {
          const svg = await QRCode.toString(url, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
          return reply.header('content-type', 'image/svg+xml').send(svg);
        }
        const png = await QRCode.toBuffer(url, {
          type: 'png',
          errorCorrectionLevel: 'M',
          margin: 2,
          width: 480,
        });
        return reply.header('content-type', 'image/png').send(png);
      },
    );
  }

  app.get(
    '/invites/:code/check',
    {
      // The code is in the path: keep Fastify's request lines (which carry the URL) out of the log.
      logLevel: 'warn',
      schema: {
        tags: ['invites'],
        summary: 'Is this invitation code usable now (no login); which household and role it is for',
        description:
          'An unusable code answers 404 KHU_INVITE_NOT_FOUND or ' +
          '410 KHU_INVITE_EXPIRED / KHU_INVITE_USED / KHU_INVITE_REVOKED. Wrong codes are limited per address like logins.',
        security: [],
        params: T.Object({ code: Code }),
        response: responses({
          200: T.Object({ valid: T.Literal(true), household: T.String(), role: Role, expiresAt: T.String() }),
        }),
      },
    },
    async (req, reply) => {
      reply.header('cache-control', 'no-store');
      return { valid: true as const, ...invites.check(req.params.code, req.ip) };
    },
  );

  app.post(
    '/invites/:code/accept',
    {
      logLevel: 'warn',
      schema: {
        tags: ['invites'],
        summary:
          'Accept an invitation (no login): creates the account and logs it in, as POST /api/auth/login',
        description:
          'The password is at least 8 characters, or a PIN of ' +
          'exactly 6 digits. Without a username one is made from the household name (shown in user.username).',
        security: [],
        params: T.Object({ code: Code }),
        body: T.Object(
          {
            username: T.Optional(T.String({ minLength: 1, maxLength: 64 })),
            password: T.String({ minLength: 1, maxLength: 256 }),
          },
          { additionalProperties: false },
        ),
        response: responses({
          201: T.Object({ token: T.String(), expiresAt: T.String(), csrfToken: T.String(), user: UserView }),
        }),
      },
    },
    async (req, reply) => {
      const result = await invites.accept(req.params.code, req.body, req.ip);
      const csrfToken = setSessionCookies(reply, result.token, result.expiresAt, req.protocol === 'https');
      reply.header('cache-control', 'no-store');
      return reply.status(201).send({ ...result, csrfToken });
    },
  );
};
