// Request and response schemas of /schedules and /webhooks (docs/workflows.md).
import { z } from '@hono/zod-openapi';
import { scheduleCreateSchema } from '../schedule/schedule-spec.ts';
import { CONCURRENCY_POLICIES } from '../schedule/tick-planner.ts';
import { EventPattern } from '../webhook/events.ts';
import { queryInt, secretField } from './fastapi/index.ts';
import { TaskCreate, TenantFilter, uuidParam, WorkflowCreate } from './schemas.ts';

// A schedule's task is a new task each tick, so it cannot carry an idempotency key.
const ScheduledTask = TaskCreate.omit({ idempotency_key: true }).openapi('ScheduledTaskCreate');
export const ScheduleCreate = scheduleCreateSchema({ task: ScheduledTask, workflow: WorkflowCreate });
export { SchedulePatch } from '../schedule/schedule-spec.ts';

const Timestamp = z.string().nullable().openapi({ example: '2026-11-22T17:00:00.000Z' });

export const Schedule = z
  .object({
    id: z.string().uuid(),
    name: z.string(),
    tenant: z.string(),
    cron: z.string(),
    timezone: z.string(),
    task: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'The task each tick submits (as POST /tasks takes it)' }),
    workflow: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'The workflow each tick submits (as POST /workflows takes it)' }),
    concurrency: z.enum(CONCURRENCY_POLICIES),
    starting_deadline_seconds: z.number().int().nullable(),
    paused: z.boolean(),
    last_tick_at: z.string().openapi({ description: 'Ticks are counted from here: the last tick handled (run or missed), or the time of the last PATCH that resumed the schedule or changed its cron or time zone; the creation time before the first' }),
    next_run_at: Timestamp.openapi({ description: 'The next tick; null while paused' }),
    missed_ticks: z.number().int().openapi({ description: 'Ticks not run because they were past starting_deadline_seconds, or passed while the control plane was down' }),
    last_run_id: z.string().uuid().nullable().openapi({ description: 'The task or workflow the last run made' }),
    last_run_at: Timestamp,
    last_error: z.string().nullable().openapi({ description: 'Why the last attempt to start a run failed, if it did' }),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Schedule');

export const SchedulePage = z
  .object({ items: z.array(Schedule), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .openapi('SchedulePage');

export const ScheduleListQuery = z.object({
  tenant: TenantFilter,
  limit: queryInt(z.int().gte(1).lte(500)).default(50),
  offset: queryInt(z.int().gte(0)).default(0),
});

export const ScheduleIdParam = z.object({ id: uuidParam().openapi({ param: { name: 'id', in: 'path' } }) });

export const ScheduleTriggered = z
  .object({ schedule: Schedule, run: z.object({ kind: z.enum(['task', 'workflow']), id: z.string().uuid() }) })
  .openapi('ScheduleTriggered');

// --- webhooks

const Secret = z
  .string()
  .min(16, 'a webhook secret is at least 16 characters (e.g. openssl rand -hex 32)')
  .max(256)
  .refine((v) => !v.includes('\u0000'), { message: 'must not contain the NUL character (\\u0000)' })
  .openapi({ description: 'Key of the HMAC-SHA256 signature (X-Jarvis-Signature-256); stored encrypted, never shown again', example: 'a-long-random-string-of-yours' });

export const WebhookCreate = z
  .strictObject({
    url: z.string().max(2048).openapi({ example: 'https://hooks.example.com/jarvis' }),
    events: z.array(EventPattern).min(1).max(32).openapi({ example: ['task.succeeded', 'task.failed', 'workflow.*'] }),
    secret: secretField(Secret),
  })
  .openapi('WebhookCreate');

export const Webhook = z
  .object({ id: z.string().uuid(), tenant: z.string(), url: z.string(), events: z.array(z.string()), created_at: z.string() })
  .openapi('Webhook', { description: 'A webhook; its secret is never shown' });

export const WebhookPage = z
  .object({ items: z.array(Webhook), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .openapi('WebhookPage');

export const WebhookListQuery = ScheduleListQuery;
export const WebhookIdParam = ScheduleIdParam;
export const DeliveryParams = z.object({
  id: uuidParam().openapi({ param: { name: 'id', in: 'path' } }),
  delivery_id: uuidParam().openapi({ param: { name: 'delivery_id', in: 'path' } }),
});

export const Delivery = z
  .object({
    id: z.string().uuid().openapi({ description: 'The delivery id (X-Jarvis-Delivery-Id)' }),
    webhook_id: z.string().uuid(),
    event_id: z.string().openapi({ description: 'The event id (X-Jarvis-Event-Id), the same on a re-send' }),
    event_type: z.string(),
    status: z.enum(['pending', 'delivered', 'failed']),
    attempts: z.number().int(),
    response_code: z.number().int().nullable().openapi({ description: "The receiver's last HTTP status; null if it never answered" }),
    last_error: z.string().nullable(),
    redelivery: z.boolean(),
    created_at: z.string(),
    last_attempt_at: Timestamp,
    next_attempt_at: Timestamp.openapi({ description: 'When a pending delivery is tried next' }),
    delivered_at: Timestamp,
  })
  .openapi('WebhookDelivery');

export const DeliveryPage = z
  .object({ items: z.array(Delivery), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .openapi('WebhookDeliveryPage');

export const DeliveryListQuery = z.object({
  status: z.enum(['pending', 'delivered', 'failed']).optional(),
  limit: queryInt(z.int().gte(1).lte(500)).default(50),
  offset: queryInt(z.int().gte(0)).default(0),
});
