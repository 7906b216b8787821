import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import websocket from '@fastify/websocket';
import { Ajv } from 'ajv';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { UsersService } from '../auth/users-service.js';
import type { BackupService } from '../backup/backup-service.js';
import type { CamerasService } from '../cameras/cameras-service.js';
import type { Config } from '../config/schema.js';
import { KhuError } from '../core/errors.js';
import type { EventBus } from '../core/event-bus.js';
import type { Logger } from '../core/log.js';
import type { DevicesService } from '../devices/devices-service.js';
import type { EventLog } from '../events/event-log.js';
import type { InvitesService } from '../invites/invites-service.js';
import type { LightsService } from '../lights/lights-service.js';
import type { LiveService } from '../live/live-service.js';
import type { SchedulesService } from '../schedules/schedules-service.js';
import { registerAuth } from './auth.js';
import { adminRoutes } from './routes/admin.js';
import { authRoutes } from './routes/auth.js';
import { cameraRoutes } from './routes/cameras.js';
import { deviceRoutes } from './routes/devices.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { inviteRoutes } from './routes/invites.js';
import { lightRoutes } from './routes/lights.js';
import { liveRoutes } from './routes/live.js';
import { playbackRoutes } from './routes/playback.js';
import { scheduleRoutes } from './routes/schedules.js';
import { userRoutes } from './routes/users.js';
import { webRoutes } from './routes/web.js';
import { ErrorBody } from './schemas.js';

export interface Services {
  config: Config;
  bus: EventBus;
  users: UsersService;
  lights: LightsService;
  devices: DevicesService;
  schedules: SchedulesService;
  cameras: CamerasService;
  live: LiveService;
  invites: InvitesService;
  backup: BackupService;
  events: EventLog;
  mqtt: { port(): number; connectedDevices(): number };
  startedAt: Date;
  version: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    services: Services;
  }
}

export type App = FastifyInstance;

/** Fastify's own errors mapped onto ours: clients get a stable code and a clear message. */
function toKhuError(err: FastifyError): KhuError {
  if (err instanceof KhuError) return err;
  if (err.validation) {
    const where = err.validationContext ?? 'request';
    const first = err.validation[0];
    const path = first?.instancePath ? first.instancePath.slice(1).replaceAll('/', '.') : '';
    const missing = (first?.params as { missingProperty?: string } | undefined)?.missingProperty;
    const extra = (first?.params as { additionalProperty?: string } | undefined)?.additionalProperty;
    const field = [path, missing ?? extra].filter(Boolean).join('.');
    const allowed = (first?.params as { allowedValues?: unknown[] } | undefined)?.allowedValues;
    const what = extra
      ? 'is not allowed'
      : missing
        ? 'is required'
        : allowed
          ? `must be one of ${allowed.join(', ')}`
          : (first?.message ?? 'is invalid');
    return new KhuError('KHU_BAD_REQUEST', `${where}${field ? `.${field}` : ''} ${what}`);
  }
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new KhuError('KHU_PAYLOAD_TOO_LARGE', 'request body too large');
  if (err.statusCode === 404) return new KhuError('KHU_NOT_FOUND', err.message);
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return new KhuError('KHU_BAD_REQUEST', err.message);
  }
  return new KhuError('KHU_INTERNAL', 'internal error');
}

export async function buildHttp(services: Services, log: Logger): Promise<App> {
  const { config } = services;
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    bodyLimit: config.http.bodyLimitBytes,
    trustProxy: false,
    // On stop, end every connection (live streams included) instead of waiting for them.
    forceCloseConnections: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Query strings and path parameters arrive as text and are converted (`limit=2` → 2); a JSON
  // body is taken exactly as sent: `{"state":["off"]}` or `"channels":"2"` is refused, not coerced.
  const strict = new Ajv({ allErrors: false, useDefaults: true, coerceTypes: false, strict: false });
  const lenient = new Ajv({ allErrors: false, useDefaults: true, coerceTypes: 'array', strict: false });
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : lenient).compile(schema as object),
  );

  app.decorate('services', services);
  app.addSchema(ErrorBody);
  await app.register(cookie);
  // Live video only goes out; a viewer has nothing to send beyond a few bytes.
  await app.register(websocket, { options: { maxPayload: 1024 } });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const e = toKhuError(err);
    if (e.status >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ code: e.code, msg: e.message }, 'request refused');
    if (e.code === 'KHU_RATE_LIMITED' && e.details?.retryAfterSec) {
      reply.header('retry-after', String(e.details.retryAfterSec));
    }
    return reply.status(e.status).send({ error: { code: e.code, message: e.message, ...e.details } });
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .status(404)
      .send({ error: { code: 'KHU_NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } }),
  );

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Khu hub API',
        version: services.version,
        description: 'Street lights, devices, events.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          cookie: { type: 'apiKey', in: 'cookie', name: 'khu_session' },
        },
      },
      security: [{ bearer: [] }, { cookie: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  registerAuth(app, services.users);
  await app.register(healthRoutes, { prefix: '/api' });
  await app.register(authRoutes, { prefix: '/api' });
  await app.register(lightRoutes, { prefix: '/api' });
  await app.register(scheduleRoutes, { prefix: '/api' });
  await app.register(deviceRoutes, { prefix: '/api' });
  await app.register(eventRoutes, { prefix: '/api' });
  await app.register(userRoutes, { prefix: '/api' });
  await app.register(cameraRoutes, { prefix: '/api' });
  await app.register(liveRoutes, { prefix: '/api' });
  await app.register(playbackRoutes, { prefix: '/api' });
  await app.register(inviteRoutes, { prefix: '/api' });
  await app.register(adminRoutes, { prefix: '/api' });
  await app.register(webRoutes);
  return app;
}
