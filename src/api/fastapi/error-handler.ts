// The one place errors become HTTP responses, shaped like FastAPI's: `{"detail": "..."}` for an
// HttpError (or Hono's HTTPException), `{"detail": [pydantic items]}` with 422 for invalid input,
// and a bare 500 `{"detail": "Internal Server Error"}` for anything unexpected, whose stack goes
// to the log with the request id and never to the client.
import { STATUS_CODES } from 'node:http';
import type { Context, ErrorHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { HttpError, RequestValidationError } from './errors.ts';
import { FASTAPI_REQUEST, isOverflowCheckingBody, tooManyProblems, type FastApiVariables } from './request-validation.ts';
import { withoutQueryParams } from '../../config/log-redaction.ts';

/** The part of a pino logger the handler needs. */
export interface ErrorLogger {
  error(obj: object, msg: string): void;
}

/** The `app.onError` handler. */
export function fastApiErrorHandler(logger: ErrorLogger): ErrorHandler {
  return (err, c) => {
    if (isOverflowCheckingBody(err, (c as Context<{ Variables: FastApiVariables }>).get(FASTAPI_REQUEST))) err = tooManyProblems();
    if (err instanceof RequestValidationError) return c.json({ detail: err.errors }, 422);
    if (err instanceof HttpError) return c.json({ detail: err.detail }, err.status, err.headers);
    if (err instanceof HTTPException) return fromHttpException(err, c);
    // A failed query's message ends with its parameters (a node's token, for one): not logged.
    const safe = withoutQueryParams(err);
    logger.error(
      { err: safe, request_id: requestIdOf(c), method: c.req.method, path: c.req.path },
      `unhandled error on ${c.req.method} ${c.req.path}: ${safe instanceof Error ? safe.message : String(safe)}`,
    );
    return c.json({ detail: 'Internal Server Error' }, 500);
  };
}

function fromHttpException(err: HTTPException, c: Context): Response {
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
