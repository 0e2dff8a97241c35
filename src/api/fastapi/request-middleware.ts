// Reads a request to an OpenAPI route the way FastAPI does before Hono's validators see it, and
// leaves what it read in a context variable for the validation hook, which answers every problem
// of the request at the route. The body is read by FastAPI's rules (request-body.ts), once. Where
// Hono's validators would read the request differently, the request is changed in place to the
// form they read as FastAPI does: a JSON body with no (or another JSON) content type gets
// `application/json`; a body that is missing, unreadable or not JSON becomes JSON `null` (which no
// model accepts, so the hook runs and answers from what was read); a repeated scalar query key
// keeps only its last value, as Starlette does. Nothing runs twice, so the app's own middleware
// (the key check above all) may come before this one: a request without a key is refused before
// a byte of its body is read. A string PostgreSQL cannot store (NUL, an unpaired surrogate)
// anywhere in a request the schemas accept is answered 422 here (unstorable-text.ts), and a body
// record over its bound of entries before zod walks it (entry-limits.ts).
import type { OpenAPIHono, RouteConfig } from '@hono/zod-openapi';
import type { Context, Env, MiddlewareHandler, Schema } from 'hono';
import { matchedRoutes } from 'hono/route';
import { readBodyLimited } from './body-limit.ts';
import { readRequestBody, type RequestBody } from './request-body.ts';
import { FASTAPI_REQUEST, jsonBodySchema, validateRequest, type FastApiRequest, type FastApiVariables } from './request-validation.ts';
import { RequestValidationError } from './errors.ts';
import { hideSecrets, secretKeys } from './secret-fields.ts';
import { mayHoldUnstorable, unstorableInBody, unstorableInParams } from './unstorable-text.ts';
import { def, unwrap, isZodSchema } from './zod-schema.ts';
import { oversizedRecords } from './entry-limits.ts';
import { MAX_LISTED_PROBLEMS } from '../../domain/errors.ts';

/** Content types both Hono's JSON validator and @hono/zod-openapi's media-type gate accept. */
const CANONICAL_JSON = /^application\/json(?:;\s*charset=[\w-]+)?$/i;
const JSON_NULL = new TextEncoder().encode('null');

interface KnownRoute {
  route: RouteConfig;
  /** Matches the path, capturing each parameter in `names` order. */
  pattern: RegExp;
  names: string[];
}

/** The most bytes a request body to this path may have (413 beyond it). */
export type BodyLimit = (path: string) => number;

export function fastApiRequests<E extends Env, S extends Schema, B extends string>(app: OpenAPIHono<E, S, B>, bodyLimit: BodyLimit): MiddlewareHandler {
  const routes = new RouteIndex(app);
  return async (c, next) => {
    const known = routes.find(c);
    if (!known) return next();
    const { route } = known;
    const { query, lastValuesOnly } = queryAsStarletteReadsIt(route, c.req.queries());
    let body: RequestBody | undefined;
    let bytes: Uint8Array | undefined;
    let retype = false;
    if (jsonBodySchema(route) && c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const contentType = c.req.header('content-type') ?? null;
      bytes = await readBodyLimited(c.req, bodyLimit(c.req.path));
      body = readRequestBody(bytes, contentType);
      if (body.kind !== 'json') [bytes, retype] = [JSON_NULL, true];
      else retype = !CANONICAL_JSON.test(contentType ?? '');
    }
    if (retype || lastValuesOnly) c.req.raw = asHonoReadsIt(c, bytes, lastValuesOnly ? query : undefined);
    if (bytes !== undefined) {
      // Parsed once: Hono's JSON validator gets this value instead of decoding and parsing the
      // bytes again (which also built a Response per request to turn them into text). What was
      // cached of the body as it came (its bytes) is dropped, as the body Hono reads is this one.
      const [value, text] = body?.kind === 'json' ? [body.value, body.text] : [null, 'null'];
      c.req.bodyCache = { text: Promise.resolve(text) } as unknown as typeof c.req.bodyCache;
      c.req.json = <T>() => Promise.resolve(value as T);
    }
    const request: FastApiRequest = { route, params: pathParams(known, c.req.path), query, body };
    // A record over its bound (env, labels, ...) is refused before zod walks it (entry-limits.ts).
    const bodySchema = body?.kind === 'json' ? jsonBodySchema(route) : undefined;
    if (bodySchema && body?.kind === 'json') {
      const oversized = oversizedRecords(bodySchema, body.value, ['body'], MAX_LISTED_PROBLEMS + 1);
      if (oversized.length > 0) throw new RequestValidationError(hideSecrets(oversized, secretKeys(bodySchema)));
    }
    const unstorable = [
      ...unstorableInParams('path', request.params),
      ...unstorableInParams('query', query),
      ...(body?.kind === 'json' && mayHoldUnstorable(body.text) ? unstorableInBody(body.value) : []),
    ];
    // Only for a request the schemas accept: one they refuse gets their answer, as from FastAPI.
    if (unstorable.length > 0 && (await validateRequest(request)).length === 0) {
      throw new RequestValidationError(hideSecrets(unstorable, secretKeys(jsonBodySchema(route))));
    }
    (c as Context<{ Variables: FastApiVariables }>).set(FASTAPI_REQUEST, request);
    await next();
  };
}

