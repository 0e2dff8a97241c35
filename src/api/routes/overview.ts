// GET /overview: the figures of the dashboard's overview page for the tasks the key sees — counts
// by status, queued tasks by priority, what the queued tasks ask for by resource shape, and the
// last hour's status changes in 5-minute buckets. Aggregates only, one statement each.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { actorOf } from '../auth/actor.ts';
import type { Control } from '../../control/index.ts';
import { json } from './responses.ts';
import { TenantFilter } from '../schemas.ts';

const Counts = z.record(z.string(), z.int());

export const OverviewQuery = z.object({ tenant: TenantFilter });

export const Overview = z
  .object({
    tasks_by_status: Counts.openapi({ description: 'Tasks by status (statuses with none are left out)' }),
    queued_by_priority: Counts.openapi({ description: 'Queued tasks by priority' }),
    queued_demand: z
      .array(
        z.object({
          cpu: z.number().openapi({ description: 'Upper bound of the shape: CPU asked, rounded up to a power of two (at least 0.25)' }),
          memory_mb: z.int().openapi({ description: 'Upper bound: memory asked, rounded up to a power of two (at least 128)' }),
          gpu: z.int(),
          tasks: z.int(),
          cpu_total: z.number().openapi({ description: 'What these tasks ask for in total' }),
          memory_mb_total: z.int(),
          gpu_total: z.int(),
        }),
      )
      .openapi({ description: 'Queued tasks grouped by resource shape, the most common first (at most 20)' }),
    last_hour: z.object({
      since: z.string(),
      bucket_seconds: z.int(),
      buckets: z.array(z.object({ start: z.string(), counts: Counts.openapi({ description: 'Status changes in this bucket, by the status entered' }) })),
    }),
  })
  .openapi('Overview');

export function overviewRoutes(control: Control) {
  const app = new OpenAPIHono();
  const route = createRoute({
    method: 'get',
    path: '/overview',
    tags: ['tasks'],
    summary: 'Task counts, queued demand by resource shape and the last hour, for the tasks the key sees',
    request: { query: OverviewQuery },
    responses: { 200: json(Overview, 'The overview') },
  });
  app.openapi(route, async (c) => {
    const o = await control.tasks.overview(actorOf(c, c.req.valid('query').tenant));
    return c.json(
      {
        tasks_by_status: o.byStatus,
        queued_by_priority: o.queuedByPriority,
        queued_demand: o.queuedDemand.map((d) => ({
          cpu: d.cpu,
          memory_mb: d.memoryMb,
          gpu: d.gpu,
          tasks: d.tasks,
          cpu_total: d.cpuTotal,
          memory_mb_total: d.memoryMbTotal,
          gpu_total: d.gpuTotal,
        })),
        last_hour: {
          since: o.lastHour.since.toISOString(),
          bucket_seconds: o.lastHour.bucketSeconds,
          buckets: o.lastHour.buckets.map((b) => ({ start: b.start.toISOString(), counts: b.counts })),
        },
      },
      200,
    );
  });
  return app;
}
