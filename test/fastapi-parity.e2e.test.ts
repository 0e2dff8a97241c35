// FastAPI parity of the real HTTP API: one `jarvis up` (PostgreSQL, Redis, Docker) and a table of
// requests sent over real HTTP, each with the status and the exact body a client written against
// the FastAPI service must get. Every 422 body below is what FastAPI + Pydantic v2 answer for the
// equivalent models (api.md). To cover a new case, add a row to the table of its route.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { TEST_IMAGE } from './support/env.ts';
import { checkRow, overHttp, runTable, type HttpTableRow, type RequestableApp } from './support/http-table.ts';
import { startJarvis, type JarvisProcess } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

let jarvis: JarvisProcess & { prefix: string };
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let target: RequestableApp;

beforeAll(async () => {
  db = await createTestDatabase();
  jarvis = await startJarvis({ databaseUrl: db.url });
  target = overHttp(jarvis.url);
});

afterAll(async () => {
  await jarvis?.stop();
  await db?.drop();
});

const server = () => target;

// ---------------------------------------------------------------------------------------------
// Shared pieces of the expected bodies

type Loc = (string | number)[];
type Item = { type: string; loc: Loc; msg: string; input: unknown; ctx?: Record<string, unknown> };

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';
const UUID_ERR = (ch: string) => `invalid character: expected an optional prefix of \`urn:uuid:\` followed by [0-9a-fA-F-], found \`${ch}\` at 1`;

const detail = (...items: Item[]) => ({ detail: items });
const missing = (loc: Loc, input: unknown): Item => ({ type: 'missing', loc, msg: 'Field required', input });
const stringType = (loc: Loc, input: unknown): Item => ({ type: 'string_type', loc, msg: 'Input should be a valid string', input });
const extra = (loc: Loc, input: unknown): Item => ({ type: 'extra_forbidden', loc, msg: 'Extra inputs are not permitted', input });
const ge = (loc: Loc, input: unknown, limit: number): Item => ({ type: 'greater_than_equal', loc, msg: `Input should be greater than or equal to ${limit}`, input, ctx: { ge: limit } });
const gt = (loc: Loc, input: unknown, limit: number): Item => ({ type: 'greater_than', loc, msg: `Input should be greater than ${limit}`, input, ctx: { gt: limit } });
const le = (loc: Loc, input: unknown, limit: number): Item => ({ type: 'less_than_equal', loc, msg: `Input should be less than or equal to ${limit}`, input, ctx: { le: limit } });
const intParsing = (loc: Loc, input: string): Item => ({ type: 'int_parsing', loc, msg: 'Input should be a valid integer, unable to parse string as an integer', input });
const valueError = (loc: Loc, message: string, input: unknown): Item => ({ type: 'value_error', loc, msg: `Value error, ${message}`, input, ctx: { error: {} } });
const uuidParsing = (loc: Loc, input: string, error = UUID_ERR(input[0] as string)): Item => ({ type: 'uuid_parsing', loc, msg: `Input should be a valid UUID, ${error}`, input, ctx: { error } });
const enumError = (loc: Loc, input: unknown, values: readonly string[]): Item => {
  const expected = `${values.slice(0, -1).map((v) => `'${v}'`).join(', ')} or '${values[values.length - 1]}'`;
  return { type: 'enum', loc, msg: `Input should be ${expected}`, input, ctx: { expected } };
};
const jsonInvalid = (pos: number, error: string) => detail({ type: 'json_invalid', loc: ['body', pos], msg: 'JSON decode error', input: {}, ctx: { error } });
const modelType = (loc: Loc, input: unknown): Item => ({ type: 'model_attributes_type', loc, msg: 'Input should be a valid dictionary or object to extract fields from', input });

const PRIORITIES = ['critical', 'high', 'normal', 'low'];
const NETWORKS = ['none', 'bridge', 'host'];
const STATUSES = ['pending', 'queued', 'scheduled', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'skipped'];
const CPU_MSG = 'cpu must be a number of cores > 0 or a quantity such as "500m" or "2"';
const MEMORY_MSG = 'memory must be a quantity such as "512Mi", "1Gi" or "1G"';

const TASK_KEYS = [
  'id', 'name', 'image', 'command', 'env', 'priority', 'resources', 'timeout_seconds', 'max_retries', 'retry_backoff_seconds',
  'node_selector', 'labels', 'idempotency_key', 'network', 'tenant', 'status', 'node_id', 'attempts', 'exit_code', 'error', 'status_reason',
  'workflow_id', 'workflow_key', 'depends_on', 'schedule_id', 'created_at', 'scheduled_at', 'started_at', 'finished_at',
  // Issue #15 (docs/workflows.md): outputs, result and the workflow task's condition.
  'declared_outputs', 'outputs', 'result', 'when',
].sort();
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A freshly accepted task: every api.md field present, defaults applied, `expected` on top. */
const acceptedTask = (expected: Record<string, unknown>) => (body: Record<string, unknown>) => {
  expect(Object.keys(body).sort()).toStrictEqual(TASK_KEYS);
  expect(body.id).toMatch(UUID_RE);
  expect(new Date(body.created_at as string).toISOString()).toBe(body.created_at);
  expect(body).toMatchObject({
    name: null,
    command: null,
    env: {},
    priority: 'normal',
    resources: { cpu: 1, memory_mb: 256, gpu: 0 },
    timeout_seconds: null,
    max_retries: 0,
    retry_backoff_seconds: 1,
    node_selector: {},
    labels: {},
    idempotency_key: null,
    network: 'none',
    status: 'queued',
    node_id: null,
    attempts: 0,
    exit_code: null,
    error: null,
    workflow_id: null,
    workflow_key: null,
    depends_on: [],
    scheduled_at: null,
    started_at: null,
    finished_at: null,
    schedule_id: null,
    ...expected,
  });
};

