// /openapi.json, /docs and /redoc as FastAPI serves them.
import { z } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import { testApp } from '../../../test/support/fastapi-app.ts';
import { runTable, type HttpTableRow } from '../../../test/support/http-table.ts';
import { HTTP_VALIDATION_ERROR_SCHEMA, VALIDATION_ERROR_SCHEMA, withFastApiValidationErrors } from './docs.ts';

const Item = z.strictObject({ name: z.string() }).openapi('Item');
const { app } = testApp([
  { method: 'post', path: '/items', body: Item },
  { method: 'get', path: '/items', query: z.object({ limit: z.int().optional() }) },
  { method: 'get', path: '/items/{id}', params: z.object({ id: z.guid() }) },
]);
app.openapi({ method: 'get', path: '/health', responses: { 200: { description: 'ok' } } }, (c) => c.json({}, 200));

interface OpenApiDoc {
  openapi: string;
  info: unknown;
  paths: Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: { required?: boolean } }>>;
  components: { schemas: Record<string, unknown> };
}
const VALIDATION_RESPONSE = { description: 'Validation Error', content: { 'application/json': { schema: { $ref: '#/components/schemas/HTTPValidationError' } } } };

const rows: HttpTableRow[] = [
  {
    name: 'openapi.json: OpenAPI 3.1 with FastAPI 422 responses and components',
    method: 'GET',
    path: '/openapi.json',
    status: 200,
    json: (doc: OpenApiDoc) => {
      expect(doc.openapi).toBe('3.1.0');
      expect(doc.info).toEqual({ title: 'Test', version: '1.2.3' });
      expect(doc.components.schemas.ValidationError).toStrictEqual(VALIDATION_ERROR_SCHEMA);
      expect(doc.components.schemas.HTTPValidationError).toStrictEqual(HTTP_VALIDATION_ERROR_SCHEMA);
      expect(Object.keys(doc.components.schemas)).toStrictEqual(['HTTPValidationError', 'Item', 'ValidationError']);
      for (const [path, method] of [['/items', 'post'], ['/items', 'get'], ['/items/{id}', 'get']] as const) {
        expect(doc.paths[path]?.[method]?.responses['422'], `${method} ${path}`).toStrictEqual(VALIDATION_RESPONSE);
      }
      expect(doc.paths['/items']?.post?.requestBody?.required).toBe(true);
      expect(doc.paths['/health']?.get?.responses['422']).toBeUndefined();
      for (const docPath of ['/openapi.json', '/docs', '/redoc']) expect(doc.paths[docPath]).toBeUndefined();
    },
  },
  { name: 'Swagger UI', method: 'GET', path: '/docs', status: 200, text: (t) => t.includes('swagger-ui') && t.includes('/openapi.json') && t.includes('Test - Swagger UI'), responseHeaders: { 'content-type': /^text\/html/ } },
  { name: 'ReDoc', method: 'GET', path: '/redoc', status: 200, text: (t) => t.includes('<redoc spec-url="/openapi.json">') && t.includes('Test - ReDoc'), responseHeaders: { 'content-type': /^text\/html/ } },
];

describe('docs', () => {
  runTable(app, rows);
  describe('withFastApiValidationErrors', () => {
    const document = (responses: Record<string, unknown>) => ({ paths: { '/x': { post: { requestBody: { content: {} }, responses } } } });
    const responsesOf = (doc: Record<string, unknown>) => Object.keys((doc as ReturnType<typeof document>).paths['/x'].post.responses);
    it('adds the 422 and the components it refers to', () => {
      const doc = withFastApiValidationErrors(document({ 201: { description: 'Created' } }));
      expect(responsesOf(doc)).toStrictEqual(['201', '422']);
      expect(Object.keys((doc.components as { schemas: object }).schemas)).toStrictEqual(['HTTPValidationError', 'ValidationError']);
    });
    it('leaves an operation that declares 4XX alone', () => {
      const doc = withFastApiValidationErrors(document({ '4XX': { description: 'any' } }));
      expect(responsesOf(doc)).toStrictEqual(['4XX']);
      expect(doc.components).toBeUndefined();
    });
  });
});
