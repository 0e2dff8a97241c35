// What FastAPI does around the handlers, for a Hono app whose routes are all registered:
// request bodies read the way FastAPI reads them (content type, empty body, malformed JSON with
// Python's error position), 404 `{"detail":"Not Found"}`, 405 with `Allow`, and the 307 to the
// path with(out) a trailing slash. Body handling has to happen before Hono routes the request,
// and the routes are already registered when this runs, so it wraps `app.fetch`; what it learned
// is kept per Request for the validation hook (validation.ts) to read.
import type { OpenAPIHono, RouteConfig } from '@hono/zod-openapi';
import type { Context, Env, Schema } from 'hono';
import { TrieRouter } from 'hono/router/trie-router';
import { HttpError, RequestValidationError, type PydanticErrorItem } from './errors.ts';

/** How the request body looked to FastAPI's rules, before any schema saw it. */
export type PreparedBody =
  /** Parsed JSON, not null. */
  | { kind: 'json'; value: unknown }
  /** Required and absent (empty, or JSON `null`): one `missing` item at `["body"]`. */
  | { kind: 'missing' }
  /** A non-JSON content type: FastAPI validates the raw text against the model. */
  | { kind: 'raw'; text: string }
  /** Unreadable (json_invalid, bad UTF-8): answered alone, before any other validation. */
  | { kind: 'invalid'; error: Error };

export interface PreparedRequest {
  /** The OpenAPI route this request reached, when it was registered with `app.openapi`. */
  route: RouteConfig;
  body?: PreparedBody;
}

const preparedRequests = new WeakMap<Request, PreparedRequest>();

/** What installFastApiRouting learned about this request (undefined for routes it does not know). */
export function preparedRequest(request: Request): PreparedRequest | undefined {
  return preparedRequests.get(request);
}

type AnyOpenApiApp<E extends Env, S extends Schema, B extends string> = OpenAPIHono<E, S, B>;

const installedOn = new WeakSet<object>();

/**
 * Call once every route is registered (sub-apps mounted, docs installed). Wraps `app.fetch` (so
 * `serve({ fetch: app.fetch })` and `app.request()` both go through it) and sets the not-found
 * handler.
 */
export function installFastApiRouting<E extends Env, S extends Schema, B extends string>(app: AnyOpenApiApp<E, S, B>): void {
  // Twice would read the already-prepared body again and misjudge it.
  if (installedOn.has(app)) return;
  installedOn.add(app);
  const routes = new OpenApiRouteIndex(app);
  const dispatch = app.fetch;
  app.fetch = async (request, env, executionCtx) => {
    const prepared = await prepareRequest(app, routes, request, env);
    return dispatch(prepared, env, executionCtx);
  };
  app.notFound(notFoundLikeFastApi(app));
}

// ---------------------------------------------------------------------------------------------
// Finding the OpenAPI route a request reaches

class OpenApiRouteIndex<E extends Env, S extends Schema, B extends string> {
  #byMethodAndPath = new Map<string, RouteConfig>();
  #indexed = -1;

  constructor(private readonly app: AnyOpenApiApp<E, S, B>) {}

  find(method: string, path: string): RouteConfig | undefined {
    const definitions = this.app.openAPIRegistry.definitions;
    if (definitions.length !== this.#indexed) {
      this.#byMethodAndPath.clear();
      for (const def of definitions) {
        if (def.type !== 'route') continue;
        // Same conversion @hono/zod-openapi uses when it registers the Hono route.
        const honoPath = def.route.path.replaceAll(/\/{(.+?)}/g, '/:$1');
        this.#byMethodAndPath.set(`${def.route.method.toUpperCase()} ${honoPath}`, def.route);
      }
      this.#indexed = definitions.length;
    }
    for (const [[, route]] of this.app.router.match(method, path)[0]) {
      if (route.method !== method) continue;
      const found = this.#byMethodAndPath.get(`${method} ${route.path}`);
      if (found) return found;
    }
    return undefined;
  }
}

/** The JSON media type of the route's request body, when it declares one with a schema. */
export function jsonBodyOf(route: RouteConfig): { mediaType: string; schema: unknown; onlyJson: boolean } | undefined {
  const content = route.request?.body?.content;
  if (!content) return undefined;
  const types = Object.keys(content);
  const mediaType = types.find((t) => /^application\/([\w.-]+\+)?json\b/i.test(t));
  if (!mediaType) return undefined;
  const media = content[mediaType] as { schema?: unknown } | undefined;
  const schema = media?.schema;
  if (!schema || typeof schema !== 'object' || !('_zod' in schema)) return undefined;
  return { mediaType, schema, onlyJson: types.every((t) => /^application\/([\w.-]+\+)?json\b/i.test(t)) };
}

// ---------------------------------------------------------------------------------------------
// Reading the request the way FastAPI does

