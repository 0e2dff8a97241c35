// Errors a client can meet, and the one place they become HTTP responses, shaped like FastAPI's:
// `{"detail": "..."}` for an HttpError, `{"detail": [pydantic items]}` with 422 for invalid input,
// and a bare 500 `{"detail": "Internal Server Error"}` for anything unexpected, whose stack goes
// to the log with the request id and never to the client.
import { STATUS_CODES } from 'node:http';
import type { Context, ErrorHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** One step of a pydantic error location: a field name or a list index. */
export type LocItem = string | number;

/** One item of FastAPI's 422 `detail` list, as Pydantic v2 reports it (`url` left out, as FastAPI does). */
export interface PydanticErrorItem {
  type: string;
  loc: LocItem[];
  msg: string;
  input: unknown;
  ctx?: Record<string, unknown>;
}

export interface HttpErrorOptions {
  /** Extra response headers, e.g. `Retry-After` or `WWW-Authenticate`. */
  headers?: Record<string, string>;
  cause?: unknown;
}

/** An error the client caused or can act on; `detail` is sent as is, so say what to do. */
export class HttpError extends Error {
  readonly status: ContentfulStatusCode;
  readonly detail: string;
  readonly headers: Record<string, string>;

  constructor(status: ContentfulStatusCode, detail: string, options: HttpErrorOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.status = status;
    this.detail = detail;
    this.headers = { ...options.headers };
  }
}

export class NotFoundError extends HttpError {
  constructor(detail: string, options?: HttpErrorOptions) {
    super(404, detail, options);
  }
}

export class ConflictError extends HttpError {
  constructor(detail: string, options?: HttpErrorOptions) {
    super(409, detail, options);
  }
}

/** 401; carries `WWW-Authenticate: Bearer` unless told otherwise, as RFC 9110 asks. */
export class UnauthorizedError extends HttpError {
  constructor(detail: string, options: HttpErrorOptions = {}) {
    super(401, detail, { ...options, headers: { 'WWW-Authenticate': 'Bearer', ...options.headers } });
  }
}

export class ForbiddenError extends HttpError {
  constructor(detail: string, options?: HttpErrorOptions) {
    super(403, detail, options);
  }
}

export interface RetryAfterOptions extends HttpErrorOptions {
  /** Sent as `Retry-After` so clients know when to come back. */
  retryAfterSeconds?: number;
}

function withRetryAfter(options: RetryAfterOptions): HttpErrorOptions {
  const { retryAfterSeconds, ...rest } = options;
  if (retryAfterSeconds === undefined) return rest;
  return { ...rest, headers: { 'Retry-After': String(Math.max(0, Math.ceil(retryAfterSeconds))), ...rest.headers } };
}

export class TooManyRequestsError extends HttpError {
  constructor(detail: string, options: RetryAfterOptions = {}) {
    super(429, detail, withRetryAfter(options));
  }
}

export class ServiceUnavailableError extends HttpError {
  constructor(detail: string, options: RetryAfterOptions = {}) {
    super(503, detail, withRetryAfter(options));
  }
}

/**
 * Input that failed validation: answered 422 `{"detail": errors}`. Thrown by the validation hook,
 * and by route code for checks a schema cannot express (a workflow cycle, an unknown dependency);
 * build items with `valueErrorItem` from validation.ts or by hand.
 */
export class RequestValidationError extends Error {
  readonly status = 422;
  readonly errors: PydanticErrorItem[];

  constructor(errors: PydanticErrorItem[]) {
    super(`${errors.length} validation error${errors.length === 1 ? '' : 's'}: ${errors.map((e) => `${e.loc.join('.')}: ${e.msg}`).join('; ')}`);
    this.name = 'RequestValidationError';
    this.errors = errors;
  }
}

/** The part of a pino logger onError needs. */
export interface ErrorLogger {
  error(obj: object, msg: string): void;
}

const MALFORMED_JSON = 'Malformed JSON in request body';

/** The `app.onError` handler: maps every error to FastAPI's response shape. */
export function onError(logger: ErrorLogger): ErrorHandler {
  return (err, c) => {
    if (err instanceof RequestValidationError) return c.json({ detail: err.errors }, 422);
    if (err instanceof HttpError) return c.json({ detail: err.detail }, err.status, err.headers);
    if (err instanceof HTTPException) return fromHttpException(err, c);
    logger.error(
      { err, request_id: requestIdOf(c), method: c.req.method, path: c.req.path },
      `unhandled error on ${c.req.method} ${c.req.path}: ${err instanceof Error ? err.message : String(err)}`,
    );
    return c.json({ detail: 'Internal Server Error' }, 500);
  };
}

function fromHttpException(err: HTTPException, c: Context): Response {
  // Hono's JSON validator throws this when a route is reached without installFastApiRouting's
  // body preparation; FastAPI answers malformed JSON with a 422, never a 400. The position is
  // unknown here because Hono has consumed the body.
  if (err.status === 400 && err.message === MALFORMED_JSON) {
    const item: PydanticErrorItem = { type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error', input: {}, ctx: { error: 'Expecting value' } };
    return c.json({ detail: [item] }, 422);
  }
  const headers: Record<string, string> = {};
  // Keep what the thrower meant for the client (WWW-Authenticate, Allow, Retry-After…), not its body.
  err.res?.headers.forEach((value, key) => {
    if (key !== 'content-type' && key !== 'content-length') headers[key] = value;
  });
  const detail = err.message || STATUS_CODES[err.status] || 'Error';
  return c.json({ detail }, err.status as ContentfulStatusCode, headers);
}

function requestIdOf(c: Context): string | undefined {
  const fromMiddleware: unknown = c.get('requestId');
  return typeof fromMiddleware === 'string' ? fromMiddleware : c.req.header('x-request-id');
}