const valid = { image: TEST_IMAGE, command: ['true'] };
const post = (name: string, body: unknown, status: number, json: HttpTableRow['json'], more: Partial<HttpTableRow> = {}): HttpTableRow => ({
  name,
  method: 'POST',
  path: '/tasks',
  body,
  status,
  json,
  ...more,
});

// ---------------------------------------------------------------------------------------------
// POST /tasks

const createTaskRows: HttpTableRow[] = [
  // Pydantic's default (lax) mode: "60", " 60 ", 60.0, "1.5" and true are read as numbers, and the
  // answer shows the number read.
  post('valid: numbers in lax mode, shown as read', {
    ...valid, timeout_seconds: '60', max_retries: true, retry_backoff_seconds: '1.5', resources: { cpu: ' 2 ', memory_mb: '128.0', gpu: false },
  }, 201, acceptedTask({ image: TEST_IMAGE, command: ['true'], timeout_seconds: 60, max_retries: 1, retry_backoff_seconds: 1.5, resources: { cpu: 2, memory_mb: 128, gpu: 0 } })),
  post('valid: quantities normalised, defaults filled in', { ...valid, resources: { cpu: '500m', memory: '1Gi' } }, 201, acceptedTask({ image: TEST_IMAGE, command: ['true'], resources: { cpu: 0.5, memory_mb: 1024, gpu: 0 } })),
  post('valid: every field given', {
    image: TEST_IMAGE, command: 'exit 0', name: 'n'.repeat(128), env: { A: '1' }, priority: 'low', resources: { cpu: 0.25, memory_mb: 64, gpu: 0 },
    timeout_seconds: 60, max_retries: 20, retry_backoff_seconds: 0, node_selector: { zone: 'a' }, labels: { team: 'parity' }, network: 'none',
  }, 201, acceptedTask({
    command: 'exit 0', name: 'n'.repeat(128), env: { A: '1' }, priority: 'low', resources: { cpu: 0.25, memory_mb: 64, gpu: 0 },
    timeout_seconds: 60, max_retries: 20, retry_backoff_seconds: 0, node_selector: { zone: 'a' }, labels: { team: 'parity' },
  })),
  post('valid: null for the optional fields that take it', { ...valid, name: null, command: null, timeout_seconds: null, idempotency_key: null }, 201, acceptedTask({})),
  post('idempotency_key: the first POST creates', { ...valid, idempotency_key: 'parity-once' }, 201, acceptedTask({ command: ['true'], idempotency_key: 'parity-once' })),
  post('idempotency_key: a second POST returns the first task with 200', { ...valid, idempotency_key: 'parity-once' }, 200, acceptedTask({ command: ['true'], idempotency_key: 'parity-once' })),

  // Body as a whole
  post('no body at all', undefined, 422, detail(missing(['body'], null))),
  post('empty body', '', 422, detail(missing(['body'], null))),
  post('JSON null body', 'null', 422, detail(missing(['body'], null))),
  post('empty object', {}, 422, detail(missing(['body', 'image'], {}))),
  post('JSON array body', [valid], 422, detail(modelType(['body'], [valid]))),
  post('JSON string body', '"busybox"', 422, detail(modelType(['body'], 'busybox'))),
  post('text/plain body is validated as text', JSON.stringify(valid), 422, detail(modelType(['body'], JSON.stringify(valid))), { contentType: 'text/plain' }),
  post('body without a content type is read as JSON', JSON.stringify({ command: ['true'] }), 422, detail(missing(['body', 'image'], { command: ['true'] })), { contentType: null }),
  post('malformed JSON: missing value', '{"image": }', 422, jsonInvalid(10, 'Expecting value')),
  post('malformed JSON: trailing comma', `{"image": "${TEST_IMAGE}",}`, 422, jsonInvalid(TEST_IMAGE.length + 13, 'Expecting property name enclosed in double quotes')),
  post('malformed JSON: truncated', '{"image": "busy', 422, jsonInvalid(10, 'Unterminated string starting at')),
  post('invalid UTF-8 is a 400 like Starlette', new Uint8Array([0x7b, 0xff, 0x7d]), 400, { detail: 'There was an error parsing the body' }),

  // Fields
  post('missing image, the whole body as input', { command: ['true'] }, 422, detail(missing(['body', 'image'], { command: ['true'] }))),
  post('image: wrong type', { image: 5 }, 422, detail(stringType(['body', 'image'], 5))),
  post('image: null', { image: null }, 422, detail(stringType(['body', 'image'], null))),
  post('image: empty', { image: '' }, 422, detail({ type: 'string_too_short', loc: ['body', 'image'], msg: 'String should have at least 1 character', input: '', ctx: { min_length: 1 } })),
  post('name: longer than 128', { ...valid, name: 'x'.repeat(129) }, 422, detail({ type: 'string_too_long', loc: ['body', 'name'], msg: 'String should have at most 128 characters', input: 'x'.repeat(129), ctx: { max_length: 128 } })),
  post('command: neither a list nor a string', { ...valid, command: 5 }, 422, detail(
    { type: 'list_type', loc: ['body', 'command', 'list[str]'], msg: 'Input should be a valid list', input: 5 },
    stringType(['body', 'command', 'str'], 5),
  )),
  post('command: a non-string in the list', { ...valid, command: ['echo', 1] }, 422, detail(
    stringType(['body', 'command', 'list[str]', 1], 1),
    stringType(['body', 'command', 'str'], ['echo', 1]),
  )),
  // A value is a string or a SecretRef (api.md, Security): pydantic reports both union members.
  post('env: a non-string value', { ...valid, env: { KEY: 1 } }, 422, detail(
    stringType(['body', 'env', 'KEY', 'str'], 1),
    { type: 'model_attributes_type', loc: ['body', 'env', 'KEY', 'SecretRef'], msg: 'Input should be a valid dictionary or object to extract fields from', input: 1 },
  )),
  post('env: not an object', { ...valid, env: ['A=1'] }, 422, detail({ type: 'dict_type', loc: ['body', 'env'], msg: 'Input should be a valid dictionary', input: ['A=1'] })),
  post('labels: a null value', { ...valid, labels: { team: null } }, 422, detail(stringType(['body', 'labels', 'team'], null))),
  post('node_selector: not an object', { ...valid, node_selector: 'zone=a' }, 422, detail({ type: 'dict_type', loc: ['body', 'node_selector'], msg: 'Input should be a valid dictionary', input: 'zone=a' })),
  post('priority: not one of the enum', { ...valid, priority: 'urgent' }, 422, detail(enumError(['body', 'priority'], 'urgent', PRIORITIES))),
  post('priority: wrong case', { ...valid, priority: 'HIGH' }, 422, detail(enumError(['body', 'priority'], 'HIGH', PRIORITIES))),
  post('network: not one of the enum', { ...valid, network: 'wifi' }, 422, detail(enumError(['body', 'network'], 'wifi', NETWORKS))),
  post('timeout_seconds: a non-numeric string', { ...valid, timeout_seconds: 'x' }, 422, detail(intParsing(['body', 'timeout_seconds'], 'x'))),
  post('timeout_seconds: a fraction', { ...valid, timeout_seconds: 1.5 }, 422, detail({ type: 'int_from_float', loc: ['body', 'timeout_seconds'], msg: 'Input should be a valid integer, got a number with a fractional part', input: 1.5 })),
  post('timeout_seconds: a list', { ...valid, timeout_seconds: [] }, 422, detail({ type: 'int_type', loc: ['body', 'timeout_seconds'], msg: 'Input should be a valid integer', input: [] })),
  post('timeout_seconds: 0', { ...valid, timeout_seconds: 0 }, 422, detail(ge(['body', 'timeout_seconds'], 0, 1))),
  post('max_retries: 21', { ...valid, max_retries: 21 }, 422, detail(le(['body', 'max_retries'], 21, 20))),
  post('max_retries: -1', { ...valid, max_retries: -1 }, 422, detail(ge(['body', 'max_retries'], -1, 0))),
  post('retry_backoff_seconds: negative', { ...valid, retry_backoff_seconds: -0.5 }, 422, detail(ge(['body', 'retry_backoff_seconds'], -0.5, 0))),
  post('retry_backoff_seconds: not a number', { ...valid, retry_backoff_seconds: 'soon' }, 422, detail({ type: 'float_parsing', loc: ['body', 'retry_backoff_seconds'], msg: 'Input should be a valid number, unable to parse string as a number', input: 'soon' })),
  post('idempotency_key: empty', { ...valid, idempotency_key: '' }, 422, detail({ type: 'string_too_short', loc: ['body', 'idempotency_key'], msg: 'String should have at least 1 character', input: '', ctx: { min_length: 1 } })),
  post('extra field', { ...valid, foo: 'bar' }, 422, detail(extra(['body', 'foo'], 'bar'))),
  post('several problems: fields in model order, then extras', { image: 5, priority: 'urgent', max_retries: 99, foo: 1, bar: null }, 422, detail(
    stringType(['body', 'image'], 5),
    enumError(['body', 'priority'], 'urgent', PRIORITIES),
    le(['body', 'max_retries'], 99, 20),
    extra(['body', 'foo'], 1),
    extra(['body', 'bar'], null),
  )),

  // resources
  post('resources: cpu a quantity that is not one', { ...valid, resources: { cpu: 'abc' } }, 422, detail(valueError(['body', 'resources', 'cpu'], CPU_MSG, 'abc'))),
  post('resources: memory a quantity that is not one', { ...valid, resources: { memory: 'lots' } }, 422, detail(valueError(['body', 'resources', 'memory'], MEMORY_MSG, 'lots'))),
  post('resources: memory and memory_mb both', { ...valid, resources: { memory: '1Gi', memory_mb: 512 } }, 422, detail(
    valueError(['body', 'resources'], 'give either memory_mb or memory, not both', { memory: '1Gi', memory_mb: 512 }),
  )),
  post('resources: null for the memory not given', { ...valid, resources: { memory_mb: null, memory: '512Mi' } }, 201, acceptedTask({ command: ['true'], resources: { cpu: 1, memory_mb: 512, gpu: 0 } })),
  post('resources: memory_mb 0', { ...valid, resources: { memory_mb: 0 } }, 422, detail(gt(['body', 'resources', 'memory_mb'], 0, 0))),
  post('resources: gpu negative', { ...valid, resources: { gpu: -1 } }, 422, detail(ge(['body', 'resources', 'gpu'], -1, 0))),
  post('resources: extra field', { ...valid, resources: { disk: '1Gi' } }, 422, detail(extra(['body', 'resources', 'disk'], '1Gi'))),
  post('resources: memory not a string', { ...valid, resources: { memory: 512 } }, 422, detail(stringType(['body', 'resources', 'memory'], 512))),
  post('resources: memory_mb a fraction', { ...valid, resources: { memory_mb: 0.5 } }, 422, detail({ type: 'int_from_float', loc: ['body', 'resources', 'memory_mb'], msg: 'Input should be a valid integer, got a number with a fractional part', input: 0.5 })),
  post('resources: not an object', { ...valid, resources: null }, 422, detail(modelType(['body', 'resources'], null))),
  post('resources: a string', { ...valid, resources: '1 cpu' }, 422, detail(modelType(['body', 'resources'], '1 cpu'))),
  post('resources: cpu neither a number nor a string', { ...valid, resources: { cpu: null } }, 422, detail(
    { type: 'float_type', loc: ['body', 'resources', 'cpu', 'constrained-float'], msg: 'Input should be a valid number', input: null },
    stringType(['body', 'resources', 'cpu', 'str'], null),
  )),
  post('resources: cpu not > 0', { ...valid, resources: { cpu: 0 } }, 422, detail(
    gt(['body', 'resources', 'cpu', 'constrained-float'], 0, 0),
    stringType(['body', 'resources', 'cpu', 'str'], 0),
  )),
];