async function prepareRequest<E extends Env, S extends Schema, B extends string>(
  app: AnyOpenApiApp<E, S, B>,
  routes: OpenApiRouteIndex<E, S, B>,
  request: Request,
  env: unknown,
): Promise<Request> {
  const method = request.method === 'HEAD' ? 'GET' : request.method.toUpperCase();
  const route = routes.find(method, app.getPath(request, { env: env as E['Bindings'] }));
  if (!route) return request;

  const url = lastValueForScalarQueryParams(route, request.url);
  const body = jsonBodyOf(route);
  const contentType = request.headers.get('content-type');
  // A GET cannot carry a body through the Fetch API, so FastAPI's GET-with-body is not mirrored.
  const readsBody =
    body !== undefined && method !== 'GET' && (contentType === null || fastApiReadsAsJson(contentType) || body.onlyJson);
  if (!readsBody) {
    // The query rewrite only applies where it is cheap: a request without a body to carry over.
    const forwarded = url !== request.url && request.body === null ? new Request(url, { method: request.method, headers: request.headers, signal: request.signal }) : request;
    preparedRequests.set(forwarded, { route });
    return forwarded;
  }

  const bytes = new Uint8Array(await request.arrayBuffer());
  const required = route.request?.body?.required !== false;
  const prepared = readBody(bytes, contentType, required);
  const headers = new Headers(request.headers);
  headers.delete('content-length');
  let forwardedBody: Uint8Array | string | null;
  if (prepared === undefined) {
    // An optional body that is absent: no content type, so @hono/zod-openapi hands the handler {}.
    headers.delete('content-type');
    forwardedBody = null;
  } else if (prepared.kind === 'json') {
    // Normalised so Hono's validator and @hono/zod-openapi's media-type gate accept what FastAPI
    // accepts, including a body sent with no content type at all.
    headers.set('content-type', 'application/json');
    forwardedBody = bytes;
  } else {
    // The hook answers for these from the prepared record; the validator only has to call it.
    headers.set('content-type', 'application/json');
    forwardedBody = 'null';
  }
  const forwarded = new Request(url, { method: request.method, headers, body: forwardedBody, signal: request.signal });
  preparedRequests.set(forwarded, { route, body: prepared });
  return forwarded;
}

function readBody(bytes: Uint8Array, contentType: string | null, required: boolean): PreparedBody | undefined {
  const missing = required ? ({ kind: 'missing' } as const) : undefined;
  if (bytes.length === 0) return missing;
  if (contentType !== null && !fastApiReadsAsJson(contentType)) {
    return { kind: 'raw', text: new TextDecoder().decode(bytes) };
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    return { kind: 'invalid', error: new HttpError(400, 'There was an error parsing the body', { cause: err }) };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const { msg, pos } = pythonJsonDecodeError(text) ?? { msg: 'Expecting value', pos: 0 };
    const item: PydanticErrorItem = { type: 'json_invalid', loc: ['body', pos], msg: 'JSON decode error', input: {}, ctx: { error: msg } };
    return { kind: 'invalid', error: new RequestValidationError([item]) };
  }
  return value === null ? missing : { kind: 'json', value };
}

/** FastAPI parses the body as JSON with no content type, or `application/json` / `application/*+json`. */
export function fastApiReadsAsJson(contentType: string): boolean {
  const [essence = ''] = contentType.split(';');
  const [main, sub] = essence.trim().toLowerCase().split('/');
  return main === 'application' && sub !== undefined && (sub === 'json' || sub.endsWith('+json'));
}

/** Starlette keeps the last value of a repeated query key for a scalar parameter. */
function lastValueForScalarQueryParams(route: RouteConfig, url: string): string {
  const shape = (route.request?.query as { shape?: Record<string, { _zod?: { def?: { type?: string } } }> } | undefined)?.shape;
  if (!shape || !url.includes('?')) return url;
  const parsed = new URL(url);
  let changed = false;
  for (const key of new Set(parsed.searchParams.keys())) {
    const values = parsed.searchParams.getAll(key);
    if (values.length < 2 || !(key in shape) || acceptsList(shape[key])) continue;
    parsed.searchParams.set(key, values[values.length - 1] as string);
    changed = true;
  }
  return changed ? parsed.toString() : url;
}

