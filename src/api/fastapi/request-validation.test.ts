// The whole request checked at once, in FastAPI's order.
import { createRoute, z } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import { queryInt } from './query-params.ts';
import { jsonBodySchema, validateRequest } from './request-validation.ts';

const Body = z.strictObject({ name: z.string() });
const route = createRoute({
  method: 'post',
  path: '/items/{id}',
  request: { params: z.object({ id: z.guid() }), query: z.object({ n: queryInt() }), body: { content: { 'application/json': { schema: Body } }, required: true } },
  responses: { 200: { description: 'ok' } },
});
const ID = '3fa85f64-5717-4562-b3fc-2c963f66afa6';

describe('validateRequest', () => {
  it('lists path, then query, then body problems', async () => {
    const items = await validateRequest({ route, params: { id: 'x' }, query: {}, body: { kind: 'json', value: { name: 1 }, text: '{"name":1}' } });
    expect(items.map((i) => [i.type, i.loc])).toStrictEqual([
      ['uuid_parsing', ['path', 'id']],
      ['missing', ['query', 'n']],
      ['string_type', ['body', 'name']],
    ]);
  });
  it('reports a missing body and validates raw text against the model', async () => {
    expect(await validateRequest({ route, params: { id: ID }, query: { n: '1' }, body: { kind: 'missing' } })).toStrictEqual([{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }]);
    const raw = await validateRequest({ route, params: { id: ID }, query: { n: '1' }, body: { kind: 'raw', text: '{}' } });
    expect(raw.map((i) => [i.type, i.input])).toStrictEqual([['model_attributes_type', '{}']]);
  });
  it('is empty for a valid request', async () => {
    expect(await validateRequest({ route, params: { id: ID }, query: { n: '1' }, body: { kind: 'json', value: { name: 'a' }, text: '{"name":"a"}' } })).toStrictEqual([]);
  });
  it('finds the JSON body schema', () => {
    expect(jsonBodySchema(route)).toBe(Body);
    expect(jsonBodySchema({ ...route, request: {} })).toBeUndefined();
  });
});