// ---------------------------------------------------------------------------------------------
// GET /tasks

const get = (name: string, path: string, status: number, json: HttpTableRow['json'], more: Partial<HttpTableRow> = {}): HttpTableRow => ({ name, method: 'GET', path, status, json, ...more });

const page = (limit: number, offset: number) => (body: { items: unknown[]; total: number; limit: number; offset: number }) => {
  expect(Object.keys(body).sort()).toStrictEqual(['items', 'limit', 'offset', 'total']);
  expect(body).toMatchObject({ limit, offset });
  expect(Array.isArray(body.items)).toBe(true);
  expect(body.items.length).toBeLessThanOrEqual(limit);
  expect(Number.isInteger(body.total)).toBe(true);
};

const listTaskRows: HttpTableRow[] = [
  get('defaults: limit 50, offset 0', '/tasks', 200, page(50, 0)),
  get('limit and offset', '/tasks?limit=2&offset=1', 200, page(2, 1)),
  get('limit at its bounds', '/tasks?limit=500', 200, page(500, 0)),
  get('a repeated scalar parameter: the last value wins', '/tasks?limit=5&limit=1', 200, page(1, 0)),
  get('an int with surrounding spaces, as pydantic takes it', '/tasks?limit=%203%20', 200, page(3, 0)),
  get('filters', `/tasks?status=queued&label=team:parity&workflow_id=${UNKNOWN_ID}&node_id=${UNKNOWN_ID}`, 200, { items: [], total: 0, limit: 50, offset: 0 }),
  get('limit=0', '/tasks?limit=0', 422, detail(ge(['query', 'limit'], '0', 1))),
  get('limit=501', '/tasks?limit=501', 422, detail(le(['query', 'limit'], '501', 500))),
  get('offset=-1', '/tasks?offset=-1', 422, detail(ge(['query', 'offset'], '-1', 0))),
  get('limit not an int', '/tasks?limit=ten', 422, detail(intParsing(['query', 'limit'], 'ten'))),
  get('limit a fraction', '/tasks?limit=1.5', 422, detail(intParsing(['query', 'limit'], '1.5'))),
  get('limit in exponent notation', '/tasks?limit=1e2', 422, detail(intParsing(['query', 'limit'], '1e2'))),
  get('limit empty', '/tasks?limit=', 422, detail(intParsing(['query', 'limit'], ''))),
  get('status not one of the enum', '/tasks?status=done', 422, detail(enumError(['query', 'status'], 'done', STATUSES))),
  get('workflow_id not a UUID', '/tasks?workflow_id=wf-1', 422, detail(uuidParsing(['query', 'workflow_id'], 'wf-1'))),
  get('label without a colon', '/tasks?label=team', 422, detail({ type: 'string_pattern_mismatch', loc: ['query', 'label'], msg: "String should match pattern '^[^:]+:.*$'", input: 'team', ctx: { pattern: '^[^:]+:.*$' } })),
  get('several query problems, in parameter order', '/tasks?offset=-1&limit=0&status=done', 422, detail(
    enumError(['query', 'status'], 'done', STATUSES),
    ge(['query', 'limit'], '0', 1),
    ge(['query', 'offset'], '-1', 0),
  )),
];

