// The FastAPI-parity layer on a small demo app: every expected body below is what FastAPI with
// Pydantic v2 answers for the equivalent model and request.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import { describe, expect, it } from 'vitest';
import { checkRow, runTable, type HttpTableRow } from '../../../test/support/http-table.ts';
import { installDocs } from './docs.ts';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  onError,
  ServiceUnavailableError,
  TooManyRequestsError,
  UnauthorizedError,
} from './errors.ts';
import { installFastApiRouting, queryBool, validationHook } from './validation.ts';

const ITEM_ID = '3fa85f64-5717-4562-b3fc-2c963f66afa6';
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

const Priority = z.enum(['critical', 'high', 'normal', 'low']);
const ItemCreate = z
  .object({
    name: z.string().max(128),
    priority: Priority.default('normal'),
    count: z.int().min(1),
    tags: z.record(z.string().max(20), z.string()).default({}),
    command: z.union([z.string(), z.array(z.string())]).optional(),
    owner: z.object({ email: z.string() }).strict().optional(),
    targets: z.array(z.string()).min(1).max(1000).optional(),
    ratio: z.number().gt(0).lt(1).optional(),
    enabled: z.boolean().optional(),
    slug: z
      .string()
      .refine((v) => !v.includes(' '), 'slug must not contain spaces')
      .optional(),
    trigger: z
      .discriminatedUnion('kind', [z.object({ kind: z.literal('cron'), schedule: z.string() }), z.object({ kind: z.literal('event'), topic: z.string() })])
      .optional(),
    note: z.union([z.string(), z.null()]).optional(),
    mode: z.literal(['fast', 'slow']).optional(),
    parent_id: z.string().uuid().optional(),
  })
  .strict()
  .superRefine((item, ctx) => {
    // How route code reports a check across fields at the place it concerns, in its own words.
    if (item.name === 'loop') ctx.addIssue({ code: 'custom', path: ['name'], message: 'cycle', params: { type: 'value_error', msg: 'cycle: loop -> loop' } });
  })
  .openapi('ItemCreate');

const ItemId = z.object({ id: z.uuid() });

interface LogCall {
  obj: Record<string, unknown>;
  msg: string;
}

function demoApp() {
  const logged: LogCall[] = [];
  const logger = { error: (obj: object, msg: string) => void logged.push({ obj: obj as Record<string, unknown>, msg }) };
  const app = new OpenAPIHono({ defaultHook: validationHook });
  const json = (schema: z.ZodType) => ({ content: { 'application/json': { schema } } });

  app.openapi(
    createRoute({ method: 'post', path: '/items', request: { body: { ...json(ItemCreate), required: true } }, responses: { 201: { description: 'Created', ...json(ItemCreate) } } }),
    (c) => c.json(c.req.valid('json'), 201),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/items',
      request: { query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }) },
      responses: { 200: { description: 'A page', ...json(z.object({ limit: z.int() })) } },
    }),
    (c) => c.json({ limit: c.req.valid('query').limit }, 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/items/{id}',
      request: { params: ItemId, query: z.object({ verbose: queryBool().optional() }) },
      responses: { 200: { description: 'The item', ...json(z.object({ id: z.string(), verbose: z.boolean() })) } },
    }),
    (c) => {
      const { id } = c.req.valid('param');
      if (id === UNKNOWN_ID) throw new NotFoundError(`Item ${id} not found; list items with GET /items`);
      return c.json({ id, verbose: c.req.valid('query').verbose ?? false }, 200);
    },
  );
  app.openapi(
    createRoute({ method: 'put', path: '/items/{id}', request: { params: ItemId, body: json(ItemCreate) }, responses: { 200: { description: 'Updated', ...json(ItemCreate) } } }),
    (c) => c.json(c.req.valid('json'), 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/secure',
      request: { headers: z.object({ 'x-token': z.string().min(3) }) },
      responses: { 200: { description: 'Allowed', ...json(z.object({ ok: z.boolean() })) } },
    }),
    (c) => c.json({ ok: true }, 200),
  );
  const fail = (path: string, error: () => Error) =>
    app.openapi(createRoute({ method: 'get', path, responses: { 200: { description: 'Never' } } }), () => {
      throw error();
    });
  fail('/fail/crash', () => new Error('database exploded at /var/lib/secret'));
  fail('/fail/conflict', () => new ConflictError('Task 42 already ended; retry it with POST /tasks/42/retry'));
  fail('/fail/unauthorized', () => new UnauthorizedError('Missing bearer token; send Authorization: Bearer <token>'));
  fail('/fail/forbidden', () => new ForbiddenError('This token cannot drain nodes'));
  fail('/fail/busy', () => new TooManyRequestsError('Too many requests; slow down', { retryAfterSeconds: 30 }));
  fail('/fail/down', () => new ServiceUnavailableError('Redis is unreachable; try again shortly', { retryAfterSeconds: 5 }));
  fail('/fail/hono', () => new HTTPException(418, { message: 'I am a teapot' }));

  installDocs(app, { title: 'Demo', version: '1.2.3' });
  installFastApiRouting(app);
  app.onError(onError(logger));
  return { app, logged };
}

