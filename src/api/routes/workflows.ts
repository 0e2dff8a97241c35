// /workflows: DAGs of tasks. The graph is checked (keys, dependencies, cycles) before anything
// is stored; the whole graph is stored in one transaction, then its first tasks are enqueued.
// If Redis refuses them the workflow is removed again and the client gets 503.
import { randomUUID } from 'node:crypto';
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { waitingOn } from '../../dag/release.ts';
import { validateGraph } from '../../dag/validate.ts';
import { enqueuePending } from '../../scheduler/pending.ts';
import type { WorkflowRow } from '../../state/schema.ts';
import type { Config } from '../../config/index.ts';
import type { ApiDeps } from '../deps.ts';
import { json } from './responses.ts';
import { ConflictError, NotFoundError, RequestValidationError } from '../fastapi/index.ts';
import { presentWorkflow } from '../present.ts';
import { ErrorDetail, Workflow, WorkflowCreate, type WorkflowCreate as WorkflowCreateBody, WorkflowIdParam, WorkflowListQuery, WorkflowPage } from '../schemas.ts';
import { queueUnavailable, taskRowFrom, tellNodesToCancel } from './tasks.ts';

const notFound = json(ErrorDetail, 'No workflow with this id');

/** The workflow row and its task rows (all `pending`, roots ready) for a validated body. */
export function workflowRows(body: WorkflowCreateBody, config: Config, tenant = 'default') {
  const id = randomUUID();
  const createdAt = new Date();
  const rows = body.tasks.map((t) => {
    const parents = t.depends_on ?? [];
    return taskRowFrom(t, config, {
      status: 'pending',
      statusReason: parents.length ? waitingOn(parents.length, parents, parents.length) : 'ready; waiting for a free slot',
      workflowId: id,
      workflowKey: t.key,
      dependsOn: parents,
      dagReady: parents.length === 0,
      createdAt,
      tenant,
    });
  });
  const wf = {
    id,
    name: body.name ?? null,
    status: 'running' as const,
    onFailure: body.on_failure ?? 'skip_downstream',
    maxParallel: body.max_parallel ?? null,
    tenant,
    createdAt,
  };
  return { id, wf, rows };
}

export function workflowRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono();
  const { workflows, releaser, config } = deps;

  const create = createRoute({
    method: 'post',
    path: '/workflows',
    tags: ['workflows'],
    summary: 'Submit a workflow: named tasks with depends_on',
    request: { body: { content: { 'application/json': { schema: WorkflowCreate } }, required: true } },
    responses: {
      201: json(Workflow, 'The workflow, its first tasks queued'),
      503: json(ErrorDetail, 'The queue (Redis) is unavailable; nothing was stored'),
    },
  });
  app.openapi(create, async (c) => {
    const body = c.req.valid('json');
    const problems = validateGraph(body.tasks.map((t) => ({ key: t.key, depends_on: t.depends_on ?? [] })));
    if (problems.length > 0) throw new RequestValidationError(problems);
    const { id, wf, rows } = workflowRows(body, config);
    const { workflow, queued } = await workflows.create(wf, rows, (tx, w) => releaser.start(tx, w));
    try {
      await enqueuePending(deps.pendingQueue, queued);
    } catch (err) {
      deps.logger.warn({ err, workflow_id: id }, 'POST /workflows: could not enqueue; the workflow was not stored');
      await workflows.delete(id);
      throw queueUnavailable(config, 'the workflow');
    }
    for (const t of rows) deps.metrics.submitted.inc({ priority: t.priority ?? 'normal' });
    return c.json(presentWorkflow(workflow, await workflows.tasksOf(id)), 201);
  });

  const list = createRoute({
    method: 'get',
    path: '/workflows',
    tags: ['workflows'],
    summary: 'List workflows, newest first, with how many of their tasks are in each status',
    request: { query: WorkflowListQuery },
    responses: { 200: json(WorkflowPage, 'A page of workflows') },
  });
  app.openapi(list, async (c) => {
    const q = c.req.valid('query');
    const page = await workflows.list(q);
    const counts = await workflows.countsByStatus(page.items.map((w) => w.id));
    return c.json(
      {
        items: page.items.map((w) => {
          const { tasks: _tasks, ...summary } = presentWorkflow(w, []);
          return { ...summary, task_counts: counts.get(w.id) ?? {} };
        }),
        total: page.total,
        limit: q.limit,
        offset: q.offset,
      },
      200,
    );
  });

  const get = createRoute({
    method: 'get',
    path: '/workflows/{id}',
    tags: ['workflows'],
    summary: 'Get a workflow with every task and its state',
    request: { params: WorkflowIdParam },
    responses: { 200: json(Workflow, 'The workflow'), 404: notFound },
  });
  app.openapi(get, async (c) => {
    const { id } = c.req.valid('param');
    const w = await workflows.get(id);
    if (!w) throw new NotFoundError('Workflow not found');
    return c.json(presentWorkflow(w, await workflows.tasksOf(id)), 200);
  });

  const cancel = createRoute({
    method: 'post',
    path: '/workflows/{id}/cancel',
    tags: ['workflows'],
    summary: 'Cancel a workflow: queued and running tasks are cancelled, the rest skipped',
    request: { params: WorkflowIdParam },
    responses: { 200: json(Workflow, 'The workflow, cancelled'), 404: notFound, 409: json(ErrorDetail, 'The workflow had already ended') },
  });
  app.openapi(cancel, async (c) => {
    const { id } = c.req.valid('param');
    const r = await workflows.cancel(id);
    if (r === 'not_found') throw new NotFoundError('Workflow not found');
    if ('ended' in r) throw new ConflictError(`Workflow already ended (status ${(r.ended as WorkflowRow).status}); only running workflows can be cancelled`);
    await tellNodesToCancel(deps, r.onNode);
    return c.json(presentWorkflow(r.workflow, await workflows.tasksOf(id)), 200);
  });

  return app;
}
