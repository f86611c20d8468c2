/**
 * The one error catalog. Every error a client can see (HTTP body, socket ack,
 * connect_error) carries one of these codes; docs/api.md lists each one with its
 * status and a test checks that it does. Codes are a closed union so a typo is a compile error.
 */
export const ERROR_CATALOG = {
  // request shape
  E_VALIDATION: { status: 400, message: 'The request is invalid' },
  E_BAD_JSON: { status: 400, message: 'The request body is not valid JSON' },
  E_PAYLOAD_TOO_LARGE: { status: 413, message: 'The payload is larger than allowed' },
  E_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The content type is not supported' },
  E_ROUTE_NOT_FOUND: { status: 404, message: 'No such route' },
  E_UNKNOWN_EVENT: { status: 400, message: 'No such event' },
  E_PARSER_MISMATCH: { status: 400, message: 'The client\'s Socket.IO parser does not match the server\'s' },
  E_BAD_CURSOR: { status: 400, message: 'The cursor is malformed or expired' },
  E_MALFORMED_REQUEST: { status: 400, message: 'The request is not well-formed HTTP' },
  E_URI_TOO_LONG: { status: 414, message: 'The request URL is too long' },
  E_HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large' },
  E_REQUEST_TIMEOUT: { status: 408, message: 'The request did not arrive in time' },
  E_EXPECTATION_FAILED: { status: 417, message: 'Only the Expect: 100-continue expectation is supported' },

  // authentication and authorisation
  E_TOKEN_MISSING: { status: 401, message: 'An access token is required' },
  E_TOKEN_EXPIRED: { status: 401, message: 'The access token has expired' },
  E_TOKEN_INVALID: { status: 401, message: 'The access token is malformed or its signature is wrong' },
  E_TOKEN_ALGORITHM: { status: 401, message: 'The access token uses an algorithm that is not accepted' },
  E_BAD_CREDENTIALS: { status: 401, message: 'Handle or password is wrong' },
  E_FORBIDDEN: { status: 403, message: 'You are not allowed to do this' },
  E_LOCAL_LOGIN_DISABLED: { status: 501, message: 'This server does not issue tokens: sign in with the identity provider that issues them' },
  E_ORIGIN_NOT_ALLOWED: { status: 403, message: 'Requests from this origin are not allowed' },

  // domain
  E_NOT_FOUND: { status: 404, message: 'Not found' },
  E_VIDEO_NOT_FOUND: { status: 404, message: 'No such video' },
  E_USER_NOT_FOUND: { status: 404, message: 'No such user' },
  E_COMMENT_NOT_FOUND: { status: 404, message: 'No such comment' },
  E_JOB_NOT_FOUND: { status: 404, message: 'No such job' },
  E_UPLOAD_NOT_FOUND: { status: 404, message: 'No such upload, or it is not finished' },
  E_HANDLE_TAKEN: { status: 409, message: 'That handle is already taken' },
  E_SELF_FOLLOW: { status: 400, message: 'You cannot follow yourself' },
  E_REPLY_TARGET: { status: 400, message: 'A reply must point at a comment of the same video' },
  E_JOB_FINISHED: { status: 409, message: 'The job has already finished' },

  // limits and load
  E_RATE_LIMITED: { status: 429, message: 'Too many requests; retry later' },
  E_QUEUE_FULL: { status: 429, message: 'The processing queue is full; retry later' },
  E_QUOTA_EXCEEDED: { status: 413, message: 'Your upload quota is used up' },
  E_TOO_MANY_WATCHES: { status: 429, message: 'This connection watches too many videos' },
  E_TOO_MANY_CONNECTIONS: { status: 429, message: 'This user has too many open connections' },
  E_BUSY: { status: 503, message: 'The server is busy; retry shortly' },

  // media
  E_MEDIA_INVALID: { status: 422, message: 'The file is not a playable video' },
  E_MEDIA_TOO_LONG: { status: 422, message: 'The video is longer than allowed' },
  E_RANGE_NOT_SATISFIABLE: { status: 416, message: 'The requested range is outside the file' },
  E_CHECKSUM_MISMATCH: { status: 460, message: 'The checksum does not match the data' },
  E_SIGNATURE_INVALID: { status: 403, message: 'The media URL signature is invalid' },
  E_SIGNATURE_EXPIRED: { status: 403, message: 'The media URL has expired' },
  E_JOB_TIMEOUT: { status: 504, message: 'The job took longer than allowed' },
  E_JOB_CANCELLED: { status: 409, message: 'The job was cancelled' },
  E_TAGGING_FAILED: { status: 500, message: 'Tagging failed' },
  E_MEDIA_UNAVAILABLE: { status: 503, message: 'Video processing is not available on this server' },

  // infrastructure
  E_STORAGE_UNAVAILABLE: { status: 503, message: 'Storage is unavailable; retry later' },
  E_SHUTTING_DOWN: { status: 503, message: 'The server is shutting down; reconnect elsewhere' },
  E_INTERNAL: { status: 500, message: 'Internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CATALOG, value);
}

/** The single error class. `message` is safe to show a client; `cause` never is. */
export class TremoloError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Seconds after which a retry may succeed (429/503), sent as Retry-After. */
  readonly retryAfter?: number;
  /** Extra fields a client may act on, e.g. `{ field: 'title' }`. */
  readonly details?: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message?: string,
    opts: { cause?: unknown; retryAfter?: number; details?: Record<string, unknown> } = {},
  ) {
    super(message ?? ERROR_CATALOG[code].message, { cause: opts.cause });
    this.name = 'TremoloError';
    this.code = code;
    this.status = ERROR_CATALOG[code].status;
    if (opts.retryAfter !== undefined) this.retryAfter = opts.retryAfter;
    if (opts.details !== undefined) this.details = opts.details;
  }

  toJSON(): ErrorBody['error'] {
    return { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

/** HTTP error body shape. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; details?: Record<string, unknown> };
}

/** Failed socket ack shape. */
export interface FailedAck {
  ok: false;
  code: ErrorCode;
  message: string;
}

/** Anything thrown becomes a TremoloError; unknown errors become E_INTERNAL without leaking their text. */
export function toTremoloError(err: unknown): TremoloError {
  if (err instanceof TremoloError) return err;
  return new TremoloError('E_INTERNAL', undefined, { cause: err });
}

export function failedAck(err: unknown): FailedAck {
  const e = toTremoloError(err);
  return { ok: false, code: e.code, message: e.message };
}