// ---------------------------------------------------------------------------------------------
// GET /tasks/{id}, GET /tasks/{id}/logs, POST /tasks/{id}/cancel

const LENGTH_ERR = 'invalid length: expected length 32 for simple format, found 3';

const taskByIdRows: HttpTableRow[] = [
  get('GET /tasks/{id}: not a UUID', '/tasks/not-a-uuid', 422, detail(uuidParsing(['path', 'id'], 'not-a-uuid'))),
  get('GET /tasks/{id}: too short', '/tasks/123', 422, detail(uuidParsing(['path', 'id'], '123', LENGTH_ERR))),
  get('GET /tasks/{id}: unknown', `/tasks/${UNKNOWN_ID}`, 404, { detail: 'Task not found' }),
  // pydantic's UUID takes any version and these spellings; each reaches the handler.
  ...[UNKNOWN_ID.replaceAll('-', ''), UNKNOWN_ID.toUpperCase(), `{${UNKNOWN_ID}}`, `urn:uuid:${UNKNOWN_ID}`, '00000000-0000-0000-0000-000000000001', 'ffffffff-ffff-ffff-cfff-ffffffffffff'].map(
    (id): HttpTableRow => get(`GET /tasks/{id}: ${id} is a UUID`, `/tasks/${encodeURIComponent(id)}`, 404, { detail: 'Task not found' }),
  ),
  get('GET /tasks/{id}: a group too short', `/tasks/${UNKNOWN_ID.slice(0, -1)}`, 422, detail(uuidParsing(['path', 'id'], UNKNOWN_ID.slice(0, -1), 'invalid group length in group 4: expected 12, found 11'))),
  get('GET /tasks/{id}: hex digits but no hyphens, too long', `/tasks/${'a'.repeat(33)}`, 422, detail(uuidParsing(['path', 'id'], 'a'.repeat(33), 'invalid length: expected length 32 for simple format, found 33'))),
  get('GET /tasks/{id}/logs: not a UUID', '/tasks/not-a-uuid/logs', 422, detail(uuidParsing(['path', 'id'], 'not-a-uuid'))),
  get('GET /tasks/{id}/logs: unknown', `/tasks/${UNKNOWN_ID}/logs`, 404, { detail: 'Task not found' }),
  get('GET /tasks/{id}/logs: follow takes what pydantic takes', `/tasks/${UNKNOWN_ID}/logs?follow=no`, 404, { detail: 'Task not found' }),
  get('GET /tasks/{id}/logs: follow not a boolean', `/tasks/${UNKNOWN_ID}/logs?follow=maybe`, 422, detail({ type: 'bool_parsing', loc: ['query', 'follow'], msg: 'Input should be a valid boolean, unable to interpret input', input: 'maybe' })),
  get('GET /tasks/{id}/logs: path and query errors, path first', '/tasks/not-a-uuid/logs?follow=2', 422, detail(
    uuidParsing(['path', 'id'], 'not-a-uuid'),
    { type: 'bool_parsing', loc: ['query', 'follow'], msg: 'Input should be a valid boolean, unable to interpret input', input: '2' },
  )),
  { name: 'POST /tasks/{id}/cancel: not a UUID', method: 'POST', path: '/tasks/not-a-uuid/cancel', status: 422, json: detail(uuidParsing(['path', 'id'], 'not-a-uuid')) },
  { name: 'POST /tasks/{id}/cancel: unknown', method: 'POST', path: `/tasks/${UNKNOWN_ID}/cancel`, status: 404, json: { detail: 'Task not found' } },
];

