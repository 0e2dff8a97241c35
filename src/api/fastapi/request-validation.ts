// FastAPI validates the whole request before the handler runs and reports every problem at once,
// path parameters first, then query, then body; an unreadable body is answered alone. Hono's
// validators check one part at a time and call the hook; on the first failure the hook checks the
// whole request as the request middleware read it (request-middleware.ts, kept in a context
// variable) and throws one error for all of it.
import { z, type RouteConfig } from '@hono/zod-openapi';
import type { Context, ValidationTargets } from 'hono';
import { HttpError, RequestValidationError, type LocItem, type PydanticErrorItem } from './errors.ts';
import { zodIssuesToPydantic } from './pydantic-errors.ts';
import { refuseDeepNesting, type RequestBody } from './request-body.ts';
import { isZodSchema, type ZodSchema } from './zod-schema.ts';
import { MAX_LISTED_PROBLEMS } from '../../domain/errors.ts';
import { hideSecrets, secretKeys } from './secret-fields.ts';

/** A request as FastAPI reads it, for the route it reached. */
export interface FastApiRequest {
  route: RouteConfig;
  /** Path parameters, percent-decoded. */
  params: Record<string, string>;
  /** Query parameters; a repeated key keeps its last value unless the parameter takes a list. */
  query: Record<string, string | string[]>;
  /** Present when the route takes a JSON body. */
  body?: RequestBody;
  /** Set once the body's schema accepted it: a RangeError before that came from checking it (error-handler.ts). */
  bodyAccepted?: boolean;
}

/** The context variable the request middleware leaves for the hook. */
export const FASTAPI_REQUEST = 'fastapiRequest';
export type FastApiVariables = { [FASTAPI_REQUEST]?: FastApiRequest };

/** The JSON schema of the route's request body, when it declares one. */
export function jsonBodySchema(route: RouteConfig): ZodSchema | undefined {
  const content = route.request?.body?.content ?? {};
  const mediaType = Object.keys(content).find((t) => /^application\/([\w.-]+\+)?json\b/i.test(t));
  const schema = mediaType ? (content[mediaType] as { schema?: unknown } | undefined)?.schema : undefined;
  return isZodSchema(schema) ? schema : undefined;
}

/** Every problem of the request, in FastAPI's order; empty when it is valid. */
export async function validateRequest(request: FastApiRequest): Promise<PydanticErrorItem[]> {
  const items: PydanticErrorItem[] = [];
  const check = async (schema: unknown, data: unknown, loc: LocItem, paramTarget: boolean) => {
    if (!isZodSchema(schema)) return;
    const result = await z.safeParseAsync(schema, data);
    if (!result.success) for (const item of zodIssuesToPydantic(result.error.issues, { loc: [loc], schema, data, paramTarget }, MAX_LISTED_PROBLEMS)) items.push(item);
  };
  await check(request.route.request?.params, request.params, 'path', true);
  await check(request.route.request?.query, request.query, 'query', true);
  const bodySchema = jsonBodySchema(request.route);
  const body = request.body;
  if (bodySchema && body) {
    if (body.kind === 'missing') items.push({ type: 'missing', loc: ['body'], msg: 'Field required', input: null });
    else if (body.kind === 'raw') await check(bodySchema, body.text, 'body', false);
    else if (body.kind === 'json') await check(bodySchema, body.value, 'body', false);
  }
  return items;
}

/**
 * The answer when zod itself gave up on a body: with ~120k issues it overflows the stack
 * (`issues.push(...)` of them all) and throws RangeError, which was a 500.
 */
export function tooManyProblems(): RequestValidationError {
  return new RequestValidationError([
    { type: 'too_many_errors', loc: ['body'], msg: 'The body has too many invalid values to check them all (over 100,000); fix the values and send fewer per request', input: null },
  ]);
}

/** True when `err` is zod overflowing on the body of `request`, before the body was accepted. */
export function isOverflowCheckingBody(err: unknown, request: FastApiRequest | undefined): boolean {
  return err instanceof RangeError && request?.body?.kind === 'json' && !request.bodyAccepted;
}

/** What @hono/zod-openapi passes to a hook (`data` is the raw input, present at run time). */
export type ValidationHookResult = { target: keyof ValidationTargets } & (
  | { success: true; data: unknown }
  | { success: false; error: z.ZodError; data?: unknown }
);

const LOC_ROOT: Partial<Record<keyof ValidationTargets, LocItem>> = { json: 'body', query: 'query', param: 'path' };

/** `new OpenAPIHono({ defaultHook: validationHook })`: one 422 listing every problem of the request. */
export async function validationHook(result: ValidationHookResult, c: Context): Promise<void> {
  const request = (c as Context<{ Variables: FastApiVariables }>).get(FASTAPI_REQUEST);
  if (result.success) {
    if (request && result.target === 'json') request.bodyAccepted = true;
    return;
  }
  if (!request) throw new Error('validationHook needs the FastAPI request middleware ahead of the routes: set the app up with installFastApi(app)');
  if (request.body?.kind === 'invalid') throw request.body.error;
  refuseDeepNesting(request.body);
  const hidden = secretKeys(jsonBodySchema(request.route));
  const items = await validateRequest(request);
  if (items.length > 0) throw new RequestValidationError(hideSecrets(items, hidden));
  if (request.body?.kind === 'raw') throw new HttpError(415, 'Unsupported Media Type: send the body as application/json');
  // Hono's validator read an input differently from the middleware: report what zod found.
  const target = result.target;
  const schema = target === 'json' ? jsonBodySchema(request.route) : target === 'query' ? request.route.request?.query : request.route.request?.params;
  if (!isZodSchema(schema)) throw new Error(`no ${target} schema on ${request.route.method.toUpperCase()} ${request.route.path}`);
  throw new RequestValidationError(
    hideSecrets(zodIssuesToPydantic(result.error.issues, { loc: [LOC_ROOT[target] ?? target], schema, data: result.data, paramTarget: target !== 'json' }, MAX_LISTED_PROBLEMS), hidden),
  );
}