const valid = { name: 'build', count: 2 };
const created = { ...valid, priority: 'normal', tags: {} };
const missing = (loc: (string | number)[], input: unknown) => ({ type: 'missing', loc, msg: 'Field required', input });
const jsonInvalid = (pos: number, error: string) => ({ detail: [{ type: 'json_invalid', loc: ['body', pos], msg: 'JSON decode error', input: {}, ctx: { error } }] });
const PRIORITIES = "'critical', 'high', 'normal' or 'low'";
const UUID_CHAR = 'invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], found `n` at 1';

const bodyRows: HttpTableRow[] = [
  { name: 'valid body is accepted with defaults', method: 'POST', path: '/items', body: valid, status: 201, json: created },
  { name: 'body with no content type is read as JSON', method: 'POST', path: '/items', body: JSON.stringify(valid), contentType: null, status: 201, json: created },
  { name: 'application/*+json is JSON', method: 'POST', path: '/items', body: valid, contentType: 'application/vnd.api+json', status: 201, json: created },
  { name: 'charset parameter is fine', method: 'POST', path: '/items', body: valid, contentType: 'application/json; charset=utf-8', status: 201, json: created },
  { name: 'no body at all', method: 'POST', path: '/items', status: 422, json: { detail: [missing(['body'], null)] } },
  { name: 'empty body with JSON content type', method: 'POST', path: '/items', body: '', status: 422, json: { detail: [missing(['body'], null)] } },
  { name: 'JSON null body', method: 'POST', path: '/items', body: 'null', status: 422, json: { detail: [missing(['body'], null)] } },
  { name: 'missing fields carry the whole object as input', method: 'POST', path: '/items', body: {}, status: 422, json: { detail: [missing(['body', 'name'], {}), missing(['body', 'count'], {})] } },
  {
    name: 'array body',
    method: 'POST',
    path: '/items',
    body: [1, 2],
    status: 422,
    json: { detail: [{ type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: [1, 2] }] },
  },
  {
    name: 'scalar body',
    method: 'POST',
    path: '/items',
    body: '"hello"',
    status: 422,
    json: { detail: [{ type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: 'hello' }] },
  },
  {
    name: 'text/plain body is validated as raw text',
    method: 'POST',
    path: '/items',
    body: JSON.stringify(valid),
    contentType: 'text/plain',
    status: 422,
    json: { detail: [{ type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: JSON.stringify(valid) }] },
  },
  { name: 'string_type', method: 'POST', path: '/items', body: { ...valid, name: 123 }, status: 422, json: { detail: [{ type: 'string_type', loc: ['body', 'name'], msg: 'Input should be a valid string', input: 123 }] } },
  {
    name: 'string_too_long',
    method: 'POST',
    path: '/items',
    body: { ...valid, name: 'x'.repeat(129) },
    status: 422,
    json: { detail: [{ type: 'string_too_long', loc: ['body', 'name'], msg: 'String should have at most 128 characters', input: 'x'.repeat(129), ctx: { max_length: 128 } }] },
  },
  {
    name: 'enum',
    method: 'POST',
    path: '/items',
    body: { ...valid, priority: 'urgent' },
    status: 422,
    json: { detail: [{ type: 'enum', loc: ['body', 'priority'], msg: `Input should be ${PRIORITIES}`, input: 'urgent', ctx: { expected: PRIORITIES } }] },
  },
  {
    name: 'greater_than_equal',
    method: 'POST',
    path: '/items',
    body: { ...valid, count: 0 },
    status: 422,
    json: { detail: [{ type: 'greater_than_equal', loc: ['body', 'count'], msg: 'Input should be greater than or equal to 1', input: 0, ctx: { ge: 1 } }] },
  },
  {
    name: 'int_parsing for a non-numeric string',
    method: 'POST',
    path: '/items',
    body: { ...valid, count: 'abc' },
    status: 422,
    json: { detail: [{ type: 'int_parsing', loc: ['body', 'count'], msg: 'Input should be a valid integer, unable to parse string as an integer', input: 'abc' }] },
  },
  {
    name: 'int_from_float',
    method: 'POST',
    path: '/items',
    body: { ...valid, count: 1.5 },
    status: 422,
    json: { detail: [{ type: 'int_from_float', loc: ['body', 'count'], msg: 'Input should be a valid integer, got a number with a fractional part', input: 1.5 }] },
  },
  { name: 'int_type for null', method: 'POST', path: '/items', body: { ...valid, count: null }, status: 422, json: { detail: [{ type: 'int_type', loc: ['body', 'count'], msg: 'Input should be a valid integer', input: null }] } },
  { name: 'dict_type', method: 'POST', path: '/items', body: { ...valid, tags: [] }, status: 422, json: { detail: [{ type: 'dict_type', loc: ['body', 'tags'], msg: 'Input should be a valid dictionary', input: [] }] } },
  { name: 'dict value type', method: 'POST', path: '/items', body: { ...valid, tags: { a: 1 } }, status: 422, json: { detail: [{ type: 'string_type', loc: ['body', 'tags', 'a'], msg: 'Input should be a valid string', input: 1 }] } },
  {
    name: 'model_attributes_type for a nested object',
    method: 'POST',
    path: '/items',
    body: { ...valid, owner: 'me' },
    status: 422,
    json: { detail: [{ type: 'model_attributes_type', loc: ['body', 'owner'], msg: 'Input should be a valid dictionary or object to extract fields from', input: 'me' }] },
  },
  { name: 'missing in a nested object', method: 'POST', path: '/items', body: { ...valid, owner: {} }, status: 422, json: { detail: [missing(['body', 'owner', 'email'], {})] } },
  {
    name: 'extra_forbidden, one item per key, after the field errors',
    method: 'POST',
    path: '/items',
    body: { name: 'x', count: 0, foo: 1, bar: [1] },
    status: 422,
    json: {
      detail: [
        { type: 'greater_than_equal', loc: ['body', 'count'], msg: 'Input should be greater than or equal to 1', input: 0, ctx: { ge: 1 } },
        { type: 'extra_forbidden', loc: ['body', 'foo'], msg: 'Extra inputs are not permitted', input: 1 },
        { type: 'extra_forbidden', loc: ['body', 'bar'], msg: 'Extra inputs are not permitted', input: [1] },
      ],
    },
  },
  {
    name: 'extra_forbidden in a nested object',
    method: 'POST',
    path: '/items',
    body: { ...valid, owner: { email: 'a@b.c', admin: true } },
    status: 422,
    json: { detail: [{ type: 'extra_forbidden', loc: ['body', 'owner', 'admin'], msg: 'Extra inputs are not permitted', input: true }] },
  },
  {
    name: 'union: every member reports, tagged',
    method: 'POST',
    path: '/items',
    body: { ...valid, command: 123 },
    status: 422,
    json: {
      detail: [
        { type: 'string_type', loc: ['body', 'command', 'str'], msg: 'Input should be a valid string', input: 123 },
        { type: 'list_type', loc: ['body', 'command', 'list[str]'], msg: 'Input should be a valid list', input: 123 },
      ],
    },
  },
  {
    name: 'union: an error inside the list member',
    method: 'POST',
    path: '/items',
    body: { ...valid, command: ['echo', 1] },
    status: 422,
    json: {
      detail: [
        { type: 'string_type', loc: ['body', 'command', 'str'], msg: 'Input should be a valid string', input: ['echo', 1] },
        { type: 'string_type', loc: ['body', 'command', 'list[str]', 1], msg: 'Input should be a valid string', input: 1 },
      ],
    },
  },
  { name: 'union: either member is accepted', method: 'POST', path: '/items', body: { ...valid, command: ['echo', 'hi'] }, status: 201, json: { ...created, command: ['echo', 'hi'] } },
  {
    name: 'too_long for a list',
    method: 'POST',
    path: '/items',
    body: { ...valid, targets: Array.from({ length: 1001 }, (_, i) => `t${i}`) },
    status: 422,
    json: (body: { detail: { type: string; loc: unknown[]; msg: string; input: unknown[]; ctx: unknown }[] }) => {
      expect(body.detail).toHaveLength(1);
      const [item] = body.detail;
      expect(item).toMatchObject({
        type: 'too_long',
        loc: ['body', 'targets'],
        msg: 'List should have at most 1000 items after validation, not 1001',
        ctx: { field_type: 'List', max_length: 1000, actual_length: 1001 },
      });
      expect(item?.input).toHaveLength(1001);
    },
  },
  {
    name: 'too_short for a list',
    method: 'POST',
    path: '/items',
    body: { ...valid, targets: [] },
    status: 422,
    json: { detail: [{ type: 'too_short', loc: ['body', 'targets'], msg: 'List should have at least 1 item after validation, not 0', input: [], ctx: { field_type: 'List', min_length: 1, actual_length: 0 } }] },
  },
  { name: 'greater_than', method: 'POST', path: '/items', body: { ...valid, ratio: 0 }, status: 422, json: { detail: [{ type: 'greater_than', loc: ['body', 'ratio'], msg: 'Input should be greater than 0', input: 0, ctx: { gt: 0 } }] } },
  { name: 'less_than', method: 'POST', path: '/items', body: { ...valid, ratio: 1 }, status: 422, json: { detail: [{ type: 'less_than', loc: ['body', 'ratio'], msg: 'Input should be less than 1', input: 1, ctx: { lt: 1 } }] } },
  {
    name: 'float_parsing',
    method: 'POST',
    path: '/items',
    body: { ...valid, ratio: 'half' },
    status: 422,
    json: { detail: [{ type: 'float_parsing', loc: ['body', 'ratio'], msg: 'Input should be a valid number, unable to parse string as a number', input: 'half' }] },
  },
  { name: 'float_type', method: 'POST', path: '/items', body: { ...valid, ratio: [] }, status: 422, json: { detail: [{ type: 'float_type', loc: ['body', 'ratio'], msg: 'Input should be a valid number', input: [] }] } },
  {
    name: 'bool_parsing',
    method: 'POST',
    path: '/items',
    body: { ...valid, enabled: 'maybe' },
    status: 422,
    json: { detail: [{ type: 'bool_parsing', loc: ['body', 'enabled'], msg: 'Input should be a valid boolean, unable to interpret input', input: 'maybe' }] },
  },
  { name: 'bool_type', method: 'POST', path: '/items', body: { ...valid, enabled: {} }, status: 422, json: { detail: [{ type: 'bool_type', loc: ['body', 'enabled'], msg: 'Input should be a valid boolean', input: {} }] } },
  {
    name: 'refinement is a value_error',
    method: 'POST',
    path: '/items',
    body: { ...valid, slug: 'a b' },
    status: 422,
    json: { detail: [{ type: 'value_error', loc: ['body', 'slug'], msg: 'Value error, slug must not contain spaces', input: 'a b', ctx: { error: {} } }] },
  },
  {
    name: 'record key error',
    method: 'POST',
    path: '/items',
    body: { ...valid, tags: { ['k'.repeat(21)]: 'v' } },
    status: 422,
    json: { detail: [{ type: 'string_too_long', loc: ['body', 'tags', 'k'.repeat(21), '[key]'], msg: 'String should have at most 20 characters', input: 'k'.repeat(21), ctx: { max_length: 20 } }] },
  },
  {
    name: 'tagged union: unknown tag',
    method: 'POST',
    path: '/items',
    body: { ...valid, trigger: { kind: 'manual' } },
    status: 422,
    json: {
      detail: [
        {
          type: 'union_tag_invalid',
          loc: ['body', 'trigger'],
          msg: "Input tag 'manual' found using 'kind' does not match any of the expected tags: 'cron', 'event'",
          input: { kind: 'manual' },
          ctx: { discriminator: "'kind'", tag: 'manual', expected_tags: "'cron', 'event'" },
        },
      ],
    },
  },
  {
    name: 'tagged union: no tag',
    method: 'POST',
    path: '/items',
    body: { ...valid, trigger: {} },
    status: 422,
    json: { detail: [{ type: 'union_tag_not_found', loc: ['body', 'trigger'], msg: "Unable to extract tag using discriminator 'kind'", input: {}, ctx: { discriminator: "'kind'" } }] },
  },
  { name: 'tagged union: error in the member', method: 'POST', path: '/items', body: { ...valid, trigger: { kind: 'cron' } }, status: 422, json: { detail: [missing(['body', 'trigger', 'cron', 'schedule'], { kind: 'cron' })] } },
  { name: 'Optional[str] is not a tagged union', method: 'POST', path: '/items', body: { ...valid, note: 5 }, status: 422, json: { detail: [{ type: 'string_type', loc: ['body', 'note'], msg: 'Input should be a valid string', input: 5 }] } },
  { name: 'Optional[str] takes null', method: 'POST', path: '/items', body: { ...valid, note: null }, status: 201, json: { ...created, note: null } },
  {
    name: 'literal_error',
    method: 'POST',
    path: '/items',
    body: { ...valid, mode: 'medium' },
    status: 422,
    json: { detail: [{ type: 'literal_error', loc: ['body', 'mode'], msg: "Input should be 'fast' or 'slow'", input: 'medium', ctx: { expected: "'fast' or 'slow'" } }] },
  },
  {
    name: 'uuid_parsing in the body (z.string().uuid())',
    method: 'POST',
    path: '/items',
    body: { ...valid, parent_id: 'nope' },
    status: 422,
    json: { detail: [{ type: 'uuid_parsing', loc: ['body', 'parent_id'], msg: `Input should be a valid UUID, ${UUID_CHAR}`, input: 'nope', ctx: { error: UUID_CHAR } }] },
  },
  {
    name: 'uuid_type in the body',
    method: 'POST',
    path: '/items',
    body: { ...valid, parent_id: 7 },
    status: 422,
    json: { detail: [{ type: 'uuid_type', loc: ['body', 'parent_id'], msg: 'UUID input should be a string, bytes or UUID object', input: 7 }] },
  },
  { name: 'a refinement can set its own type and msg', method: 'POST', path: '/items', body: { ...valid, name: 'loop' }, status: 422, json: { detail: [{ type: 'value_error', loc: ['body', 'name'], msg: 'cycle: loop -> loop', input: 'loop' }] } },
  {
    name: 'path and body errors come together, path first',
    method: 'PUT',
    path: '/items/nope',
    body: {},
    status: 422,
    json: {
      detail: [
        { type: 'uuid_parsing', loc: ['path', 'id'], msg: `Input should be a valid UUID, ${UUID_CHAR}`, input: 'nope', ctx: { error: UUID_CHAR } },
        missing(['body', 'name'], {}),
        missing(['body', 'count'], {}),
      ],
    },
  },
  { name: 'invalid UTF-8 is a 400 like Starlette', method: 'POST', path: '/items', body: new Uint8Array([0x7b, 0xff, 0x7d]), status: 400, json: { detail: 'There was an error parsing the body' } },
];

