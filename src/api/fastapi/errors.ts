// Errors a client can meet, FastAPI's HTTPException and RequestValidationError: an HttpError is
// answered `{"detail": "..."}` with its status, a RequestValidationError 422 with the pydantic
// items (error-handler.ts does the answering).
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { listedProblems } from '../../domain/errors.ts';

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
 * build items with `valueErrorItem` from pydantic-errors.ts or by hand. Unlike FastAPI, a list
 * of over 101 items is cut to the first 100 and one `too_many_errors` item counting the rest
 * (listedProblems, docs/fastapi-parity.md).
 */
export class RequestValidationError extends Error {
  readonly status = 422;
  readonly errors: PydanticErrorItem[];

  constructor(errors: PydanticErrorItem[]) {
    const listed = listedProblems(errors);
    const shown = listed.slice(0, 10).map((e) => `${e.loc.join('.')}: ${e.msg}`).join('; ');
    super(`${listed.length} validation error${listed.length === 1 ? '' : 's'}: ${shown}${listed.length > 10 ? '; …' : ''}`);
    this.name = 'RequestValidationError';
    this.errors = listed;
  }
}
