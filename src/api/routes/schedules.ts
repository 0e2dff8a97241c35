// /schedules: runs of a task or a workflow on a cron (docs/workflows.md, "Schedules"). Each
// handler parses, calls the use case (src/control/schedules.ts) and presents its answer.
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Control } from '../../control/index.ts';
import type { ScheduleRow } from '../../state/schema.ts';
import { actorOf } from '../auth/actor.ts';
import { ErrorDetail } from '../schemas.ts';
import { Schedule, ScheduleCreate, ScheduleIdParam, ScheduleListQuery, SchedulePage, SchedulePatch, ScheduleTriggered } from '../schedule-schemas.ts';
import { json } from './responses.ts';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function presentSchedule(s: ScheduleRow) {
  return {
    id: s.id,
    name: s.name,
    tenant: s.tenant,
    cron: s.cron,
    timezone: s.timezone,
    task: s.task ?? null,
    workflow: s.workflow ?? null,
    concurrency: s.concurrency,
    starting_deadline_seconds: s.startingDeadlineSeconds,
    paused: s.paused,
    last_tick_at: s.lastTick.toISOString(),
    next_run_at: iso(s.nextTick),
    missed_ticks: s.missedTicks,
    last_run_id: s.lastRunId,
    last_run_at: iso(s.lastRunAt),
    last_error: s.lastError,
    created_at: s.createdAt.toISOString(),
    updated_at: s.updatedAt.toISOString(),
  };
}

const notFound = json(ErrorDetail, 'No schedule with this id');

export function scheduleRoutes(control: Control) {
  const app = new OpenAPIHono();
  const { schedules } = control;

  const create = createRoute({
    method: 'post',
    path: '/schedules',
    tags: ['schedules'],
    summary: 'Create a schedule: a task or a workflow run on a cron, in a time zone',
    request: { body: { content: { 'application/json': { schema: ScheduleCreate } }, required: true } },
    responses: { 201: json(Schedule, 'The schedule'), 403: json(ErrorDetail, "The task asks beyond its tenant's policy") },
  });
  app.openapi(create, async (c) => {
    const s = await schedules.create(c.req.valid('json') as Parameters<typeof schedules.create>[0], actorOf(c));
    c.set('auditTarget', s.id);
    return c.json(presentSchedule(s), 201);
  });

  const list = createRoute({
    method: 'get',
    path: '/schedules',
    tags: ['schedules'],
    summary: 'List schedules, newest first',
    request: { query: ScheduleListQuery },
    responses: { 200: json(SchedulePage, 'A page of schedules') },
  });
  app.openapi(list, async (c) => {
    const { tenant, ...q } = c.req.valid('query');
    const page = await schedules.list(q, actorOf(c, tenant));
    return c.json({ items: page.items.map(presentSchedule), total: page.total, limit: q.limit, offset: q.offset }, 200);
  });

  const get = createRoute({
    method: 'get',
    path: '/schedules/{id}',
    tags: ['schedules'],
    summary: 'Get a schedule, with its last and next tick',
    request: { params: ScheduleIdParam },
    responses: { 200: json(Schedule, 'The schedule'), 404: notFound },
  });
  app.openapi(get, async (c) => c.json(presentSchedule(await schedules.get(c.req.valid('param').id, actorOf(c))), 200));

  const patch = createRoute({
    method: 'patch',
    path: '/schedules/{id}',
    tags: ['schedules'],
    summary: 'Change a schedule (pause or resume with {"paused": …}); a new cron or a resume counts ticks from now',
    request: { params: ScheduleIdParam, body: { content: { 'application/json': { schema: SchedulePatch } }, required: true } },
    responses: { 200: json(Schedule, 'The schedule'), 404: notFound },
  });
  app.openapi(patch, async (c) => c.json(presentSchedule(await schedules.patch(c.req.valid('param').id, c.req.valid('json'), actorOf(c))), 200));

  const remove = createRoute({
    method: 'delete',
    path: '/schedules/{id}',
    tags: ['schedules'],
    summary: 'Delete a schedule; the runs it made stay',
    request: { params: ScheduleIdParam },
    responses: { 204: { description: 'Deleted' }, 404: notFound },
  });
  app.openapi(remove, async (c) => {
    await schedules.delete(c.req.valid('param').id, actorOf(c));
    return c.body(null, 204);
  });

  const trigger = createRoute({
    method: 'post',
    path: '/schedules/{id}/trigger',
    tags: ['schedules'],
    summary: 'Start a run now, whatever the cron, paused or the concurrency policy say',
    request: { params: ScheduleIdParam },
    responses: { 201: json(ScheduleTriggered, 'The run started'), 404: notFound },
  });
  app.openapi(trigger, async (c) => {
    const { schedule, run } = await schedules.trigger(c.req.valid('param').id, actorOf(c));
    c.set('auditTarget', schedule.id);
    return c.json({ schedule: presentSchedule(schedule), run: { kind: run.kind, id: run.runId } }, 201);
  });

  return app;
}
