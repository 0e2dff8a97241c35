// A Hono app that answers like FastAPI: request bodies read by FastAPI's rules, every validation
// problem of a request in one 422 with Pydantic's items, `{"detail": ...}` errors, Starlette's
// 404/405/307, and /openapi.json, /docs and /redoc. Set up with:
//
//   const app = new OpenAPIHono({ defaultHook: validationHook });
//   installFastApi(app, { logger, title: 'Jarvis', version: '0.1.0' }); // before any route
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Env, Schema } from 'hono';
import { installDocs, type DocsOptions } from './docs.ts';
import { fastApiErrorHandler, type ErrorLogger } from './error-handler.ts';
import { notFoundLikeStarlette } from './not-found.ts';
import { fastApiRequests, type BodyLimit } from './request-middleware.ts';

export * from './errors.ts';
export { validationHook } from './request-validation.ts';
export { valueErrorItem } from './pydantic-errors.ts';
export { queryBool, queryInt } from './query-params.ts';
export { laxFloat, laxInt } from './lax.ts';
export { uuidError } from './uuid.ts';
export { secretField } from './secret-fields.ts';
export { maxEntries } from './entry-limits.ts';

export interface FastApiOptions extends DocsOptions {
  logger: ErrorLogger;
  /** The most bytes a request body to a path may have (413 beyond it, before it is read whole). */
  bodyLimit: BodyLimit;
}

/**
 * Installs the request middleware (it reads the body: middleware added before it, such as a key
 * check, runs before the body is read), the not-found and error handlers, and the docs routes.
 * Routes added later are picked up as they come.
 */
export function installFastApi<E extends Env, S extends Schema, B extends string>(app: OpenAPIHono<E, S, B>, options: FastApiOptions): void {
  const { logger, bodyLimit, ...docs } = options;
  app.use('*', fastApiRequests(app, bodyLimit));
  app.notFound(notFoundLikeStarlette(app));
  app.onError(fastApiErrorHandler(logger));
  installDocs(app, docs);
}
