// The layer over Jarvis's own request schemas (src/api/schemas.ts), in process: for representative
// bad inputs, the status and the `detail` items FastAPI + Pydantic v2 answer for the models of
// api.md. (test/fastapi-parity.e2e.test.ts sends its table to a real `jarvis up`.)
import { describe } from 'vitest';
import { runTable, type HttpTableRow } from '../../../test/support/http-table.ts';
import { jarvisRequestRoutes, testApp } from '../../../test/support/fastapi-app.ts';
import * as schemas from '../schemas.ts';

const { app } = testApp(jarvisRequestRoutes(schemas));

type Loc = (string | number)[];
type Item = { type: string; loc: Loc; msg: string; input: unknown; ctx?: Record<string, unknown> };
const detail = (...items: Item[]) => ({ detail: items });
const missing = (loc: Loc, input: unknown): Item => ({ type: 'missing', loc, msg: 'Field required', input });
const stringType = (loc: Loc, input: unknown): Item => ({ type: 'string_type', loc, msg: 'Input should be a valid string', input });
const listType = (loc: Loc, input: unknown): Item => ({ type: 'list_type', loc, msg: 'Input should be a valid list', input });
const extra = (loc: Loc, input: unknown): Item => ({ type: 'extra_forbidden', loc, msg: 'Extra inputs are not permitted', input });
const bound = (type: string, word: string, key: string) => (loc: Loc, input: unknown, limit: number): Item => ({ type, loc, msg: `Input should be ${word} ${limit}`, input, ctx: { [key]: limit } });
const ge = bound('greater_than_equal', 'greater than or equal to', 'ge');
const gt = bound('greater_than', 'greater than', 'gt');
const le = bound('less_than_equal', 'less than or equal to', 'le');
const valueError = (loc: Loc, message: string, input: unknown): Item => ({ type: 'value_error', loc, msg: `Value error, ${message}`, input, ctx: { error: {} } });
const enumError = (loc: Loc, input: unknown, values: string[]): Item => {
  const expected = `${values.slice(0, -1).map((v) => `'${v}'`).join(', ')} or '${values[values.length - 1]}'`;
  return { type: 'enum', loc, msg: `Input should be ${expected}`, input, ctx: { expected } };
};
const intParsing = (loc: Loc, input: string): Item => ({ type: 'int_parsing', loc, msg: 'Input should be a valid integer, unable to parse string as an integer', input });
const uuidParsing = (loc: Loc, input: string): Item => {
  const error = `invalid character: expected an optional prefix of \`urn:uuid:\` followed by [0-9a-fA-F-], found \`${input[0]}\` at 1`;
  return { type: 'uuid_parsing', loc, msg: `Input should be a valid UUID, ${error}`, input, ctx: { error } };
};

const ID = '3fa85f64-5717-4562-b3fc-2c963f66afa6';
const NUL = 'must not contain the NUL character (\\u0000)';
const post = (path: string, name: string, body: unknown, status: number, json: unknown, more: Partial<HttpTableRow> = {}): HttpTableRow => ({ name, method: 'POST', path, body, status, json, ...more });
const get = (path: string, name: string, status: number, json: unknown): HttpTableRow => ({ name, method: 'GET', path, status, json });
const task = { image: 'busybox' };