// ---------------------------------------------------------------------------------------------
// /nodes (no valid registration here: a node that never heartbeats would take placements)

const register = (name: string, body: unknown, status: number, json: HttpTableRow['json'], more: Partial<HttpTableRow> = {}): HttpTableRow => ({
  name: `POST /nodes/register: ${name}`,
  method: 'POST',
  path: '/nodes/register',
  body,
  status,
  json,
  ...more,
});
const capacity = { cpu: 2, memory_mb: 1024, max_tasks: 2 };
const node = { name: 'n1', hostname: 'h1', capacity };

const nodeRows: HttpTableRow[] = [
  get('GET /nodes/{id}: unknown', `/nodes/${UNKNOWN_ID}`, 404, { detail: 'Node not found' }),
  get('GET /nodes/{id}: not a UUID', '/nodes/n1', 422, detail(uuidParsing(['path', 'id'], 'n1', 'invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-], found `n` at 1'))),
  get('GET /nodes/register is GET /nodes/{id}, as in Starlette', '/nodes/register', 422, detail(uuidParsing(['path', 'id'], 'register'))),
  register('empty object', {}, 422, detail(missing(['body', 'name'], {}), missing(['body', 'hostname'], {}), missing(['body', 'capacity'], {}))),
  register('no body', undefined, 422, detail(missing(['body'], null))),
  register('malformed JSON', '{"name": "n1"', 422, jsonInvalid(13, "Expecting ',' delimiter")),
  register('capacity empty', { ...node, capacity: {} }, 422, detail(missing(['body', 'capacity', 'cpu'], {}), missing(['body', 'capacity', 'memory_mb'], {}), missing(['body', 'capacity', 'max_tasks'], {}))),
  register('capacity out of range', { ...node, capacity: { cpu: 0, memory_mb: 1024, gpu: -1, max_tasks: 0 } }, 422, detail(
    gt(['body', 'capacity', 'cpu'], 0, 0),
    ge(['body', 'capacity', 'gpu'], -1, 0),
    ge(['body', 'capacity', 'max_tasks'], 0, 1),
  )),
  register('capacity.cpu not a number', { ...node, capacity: { ...capacity, cpu: 'lots' } }, 422, detail({ type: 'float_parsing', loc: ['body', 'capacity', 'cpu'], msg: 'Input should be a valid number, unable to parse string as a number', input: 'lots' })),
  register('name: wrong type and empty hostname', { ...node, name: 1, hostname: '' }, 422, detail(
    stringType(['body', 'name'], 1),
    { type: 'string_too_short', loc: ['body', 'hostname'], msg: 'String should have at least 1 character', input: '', ctx: { min_length: 1 } },
  )),
  register('labels: a non-string value', { ...node, labels: { gpu: true } }, 422, detail(stringType(['body', 'labels', 'gpu'], true))),
  register('extra field', { ...node, token: 'x' }, 422, detail(extra(['body', 'token'], 'x'))),
  register('extra field in capacity', { ...node, capacity: { ...capacity, disk: 1 } }, 422, detail(extra(['body', 'capacity', 'disk'], 1))),
];

// ---------------------------------------------------------------------------------------------
// Routing

