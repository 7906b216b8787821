import { Type as T, type TSchema } from '@sinclair/typebox';

export const ErrorBody = T.Object(
  {
    error: T.Object({ code: T.String(), message: T.String(), retryAfterSec: T.Optional(T.Integer()) }),
  },
  { $id: 'Error' },
);

/** A string from a fixed list: one clear error ("must be one of on, off, toggle") instead of one per branch. */
export const StringEnum = <const V extends string[]>(values: V, options: object = {}) =>
  T.Unsafe<V[number]>({ type: 'string', enum: values, ...options });

export const Role = StringEnum(['resident', 'head', 'technician', 'admin']);

export const PowerStateOrNull = T.Union([T.Literal('on'), T.Literal('off'), T.Null()]);

export const Light = T.Object({
  id: T.String(),
  name: T.String(),
  zone: T.String(),
  desired: PowerStateOrNull,
  reported: PowerStateOrNull,
  online: T.Boolean(),
  pending: T.Boolean(),
  desiredBy: T.Union([T.String(), T.Null()], { description: 'who or what asked: user:<name>, system:…' }),
  desiredAt: T.Union([T.String(), T.Null()]),
  reportedAt: T.Union([T.String(), T.Null()]),
});

export const StateBody = T.Object(
  { state: StringEnum(['on', 'off', 'toggle']) },
  { additionalProperties: false },
);

export const UserView = T.Object({
  username: T.String(),
  role: Role,
  displayName: T.String(),
  zones: T.Array(T.String()),
});

export const Name = T.String({ minLength: 1, maxLength: 80 });
export const Zone = T.String({ minLength: 1, maxLength: 60 });
export const Id = T.String({ minLength: 1, maxLength: 64 });

/** Every route answers errors in one shape. */
export function responses<R extends Record<number, TSchema>>(ok: R) {
  return { ...ok, '4xx': T.Ref(ErrorBody), '5xx': T.Ref(ErrorBody) };
}