const taskRows: HttpTableRow[] = [
  post('/tasks', 'valid: accepted as given', { ...task, command: ['echo', 'hi'] }, 200, { body: { ...task, command: ['echo', 'hi'] } }),
  post('/tasks', 'empty object', {}, 422, detail(missing(['body', 'image'], {}))),
  post('/tasks', 'image: wrong type', { image: 5 }, 422, detail(stringType(['body', 'image'], 5))),
  post('/tasks', 'image: NUL', { image: 'a\u0000b' }, 422, detail(valueError(['body', 'image'], NUL, 'a\u0000b'))),
  post('/tasks', 'command: every union member reports', { ...task, command: 5 }, 422, detail(listType(['body', 'command', 'list[str]'], 5), stringType(['body', 'command', 'str'], 5))),
  post('/tasks', 'command: an item of the list', { ...task, command: ['a', 1] }, 422, detail(stringType(['body', 'command', 'list[str]', 1], 1), stringType(['body', 'command', 'str'], ['a', 1]))),
  post('/tasks', 'env: a value', { ...task, env: { A: 1 } }, 422, detail(
    stringType(['body', 'env', 'A', 'str'], 1),
    { type: 'model_attributes_type', loc: ['body', 'env', 'A', 'SecretRef'], msg: 'Input should be a valid dictionary or object to extract fields from', input: 1 },
  )),
  post('/tasks', 'env: a key with NUL', { ...task, env: { 'A\u0000': 'x' } }, 422, detail(valueError(['body', 'env', 'A\u0000', '[key]'], NUL, 'A\u0000'))),
  post('/tasks', 'priority', { ...task, priority: 'urgent' }, 422, detail(enumError(['body', 'priority'], 'urgent', ['critical', 'high', 'normal', 'low']))),
  post('/tasks', 'timeout_seconds: a fraction', { ...task, timeout_seconds: 1.5 }, 422, detail({ type: 'int_from_float', loc: ['body', 'timeout_seconds'], msg: 'Input should be a valid integer, got a number with a fractional part', input: 1.5 })),
  post('/tasks', 'max_retries: above 20', { ...task, max_retries: 21 }, 422, detail(le(['body', 'max_retries'], 21, 20))),
  post('/tasks', 'retry_backoff_seconds: not a number', { ...task, retry_backoff_seconds: 'soon' }, 422, detail({ type: 'float_parsing', loc: ['body', 'retry_backoff_seconds'], msg: 'Input should be a valid number, unable to parse string as a number', input: 'soon' })),
  post('/tasks', 'resources.cpu: both members report', { ...task, resources: { cpu: 0 } }, 422, detail(gt(['body', 'resources', 'cpu', 'constrained-float'], 0, 0), stringType(['body', 'resources', 'cpu', 'str'], 0))),
  post('/tasks', 'resources: memory and memory_mb', { ...task, resources: { memory: '1Gi', memory_mb: 5 } }, 422, detail(valueError(['body', 'resources'], 'give either memory_mb or memory, not both', { memory: '1Gi', memory_mb: 5 }))),
  post('/tasks', 'resources: not an object', { ...task, resources: [] }, 422, detail({ type: 'model_attributes_type', loc: ['body', 'resources'], msg: 'Input should be a valid dictionary or object to extract fields from', input: [] })),
  post('/tasks', 'extra field', { ...task, foo: 1 }, 422, detail(extra(['body', 'foo'], 1))),
  post('/tasks', 'no body', undefined, 422, detail(missing(['body'], null))),
];

const batchRows: HttpTableRow[] = [
  post('/tasks/batch', 'empty list', { tasks: [] }, 422, detail({ type: 'too_short', loc: ['body', 'tasks'], msg: 'List should have at least 1 item after validation, not 0', input: [], ctx: { field_type: 'List', min_length: 1, actual_length: 0 } })),
  post('/tasks/batch', 'not a list', { tasks: 'x' }, 422, detail(listType(['body', 'tasks'], 'x'))),
  post('/tasks/batch', 'a task in the list', { tasks: [task, { name: 'n' }] }, 422, detail(missing(['body', 'tasks', 1, 'image'], { name: 'n' }))),
  post('/tasks/batch', 'no tasks', {}, 422, detail(missing(['body', 'tasks'], {}))),
];

const workflowRows: HttpTableRow[] = [
  post('/workflows', 'a task without its key', { tasks: [task] }, 422, detail(missing(['body', 'tasks', 0, 'key'], task))),
  post('/workflows', 'a key that is not one', { tasks: [{ ...task, key: 'a b' }] }, 422, detail({ type: 'string_pattern_mismatch', loc: ['body', 'tasks', 0, 'key'], msg: "String should match pattern '^[a-zA-Z0-9_.-]{1,64}$'", input: 'a b', ctx: { pattern: '^[a-zA-Z0-9_.-]{1,64}$' } })),
  post('/workflows', 'idempotency_key is not a workflow task field', { tasks: [{ ...task, key: 'a', idempotency_key: 'k' }] }, 422, detail(extra(['body', 'tasks', 0, 'idempotency_key'], 'k'))),
  post('/workflows', 'on_failure and max_parallel', { tasks: [{ ...task, key: 'a' }], on_failure: 'stop', max_parallel: 0 }, 422, detail(
    enumError(['body', 'on_failure'], 'stop', ['skip_downstream', 'continue']),
    ge(['body', 'max_parallel'], 0, 1),
  )),
  get('/workflows?status=done&limit=0', 'GET /workflows: status and limit', 422, detail(enumError(['query', 'status'], 'done', ['running', 'succeeded', 'failed', 'cancelled']), ge(['query', 'limit'], '0', 1))),
];