const routingRows: HttpTableRow[] = [
  get('unknown route', '/nope', 404, { detail: 'Not Found' }),
  { name: 'unknown route, POST', method: 'POST', path: '/tasks/x/y', body: {}, status: 404, json: { detail: 'Not Found' } },
  // Like Starlette: the path matches GET /tasks/{id}, so the method is what is wrong.
  { name: 'POST to a path that only GET /tasks/{id} matches', method: 'POST', path: '/tasks/anything', body: {}, status: 405, json: { detail: 'Method Not Allowed' }, responseHeaders: { allow: 'GET, HEAD' } },
  { name: 'wrong method: DELETE /tasks', method: 'DELETE', path: '/tasks', status: 405, json: { detail: 'Method Not Allowed' }, responseHeaders: { allow: 'POST, GET, HEAD' } },
  { name: 'wrong method: PUT /tasks/{id}', method: 'PUT', path: `/tasks/${UNKNOWN_ID}`, body: {}, status: 405, json: { detail: 'Method Not Allowed' }, responseHeaders: { allow: 'GET, HEAD' } },
  { name: 'wrong method: GET /tasks/{id}/cancel', method: 'GET', path: `/tasks/${UNKNOWN_ID}/cancel`, status: 405, json: { detail: 'Method Not Allowed' }, responseHeaders: { allow: 'POST' } },
  get('trailing slash redirects like Starlette', '/tasks/?limit=3', 307, undefined, { responseHeaders: { location: /^http:\/\/[^/]+\/tasks\?limit=3$/ } }),
];

describe('FastAPI parity over HTTP against a real `jarvis up`', () => {
  describe('POST /tasks', () => runTable(server, createTaskRows));
  describe('GET /tasks', () => runTable(server, listTaskRows));
  describe('/tasks/{id}', () => runTable(server, taskByIdRows));
  describe('/nodes', () => runTable(server, nodeRows));
  describe('routing', () => runTable(server, routingRows));

  describe('a task of its own: cancel, then cancel again', () => {
    let taskId = '';
    beforeAll(async () => {
      const res = await target.request('/tasks', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ image: TEST_IMAGE, command: ['sleep', '30'] }) });
      expect(res.status).toBe(201);
      taskId = ((await res.json()) as { id: string }).id;
    });
    const rows: HttpTableRow[] = [
      get('GET /tasks/{id}', '/tasks/{task}', 200, (t: { id: string }) => t.id === taskId),
      get('GET /tasks/{id} with the id upper case: the canonical id back', '/tasks/{TASK}', 200, (t: { id: string }) => t.id === taskId),
      get('GET /tasks/{id} with the id as 32 hex digits', '/tasks/{hex}', 200, (t: { id: string }) => t.id === taskId),
      { name: 'cancel', method: 'POST', path: '/tasks/{task}/cancel', status: 200, json: (t: { id: string; status: string }) => t.id === taskId && t.status === 'cancelled' },
      {
        name: 'cancel again: 409',
        method: 'POST',
        path: '/tasks/{task}/cancel',
        status: 409,
        json: { detail: 'Task already ended (status cancelled); only queued, scheduled or running tasks can be cancelled' },
      },
      get('GET /tasks/{id}/logs', '/tasks/{task}/logs', 200, (l: { task_id: string; logs: unknown; truncated: unknown }) => {
        expect(Object.keys(l).sort()).toStrictEqual(['logs', 'task_id', 'truncated']);
        expect(l.task_id).toBe(taskId);
        expect(typeof l.logs).toBe('string');
        expect(typeof l.truncated).toBe('boolean');
      }),
    ];
    const withId = (path: string) => path.replace('{task}', taskId).replace('{TASK}', taskId.toUpperCase()).replace('{hex}', taskId.replaceAll('-', ''));
    for (const row of rows) it(row.name, () => checkRow(target, { ...row, path: withId(row.path) }));
  });
});

// ---------------------------------------------------------------------------------------------
// /openapi.json, /docs, /redoc

interface Operation {
  parameters?: { name: string; in: string; required?: boolean; schema: Record<string, unknown> }[];
  requestBody?: { required?: boolean; content: Record<string, { schema?: Record<string, unknown> }> };
  responses: Record<string, { description: string; content?: Record<string, { schema?: Record<string, unknown> }> }>;
}
interface OpenApiDoc {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Record<string, unknown>> };
}

/** Every route of api.md, as `METHOD /path` with the path in OpenAPI form. */
const API_MD_ROUTES = [
  'POST /tasks', 'POST /tasks/batch', 'GET /tasks/{id}/events', 'GET /tasks', 'GET /tasks/{id}', 'GET /tasks/{id}/logs',
  'POST /tasks/{id}/cancel', 'POST /tasks/{id}/retry', 'GET /overview',
  'POST /workflows', 'GET /workflows', 'GET /workflows/{id}', 'POST /workflows/{id}/cancel', 'POST /workflows/{id}/retry',
  'POST /nodes/register', 'POST /nodes/{id}/heartbeat', 'GET /nodes', 'GET /nodes/{id}', 'POST /nodes/{id}/drain',
  'POST /nodes/{id}/resume', 'DELETE /nodes/{id}',
  'GET /health', 'GET /metrics',
  'POST /auth/keys', 'GET /auth/keys', 'DELETE /auth/keys/{id}', 'GET /audit',
  'POST /secrets', 'GET /secrets', 'DELETE /secrets/{name}', 'GET /nodes/{id}/attempts/{task_id}', 'POST /nodes/{id}/secrets',
  'GET /tenants', 'GET /tenants/{name}', 'PUT /tenants/{name}',
  // issue #15: schedules and webhooks
  'POST /schedules', 'GET /schedules', 'GET /schedules/{id}', 'PATCH /schedules/{id}', 'DELETE /schedules/{id}', 'POST /schedules/{id}/trigger',
  'POST /webhooks', 'GET /webhooks', 'GET /webhooks/{id}', 'DELETE /webhooks/{id}', 'GET /webhooks/{id}/deliveries',
  'POST /webhooks/{id}/deliveries/{delivery_id}/redeliver',
];

