// The request middleware, through app.request(): bodies read by FastAPI's rules, requests sent
// through once more in the form Hono's validators read as FastAPI does, and what is answered
// before any validator runs.
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import { testApp } from '../../../test/support/fastapi-app.ts';
import { runTable, type HttpTableRow } from '../../../test/support/http-table.ts';
import { validationHook } from './index.ts';

const Item = z.strictObject({ name: z.string(), count: z.int().min(1) }).openapi('Item');
const ItemId = z.object({ id: z.guid() });
const ID = '3fa85f64-5717-4562-b3fc-2c963f66afa6';

let outerMiddlewareRuns = 0;
// Stands for the app's own middleware (authentication): it runs before any 422.
const { app } = testApp([
  { method: 'post', path: '/items', body: Item },
  { method: 'put', path: '/items/{id}', params: ItemId, body: Item },
  { method: 'get', path: '/items', query: z.object({ limit: z.coerce.number().int().default(50), tag: z.array(z.string()).optional() }) },
], async (c, next) => {
  outerMiddlewareRuns++;
  if (c.req.header('x-refuse')) return c.json({ detail: 'refused by the app' }, 401);
  await next();
});
app.get('/plain', (c) => c.text('not an OpenAPI route'));

const valid = { name: 'build', count: 2 };
const echo = { body: valid };
const missing = (loc: (string | number)[], input: unknown) => ({ type: 'missing', loc, msg: 'Field required', input });
const modelType = (input: unknown) => ({ detail: [{ type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input }] });
const post = (name: string, body: unknown, status: number, json: unknown, more: Partial<HttpTableRow> = {}): HttpTableRow => ({ name, method: 'POST', path: '/items', body, status, json, ...more });

const rows: HttpTableRow[] = [
  post('application/json', valid, 200, echo),
  post('no content type: read as JSON', JSON.stringify(valid), 200, echo, { contentType: null }),
  post('application/*+json', valid, 200, echo, { contentType: 'application/vnd.api+json' }),
  post('a charset', valid, 200, echo, { contentType: 'application/json; charset=utf-8' }),
  post('spaces and case Hono would refuse', valid, 200, echo, { contentType: 'APPLICATION/JSON ; charset=UTF-8' }),
  post('text/plain: the raw text fails the model', JSON.stringify(valid), 422, modelType(JSON.stringify(valid)), { contentType: 'text/plain' }),
  post('no body', undefined, 422, { detail: [missing(['body'], null)] }),
  post('an empty body', '', 422, { detail: [missing(['body'], null)] }),
  post('JSON null', 'null', 422, { detail: [missing(['body'], null)] }),
  post('a JSON array', [1], 422, modelType([1])),
  post('invalid UTF-8: 400 like Starlette', new Uint8Array([0x7b, 0xff, 0x7d]), 400, { detail: 'There was an error parsing the body' }),
  post('malformed JSON', '{"name": }', 422, { detail: [{ type: 'json_invalid', loc: ['body', 9], msg: 'JSON decode error', input: {}, ctx: { error: 'Expecting value' } }] }),
  post('malformed JSON with no content type', '{"name": ', 422, { detail: [{ type: 'json_invalid', loc: ['body', 9], msg: 'JSON decode error', input: {}, ctx: { error: 'Expecting value' } }] }, { contentType: null }),
  { name: 'malformed JSON is answered alone, before a bad path', method: 'PUT', path: '/items/nope', body: '{', status: 422, json: { detail: [{ type: 'json_invalid', loc: ['body', 1], msg: 'JSON decode error', input: {}, ctx: { error: 'Expecting property name enclosed in double quotes' } }] } },
  {
    name: 'a missing body comes after the path problem',
    method: 'PUT',
    path: '/items/nope',
    status: 422,
    json: (b: { detail: { loc: unknown[] }[] }) => expect(b.detail.map((i) => i.loc)).toStrictEqual([['path', 'id'], ['body']]),
  },
  { name: 'path and body problems in one answer', method: 'PUT', path: '/items/nope', body: {}, status: 422, json: (b: { detail: { loc: unknown[] }[] }) => expect(b.detail.map((i) => i.loc)).toStrictEqual([['path', 'id'], ['body', 'name'], ['body', 'count']]) },
  { name: 'a valid PUT', method: 'PUT', path: `/items/${ID}`, body: valid, status: 200, json: { params: { id: ID }, body: valid } },
  { name: 'repeated scalar query key: the last value', method: 'GET', path: '/items?limit=5&limit=7', status: 200, json: { query: { limit: 7 } } },
  { name: 'repeated list query key: every value', method: 'GET', path: '/items?tag=a&tag=b&limit=1&limit=2', status: 200, json: { query: { limit: 2, tag: ['a', 'b'] } } },
  { name: 'HEAD of a GET route', method: 'HEAD', path: '/items', status: 200, text: '' },
  { name: 'a route that is not an OpenAPI route is left alone', method: 'GET', path: '/plain', status: 200, text: 'not an OpenAPI route' },
];

describe('the request middleware', () => {
  runTable(app, rows);

  it('sends a request through the rest of the app once, whatever it sends again', async () => {
    const cases: [RequestInit, number][] = [
      [{ method: 'POST', body: new TextEncoder().encode(JSON.stringify(valid)) }, 200],
      [{ method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' }, 422],
      [{ method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }, 422],
      [{ method: 'POST', headers: { 'content-type': 'application/json' }, body: new Uint8Array([0xff]) }, 400],
    ];
    for (const [init, status] of cases) {
      const before = outerMiddlewareRuns;
      expect((await app.request('/items', init)).status).toBe(status);
      expect(outerMiddlewareRuns - before).toBe(1);
    }
    const before = outerMiddlewareRuns;
    expect((await app.request('/items?limit=1&limit=2')).status).toBe(200);
    expect(outerMiddlewareRuns - before).toBe(1);
  });

  it("lets the app's own middleware answer before a body problem, as FastAPI's security dependencies do", async () => {
    for (const body of ['{', '', '{"name": 1}']) {
      const res = await app.request('/items', { method: 'POST', headers: { 'content-type': 'application/json', 'x-refuse': '1' }, body });
      expect(res.status, body).toBe(401);
    }
    const raw = await app.request('/items', { method: 'POST', headers: { 'content-type': 'text/plain', 'x-refuse': '1' }, body: 'x' });
    expect(raw.status).toBe(401);
  });

  it('says how to set the app up when the hook runs without it', async () => {
    const bare = new OpenAPIHono({ defaultHook: validationHook });
    bare.openapi(createRoute({ method: 'get', path: '/n', request: { query: z.object({ n: z.int() }) }, responses: { 200: { description: 'ok' } } }), (c) => c.text('never'));
    bare.onError((err, c) => c.text(err.message, 500));
    const res = await bare.request('/n?n=x');
    expect(res.status).toBe(500);
    expect(await res.text()).toMatch(/installFastApi/);
  });
});
