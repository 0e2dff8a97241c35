// /tasks: submit, list, read, follow logs, cancel. Accepting a task means: the row is in the
// database and its job is in the pending queue; if Redis refuses the job, the row is removed
// and the client gets 503, so nothing is half-accepted.
import { randomUUID } from 'node:crypto';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import { fieldsOf } from '../../monitor/results.ts';
import { enqueuePending, wakeWaitingTasks } from '../../scheduler/pending.ts';
import { isFinal } from '../../domain/task.ts';
import type { Config } from '../../config/index.ts';
import { GroupCommit } from '../../state/group-commit.ts';
import type { NewTaskRow, TaskRow } from '../../state/schema.ts';
import type { ApiDeps } from '../deps.ts';
import { json } from './responses.ts';
import { ConflictError, NotFoundError, ServiceUnavailableError } from '../errors.ts';
import { presentTask } from '../present.ts';
import {
  ErrorDetail,
  LogsQuery,
  normaliseResources,
  Task,
  TaskBatch,
  TaskBatchCreate,
  TaskCreate,
  type TaskCreate as TaskCreateBody,
  TaskEvent,
  TaskIdParam,
  TaskListQuery,
  TaskLogs,
  TaskPage,
} from '../schemas.ts';

const notFound = json(ErrorDetail, 'No task with this id');

