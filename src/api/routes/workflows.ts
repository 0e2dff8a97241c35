// /workflows: DAGs of tasks. Each handler parses, calls the use case (src/control/workflows.ts)
// and presents its answer.
import { actorOf } from '../auth/actor.ts';
import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import type { Control } from '../../control/index.ts';
import { json } from './responses.ts';
import { presentWorkflow } from '../present.ts';
import { ErrorDetail, Workflow, WorkflowCreate, WorkflowIdParam, WorkflowListQuery, WorkflowPage } from '../schemas.ts';

const notFound = json(ErrorDetail, 'No workflow with this id');

/**
 * The tags of an If-None-Match header, each as a weak tag (`W/"…"`: If-None-Match compares
 * weakly), or `*`; none when there is no header.
 */
export function entityTags(header: string | undefined): string[] {
  if (!header) return [];
  if (header.trim() === '*') return ['*'];
  return [...header.matchAll(/(?:W\/)?"([^"]*)"/g)].map((m) => `W/"${m[1]}"`);
}

export function workflowRoutes(control: Control) {
  const app = new OpenAPIHono();
  const { workflows } = control;

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
    const { workflow, tasks } = await workflows.submit(c.req.valid('json'), actorOf(c));
    c.set('auditTarget', workflow.id);
    return c.json(presentWorkflow(workflow, tasks), 201);
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
    const { tenant, ...rest } = q;
    const page = await workflows.list(rest, actorOf(c, tenant));
    const { counts } = page;
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
    description:
      'Answers with an ETag that changes whenever the workflow or any of its tasks changes. Sent back in If-None-Match, it gets 304 with no body while nothing changed, without the tasks being read: a cheap poll of a big workflow.',
    request: { params: WorkflowIdParam },
    responses: {
      200: { ...json(Workflow, 'The workflow'), headers: { ETag: { schema: { type: 'string' }, description: 'The workflow\'s version (weak)' } } },
      304: { description: 'Not modified: the workflow and its tasks are as the If-None-Match tag says', headers: { ETag: { schema: { type: 'string' } } } },
      404: notFound,
    },
  });
  app.openapi(get, async (c) => {
    const read = await workflows.read(c.req.valid('param').id, actorOf(c), entityTags(c.req.header('if-none-match')));
    c.header('etag', read.tag);
    if (read.unchanged) return c.body(null, 304);
    return c.json(presentWorkflow(read.workflow, read.tasks), 200);
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
    const { workflow, tasks } = await workflows.cancel(c.req.valid('param').id, actorOf(c));
    return c.json(presentWorkflow(workflow, tasks), 200);
  });

  const retry = createRoute({
    method: 'post',
    path: '/workflows/{id}/retry',
    tags: ['workflows'],
    summary: 'Re-run a workflow that ended: its failed, timed-out, cancelled and skipped tasks run again (new attempts, same ids); succeeded tasks and their outputs are kept',
    request: { params: WorkflowIdParam },
    responses: { 200: json(Workflow, 'The workflow, running again'), 404: notFound, 409: json(ErrorDetail, 'The workflow is still running') },
  });
  app.openapi(retry, async (c) => {
    const { workflow, tasks } = await workflows.retry(c.req.valid('param').id, actorOf(c));
    c.set('auditTarget', workflow.id);
    return c.json(presentWorkflow(workflow, tasks), 200);
  });

  return app;
}
