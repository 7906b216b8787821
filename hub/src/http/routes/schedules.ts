import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type as T } from '@sinclair/typebox';
import { MAX_CALENDAR_RULES, MAX_PROGRAM_RULES, MAX_RULE_DATES } from '../../schedules/model.js';
import { actorOf, requireRole, user } from '../auth.js';
import { Id, Name, responses, StringEnum, Zone } from '../schemas.js';

const State = StringEnum(['on', 'off']);
const SunEvent = StringEnum(['sunrise', 'sunset', 'civilDawn', 'civilDusk']);
const LocalTime = T.String({ maxLength: 8, description: 'local hh:mm' });
const Day = T.String({ maxLength: 10, description: 'YYYY-MM-DD' });

// One object shape with optional fields (not a union): Ajv then names the field that is wrong.
const ProgramRule = T.Object(
  {
    state: State,
    cron: T.Optional(
      T.String({ minLength: 1, maxLength: 120, description: 'fixed time, e.g. "30 5 * * *"' }),
    ),
    sun: T.Optional(SunEvent),
    offsetMin: T.Optional(T.Integer({ description: 'minutes from the sun event, -180 to 180' })),
  },
  { additionalProperties: false },
);
const NightCut = T.Object({ from: LocalTime, to: LocalTime }, { additionalProperties: false });
const ProgramBody = T.Object(
  {
    name: Name,
    rules: T.Array(ProgramRule, { minItems: 1, maxItems: MAX_PROGRAM_RULES }),
    nightCut: T.Optional(T.Union([NightCut, T.Null()])),
  },
  { additionalProperties: false },
);
const Program = T.Object({
  id: T.String(),
  name: T.String(),
  rules: T.Array(ProgramRule),
  nightCut: T.Union([NightCut, T.Null()]),
  createdAt: T.String(),
  updatedAt: T.String(),
});

const CalendarFields = {
  name: Name,
  program: Id,
  dates: T.Optional(T.Array(Day, { minItems: 1, maxItems: MAX_RULE_DATES })),
  from: T.Optional(Day),
  to: T.Optional(Day),
  weekdays: T.Optional(T.Array(T.Integer(), { minItems: 1, maxItems: 7 })),
  zones: T.Optional(T.Array(Zone, { maxItems: 200 })),
  lights: T.Optional(T.Array(Id, { maxItems: 1000 })),
  position: T.Optional(T.Integer({ minimum: 0, maximum: MAX_CALENDAR_RULES })),
};
const CalendarRule = T.Object({
  id: T.String(),
  name: T.String(),
  program: T.String(),
  dates: T.Union([T.Array(T.String()), T.Null()]),
  from: T.Union([T.String(), T.Null()]),
  to: T.Union([T.String(), T.Null()]),
  weekdays: T.Union([T.Array(T.Integer()), T.Null()]),
  zones: T.Array(T.String()),
  lights: T.Array(T.String()),
});
const Overlap = T.Object({
  rule: T.String(),
  nights: T.Integer(),
  first: T.String(),
  last: T.String(),
  wins: T.String(),
});
const SavedRule = T.Object({ rule: CalendarRule, position: T.Integer(), overlaps: T.Array(Overlap) });

const Defaults = T.Object(
  {
    program: T.Union([Id, T.Null()]),
    zones: T.Record(T.String(), Id),
    lights: T.Record(T.String(), Id),
  },
  { additionalProperties: false },
);
const Override = T.Object({
  id: T.Integer(),
  zone: T.Union([T.String(), T.Null()]),
  light: T.Union([T.String(), T.Null()]),
  state: State,
  until: T.String(),
  kind: T.String(),
  by: T.String(),
  note: T.String(),
  createdAt: T.String(),
});
const Transition = T.Object({
  at: T.String(),
  state: State,
  reason: T.String({ description: 'program:<id> or override:<id>' }),
  program: T.Optional(T.String()),
  source: T.Optional(T.String({ description: 'calendar:<rule>, default:light, default:zone or default' })),
});
const PreviewEntry = T.Object({
  zone: T.String(),
  light: T.Optional(T.String()),
  transitions: T.Array(Transition),
});

const Ok = T.Object({ ok: T.Boolean() });