/** The same request with `bytes` as its JSON body when given, and the query reduced to `query` when given. */
function asHonoReadsIt(c: Context, bytes: Uint8Array | undefined, query: Record<string, string | string[]> | undefined): Request {
  const url = new URL(c.req.url);
  if (query) {
    url.search = '';
    for (const [key, value] of Object.entries(query)) for (const v of [value].flat()) url.searchParams.append(key, v);
  }
  const headers = new Headers(c.req.raw.headers);
  if (bytes !== undefined) {
    headers.set('content-type', 'application/json');
    headers.delete('content-length');
  }
  return new Request(url, { method: c.req.method, headers, body: bytes ?? null, signal: c.req.raw.signal });
}

// ---------------------------------------------------------------------------------------------
// Finding the OpenAPI route a request reached

class RouteIndex<E extends Env, S extends Schema, B extends string> {
  #byMethodAndPath = new Map<string, KnownRoute>();
  #indexed = -1;

  constructor(private readonly app: OpenAPIHono<E, S, B>) {}

  find(c: Context): KnownRoute | undefined {
    const definitions = this.app.openAPIRegistry.definitions;
    if (definitions.length !== this.#indexed) {
      this.#byMethodAndPath.clear();
      for (const d of definitions) {
        if (d.type !== 'route') continue;
        // Same conversion @hono/zod-openapi uses when it registers the Hono route.
        const honoPath = d.route.path.replaceAll(/\/{(.+?)}/g, '/:$1');
        this.#byMethodAndPath.set(`${d.route.method.toUpperCase()} ${honoPath}`, { route: d.route, ...pathPattern(honoPath) });
      }
      this.#indexed = definitions.length;
    }
    // Hono routes HEAD as GET.
    const method = c.req.method === 'HEAD' ? 'GET' : c.req.method.toUpperCase();
    for (const r of matchedRoutes(c)) {
      if (r.method !== method) continue;
      const found = this.#byMethodAndPath.get(`${method} ${r.path}`);
      if (found) return found;
    }
    return undefined;
  }
}

function pathPattern(honoPath: string): { pattern: RegExp; names: string[] } {
  const names: string[] = [];
  const source = honoPath
    .split('/')
    .map((segment) => {
      if (!segment.startsWith(':')) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(segment.slice(1));
      return '([^/]+)';
    })
    .join('/');
  return { pattern: new RegExp(`^${source}/?$`), names };
}

function pathParams(known: KnownRoute, path: string): Record<string, string> {
  const m = known.pattern.exec(path);
  return Object.fromEntries(known.names.map((name, i) => [name, decodePathSegment(m?.[i + 1] ?? '')]));
}

function decodePathSegment(raw: string): string {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

// ---------------------------------------------------------------------------------------------
// The query

/** Hono's query values (`[k, v]` or `[k, [v1, v2]]`), with Starlette's last value for scalars. */
function queryAsStarletteReadsIt(route: RouteConfig, queries: Record<string, string[]>): { query: Record<string, string | string[]>; lastValuesOnly: boolean } {
  const schema = route.request?.query;
  const shape = isZodSchema(schema) ? (def(unwrap(schema)).shape ?? {}) : {};
  let lastValuesOnly = false;
  const query: Record<string, string | string[]> = {};
  for (const [key, values] of Object.entries(queries)) {
    if (values.length === 1) query[key] = values[0] as string;
    else if (Object.hasOwn(shape, key) && def(unwrap(shape[key] as never)).type !== 'array') {
      query[key] = values[values.length - 1] as string;
      lastValuesOnly = true;
    } else query[key] = values;
  }
  return { query, lastValuesOnly };
}
