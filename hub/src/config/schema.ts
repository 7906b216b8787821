import { type Static, Type as T } from '@sinclair/typebox';

/**
 * The hub's configuration: one schema, the types derived from it. Values come from
 * `config/default.yaml`, then the file named by `KHU_CONFIG`, then the `KHU_*` environment
 * variables. Secrets (the admin password) come from the environment only.
 */
const port = (description: string) => T.Integer({ minimum: 0, maximum: 65535, description });

export const ConfigSchema = T.Object(
  {
    dataDir: T.String({ minLength: 1, description: 'Database and recordings (KHU_DATA_DIR)' }),
    site: T.Object(
      {
        name: T.String({ minLength: 1, maxLength: 120 }),
        timezone: T.String({ minLength: 1, description: 'IANA time zone people see times in' }),
        latitude: T.Number({ minimum: -90, maximum: 90 }),
        longitude: T.Number({ minimum: -180, maximum: 180 }),
        locale: T.Union([T.Literal('vi'), T.Literal('en')]),
      },
      { additionalProperties: false },
    ),
    http: T.Object(
      {
        host: T.String({ minLength: 1 }),
        port: port('KHU_HTTP_PORT'),
        publicUrl: T.String({ description: 'The address phones use, for QR codes and links' }),
        bodyLimitBytes: T.Integer({ minimum: 1024, maximum: 10 * 1024 * 1024 }),
      },
      { additionalProperties: false },
    ),
    mqtt: T.Object(
      {
        host: T.String({ minLength: 1 }),
        port: port('KHU_MQTT_PORT'),
        maxPacketBytes: T.Integer({ minimum: 1024, maximum: 1024 * 1024 }),
        maxTopicLevels: T.Integer({ minimum: 3, maximum: 32 }),
      },
      { additionalProperties: false },
    ),
    auth: T.Object(
      {
        tokenTtlHours: T.Integer({ minimum: 1, maximum: 24 * 365 }),
        loginMaxAttempts: T.Integer({ minimum: 1, maximum: 1000 }),
        loginWindowSec: T.Integer({ minimum: 1, maximum: 86_400 }),
      },
      { additionalProperties: false },
    ),
    lights: T.Object(
      {
        ackTimeoutMs: T.Integer({
          minimum: 100,
          maximum: 600_000,
          description: 'alarm when a relay has not confirmed',
        }),
        commandWaitMs: T.Integer({
          minimum: 0,
          maximum: 30_000,
          description: 'how long an API command waits for the ack',
        }),
        retryInitialMs: T.Integer({ minimum: 50, maximum: 60_000 }),
        retryMaxMs: T.Integer({ minimum: 100, maximum: 3_600_000 }),
      },
      { additionalProperties: false },
    ),
    recording: T.Object(
      {
        dir: T.String({ description: 'where segments go; empty = <dataDir>/recordings' }),
        segmentSeconds: T.Integer({ minimum: 2, maximum: 600 }),
        fragmentMs: T.Integer({
          minimum: 100,
          maximum: 5000,
          description: 'at most this much is lost at a power cut',
        }),
        retentionDays: T.Integer({ minimum: 1, maximum: 3650 }),
        minFreeMb: T.Integer({
          minimum: 0,
          description: 'oldest recordings go first when free space falls under this',
        }),
        ffmpegPath: T.String({ minLength: 1 }),
        clipMaxMinutes: T.Integer({
          minimum: 1,
          maximum: 1440,
          description: 'longest clip a user may save (GET /api/cameras/:id/clip.mp4)',
        }),
      },
      { additionalProperties: false },
    ),
    schedules: T.Optional(
      T.Object(
        {
          manualHoldMinutes: T.Integer({
            minimum: 0,
            maximum: 1440,
            default: 0,
            description:
              'a switch by a person holds against the program: 0 = until the next program transition, n = n minutes',
          }),
          pushFallback: T.Boolean({
            default: true,
            description:
              'push each relay a dusk-to-dawn fallback (Tasmota timers, edge PROGRAM) for when the hub is down',
          }),
        },
        { additionalProperties: false, description: 'lighting programs (optional; defaults shown)' },
      ),
    ),
    discovery: T.Object(
      {
        interface: T.String({
          description: 'IPv4 address of the LAN interface for WS-Discovery; empty = the default',
        }),
        timeoutMs: T.Integer({ minimum: 200, maximum: 30_000 }),
      },
      { additionalProperties: false },
    ),
    log: T.Object(
      {
        level: T.Union(
          ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => T.Literal(l)),
        ),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
