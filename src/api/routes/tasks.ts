// /tasks: submit, list, read, follow logs, cancel, retry. Each handler parses, calls the use case
// (src/control/tasks.ts, task-logs.ts) and presents its answer.
import { actorOf } from '../auth/actor.ts';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import type { Control } from '../../control/index.ts';
import { Unauthorized } from '../../domain/errors.ts';
import type { LogFollows } from '../auth/log-follows.ts';
import { json } from './responses.ts';
import { presentTask } from '../present.ts';
import {
  ErrorDetail,
  LogsQuery,
  Task,
  TaskBatch,
  TaskBatchCreate,
  TaskCreate,
  TaskEvent,
  TaskIdParam,
  TaskListQuery,
  TaskLogs,
  TaskPage,
} from '../schemas.ts';

const notFound = json(ErrorDetail, 'No task with this id');

export function taskRoutes(control: Control, follows: LogFollows) {
  const app = new OpenAPIHono();
  const { tasks, logs } = control;

  const createTask = createRoute({
    method: 'post',
    path: '/tasks',
    tags: ['tasks'],
    summary: 'Submit a task',
    request: { body: { content: { 'application/json': { schema: TaskCreate } }, required: true } },
    responses: {
      201: json(Task, 'The task, queued'),
      200: json(Task, 'A task with this idempotency_key already exists; it is returned unchanged'),
      503: json(ErrorDetail, 'The queue (Redis) is unavailable; nothing was stored'),
    },
  });
  app.openapi(createTask, async (c) => {
    const { task, created } = await tasks.submit(c.req.valid('json'), actorOf(c));
    c.set('auditTarget', task.id);
    return c.json(presentTask(task), created ? 201 : 200);
  });

  const createBatch = createRoute({
    method: 'post',
    path: '/tasks/batch',
    tags: ['tasks'],
    summary: 'Submit up to 1,000 tasks at once, all or nothing',
    request: { body: { content: { 'application/json': { schema: TaskBatchCreate } }, required: true } },
    responses: {
      201: json(TaskBatch, 'The tasks, queued, in the order given'),
      409: json(ErrorDetail, 'An idempotency_key is already used; nothing was stored'),
      503: json(ErrorDetail, 'The queue (Redis) is unavailable; nothing was stored'),
    },
  });
  app.openapi(createBatch, async (c) => {
    const created = await tasks.submitBatch(c.req.valid('json').tasks, actorOf(c));
    c.set('auditTarget', `${created.length} tasks from ${created[0]?.id ?? '-'}`);
    return c.json({ items: created.map(presentTask) }, 201);
  });

  const listTasks = createRoute({
    method: 'get',
    path: '/tasks',
    tags: ['tasks'],
    summary: 'List tasks, newest first',
    request: { query: TaskListQuery },
    responses: { 200: json(TaskPage, 'A page of tasks') },
  });
  app.openapi(listTasks, async (c) => {
    const q = c.req.valid('query');
    const label = q.label ? { key: q.label.slice(0, q.label.indexOf(':')), value: q.label.slice(q.label.indexOf(':') + 1) } : undefined;
    const page = await tasks.list({ status: q.status, workflowId: q.workflow_id, nodeId: q.node_id, scheduleId: q.schedule_id, label, namePrefix: q.name, limit: q.limit, offset: q.offset }, actorOf(c, q.tenant));
    return c.json({ items: page.items.map(presentTask), total: page.total, limit: q.limit, offset: q.offset }, 200);
  });

  const getTask = createRoute({
    method: 'get',
    path: '/tasks/{id}',
    tags: ['tasks'],
    summary: 'Get a task',
    request: { params: TaskIdParam },
    responses: { 200: json(Task, 'The task'), 404: notFound },
  });
  app.openapi(getTask, async (c) => {
    return c.json(presentTask(await tasks.get(c.req.valid('param').id, actorOf(c))), 200);
  });

  const getEvents = createRoute({
    method: 'get',
    path: '/tasks/{id}/events',
    tags: ['tasks'],
    summary: "A task's history: every state change with its time, node, attempt and reason",
    request: { params: TaskIdParam },
    responses: { 200: json(z.object({ items: z.array(TaskEvent) }), 'The events, oldest first'), 404: notFound },
  });
  app.openapi(getEvents, async (c) => {
    const events = await tasks.events(c.req.valid('param').id, actorOf(c));
    return c.json(
      {
        items: events.map((e) => ({
          at: e.at.toISOString(),
          status: e.status as z.infer<typeof TaskEvent>['status'],
          node_id: e.nodeId,
          attempt: e.attempt,
          reason: e.reason,
        })),
      },
      200,
    );
  });

  const getLogs = createRoute({
    method: 'get',
    path: '/tasks/{id}/logs',
    tags: ['tasks'],
    summary: "A task's output; with follow=true, a Server-Sent Events stream of lines until it ends",
    description:
      'With follow=true: one `message` event per line, then an `end` event `{"status", "exit_code"}` when the task ends. ' +
      'A stream whose key is revoked meanwhile ends with a `refused` event `{"detail": "…"}` instead. ' +
      'A key may hold server.max_log_follows_per_key streams at once, a server process server.max_log_follows (429 beyond).',
    request: { params: TaskIdParam, query: LogsQuery },
    responses: {
      200: {
        description: 'The output so far (JSON), or an event stream (follow=true)',
        content: { 'application/json': { schema: TaskLogs }, 'text/event-stream': { schema: z.string() } },
      },
      404: notFound,
      429: json(
        ErrorDetail,
        "Too many log streams open: this key's (server.max_log_follows_per_key) or this process's (server.max_log_follows), Retry-After; or over the key's rate limit, or too many refused keys from this address",
      ),
    },
  });
  app.openapi(getLogs, async (c) => {
    const { id } = c.req.valid('param');
    const { follow } = c.req.valid('query');
    if (!follow) {
      const out = await logs.read(id, actorOf(c));
      return c.json({ task_id: id, logs: out.logs, truncated: out.truncated }, 200);
    }
    await logs.mustExist(id, actorOf(c));
    // A HEAD (Hono runs this handler for it and drops the body, so the stream would never be read
    // nor cancelled, and its place never given back): the headers only, no follow.
    if (c.req.method !== 'GET') return c.body(null, 200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }) as never;
    // A place under the follow limits (429 when none is left), held until the stream ends.
    const pass = follows.open(c);
    return streamSSE(c, async (stream) => {
      const left = new AbortController();
      stream.onAbort(() => {
        left.abort();
        pass.close();
      });
      // And when the request itself is aborted (its client gone), should the body never be
      // cancelled: the stream is aborted, which gives the place back and ends a write waiting.
      const signal = c.req.raw.signal;
      const gone = () => stream.abort();
      if (signal.aborted) gone();
      else signal.addEventListener('abort', gone, { once: true });
      try {
        const end = await logs.follow(
          id,
          () => left.signal.aborted,
          async (line) => {
            await stream.writeSSE({ data: line });
          },
          { signal: left.signal, allowed: pass.allowed },
        );
        if (!left.signal.aborted) await stream.writeSSE({ event: 'end', data: JSON.stringify(end) });
      } catch (err) {
        if (!(err instanceof Unauthorized)) throw err;
        // The key was revoked while the stream ran: say so, and end it.
        if (!left.signal.aborted) await stream.writeSSE({ event: 'refused', data: JSON.stringify({ detail: err.message }) });
      } finally {
        signal.removeEventListener('abort', gone);
        pass.close();
      }
    }) as never;
  });

  const cancelTask = createRoute({
    method: 'post',
    path: '/tasks/{id}/cancel',
    tags: ['tasks'],
    summary: 'Cancel a task; a running container is killed',
    request: { params: TaskIdParam },
    responses: { 200: json(Task, 'The task, cancelled'), 404: notFound, 409: json(ErrorDetail, 'The task had already ended') },
  });
  app.openapi(cancelTask, async (c) => c.json(presentTask(await tasks.cancel(c.req.valid('param').id, actorOf(c))), 200));

  const retryTask = createRoute({
    method: 'post',
    path: '/tasks/{id}/retry',
    tags: ['tasks'],
    summary: 'Run a failed, timed-out or cancelled task again (a new attempt)',
    request: { params: TaskIdParam },
    responses: {
      200: json(Task, 'The task, queued again'),
      404: notFound,
      409: json(ErrorDetail, 'The task has not ended unsuccessfully'),
      503: json(ErrorDetail, 'The queue (Redis) is unavailable'),
    },
  });
  app.openapi(retryTask, async (c) => c.json(presentTask(await tasks.retry(c.req.valid('param').id, actorOf(c))), 200));

  return app;
}
