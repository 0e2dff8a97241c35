// FastAPI's documentation endpoints: /openapi.json (OpenAPI 3.1 from the routes' zod schemas,
// plus the 422 HTTPValidationError response FastAPI adds to every operation that validates
// input), /docs (Swagger UI) and /redoc. The doc routes are plain Hono routes, so they never
// appear in the document themselves.
import type { OpenAPIHono } from '@hono/zod-openapi';
import { swaggerUI } from '@hono/swagger-ui';
import type { Env, Schema } from 'hono';

export interface DocsOptions {
  title: string;
  version: string;
  description?: string;
  openapiUrl?: string;
  docsUrl?: string;
  redocUrl?: string;
  /**
   * Answers the app gives around the routes (authentication, limits), by operation: added to
   * each operation's responses where it does not describe that status itself, so a
   * schema-driven client or fuzzer finds no undocumented answer.
   */
  extraResponses?: (method: string, path: string, operation: { hasBody: boolean }) => Record<string, string>;
}

/** FastAPI's `ValidationError` component (fastapi/openapi/utils.py). */
export const VALIDATION_ERROR_SCHEMA = {
  properties: {
    loc: { items: { anyOf: [{ type: 'string' }, { type: 'integer' }] }, type: 'array', title: 'Location' },
    msg: { type: 'string', title: 'Message' },
    type: { type: 'string', title: 'Error Type' },
  },
  type: 'object',
  required: ['loc', 'msg', 'type'],
  title: 'ValidationError',
} as const;

/** FastAPI's `HTTPValidationError` component: the body of every 422. */
export const HTTP_VALIDATION_ERROR_SCHEMA = {
  properties: {
    detail: { items: { $ref: '#/components/schemas/ValidationError' }, type: 'array', title: 'Detail' },
  },
  type: 'object',
  title: 'HTTPValidationError',
} as const;

/** The response FastAPI adds; spread into a route's `responses` to write it out by hand. */
export const validationErrorResponse = {
  422: {
    description: 'Validation Error',
    content: { 'application/json': { schema: { $ref: '#/components/schemas/HTTPValidationError' } } },
  },
} as const;

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

type JsonObject = Record<string, unknown>;

export function installDocs<E extends Env, S extends Schema, B extends string>(app: OpenAPIHono<E, S, B>, options: DocsOptions): void {
  const { openapiUrl = '/openapi.json', docsUrl = '/docs', redocUrl = '/redoc' } = options;
  let document: JsonObject | undefined;
  // Built on first request, when every route is registered, then kept: FastAPI caches it too.
  app.get(openapiUrl, (c) => c.json((document ??= buildOpenApiDocument(app, options))));
  app.get(docsUrl, swaggerUI({ url: openapiUrl, title: `${options.title} - Swagger UI` }));
  app.get(redocUrl, (c) => c.html(redocHtml({ title: `${options.title} - ReDoc`, openapiUrl })));
}

export function buildOpenApiDocument<E extends Env, S extends Schema, B extends string>(app: OpenAPIHono<E, S, B>, options: DocsOptions): JsonObject {
  const info = { title: options.title, version: options.version, ...(options.description ? { description: options.description } : {}) };
  const document = app.getOpenAPI31Document({ openapi: '3.1.0', info }) as unknown as JsonObject;
  if (options.extraResponses) withExtraResponses(document, options.extraResponses);
  return withFastApiValidationErrors(document);
}

/** Adds each operation's extra answers (`{"401": "description"}`) with the `{"detail": …}` body. */
function withExtraResponses(document: JsonObject, extra: NonNullable<DocsOptions['extraResponses']>): void {
  const paths = (document.paths ?? {}) as Record<string, Record<string, unknown>>;
  for (const [path, item] of Object.entries(paths)) {
    for (const method of HTTP_METHODS) {
      const operation = item[method] as JsonObject | undefined;
      if (!operation) continue;
      const responses = ((operation.responses ??= {}) as JsonObject);
      for (const [status, description] of Object.entries(extra(method.toUpperCase(), path, { hasBody: operation.requestBody !== undefined }))) {
        if (status in responses) continue;
        responses[status] = { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorDetail' } } } };
      }
    }
  }
}

/**
 * Adds FastAPI's 422 response to every operation with parameters or a request body (unless it
 * declares 422, 4XX or default itself), the two components it refers to, and `required: true`
 * on request bodies not marked optional (the body handling treats them as required, as FastAPI
 * does for a model parameter without a default).
 */
export function withFastApiValidationErrors(document: JsonObject): JsonObject {
  const paths = (document.paths ?? {}) as Record<string, Record<string, unknown>>;
  let used = false;
  for (const item of Object.values(paths)) {
    const shared = Array.isArray(item.parameters) && item.parameters.length > 0;
    for (const method of HTTP_METHODS) {
      const operation = item[method] as JsonObject | undefined;
      if (!operation) continue;
      const requestBody = operation.requestBody as JsonObject | undefined;
      if (requestBody && requestBody.required === undefined) requestBody.required = true;
      const validates = shared || (Array.isArray(operation.parameters) && operation.parameters.length > 0) || requestBody !== undefined;
      if (!validates) continue;
      const responses = ((operation.responses ??= {}) as JsonObject);
      if ('422' in responses || '4XX' in responses || 'default' in responses) continue;
      responses['422'] = structuredClone(validationErrorResponse[422]);
      used = true;
    }
  }
  const declared = Object.values(paths).some((item) =>
    HTTP_METHODS.some((m) => JSON.stringify((item[m] as JsonObject | undefined)?.responses ?? {}).includes('#/components/schemas/HTTPValidationError')),
  );
  if (used || declared) {
    const components = ((document.components ??= {}) as JsonObject);
    const schemas = { ...((components.schemas ?? {}) as JsonObject) };
    schemas.HTTPValidationError ??= structuredClone(HTTP_VALIDATION_ERROR_SCHEMA);
    schemas.ValidationError ??= structuredClone(VALIDATION_ERROR_SCHEMA);
    // FastAPI lists components alphabetically.
    components.schemas = Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  return document;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** The page FastAPI's get_redoc_html serves. */
export function redocHtml({ title, openapiUrl }: { title: string; openapiUrl: string }): string {
  return `<!DOCTYPE html>
<html>
<head>
<title>${escapeHtml(title)}</title>
<!-- needed for adaptive design -->
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link href="https://fonts.googleapis.com/css?family=Montserrat:300,400,700|Roboto:300,400,700" rel="stylesheet">
<link rel="shortcut icon" href="https://fastapi.tiangolo.com/img/favicon.png">
<!--
ReDoc doesn't change outer page styles
-->
<style>
  body {
    margin: 0;
    padding: 0;
  }
</style>
</head>
<body>
<noscript>
    ReDoc requires Javascript to function. Please enable it to browse the documentation.
</noscript>
<redoc spec-url="${escapeHtml(openapiUrl)}"></redoc>
<script src="https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"> </script>
</body>
</html>
`;
}
