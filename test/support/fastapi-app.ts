// An in-process app for the FastAPI layer's tests (src/api/fastapi/): the layer installed as
// createApp installs it, and routes whose request parts the test gives; each handler answers 200
// with the values it got.
import { createRoute, OpenAPIHono, z, type RouteConfig } from '@hono/zod-openapi';
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

export function testApp(routes: TestRoute[]) {
  const logged: LogCall[] = [];
  const logger = { error: (obj: object, msg: string) => void logged.push({ obj: obj as Record<string, unknown>, msg }) };
  const app = new OpenAPIHono({ defaultHook: validationHook });
  installFastApi(app, { logger, title: 'Test', version: '1.2.3' });
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
