// Request and response schemas of the tenant routes (api.md, "Tenants"): fair-share weight and
// quota, and what each tenant holds, waits for and is entitled to.
import { z } from '@hono/zod-openapi';
import { laxFloat, laxInt } from './fastapi/index.ts';
import { Tenant } from './security-schemas.ts';

const INT32_MAX = 2_147_483_647;

export const TenantNameParam = z.object({ name: Tenant.openapi({ param: { name: 'name', in: 'path' } }) });

const QuotaIn = z
  .strictObject({
    cpu: laxFloat(z.number().gt(0).lte(1_000_000)).nullable().default(null).openapi({ description: 'CPUs its scheduled and running tasks may hold together; null: no limit' }),
    memory_mb: laxInt(z.number().int().gt(0).lte(INT32_MAX)).nullable().default(null).openapi({ description: 'MiB of memory; null: no limit' }),
    gpu: laxInt(z.number().int().gte(0).lte(INT32_MAX)).nullable().default(null).openapi({ description: 'GPUs; null: no limit' }),
    max_running: laxInt(z.number().int().gte(0).lte(INT32_MAX)).nullable().default(null).openapi({ description: 'Tasks scheduled or running at once; null: no limit' }),
  })
  .openapi('TenantQuota');

export const TenantPut = z
  .strictObject({
    weight: laxFloat(z.number().gte(0.001).lte(1_000_000)).default(1).openapi({ description: 'Share of a busy cluster relative to other tenants with work (default 1)' }),
    quota: QuotaIn.default({ cpu: null, memory_mb: null, gpu: null, max_running: null }),
  })
  .openapi('TenantSettings');

const Amounts = z.object({ cpu: z.number(), memory_mb: z.number().int(), gpu: z.number().int() });

export const TenantInfo = z
  .object({
    name: z.string(),
    weight: z.number(),
    quota: z.object({ cpu: z.number().nullable(), memory_mb: z.number().int().nullable(), gpu: z.number().int().nullable(), max_running: z.number().int().nullable() }),
    configured: z.boolean().openapi({ description: 'false: no settings stored, so weight 1 and no quota' }),
    usage: Amounts.extend({ running: z.number().int() }).openapi({ description: 'What its scheduled and running tasks hold now' }),
    pending: Amounts.extend({ tasks: z.number().int() }).openapi({ description: 'What its queued tasks ask for, summed: its demand' }),
    dominant_share: z.number().openapi({ description: "Its largest fraction of any of the cluster's cpu, memory, gpu and task slots (DRF)" }),
    dominant_resource: z.enum(['cpu', 'memory', 'gpu', 'task slots']),
    entitled_share: z.number().openapi({ description: 'Its weight over the weights of all tenants with work: what fair share gives it when the cluster is short' }),
  })
  .openapi('Tenant');

export const TenantList = z.object({ items: z.array(TenantInfo) }).openapi('TenantList');
