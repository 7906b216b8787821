import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type as T } from '@sinclair/typebox';

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/health',
    {
      schema: {
        tags: ['health'],
        summary: 'Is the hub up (no login)',
        security: [],
        response: {
          200: T.Object({
            status: T.Literal('ok'),
            version: T.String(),
            time: T.String(),
            uptimeSec: T.Integer(),
            site: T.String(),
            mqtt: T.Object({ port: T.Integer(), devicesOnline: T.Integer() }),
          }),
        },
      },
    },
    async () => {
      const s = app.services;
      return {
        status: 'ok' as const,
        version: s.version,
        time: new Date().toISOString(),
        uptimeSec: Math.floor((Date.now() - s.startedAt.getTime()) / 1000),
        site: s.config.site.name,
        mqtt: { port: s.mqtt.port(), devicesOnline: s.mqtt.connectedDevices() },
      };
    },
  );
};