const capacity = { cpu: 1, memory_mb: 512, max_tasks: 2 };
const nodeRows: HttpTableRow[] = [
  post('/nodes/register', 'capacity empty', { name: 'n', hostname: 'h', capacity: {} }, 422, detail(missing(['body', 'capacity', 'cpu'], {}), missing(['body', 'capacity', 'memory_mb'], {}), missing(['body', 'capacity', 'max_tasks'], {}))),
  post('/nodes/register', 'capacity.cpu a word', { name: 'n', hostname: 'h', capacity: { ...capacity, cpu: 'lots' } }, 422, detail({ type: 'float_parsing', loc: ['body', 'capacity', 'cpu'], msg: 'Input should be a valid number, unable to parse string as a number', input: 'lots' })),
  post('/nodes/register', 'name empty, labels a number', { name: '', hostname: 'h', capacity, labels: { a: 1 } }, 422, detail({ type: 'string_too_short', loc: ['body', 'name'], msg: 'String should have at least 1 character', input: '', ctx: { min_length: 1 } }, stringType(['body', 'labels', 'a'], 1))),
  post(`/nodes/${ID}/heartbeat`, 'heartbeat: valid', { cpu_percent: 5, running_task_ids: [] }, 200, { params: { id: ID }, body: { cpu_percent: 5, running_task_ids: [] } }),
  post('/nodes/n1/heartbeat', 'heartbeat: path and body problems together, path first', { cpu_percent: -1, engine: 'down', running_task_ids: 'x' }, 422, detail(
    uuidParsing(['path', 'id'], 'n1'),
    ge(['body', 'cpu_percent'], -1, 0),
    listType(['body', 'running_task_ids'], 'x'),
    enumError(['body', 'engine'], 'down', ['ok', 'unreachable']),
  )),
  post('/nodes/n1/heartbeat', 'heartbeat: bad path and no body', undefined, 422, detail(uuidParsing(['path', 'id'], 'n1'), missing(['body'], null))),
  post('/nodes/n1/heartbeat', 'heartbeat: malformed JSON is answered alone', '{"cpu_percent": }', 422, detail({ type: 'json_invalid', loc: ['body', 16], msg: 'JSON decode error', input: {}, ctx: { error: 'Expecting value' } })),
];

const queryRows: HttpTableRow[] = [
  get('/tasks?limit=7&offset=2&status=queued', 'GET /tasks: valid', 200, { query: { limit: 7, offset: 2, status: 'queued' } }),
  get('/tasks?limit=5&limit=9', 'GET /tasks: a repeated scalar keeps its last value', 200, { query: { limit: 9, offset: 0 } }),
  get('/tasks?limit=abc', 'GET /tasks: limit not an int', 422, detail(intParsing(['query', 'limit'], 'abc'))),
  get('/tasks?limit=1e2', 'GET /tasks: limit in exponent notation', 422, detail(intParsing(['query', 'limit'], '1e2'))),
  get('/tasks?offset=-1&limit=501', 'GET /tasks: bounds, in parameter order', 422, detail(le(['query', 'limit'], '501', 500), ge(['query', 'offset'], '-1', 0))),
  get('/tasks?workflow_id=wf&label=team', 'GET /tasks: a uuid and a label', 422, detail(
    uuidParsing(['query', 'workflow_id'], 'wf'),
    { type: 'string_pattern_mismatch', loc: ['query', 'label'], msg: "String should match pattern '^[^:]+:.*$'", input: 'team', ctx: { pattern: '^[^:]+:.*$' } },
  )),
  get(`/tasks/${ID.toUpperCase()}/logs?follow=yes`, 'GET /tasks/{id}/logs: the canonical id and a pydantic bool', 200, { params: { id: ID }, query: { follow: true } }),
  get('/tasks/x/logs?follow=maybe', 'GET /tasks/{id}/logs: path then query', 422, detail(uuidParsing(['path', 'id'], 'x'), { type: 'bool_parsing', loc: ['query', 'follow'], msg: 'Input should be a valid boolean, unable to interpret input', input: 'maybe' })),
];

const nested = (depth: number, leaf: unknown): unknown => {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};

const nestingRows: HttpTableRow[] = [
  post('/tasks', 'nested 3,000 levels: 400 like FastAPI (Python stops at its recursion limit)', { image: nested(3000, 'x') }, 400, { detail: 'There was an error parsing the body' }),
  post('/tasks', 'nested 3,000 levels and malformed: 400 as well', `{"image": ${'['.repeat(3000)}`, 400, { detail: 'There was an error parsing the body' }),
  post('/tasks', 'nested 100,000 levels: 400', `{"image": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`, 400, { detail: 'There was an error parsing the body' }),
  post('/tasks', 'nested 900 levels: a 422 that echoes the input', { image: nested(900, 'x') }, 422, detail(stringType(['body', 'image'], nested(900, 'x')))),
];

describe("FastAPI answers over Jarvis's request schemas", () => {
  describe('POST /tasks', () => runTable(app, taskRows));
  describe('POST /tasks/batch', () => runTable(app, batchRows));
  describe('workflows', () => runTable(app, workflowRows));
  describe('nodes', () => runTable(app, nodeRows));
  describe('list queries and parameters', () => runTable(app, queryRows));
  describe('deep nesting', () => runTable(app, nestingRows));
});
