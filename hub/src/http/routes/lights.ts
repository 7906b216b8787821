import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type as T } from '@sinclair/typebox';
import { maySwitchZone } from '../../auth/roles.js';
import { forbidden } from '../../core/errors.js';
import { actorOf, requireRole, user } from '../auth.js';
import { Id, Light, responses, StateBody, Zone } from '../schemas.js';

const LightList = T.Object({ lights: T.Array(Light) });

export const lightRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const lights = app.services.lights;

  app.get(
    '/lights',
    {
      preHandler: requireRole('resident'),
      schema: {
        tags: ['lights'],
        summary: 'Every light with its state',
        response: responses({ 200: T.Array(Light) }),
      },
    },
    async () => lights.list(),
  );

  app.get(
    '/lights/:id',
    {
      preHandler: requireRole('resident'),
      schema: { tags: ['lights'], params: T.Object({ id: Id }), response: responses({ 200: Light }) },
    },
    async (req) => lights.get(req.params.id),
  );

  app.post(
    '/lights/:id/state',
    {
      preHandler: requireRole('resident'),
      schema: {
        tags: ['lights'],
        summary: 'Switch one light; answers once the relay confirmed, or pending after a short wait',
        params: T.Object({ id: Id }),
        body: StateBody,
        response: responses({ 200: Light }),
      },
    },
    async (req) => {
      const u = user(req);
      const light = lights.get(req.params.id);
      if (!maySwitchZone(u, light.zone)) throw forbidden(`zone ${light.zone} is not on your account`);
      const [result] = await lights.command([light.id], req.body.state, actorOf(u));
      return result!;
    },
  );

  app.get(
    '/zones',
    {
      preHandler: requireRole('resident'),
      schema: {
        tags: ['lights'],
        summary: 'Streets (zones) with their lights',
        response: responses({
          200: T.Array(T.Object({ zone: T.String(), lights: T.Integer(), on: T.Integer() })),
        }),
      },
    },
    async () => {
      const all = lights.list();
      return lights.zones().map((zone) => {
        const ofZone = all.filter((l) => l.zone === zone);
        return {
          zone,
          lights: ofZone.length,
          on: ofZone.filter((l) => (l.desired ?? l.reported) === 'on').length,
        };
      });
    },
  );

  app.post(
    '/zones/:zone/state',
    {
      preHandler: requireRole('resident'),
      schema: {
        tags: ['lights'],
        summary: 'Switch every light of a street (zone)',
        params: T.Object({ zone: Zone }),
        body: StateBody,
        response: responses({ 200: LightList }),
      },
    },
    async (req) => {
      const u = user(req);
      const ids = lights.lightsOfZone(req.params.zone);
      if (!maySwitchZone(u, req.params.zone))
        throw forbidden(`zone ${req.params.zone} is not on your account`);
      return { lights: await lights.command(ids, req.body.state, actorOf(u)) };
    },
  );

  app.post(
    '/lights/state',
    {
      preHandler: requireRole('head'),
      schema: {
        tags: ['lights'],
        summary: 'Switch every light (area head and above)',
        body: StateBody,
        response: responses({ 200: LightList }),
      },
    },
    async (req) => ({
      lights: await lights.command(lights.allLightIds(), req.body.state, actorOf(user(req))),
    }),
  );
};
