// The error handler: each error a route can throw, as FastAPI answers it.
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { describe, expect, it } from 'vitest';
import { runTable, type HttpTableRow } from '../../../test/support/http-table.ts';
import { fastApiErrorHandler } from './error-handler.ts';
import { FASTAPI_REQUEST } from './request-validation.ts';
import { ConflictError, ForbiddenError, NotFoundError, RequestValidationError, ServiceUnavailableError, TooManyRequestsError, UnauthorizedError } from './errors.ts';

function appThrowing() {
  const logged: { obj: Record<string, unknown>; msg: string }[] = [];
  const app = new Hono();
  const fail = (path: string, error: () => unknown) =>
    app.get(path, () => {
      throw error();
    });
  fail('/crash', () => new Error('database exploded at /var/lib/secret'));
  fail('/not-found', () => new NotFoundError('Task 42 not found; list tasks with GET /tasks'));
  fail('/conflict', () => new ConflictError('Task 42 already ended; retry it with POST /tasks/42/retry'));
  fail('/unauthorized', () => new UnauthorizedError('Missing bearer token; send Authorization: Bearer <token>'));
  fail('/forbidden', () => new ForbiddenError('This token cannot drain nodes'));
  fail('/busy', () => new TooManyRequestsError('Too many requests; slow down', { retryAfterSeconds: 29.2 }));
  fail('/down', () => new ServiceUnavailableError('Redis is unreachable; try again shortly', { retryAfterSeconds: 5 }));
  fail('/invalid', () => new RequestValidationError([{ type: 'value_error', loc: ['body', 'tasks', 0], msg: 'Value error, cycle: a -> a', input: 'a', ctx: { error: {} } }]));
  fail('/teapot', () => new HTTPException(418, { message: 'I am a teapot' }));
  fail('/hono-415', () => new HTTPException(415));
  app.onError(fastApiErrorHandler({ error: (obj, msg) => void logged.push({ obj: obj as Record<string, unknown>, msg }) }));
  return { app, logged };
}

const rows: HttpTableRow[] = [
  { name: 'NotFoundError', method: 'GET', path: '/not-found', status: 404, json: { detail: 'Task 42 not found; list tasks with GET /tasks' } },
  { name: 'ConflictError', method: 'GET', path: '/conflict', status: 409, json: { detail: 'Task 42 already ended; retry it with POST /tasks/42/retry' } },
  { name: 'UnauthorizedError carries WWW-Authenticate', method: 'GET', path: '/unauthorized', status: 401, json: { detail: 'Missing bearer token; send Authorization: Bearer <token>' }, responseHeaders: { 'www-authenticate': 'Bearer' } },
  { name: 'ForbiddenError', method: 'GET', path: '/forbidden', status: 403, json: { detail: 'This token cannot drain nodes' } },
  { name: 'TooManyRequestsError: Retry-After in whole seconds', method: 'GET', path: '/busy', status: 429, json: { detail: 'Too many requests; slow down' }, responseHeaders: { 'retry-after': '30' } },
  { name: 'ServiceUnavailableError', method: 'GET', path: '/down', status: 503, json: { detail: 'Redis is unreachable; try again shortly' }, responseHeaders: { 'retry-after': '5' } },
  { name: 'RequestValidationError from route code', method: 'GET', path: '/invalid', status: 422, json: { detail: [{ type: 'value_error', loc: ['body', 'tasks', 0], msg: 'Value error, cycle: a -> a', input: 'a', ctx: { error: {} } }] } },
  { name: "Hono's HTTPException keeps its message", method: 'GET', path: '/teapot', status: 418, json: { detail: 'I am a teapot' } },
  { name: 'an HTTPException without a message gets the status text', method: 'GET', path: '/hono-415', status: 415, json: { detail: 'Unsupported Media Type' } },
  { name: 'anything else is a bare 500', method: 'GET', path: '/crash', status: 500, json: { detail: 'Internal Server Error' }, text: (t) => !t.includes('exploded') },
];

describe('the error handler', () => {
  runTable(appThrowing().app, rows);

  it('logs an unexpected error with its stack and the request id', async () => {
    const { app, logged } = appThrowing();
    const res = await app.request('/crash', { headers: { 'x-request-id': 'req-123' } });
    expect(res.status).toBe(500);
    expect(logged).toHaveLength(1);
    expect(logged[0]?.obj).toMatchObject({ request_id: 'req-123', method: 'GET', path: '/crash' });
    expect((logged[0]?.obj.err as Error).stack).toContain('database exploded');
    expect(logged[0]?.msg).toBe('unhandled error on GET /crash: database exploded at /var/lib/secret');
  });

  it('answers 422, not 500, to a RangeError while a JSON body is being checked, and 500 once it was accepted', async () => {
    const logged: string[] = [];
    const app = new Hono();
    app.onError(fastApiErrorHandler({ error: (_o, m) => logged.push(m) }));
    const request = (accepted: boolean) => ({ route: {} as never, params: {}, query: {}, body: { kind: 'json' as const, value: {}, text: '{}' }, bodyAccepted: accepted });
    app.get('/checking', (c) => {
      c.set(FASTAPI_REQUEST as never, request(false) as never);
      throw new RangeError('Maximum call stack size exceeded');
    });
    app.get('/handler', (c) => {
      c.set(FASTAPI_REQUEST as never, request(true) as never);
      throw new RangeError('Invalid array length');
    });
    const checking = await app.request('/checking');
    expect(checking.status).toBe(422);
    expect(((await checking.json()) as { detail: unknown }).detail).toEqual([expect.objectContaining({ type: 'too_many_errors', loc: ['body'] })]);
    expect(logged).toEqual([]);
    expect((await app.request('/handler')).status).toBe(500);
    expect(logged).toHaveLength(1);
  });

  it('logs nothing for errors meant for the client', async () => {
    const { app, logged } = appThrowing();
    for (const path of ['/not-found', '/invalid', '/teapot']) await app.request(path);
    expect(logged).toStrictEqual([]);
  });
});