export const scheduleRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const s = app.services.schedules;
  const tags = ['schedule'];

  app.get(
    '/schedule',
    {
      preHandler: requireRole('resident'),
      schema: {
        tags,
        summary: 'Programs, calendar, defaults and overrides in force',
        response: responses({
          200: T.Object({
            programs: T.Array(Program),
            calendar: T.Array(CalendarRule),
            defaults: Defaults,
            overrides: T.Array(Override),
          }),
        }),
      },
    },
    async () => ({
      programs: s.listPrograms(),
      calendar: s.listCalendar(),
      defaults: s.getDefaults(),
      overrides: s.listOverrides(),
    }),
  );

  // ---- programs ----
  app.get(
    '/schedule/programs',
    { preHandler: requireRole('resident'), schema: { tags, response: responses({ 200: T.Array(Program) }) } },
    async () => s.listPrograms(),
  );
  app.get(
    '/schedule/programs/:id',
    {
      preHandler: requireRole('resident'),
      schema: { tags, params: T.Object({ id: Id }), response: responses({ 200: Program }) },
    },
    async (req) => s.getProgram(req.params.id),
  );
  app.post(
    '/schedule/programs',
    {
      preHandler: requireRole('head'),
      schema: {
        tags,
        summary: 'Create a program',
        body: T.Object({ id: Id, ...ProgramBody.properties }, { additionalProperties: false }),
        response: responses({ 201: Program }),
      },
    },
    async (req, reply) => {
      const { id, ...input } = req.body;
      return reply.status(201).send(s.saveProgram(id, input, actorOf(user(req)), 'create'));
    },
  );
  app.put(
    '/schedule/programs/:id',
    {
      preHandler: requireRole('head'),
      schema: {
        tags,
        params: T.Object({ id: Id }),
        body: ProgramBody,
        response: responses({ 200: Program }),
      },
    },
    async (req) => s.saveProgram(req.params.id, req.body, actorOf(user(req)), 'update'),
  );
  app.delete(
    '/schedule/programs/:id',
    {
      preHandler: requireRole('head'),
      schema: { tags, params: T.Object({ id: Id }), response: responses({ 200: Ok }) },
    },
    async (req) => {
      s.deleteProgram(req.params.id, actorOf(user(req)));
      return { ok: true };
    },
  );

  // ---- calendar ----
  app.get(
    '/schedule/calendar',
    {
      preHandler: requireRole('resident'),
      schema: {
        tags,
        summary: 'Calendar rules in order (first match wins)',
        response: responses({ 200: T.Array(CalendarRule) }),
      },
    },
    async () => s.listCalendar(),
  );
  app.post(
    '/schedule/calendar',
    {
      preHandler: requireRole('head'),
      schema: {
        tags,
        summary: 'Add a calendar rule (at the end, or at `position`); answers overlaps with other rules',
        body: T.Object({ id: Id, ...CalendarFields }, { additionalProperties: false }),
        response: responses({ 201: SavedRule }),
      },
    },
    async (req, reply) => {
      const { id, ...input } = req.body;
      return reply.status(201).send(s.saveCalendarRule(id, input, actorOf(user(req)), 'create'));
    },
  );
  app.put(
    '/schedule/calendar/:id',
    {
      preHandler: requireRole('head'),
      schema: {
        tags,
        params: T.Object({ id: Id }),
        body: T.Object(CalendarFields, { additionalProperties: false }),
        response: responses({ 200: SavedRule }),
      },
    },
    async (req) => s.saveCalendarRule(req.params.id, req.body, actorOf(user(req)), 'update'),
  );
  app.delete(
    '/schedule/calendar/:id',
    {
      preHandler: requireRole('head'),
      schema: { tags, params: T.Object({ id: Id }), response: responses({ 200: Ok }) },
    },
    async (req) => {
      s.deleteCalendarRule(req.params.id, actorOf(user(req)));
      return { ok: true };
    },
  );

  // ---- defaults ----
  app.get(
    '/schedule/defaults',
    { preHandler: requireRole('resident'), schema: { tags, response: responses({ 200: Defaults }) } },
    async () => s.getDefaults(),
  );
  app.put(
    '/schedule/defaults',
    {
      preHandler: requireRole('head'),
      schema: {
        tags,
        summary: 'The program of every light, per zone and per light, when no calendar rule applies',
        body: Defaults,
        response: responses({ 200: Defaults }),
      },
    },
    async (req) => s.saveDefaults(req.body, actorOf(user(req))),
  );

  // ---- overrides ----
  app.get(
    '/schedule/overrides',
    {
      preHandler: requireRole('resident'),
      schema: { tags, response: responses({ 200: T.Array(Override) }) },
    },
    async () => s.listOverrides(),
  );
  app.post(
    '/schedule/overrides',
    {
      preHandler: requireRole('head'),
      schema: {
        tags,
        summary: 'Keep a zone or a light on or off until a time; then the program takes over',
        body: T.Object(
          {
            zone: T.Optional(Zone),
            light: T.Optional(Id),
            state: State,
            until: T.String({ minLength: 1, maxLength: 40, description: 'ISO 8601, any offset' }),
            note: T.Optional(T.String({ maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: responses({ 201: Override }),
      },
    },
    async (req, reply) => reply.status(201).send(s.createOverride(req.body, actorOf(user(req)))),
  );
  app.delete(
    '/schedule/overrides/:id',
    {
      preHandler: requireRole('head'),
      schema: { tags, params: T.Object({ id: T.Integer({ minimum: 1 }) }), response: responses({ 200: Ok }) },
    },
    async (req) => {
      s.deleteOverride(req.params.id, actorOf(user(req)));
      return { ok: true };
    },
  );

  // ---- preview, devices, stats ----
  app.get(
    '/schedule/preview',
    {
      preHandler: requireRole('resident'),
      schema: {
        tags,
        summary: 'Every switching instant per zone (and per light that has its own) for the coming days',
        querystring: T.Object({ days: T.Optional(T.Integer({ minimum: 1, maximum: 31, default: 7 })) }),
        response: responses({
          200: T.Object({
            from: T.String(),
            to: T.String(),
            zones: T.Array(PreviewEntry),
            lights: T.Array(PreviewEntry),
          }),
        }),
      },
    },
    async (req) => s.preview(req.query.days ?? 7),
  );
  app.post(
    '/schedule/push',
    {
      preHandler: requireRole('head'),
      schema: {
        tags,
        summary: 'Send every connected device its fallback program again (after replacing a relay)',
        response: responses({ 200: T.Object({ devices: T.Integer() }) }),
      },
    },
    async () => ({ devices: s.pushFallbacks() }),
  );
  app.get(
    '/lights/stats',
    {
      preHandler: requireRole('resident'),
      schema: {
        tags: ['lights'],
        summary: 'Burn hours and switch counts per light (from the states the relays report)',
        response: responses({
          200: T.Array(
            T.Object({
              id: T.String(),
              zone: T.String(),
              burnHours: T.Number(),
              switches: T.Integer(),
              lastSwitch: T.Union([T.String(), T.Null()]),
              on: T.Boolean(),
            }),
          ),
        }),
      },
    },
    async () => s.stats(),
  );
};
