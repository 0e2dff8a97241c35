// The body of POST /schedules and PATCH /schedules/{id}, as zod schemas for @hono/zod-openapi.
//   scheduleCreateSchema({ task: TaskCreate, workflow: WorkflowCreate }) → ScheduleCreate
//   SchedulePatch (then checkScheduleCron(merged) on the stored schedule merged with the patch)
// The run bodies are passed in rather than imported so this module does not depend on src/api.
// A schedule runs either one task or one workflow per tick; concurrency and
// starting_deadline_seconds mean what they mean on a Kubernetes CronJob (tick-planner.ts).
import { z } from '@hono/zod-openapi';
import { compileCron, isTimeZone, timeZoneError } from './cron.ts';
import { CONCURRENCY_POLICIES } from './tick-planner.ts';

const INT32_MAX = 2_147_483_647;
const Name = z
  .string()
  .min(1)
  .max(128)
  .refine((v) => !v.includes('\u0000'), { message: 'must not contain the NUL character (\\u0000)' });
const CronField = z.string().min(1).max(256).openapi({ example: '0 2 * * *', description: 'Five-field cron expression or @hourly/@daily/@weekly/@monthly/@yearly' });
const TimeZone = z
  .string()
  .max(64)
  .refine(isTimeZone, { error: (issue) => timeZoneError(String(issue.input)) })
  .openapi({ example: 'Europe/Berlin', description: 'IANA time zone the cron expression is read in; DST handled' });
const Concurrency = z.enum(CONCURRENCY_POLICIES).openapi({ description: 'allow: runs may overlap; forbid: a tick waits while a run is active; replace: the active run is cancelled' });
const Deadline = z
  .number()
  .int()
  .gte(1)
  .lte(INT32_MAX)
  .nullable()
  .openapi({ description: 'A tick not started within this many seconds is missed; null: no deadline (still at most one catch-up run)' });

export function scheduleCreateSchema<T extends z.ZodType, W extends z.ZodType>(bodies: { task: T; workflow: W }) {
  return z
    .strictObject({
      name: Name,
      cron: CronField,
      timezone: TimeZone.default('UTC'),
      task: bodies.task.optional(),
      workflow: bodies.workflow.optional(),
      concurrency: Concurrency.default('allow'),
      starting_deadline_seconds: Deadline.optional().default(null),
      paused: z.boolean().default(false),
    })
    .superRefine((s, ctx) => {
      const has = (v: unknown) => v !== undefined && v !== null;
      if (has(s.task) === has(s.workflow)) {
        ctx.addIssue({ code: 'custom', path: [has(s.task) ? 'workflow' : 'task'], message: 'give exactly one of task (run one task per tick) or workflow (run one workflow per tick)' });
      }
      if (isTimeZone(s.timezone)) {
        const c = compileCron(s.cron, s.timezone);
        if (!c.ok) ctx.addIssue({ code: 'custom', path: ['cron'], message: c.error });
      }
    })
    .openapi('ScheduleCreate');
}

/** Every field optional; cron and timezone are checked together by checkScheduleCron once merged. */
export const SchedulePatch = z
  .strictObject({
    name: Name.optional(),
    cron: CronField.optional(),
    timezone: TimeZone.optional(),
    concurrency: Concurrency.optional(),
    starting_deadline_seconds: Deadline.optional(),
    paused: z.boolean().optional(),
  })
  .openapi('SchedulePatch');
export type SchedulePatch = z.infer<typeof SchedulePatch>;

/** For PATCH: the stored cron/timezone with the patch applied; a problem `{loc, msg}` or null. */
export function checkScheduleCron(merged: { cron: string; timezone: string }): { loc: ['cron']; msg: string } | null {
  const c = compileCron(merged.cron, merged.timezone);
  return c.ok ? null : { loc: ['cron'], msg: c.error };
}
