/**
 * Errors with stable codes, thrown at the edge where they happen and turned into
 * `{"error":{"code","message"}}` in one place (the HTTP error handler).
 */
export const errorStatus = {
  KHU_BAD_REQUEST: 400,
  KHU_UNAUTHORIZED: 401,
  KHU_FORBIDDEN: 403,
  KHU_NOT_FOUND: 404,
  KHU_CONFLICT: 409,
  KHU_PAYLOAD_TOO_LARGE: 413,
  KHU_RATE_LIMITED: 429,
  /** A camera did not answer (network, wrong address, timeout). */
  KHU_CAMERA_UNREACHABLE: 502,
  /** The camera answered, but refused the login we were given. */
  KHU_CAMERA_LOGIN_REFUSED: 422,
  /** The camera answered with something we will not use (a non-RTSP stream URI, no H.264 profile…). */
  KHU_CAMERA_UNUSABLE: 422,
  /** No invitation has this code (or this id). */
  KHU_INVITE_NOT_FOUND: 404,
  /** The invitation's time ran out. */
  KHU_INVITE_EXPIRED: 410,
  /** The invitation was accepted already: each one makes one account. */
  KHU_INVITE_USED: 410,
  /** The area head withdrew the invitation. */
  KHU_INVITE_REVOKED: 410,
  /** The QR of an invitation can be drawn only while the hub still holds its code (see invites-service). */
  KHU_INVITE_CODE_UNAVAILABLE: 410,
  KHU_INTERNAL: 500,
  KHU_CONFIG_INVALID: 500,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export class KhuError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra fields for the answer (never secrets), e.g. `retryAfterSec`. */
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'KhuError';
    this.code = code;
    this.status = errorStatus[code];
    this.details = details;
  }
}

export const notFound = (what: string) => new KhuError('KHU_NOT_FOUND', `${what} not found`);
export const badRequest = (message: string) => new KhuError('KHU_BAD_REQUEST', message);
export const forbidden = (message = 'not allowed for your role') => new KhuError('KHU_FORBIDDEN', message);
export const conflict = (message: string) => new KhuError('KHU_CONFLICT', message);