function acceptsList(schema: { _zod?: { def?: { type?: string; innerType?: unknown; in?: unknown; out?: unknown; options?: unknown[] } } } | undefined): boolean {
  const def = schema?._zod?.def;
  if (!def) return true;
  switch (def.type) {
    case 'array':
    case 'tuple':
    case 'set':
      return true;
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
    case 'catch':
      return acceptsList(def.innerType as never);
    case 'pipe':
      return acceptsList(def.in as never) || acceptsList(def.out as never);
    case 'union':
      return (def.options ?? []).some((o) => acceptsList(o as never));
    case 'any':
    case 'unknown':
      return true;
    default:
      return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Python's json.loads error, for json_invalid's position and message

class StopScan {
  constructor(readonly idx: number) {}
}
class DecodeError {
  constructor(
    readonly msg: string,
    readonly idx: number,
  ) {}
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?/y;
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);
const HEX4 = /^[0-9a-fA-F]{4}$/;

/**
 * The error CPython's json module (C scanner, before 3.13) reports for `text`: message and
 * position in code points, or undefined if Python would parse it. NaN and Infinity, which Python
 * accepts and JSON.parse does not, are reported as "Expecting value" on purpose.
 */
export function pythonJsonDecodeError(text: string): { msg: string; pos: number } | undefined {
  const len = text.length;
  const isWs = (ch: string | undefined) => ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r';
  const ws = (i: number) => {
    while (i < len && isWs(text[i])) i++;
    return i;
  };

  const scanString = (start: number): number => {
    const begin = start - 1;
    let i = start;
    for (;;) {
      while (i < len) {
        const ch = text.charCodeAt(i);
        if (ch === 0x22 || ch === 0x5c) break;
        if (ch <= 0x1f) throw new DecodeError('Invalid control character at', i);
        i++;
      }
      if (i >= len) throw new DecodeError('Unterminated string starting at', begin);
      if (text[i] === '"') return i + 1;
      const esc = i + 1;
      if (esc >= len) throw new DecodeError('Unterminated string starting at', begin);
      if (text[esc] !== 'u') {
        if (!ESCAPES.has(text[esc] as string)) throw new DecodeError('Invalid \\escape', i);
        i = esc + 1;
        continue;
      }
      if (esc + 5 >= len || !HEX4.test(text.slice(esc + 1, esc + 5))) throw new DecodeError('Invalid \\uXXXX escape', esc);
      i = esc + 5;
    }
  };

  const scanOnce = (i: number): number => {
    if (i >= len) throw new StopScan(i);
    const ch = text[i];
    if (ch === '"') return scanString(i + 1);
    if (ch === '{') return parseObject(i + 1);
    if (ch === '[') return parseArray(i + 1);
    if (ch === 'n' && text.startsWith('null', i)) return i + 4;
    if (ch === 't' && text.startsWith('true', i)) return i + 4;
    if (ch === 'f' && text.startsWith('false', i)) return i + 5;
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (m) return i + m[0].length;
    throw new StopScan(i);
  };

  const parseObject = (start: number): number => {
    let i = ws(start);
    if (i < len && text[i] === '}') return i + 1;
    for (;;) {
      if (i >= len || text[i] !== '"') throw new DecodeError('Expecting property name enclosed in double quotes', i);
      i = ws(scanString(i + 1));
      if (i >= len || text[i] !== ':') throw new DecodeError("Expecting ':' delimiter", i);
      i = ws(scanOnce(ws(i + 1)));
      if (i < len && text[i] === '}') return i + 1;
      if (i >= len || text[i] !== ',') throw new DecodeError("Expecting ',' delimiter", i);
      i = ws(i + 1);
    }
  };

  const parseArray = (start: number): number => {
    let i = ws(start);
    if (i < len && text[i] === ']') return i + 1;
    for (;;) {
      i = ws(scanOnce(i));
      if (i < len && text[i] === ']') return i + 1;
      if (i >= len || text[i] !== ',') throw new DecodeError("Expecting ',' delimiter", i);
      i = ws(i + 1);
    }
  };

  const codePoints = (idx: number) => Array.from(text.slice(0, idx)).length;
  try {
    const end = ws(scanOnce(ws(0)));
    if (end !== len) return { msg: 'Extra data', pos: codePoints(end) };
    return undefined;
  } catch (err) {
    if (err instanceof StopScan) return { msg: 'Expecting value', pos: codePoints(err.idx) };
    if (err instanceof DecodeError) return { msg: err.msg, pos: codePoints(err.idx) };
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// 404, 405 and the trailing-slash redirect

function notFoundLikeFastApi<E extends Env, S extends Schema, B extends string>(app: AnyOpenApiApp<E, S, B>) {
  let router: TrieRouter<string> | undefined;
  let indexed = -1;
  const methodsAt = (path: string): string[] => {
    if (!router || indexed !== app.routes.length) {
      router = new TrieRouter<string>();
      // Middleware (`app.use`) is registered under ALL; it does not make a path exist.
      for (const r of app.routes) if (r.method !== 'ALL') router.add('ALL', r.path, r.method);
      indexed = app.routes.length;
    }
    // In registration order; Hono answers HEAD for every GET route, so it is listed after GET.
    const methods = new Set(router.match('GET', path)[0].flatMap(([method]) => (method === 'GET' ? ['GET', 'HEAD'] : [method])));
    return [...methods];
  };

  return (c: Context) => {
    const path = c.req.path;
    const allowed = methodsAt(path);
    if (allowed.length > 0) {
      return c.json({ detail: 'Method Not Allowed' }, 405, { Allow: allowed.join(', ') });
    }
    if (path !== '/') {
      // Starlette's redirect_slashes: the same path with(out) the trailing slash exists.
      const other = path.endsWith('/') ? path.slice(0, -1) : `${path}/`;
      if (methodsAt(other).length > 0) {
        const url = new URL(c.req.url);
        url.pathname = other;
        return c.redirect(url.toString(), 307);
      }
    }
    return c.json({ detail: 'Not Found' }, 404);
  };
}
