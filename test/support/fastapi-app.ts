// An in-process app for the FastAPI layer's tests (src/api/fastapi/): the layer installed as
// createApp installs it, and routes whose request parts the test gives; each handler answers 200
// with the values it got.
import { createRoute, OpenAPIHono, z, type RouteConfig } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { installFastApi, validationHook } from '../../src/api/fastapi/index.ts';

export interface TestRoute {
  method: 'get' | 'post' | 'put' | 'delete';
  path: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
}

export interface LogCall {
  obj: Record<string, unknown>;
  msg: string;
}

/** `middleware` goes where createApp puts its own: after the layer's, before the routes. */
export function testApp(routes: TestRoute[], middleware?: MiddlewareHandler) {
  const logged: LogCall[] = [];
  const logger = { error: (obj: object, msg: string) => void logged.push({ obj: obj as Record<string, unknown>, msg }) };
  const app = new OpenAPIHono({ defaultHook: validationHook });
  installFastApi(app, { logger, title: 'Test', version: '1.2.3' });
  if (middleware) app.use('*', middleware);
  for (const r of routes) {
    const request: RouteConfig['request'] = {};
    if (r.params) request.params = r.params;
    if (r.query) request.query = r.query;
    if (r.body) request.body = { content: { 'application/json': { schema: r.body } }, required: true };
    const route = createRoute({ method: r.method, path: r.path, request, responses: { 200: { description: 'What the handler got' } } });
    app.openapi(route, (c) => {
      const got: Record<string, unknown> = {};
      if (r.params) got.params = c.req.valid('param' as never);
      if (r.query) got.query = c.req.valid('query' as never);
      if (r.body) got.body = c.req.valid('json' as never);
      return c.json(got, 200);
    });
  }
  return { app, logged };
}

/** Jarvis's routes that take input, with their real request schemas (src/api/schemas.ts). */
export function jarvisRequestRoutes(schemas: typeof import('../../src/api/schemas.ts')): TestRoute[] {
  return [
    { method: 'post', path: '/tasks', body: schemas.TaskCreate },
    { method: 'post', path: '/tasks/batch', body: schemas.TaskBatchCreate },
    { method: 'get', path: '/tasks', query: schemas.TaskListQuery },
    { method: 'get', path: '/tasks/{id}/logs', params: schemas.TaskIdParam, query: schemas.LogsQuery },
    { method: 'post', path: '/tasks/{id}/cancel', params: schemas.TaskIdParam },
    { method: 'post', path: '/workflows', body: schemas.WorkflowCreate },
    { method: 'get', path: '/workflows', query: schemas.WorkflowListQuery },
    { method: 'get', path: '/workflows/{id}', params: schemas.WorkflowIdParam },
    { method: 'post', path: '/nodes/register', body: schemas.NodeRegister },
    { method: 'post', path: '/nodes/{id}/heartbeat', params: schemas.NodeIdParam, body: schemas.NodeHeartbeat },
  ];
}