const malformedJsonRows: HttpTableRow[] = [
  { name: 'json_invalid: missing value', method: 'POST', path: '/items', body: '{"name": }', status: 422, json: jsonInvalid(9, 'Expecting value') },
  { name: 'json_invalid: trailing comma', method: 'POST', path: '/items', body: '{"name": "x",}', status: 422, json: jsonInvalid(13, 'Expecting property name enclosed in double quotes') },
  { name: "json_invalid: missing ':'", method: 'POST', path: '/items', body: '{"name" "x"}', status: 422, json: jsonInvalid(8, "Expecting ':' delimiter") },
  { name: "json_invalid: missing ','", method: 'POST', path: '/items', body: '[1 2]', status: 422, json: jsonInvalid(3, "Expecting ',' delimiter") },
  { name: 'json_invalid: extra data', method: 'POST', path: '/items', body: '{"a": 1} x', status: 422, json: jsonInvalid(9, 'Extra data') },
  { name: 'json_invalid: bad escape', method: 'POST', path: '/items', body: '{"a": "\\q"}', status: 422, json: jsonInvalid(7, 'Invalid \\escape') },
  { name: 'json_invalid: unterminated string', method: 'POST', path: '/items', body: '{"a": "x', status: 422, json: jsonInvalid(6, 'Unterminated string starting at') },
  { name: 'json_invalid: whitespace only', method: 'POST', path: '/items', body: '   ', status: 422, json: jsonInvalid(3, 'Expecting value') },
  { name: 'json_invalid: single quotes', method: 'POST', path: '/items', body: "{'a': 1}", status: 422, json: jsonInvalid(1, 'Expecting property name enclosed in double quotes') },
  { name: 'json_invalid: position counts code points', method: 'POST', path: '/items', body: '{"😀": }', status: 422, json: jsonInvalid(6, 'Expecting value') },
  { name: 'json_invalid with no content type', method: 'POST', path: '/items', body: '{"name": ', contentType: null, status: 422, json: jsonInvalid(9, 'Expecting value') },
  { name: 'json_invalid wins over a bad path', method: 'PUT', path: '/items/nope', body: '{', status: 422, json: jsonInvalid(1, 'Expecting property name enclosed in double quotes') },
];

