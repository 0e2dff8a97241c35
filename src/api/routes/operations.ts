// /health and /metrics. Health answers even when a dependency is down (that is its point):
// each check has a short deadline and names what failed.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { ApiDeps } from '../deps.ts';
import { Health } from '../schemas.ts';

const CHECK_TIMEOUT_MS = 1_500;

async function check(what: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      what(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (err) {
    return `unavailable: ${(err as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

export function operationsRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono();

  const health = createRoute({
    method: 'get',
    path: '/health',
    tags: ['operations'],
    summary: 'Is the control plane able to work? Names the dependency that is down.',
    responses: {
      200: { content: { 'application/json': { schema: Health } }, description: 'Everything answers' },
      503: { content: { 'application/json': { schema: Health.extend({ detail: z.string() }) } }, description: 'A dependency is down' },
    },
  });
  app.openapi(health, async (c) => {
    const [redis, database] = await Promise.all([check(() => deps.redis.ping()), check(() => deps.database.ping())]);
    const checks = { redis, database };
    const down = Object.entries(checks).filter(([, v]) => v !== 'ok').map(([k]) => k);
    if (down.length === 0) return c.json({ status: 'ok' as const, checks }, 200);
    return c.json({ status: 'unavailable' as const, checks, detail: `${down.join(' and ')} ${down.length > 1 ? 'are' : 'is'} unavailable` }, 503);
  });

  const metrics = createRoute({
    method: 'get',
    path: '/metrics',
    tags: ['operations'],
    summary: 'Prometheus metrics (text exposition format)',
    responses: { 200: { content: { 'text/plain': { schema: z.string() } }, description: 'Metrics' } },
  });
  app.openapi(metrics, async (c) => {
    const body = await deps.metrics.exposition();
    return c.text(body, 200, { "Content-Type": deps.metrics.registry.contentType });
  });

  return app;
}