/** What this app serves now, with the request body and success response api.md gives them. */
const SERVED: Record<string, { body?: string; success: string; schema?: string }> = {
  'POST /tasks': { body: 'TaskCreate', success: '201', schema: 'Task' },
  'GET /tasks': { success: '200', schema: 'TaskPage' },
  'GET /tasks/{id}': { success: '200', schema: 'Task' },
  'GET /tasks/{id}/events': { success: '200' },
  'GET /tasks/{id}/logs': { success: '200', schema: 'TaskLogs' },
  'POST /tasks/{id}/cancel': { success: '200', schema: 'Task' },
  'POST /tasks/{id}/retry': { success: '200', schema: 'Task' },
  'POST /tasks/batch': { body: 'TaskBatchCreate', success: '201', schema: 'TaskBatch' },
  'GET /overview': { success: '200', schema: 'Overview' },
  'POST /workflows': { body: 'WorkflowCreate', success: '201', schema: 'Workflow' },
  'GET /workflows': { success: '200', schema: 'WorkflowPage' },
  'GET /workflows/{id}': { success: '200', schema: 'Workflow' },
  'POST /workflows/{id}/cancel': { success: '200', schema: 'Workflow' },
  'POST /workflows/{id}/retry': { success: '200', schema: 'Workflow' },
  'POST /nodes/{id}/drain': { success: '200', schema: 'Node' },
  'POST /nodes/{id}/resume': { success: '200', schema: 'Node' },
  'DELETE /nodes/{id}': { success: '204' },
  'POST /nodes/register': { body: 'NodeRegister', success: '201', schema: 'NodeRegistered' },
  'POST /nodes/{id}/heartbeat': { body: 'NodeHeartbeat', success: '200', schema: 'Node' },
  'GET /nodes': { success: '200' },
  'GET /nodes/{id}': { success: '200', schema: 'Node' },
  'GET /health': { success: '200', schema: 'Health' },
  'POST /auth/keys': { body: 'KeyCreate', success: '201', schema: 'KeyCreated' },
  'GET /auth/keys': { success: '200', schema: 'KeyList' },
  'DELETE /auth/keys/{id}': { success: '204' },
  'GET /audit': { success: '200', schema: 'AuditPage' },
  'POST /secrets': { body: 'SecretCreate', success: '201', schema: 'SecretInfo' },
  'GET /secrets': { success: '200', schema: 'SecretList' },
  'DELETE /secrets/{name}': { success: '204' },
  'GET /nodes/{id}/attempts/{task_id}': { success: '200', schema: 'NodeAttempt' },
  'POST /nodes/{id}/secrets': { body: 'NodeSecretsRequest', success: '200', schema: 'NodeSecrets' },
  'GET /tenants': { success: '200', schema: 'TenantList' },
  'GET /tenants/{name}': { success: '200', schema: 'Tenant' },
  'PUT /tenants/{name}': { body: 'TenantSettings', success: '200', schema: 'Tenant' },
  'GET /metrics': { success: '200' },
  'POST /schedules': { body: 'ScheduleCreate', success: '201', schema: 'Schedule' },
  'GET /schedules': { success: '200', schema: 'SchedulePage' },
  'GET /schedules/{id}': { success: '200', schema: 'Schedule' },
  'PATCH /schedules/{id}': { body: 'SchedulePatch', success: '200', schema: 'Schedule' },
  'DELETE /schedules/{id}': { success: '204' },
  'POST /schedules/{id}/trigger': { success: '201', schema: 'ScheduleTriggered' },
  'POST /webhooks': { body: 'WebhookCreate', success: '201', schema: 'Webhook' },
  'GET /webhooks': { success: '200', schema: 'WebhookPage' },
  'GET /webhooks/{id}': { success: '200', schema: 'Webhook' },
  'DELETE /webhooks/{id}': { success: '204' },
  'GET /webhooks/{id}/deliveries': { success: '200', schema: 'WebhookDeliveryPage' },
  'POST /webhooks/{id}/deliveries/{delivery_id}/redeliver': { success: '201', schema: 'WebhookDelivery' },
};

const VALIDATION_RESPONSE = { description: 'Validation Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/HTTPValidationError' } } } };
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