const ENQUEUE_TIMEOUT_MS = 3_000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export function taskRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono();
  const { tasks, config } = deps;

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
  const enqueueOrRefuse = async (ts: TaskRow[]) => {
    try {
      await withTimeout(enqueuePending(deps.pendingQueue, ts), ENQUEUE_TIMEOUT_MS, 'Redis');
    } catch (err) {
      deps.logger.warn({ err, tasks: ts.length }, 'POST /tasks: could not enqueue; the tasks were not stored');
      throw queueUnavailable(config, 'the task');
    }
  };
  // Concurrent submissions share one INSERT and one enqueue (see group-commit.ts).
  const group = new GroupCommit(tasks, enqueueOrRefuse);

  app.openapi(createTask, async (c) => {
    const body = c.req.valid('json');
    const priority = body.priority ?? 'normal';
    const row = taskRowFrom(body, config, { status: 'queued', statusReason: 'waiting for the scheduler to place it on a node' });
    if (row.idempotencyKey) {
      // Rare, and needs a look-up first: the one-by-one path.
      const { task, created } = await tasks.create(row, (t) => enqueueOrRefuse([t]));
      if (created) deps.metrics.submitted.inc({ priority });
      return c.json(presentTask(task), created ? 201 : 200);
    }
    const task = await group.submit(row);
    deps.metrics.submitted.inc({ priority });
    return c.json(presentTask(task), 201);
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
    const body = c.req.valid('json');
    const keys = body.tasks.map((t) => t.idempotency_key).filter((k): k is string => !!k);
    if (new Set(keys).size !== keys.length) throw new ConflictError('Two tasks in the batch share an idempotency_key; nothing was stored');
    for (const k of keys) {
      if (await tasks.findByIdempotencyKey(k)) throw new ConflictError(`idempotency_key "${k}" is already used by another task; nothing was stored`);
    }
    const rows = body.tasks.map((t) => taskRowFrom(t, config, { status: 'queued', statusReason: 'waiting for the scheduler to place it on a node' }));
    const created = await tasks.createMany(rows, async (all) => {
      try {
        await withTimeout(enqueuePending(deps.pendingQueue, all), ENQUEUE_TIMEOUT_MS, 'Redis');
      } catch (err) {
        deps.logger.warn({ err }, 'POST /tasks/batch: could not enqueue; nothing was stored');
        throw queueUnavailable(config, 'the batch');
      }
    });
    for (const t of created) deps.metrics.submitted.inc({ priority: t.priority });
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
    const page = await tasks.list({ status: q.status, workflowId: q.workflow_id, nodeId: q.node_id, label, limit: q.limit, offset: q.offset });
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
    const { id } = c.req.valid('param');
    const t = await tasks.get(id);
    if (!t) throw new NotFoundError('Task not found');
    return c.json(presentTask(t), 200);
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
    const { id } = c.req.valid('param');
    if (!(await tasks.get(id))) throw new NotFoundError('Task not found');
    const events = await tasks.events(id);
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
    request: { params: TaskIdParam, query: LogsQuery },
    responses: {
      200: {
        description: 'The output so far (JSON), or an event stream (follow=true)',
        content: { 'application/json': { schema: TaskLogs }, 'text/event-stream': { schema: z.string() } },
      },
      404: notFound,
    },
  });
  app.openapi(getLogs, async (c) => {
    const { id } = c.req.valid('param');
    const { follow } = c.req.valid('query');
    const t = await tasks.get(id);
    if (!t) throw new NotFoundError('Task not found');
    if (!follow) {
      const stored = await tasks.logs(id);
      if (stored) return c.json({ task_id: id, logs: stored.logs, truncated: stored.truncated }, 200);
      const live = await readLiveLogs(deps, id, t.attempts);
      return c.json({ task_id: id, logs: live.logs, truncated: live.truncated }, 200);
    }
    return streamSSE(c, async (stream) => {
      const reader = deps.newBlockingConnection();
      let closed = false;
      stream.onAbort(() => {
        closed = true;
        reader.disconnect();
      });
      try {
        await followLogs(deps, id, reader, () => closed, async (line) => {
          await stream.writeSSE({ data: line });
        });
        // The worker writes its end marker just before it reports the result; give the report a
        // moment to land so the end event carries the final status.
        let end = await tasks.get(id);
        for (let i = 0; i < 100 && !closed && end && !isFinal(end.status); i++) {
          await new Promise((r) => setTimeout(r, 50));
          end = await tasks.get(id);
        }
        if (!closed) await stream.writeSSE({ event: 'end', data: JSON.stringify({ status: end?.status, exit_code: end?.exitCode ?? null }) });
      } finally {
        reader.disconnect();
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
  app.openapi(cancelTask, async (c) => {
    const { id } = c.req.valid('param');
    const r = await tasks.cancel(id);
    if (r === 'not_found') throw new NotFoundError('Task not found');
    if ('ended' in r) throw new ConflictError(`Task already ended (status ${r.ended.status}); only queued, scheduled or running tasks can be cancelled`);
    await tellNodesToCancel(deps, [id]);
    await deps.pendingQueue.remove(id).catch(() => undefined);
    if (r.wasOnNode) await wakeWaitingTasks(deps.pendingQueue).catch(() => undefined);
    await enqueuePending(deps.pendingQueue, r.released).catch((err) =>
      deps.logger.warn({ err, task_id: id }, 'cancel: could not enqueue released workflow tasks; the reconciler will'),
    );
    deps.metrics.finished.inc({ status: 'cancelled', priority: r.task.priority });
    return c.json(presentTask(r.task), 200);
  });

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
  app.openapi(retryTask, async (c) => {
    const { id } = c.req.valid('param');
    const r = await tasks.retry(id);
    if (r === 'not_found') throw new NotFoundError('Task not found');
    if ('notRetryable' in r) {
      throw new ConflictError(`Task is ${r.notRetryable.status}; only failed, timed_out or cancelled tasks can be retried`);
    }
    try {
      await withTimeout(enqueuePending(deps.pendingQueue, [r]), ENQUEUE_TIMEOUT_MS, 'Redis');
    } catch (err) {
      // The task is queued in the database; the reconciler enqueues it once Redis is back.
      deps.logger.warn({ err, task_id: id }, 'retry: queued in the database, Redis unavailable; the reconciler will enqueue it');
    }
    return c.json(presentTask(r), 200);
  });

  return app;
}

/** The fields every new task row gets from a TaskCreate body (POST /tasks and workflows). */
export function taskRowFrom(
  body: Omit<TaskCreateBody, 'idempotency_key'> & { idempotency_key?: string | null },
  config: Config,
  extra: Pick<NewTaskRow, 'status' | 'statusReason'> & Partial<NewTaskRow>,
): NewTaskRow {
  const resources = normaliseResources(body.resources);
  return {
    id: randomUUID(),
    name: body.name ?? null,
    image: body.image,
    command: body.command ?? null,
    env: body.env ?? {},
    priority: body.priority ?? 'normal',
    cpu: resources.cpu,
    memoryMb: resources.memory_mb,
    gpu: resources.gpu,
    timeoutSeconds: body.timeout_seconds ?? null,
    maxRetries: body.max_retries ?? 0,
    retryBackoffSeconds: body.retry_backoff_seconds ?? 1,
    nodeSelector: body.node_selector ?? {},
    labels: body.labels ?? {},
    idempotencyKey: body.idempotency_key ?? null,
    network: body.network ?? config.tasks.default_network,
    createdAt: new Date(),
    ...extra,
  };
}

export function queueUnavailable(config: Config, what: string): ServiceUnavailableError {
  return new ServiceUnavailableError(
    `The task queue (Redis at ${redactUrl(config.redis.url)}) is unavailable, so ${what} was not accepted and nothing was stored. Retry when Redis is back.`,
  );
}

/**
 * Tells the nodes to kill these tasks' containers. The key covers a worker that picks a job up
 * after this moment; the message reaches one running it now.
 */
export async function tellNodesToCancel(deps: ApiDeps, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  try {
    const m = deps.redis.multi();
    for (const id of ids) m.set(deps.names.cancelKey(id), '1', 'EX', 86_400).publish(deps.names.cancelChannel, id);
    await m.exec();
  } catch (err) {
    deps.logger.error({ err, task_ids: ids }, 'cancel: recorded, but could not tell the nodes (Redis unavailable); their results will be ignored');
  }
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return `${u.hostname}:${u.port || 6379}`;
  } catch {
    return url;
  }
}

async function readLiveLogs(deps: ApiDeps, id: string, attempt: number): Promise<{ logs: string; truncated: boolean }> {
  const entries = await deps.redis.xrange(deps.names.logStream(id), '-', '+').catch(() => []);
  let logs = '';
  let truncated = false;
  for (const [, raw] of entries) {
    const f = fieldsOf(raw);
    if (f.a !== String(attempt)) continue;
    if (f.d !== undefined) logs += f.d;
    if (f.truncated === '1') truncated = true;
  }
  return { logs, truncated };
}

/**
 * Streams the task's output line by line from its live Redis stream until the worker's end
 * marker; for a task that ended before (its stream gone) it sends the stored log.
 */
async function followLogs(
  deps: ApiDeps,
  id: string,
  reader: import('ioredis').Redis,
  isClosed: () => boolean,
  emit: (line: string) => Promise<void>,
): Promise<void> {
  const key = deps.names.logStream(id);
  let lastId = '0';
  let partial = '';
  let sentAny = false;
  const flushLines = async (text: string) => {
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      await emit(line);
      sentAny = true;
    }
  };
  while (!isClosed()) {
    const res = (await reader.xread('COUNT', 500, 'BLOCK', 1000, 'STREAMS', key, lastId).catch((err) => {
      if (isClosed()) return null;
      throw err;
    })) as Array<[string, Array<[string, string[]]>]> | null;
    if (res) {
      for (const [, entries] of res) {
        for (const [entryId, raw] of entries) {
          lastId = entryId;
          const f = fieldsOf(raw);
          if (f.d !== undefined) await flushLines(f.d);
          if (f.end === '1') {
            if (partial) await emit(partial);
            return;
          }
        }
      }
      continue;
    }
    const t = await deps.tasks.get(id);
    if (!t || isFinal(t.status)) {
      // Ended with no (more) live stream: fall back to the stored log once.
      if (!sentAny && lastId === '0') {
        const stored = await deps.tasks.logs(id);
        if (stored) await flushLines(stored.logs.endsWith('\n') || stored.logs === '' ? stored.logs : stored.logs + '\n');
      } else if (partial) {
        await emit(partial);
      }
      return;
    }
  }
}
