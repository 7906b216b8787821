import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type as T } from '@sinclair/typebox';
import { MAX_CHANNELS } from '../../devices/devices-service.js';
import { actorOf, requireRole, user } from '../auth.js';
import { Id, Name, responses, Zone } from '../schemas.js';

const MqttLogin = T.Object({
  mqtt: T.Object({
    host: T.String(),
    port: T.Integer(),
    username: T.String(),
    password: T.String(),
    topic: T.String(),
  }),
});

const Device = T.Object({
  id: T.String(),
  name: T.String(),
  kind: T.String(),
  channels: T.Integer(),
  online: T.Boolean(),
  lastSeen: T.Union([T.String(), T.Null()]),
  createdAt: T.String(),
  lights: T.Array(T.String()),
});

export const deviceRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const devices = app.services.devices;
  const config = app.services.config;

  /** The broker address a relay should use: the public address's host, else the one the technician reached. */
  const brokerHost = (hostHeader: string | undefined): string => {
    if (config.http.publicUrl) return new URL(config.http.publicUrl).hostname;
    const host = (hostHeader ?? '').replace(/:\d+$/, '');
    return host || '127.0.0.1';
  };

  app.post(
    '/devices/relays',
    {
      preHandler: requireRole('technician'),
      schema: {
        tags: ['devices'],
        summary: 'Provision a relay; answers its MQTT login, shown once',
        body: T.Object(
          {
            id: Id,
            name: Name,
            zone: Zone,
            channels: T.Optional(
              T.Union([
                T.Integer({ minimum: 1, maximum: MAX_CHANNELS }),
                T.Array(T.Object({ name: Name, zone: Zone }, { additionalProperties: false }), {
                  minItems: 1,
                  maxItems: MAX_CHANNELS,
                }),
              ]),
            ),
          },
          { additionalProperties: false },
        ),
        response: responses({ 201: MqttLogin }),
      },
    },
    async (req, reply) => {
      // Everything the answer needs is worked out first: the password is shown once, so nothing
      // may fail after the relay exists.
      const host = brokerHost(req.headers.host);
      const port = app.services.mqtt.port();
      const login = devices.provisionRelay(req.body, actorOf(user(req)));
      reply.header('cache-control', 'no-store');
      return reply.status(201).send({ mqtt: { host, port, ...login } });
    },
  );

  app.get(
    '/devices',
    {
      preHandler: requireRole('technician'),
      schema: {
        tags: ['devices'],
        summary: 'Devices, online or not, last seen',
        response: responses({ 200: T.Array(Device) }),
      },
    },
    async () => devices.list(),
  );

  app.delete(
    '/devices/:id',
    {
      preHandler: requireRole('technician'),
      schema: { tags: ['devices'], params: T.Object({ id: Id }), response: responses({ 204: T.Null() }) },
    },
    async (req, reply) => {
      devices.remove(req.params.id, actorOf(user(req)));
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/devices/:id/password',
    {
      preHandler: requireRole('technician'),
      schema: {
        tags: ['devices'],
        summary: 'A new MQTT password for a relay (shown once); the old one stops working',
        params: T.Object({ id: Id }),
        response: responses({ 200: MqttLogin }),
      },
    },
    async (req, reply) => {
      const login = devices.rotatePassword(req.params.id, actorOf(user(req)));
      reply.header('cache-control', 'no-store');
      return { mqtt: { host: brokerHost(req.headers.host), port: app.services.mqtt.port(), ...login } };
    },
  );
};