describe('OpenAPI document and docs pages', () => {
  let doc: OpenApiDoc;
  beforeAll(async () => {
    const res = await target.request('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    doc = (await res.json()) as OpenApiDoc;
  });

  const operations = () =>
    Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([method]) => ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'].includes(method))
        .map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, op })),
    );

  it('is OpenAPI 3.1.0 with the service info', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info).toMatchObject({ title: 'Jarvis', version: expect.any(String) });
  });

  it('lists exactly the routes served, all of them from api.md', () => {
    const keys = operations().map((o) => o.key);
    expect(keys.filter((k) => !API_MD_ROUTES.includes(k)), 'operations not in api.md').toStrictEqual([]);
    expect([...keys].sort()).toStrictEqual(Object.keys(SERVED).sort());
  });

  it('gives each route its request body and success response schema', () => {
    for (const [key, want] of Object.entries(SERVED)) {
      const [method, path] = key.split(' ') as [string, string];
      const op = doc.paths[path]?.[method.toLowerCase()] as Operation;
      if (want.body) {
        expect(op.requestBody?.required, key).toBe(true);
        expect(op.requestBody?.content['application/json']?.schema, key).toStrictEqual(ref(want.body));
        expect(doc.components.schemas[want.body], `${want.body} component`).toMatchObject({ type: 'object' });
      } else {
        expect(op.requestBody, key).toBeUndefined();
      }
      const success = op.responses[want.success];
      expect(success, `${key} ${want.success}`).toBeDefined();
      if (want.success === '204') {
        expect(success?.content, `${key}: no body`).toBeUndefined();
        continue;
      }
      expect(Object.keys(op.responses).filter((s) => s === '200' || s === '201'), key).toContain(want.success);
      const media = Object.values(success?.content ?? {});
      expect(media.length, `${key}: a media type`).toBeGreaterThan(0);
      for (const m of media) expect(m.schema, `${key}: a schema`).toBeDefined();
      if (want.schema) expect(success?.content?.['application/json']?.schema, key).toStrictEqual(ref(want.schema));
    }
    // POST /tasks: 200 for an idempotent repeat, as api.md says.
    expect(doc.paths['/tasks']?.post?.responses['200']?.content?.['application/json']?.schema).toStrictEqual(ref('Task'));
  });

  it('has the request and response models as components, with api.md fields', () => {
    const props = (name: string) => Object.keys((doc.components.schemas[name]?.properties ?? {}) as object).sort();
    expect(props('Task')).toStrictEqual(TASK_KEYS);
    expect(props('TaskCreate')).toStrictEqual(
      ['image', 'command', 'name', 'env', 'priority', 'resources', 'timeout_seconds', 'max_retries', 'retry_backoff_seconds', 'node_selector', 'labels', 'idempotency_key', 'network', 'outputs'].sort(),
    );
    expect(doc.components.schemas.TaskCreate?.required).toStrictEqual(['image']);
    expect(doc.components.schemas.TaskCreate?.additionalProperties).toBe(false);
    expect(props('TaskPage')).toStrictEqual(['items', 'limit', 'offset', 'total']);
    expect(props('TaskLogs')).toStrictEqual(['logs', 'task_id', 'truncated']);
  });

  it('documents the query parameters as FastAPI does', () => {
    const params = (path: string) => Object.fromEntries((doc.paths[path]?.get?.parameters ?? []).map((p) => [`${p.in}:${p.name}`, p]));
    const list = params('/tasks');
    expect(Object.keys(list).sort()).toStrictEqual(['query:label', 'query:limit', 'query:name', 'query:node_id', 'query:offset', 'query:schedule_id', 'query:status', 'query:tenant', 'query:workflow_id']);
    expect(list['query:limit']?.required ?? false).toBe(false);
    expect(list['query:limit']?.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 500, default: 50 });
    expect(list['query:offset']?.schema).toMatchObject({ type: 'integer', minimum: 0, default: 0 });
    expect(list['query:status']?.schema).toMatchObject({ enum: STATUSES });
    const logs = params('/tasks/{id}/logs');
    expect(logs['path:id']).toMatchObject({ required: true, schema: { type: 'string', format: 'uuid' } });
    expect(logs['query:follow']?.required ?? false).toBe(false);
    expect(logs['query:follow']?.schema).toMatchObject({ type: 'boolean', default: false });
  });

  it('has FastAPI\'s HTTPValidationError and ValidationError, and a 422 on every operation that validates input', () => {
    expect(doc.components.schemas.HTTPValidationError).toStrictEqual({
      properties: { detail: { items: ref('ValidationError'), type: 'array', title: 'Detail' } },
      type: 'object',
      title: 'HTTPValidationError',
    });
    expect(doc.components.schemas.ValidationError).toMatchObject({ type: 'object', required: ['loc', 'msg', 'type'], title: 'ValidationError' });
    let validating = 0;
    for (const { key, op } of operations()) {
      const validates = (op.parameters?.length ?? 0) > 0 || op.requestBody !== undefined;
      if (validates) {
        validating++;
        expect(op.responses['422'], key).toStrictEqual(VALIDATION_RESPONSE);
      } else {
        expect(op.responses['422'], key).toBeUndefined();
      }
    }
    expect(validating).toBeGreaterThanOrEqual(8);
  });

  const docRows: HttpTableRow[] = [
    get('/docs is Swagger UI on openapi.json', '/docs', 200, undefined, {
      text: (t) => t.includes('swagger-ui') && t.includes('/openapi.json'),
      responseHeaders: { 'content-type': /^text\/html/ },
    }),
    get('/redoc is ReDoc on openapi.json', '/redoc', 200, undefined, {
      text: (t) => t.includes('<redoc spec-url="/openapi.json">'),
      responseHeaders: { 'content-type': /^text\/html/ },
    }),
  ];
  runTable(server, docRows);
});

// ---------------------------------------------------------------------------------------------
// Unexpected errors

describe('values PostgreSQL cannot store', () => {
  // Caught as 422s at the edge rather than failing at the insert. (A real 500 — the database
  // cut away mid-request — is tested in faults.e2e.test.ts.)
  it('refuses integers beyond 32 bits and strings with NUL', async () => {
    const big = await target.request('/tasks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...valid, timeout_seconds: 2 ** 31 }),
    });
    expect(big.status).toBe(422);
    expect(((await big.json()) as { detail: unknown[] }).detail).toEqual([
      { type: 'less_than_equal', loc: ['body', 'timeout_seconds'], msg: 'Input should be less than or equal to 2147483647', input: 2 ** 31, ctx: { le: 2147483647 } },
    ]);
    const nul = await target.request('/tasks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...valid, image: 'x\u0000y' }),
    });
    expect(nul.status).toBe(422);
    expect(((await nul.json()) as { detail: unknown[] }).detail).toEqual([
      { type: 'value_error', loc: ['body', 'image'], msg: 'Value error, must not contain the NUL character (\\u0000)', input: 'x\u0000y', ctx: { error: {} } },
    ]);
  });
});