const paramRows: HttpTableRow[] = [
  { name: 'path uuid is accepted', method: 'GET', path: `/items/${ITEM_ID}`, status: 200, json: { id: ITEM_ID, verbose: false } },
  { name: 'query bool like pydantic', method: 'GET', path: `/items/${ITEM_ID}?verbose=yes`, status: 200, json: { id: ITEM_ID, verbose: true } },
  {
    name: 'uuid_parsing: bad character',
    method: 'GET',
    path: '/items/nope',
    status: 422,
    json: { detail: [{ type: 'uuid_parsing', loc: ['path', 'id'], msg: `Input should be a valid UUID, ${UUID_CHAR}`, input: 'nope', ctx: { error: UUID_CHAR } }] },
  },
  {
    name: 'uuid_parsing: bad length',
    method: 'GET',
    path: '/items/123',
    status: 422,
    json: {
      detail: [
        {
          type: 'uuid_parsing',
          loc: ['path', 'id'],
          msg: 'Input should be a valid UUID, invalid length: expected length 32 for simple format, found 3',
          input: '123',
          ctx: { error: 'invalid length: expected length 32 for simple format, found 3' },
        },
      ],
    },
  },
  {
    name: 'uuid_parsing: bad group',
    method: 'GET',
    path: '/items/3fa85f64-5717-4562-b3fc-2c963f66afa',
    status: 422,
    json: (body: { detail: { msg: string }[] }) => body.detail[0]?.msg === 'Input should be a valid UUID, invalid group length in group 4: expected 12, found 11',
  },
  {
    name: 'path and query errors together',
    method: 'GET',
    path: '/items/nope?verbose=maybe',
    status: 422,
    json: {
      detail: [
        { type: 'uuid_parsing', loc: ['path', 'id'], msg: `Input should be a valid UUID, ${UUID_CHAR}`, input: 'nope', ctx: { error: UUID_CHAR } },
        { type: 'bool_parsing', loc: ['query', 'verbose'], msg: 'Input should be a valid boolean, unable to interpret input', input: 'maybe' },
      ],
    },
  },
  { name: 'query default', method: 'GET', path: '/items', status: 200, json: { limit: 50 } },
  { name: 'query int', method: 'GET', path: '/items?limit=20', status: 200, json: { limit: 20 } },
  { name: 'repeated scalar query key: the last wins', method: 'GET', path: '/items?limit=5&limit=7', status: 200, json: { limit: 7 } },
  ...['abc', '1.5', ''].map(
    (raw): HttpTableRow => ({
      name: `int_parsing in the query: ${JSON.stringify(raw)}`,
      method: 'GET',
      path: `/items?limit=${raw}`,
      status: 422,
      json: { detail: [{ type: 'int_parsing', loc: ['query', 'limit'], msg: 'Input should be a valid integer, unable to parse string as an integer', input: raw }] },
    }),
  ),
  {
    name: 'query greater_than_equal keeps the raw string as input',
    method: 'GET',
    path: '/items?limit=0',
    status: 422,
    json: { detail: [{ type: 'greater_than_equal', loc: ['query', 'limit'], msg: 'Input should be greater than or equal to 1', input: '0', ctx: { ge: 1 } }] },
  },
  {
    name: 'query less_than_equal',
    method: 'GET',
    path: '/items?limit=501',
    status: 422,
    json: { detail: [{ type: 'less_than_equal', loc: ['query', 'limit'], msg: 'Input should be less than or equal to 500', input: '501', ctx: { le: 500 } }] },
  },
  { name: 'missing header', method: 'GET', path: '/secure', status: 422, json: { detail: [missing(['header', 'x-token'], null)] } },
  {
    name: 'header string_too_short',
    method: 'GET',
    path: '/secure',
    headers: { 'X-Token': 'ab' },
    status: 422,
    json: { detail: [{ type: 'string_too_short', loc: ['header', 'x-token'], msg: 'String should have at least 3 characters', input: 'ab', ctx: { min_length: 3 } }] },
  },
  { name: 'header accepted', method: 'GET', path: '/secure', headers: { 'X-Token': 'abc' }, status: 200, json: { ok: true } },
];

const routingAndErrorRows: HttpTableRow[] = [
  { name: 'unknown route', method: 'GET', path: '/nope', status: 404, json: { detail: 'Not Found' } },
  { name: 'unknown route with a POST', method: 'POST', path: '/nope', body: {}, status: 404, json: { detail: 'Not Found' } },
  { name: 'wrong method', method: 'DELETE', path: '/items', status: 405, json: { detail: 'Method Not Allowed' }, responseHeaders: { allow: 'POST, GET, HEAD' } },
  { name: 'wrong method on a path with a parameter', method: 'POST', path: `/items/${ITEM_ID}`, body: {}, status: 405, json: { detail: 'Method Not Allowed' }, responseHeaders: { allow: 'GET, HEAD, PUT' } },
  { name: 'trailing slash redirects like Starlette', method: 'GET', path: '/items/?limit=3', status: 307, responseHeaders: { location: 'http://localhost/items?limit=3' } },
  { name: 'NotFoundError', method: 'GET', path: `/items/${UNKNOWN_ID}`, status: 404, json: { detail: `Item ${UNKNOWN_ID} not found; list items with GET /items` } },
  { name: 'ConflictError', method: 'GET', path: '/fail/conflict', status: 409, json: { detail: 'Task 42 already ended; retry it with POST /tasks/42/retry' } },
  {
    name: 'UnauthorizedError',
    method: 'GET',
    path: '/fail/unauthorized',
    status: 401,
    json: { detail: 'Missing bearer token; send Authorization: Bearer <token>' },
    responseHeaders: { 'www-authenticate': 'Bearer' },
  },
  { name: 'ForbiddenError', method: 'GET', path: '/fail/forbidden', status: 403, json: { detail: 'This token cannot drain nodes' } },
  { name: 'TooManyRequestsError', method: 'GET', path: '/fail/busy', status: 429, json: { detail: 'Too many requests; slow down' }, responseHeaders: { 'retry-after': '30' } },
  { name: 'ServiceUnavailableError', method: 'GET', path: '/fail/down', status: 503, json: { detail: 'Redis is unreachable; try again shortly' }, responseHeaders: { 'retry-after': '5' } },
  { name: "Hono's HTTPException", method: 'GET', path: '/fail/hono', status: 418, json: { detail: 'I am a teapot' } },
  { name: 'unexpected error is a bare 500', method: 'GET', path: '/fail/crash', status: 500, json: { detail: 'Internal Server Error' }, text: (t) => !t.includes('exploded') && !t.includes('at ') },
];

const VALIDATION_ERROR = {
  properties: {
    loc: { items: { anyOf: [{ type: 'string' }, { type: 'integer' }] }, type: 'array', title: 'Location' },
    msg: { type: 'string', title: 'Message' },
    type: { type: 'string', title: 'Error Type' },
  },
  type: 'object',
  required: ['loc', 'msg', 'type'],
  title: 'ValidationError',
};
const HTTP_VALIDATION_ERROR = {
  properties: { detail: { items: { $ref: '#/components/schemas/ValidationError' }, type: 'array', title: 'Detail' } },
  type: 'object',
  title: 'HTTPValidationError',
};
const VALIDATION_RESPONSE = { description: 'Validation Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/HTTPValidationError' } } } };

interface OpenApiDoc {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: { required?: boolean } }>>;
  components: { schemas: Record<string, unknown> };
}

const docRows: HttpTableRow[] = [
  {
    name: 'openapi.json is OpenAPI 3.1 with FastAPI 422 schemas',
    method: 'GET',
    path: '/openapi.json',
    status: 200,
    json: (doc: OpenApiDoc) => {
      expect(doc.openapi).toBe('3.1.0');
      expect(doc.info).toEqual({ title: 'Demo', version: '1.2.3' });
      expect(doc.components.schemas.ValidationError).toStrictEqual(VALIDATION_ERROR);
      expect(doc.components.schemas.HTTPValidationError).toStrictEqual(HTTP_VALIDATION_ERROR);
      expect(doc.components.schemas.ItemCreate).toBeDefined();
      for (const [path, method] of [['/items', 'post'], ['/items', 'get'], ['/items/{id}', 'get'], ['/items/{id}', 'put'], ['/secure', 'get']] as const) {
        expect(doc.paths[path]?.[method]?.responses['422'], `${method} ${path}`).toStrictEqual(VALIDATION_RESPONSE);
      }
      expect(doc.paths['/items']?.post?.requestBody?.required).toBe(true);
      expect(doc.paths['/items/{id}']?.put?.requestBody?.required).toBe(true);
      expect(doc.paths['/fail/conflict']?.get?.responses['422']).toBeUndefined();
      for (const docPath of ['/openapi.json', '/docs', '/redoc']) expect(doc.paths[docPath]).toBeUndefined();
    },
  },
  {
    name: 'Swagger UI',
    method: 'GET',
    path: '/docs',
    status: 200,
    text: (t) => t.includes('swagger-ui') && t.includes('/openapi.json') && t.includes('Demo - Swagger UI'),
    responseHeaders: { 'content-type': /^text\/html/ },
  },
  {
    name: 'ReDoc',
    method: 'GET',
    path: '/redoc',
    status: 200,
    text: (t) => t.includes('<redoc spec-url="/openapi.json">') && t.includes('redoc.standalone.js') && t.includes('Demo - ReDoc'),
    responseHeaders: { 'content-type': /^text\/html/ },
  },
];

describe('FastAPI parity', () => {
  const { app } = demoApp();
  describe('request bodies', () => runTable(app, bodyRows));
  describe('malformed JSON', () => runTable(app, malformedJsonRows));
  describe('path, query and header parameters', () => runTable(app, paramRows));
  describe('routing and errors', () => runTable(app, routingAndErrorRows));
  describe('docs', () => runTable(app, docRows));

  it('logs an unexpected error with its stack and the request id, and hides both from the client', async () => {
    const demo = demoApp();
    const res = await demo.app.request('/fail/crash', { headers: { 'x-request-id': 'req-123' } });
    expect(res.status).toBe(500);
    expect(await res.json()).toStrictEqual({ detail: 'Internal Server Error' });
    expect(demo.logged).toHaveLength(1);
    const [call] = demo.logged;
    expect(call?.obj.request_id).toBe('req-123');
    expect(call?.obj.err).toBeInstanceOf(Error);
    expect((call?.obj.err as Error).stack).toContain('database exploded');
  });

  it('serves the same rows through a running app instance more than once (body preparation is per request)', async () => {
    for (let i = 0; i < 3; i++) await checkRow(app, bodyRows[0] as HttpTableRow);
  });
});
