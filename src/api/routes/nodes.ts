// /nodes: worker registration and heartbeats, and reading node state. When a registration
// token is configured, registering needs it (Authorization: Bearer TOKEN).
import { timingSafeEqual } from 'node:crypto';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { wakeWaitingTasks } from '../../scheduler/pending.ts';
import type { ApiDeps } from '../deps.ts';
import { json } from './responses.ts';
import { ConflictError, NotFoundError, UnauthorizedError } from '../fastapi/index.ts';
import { presentNode } from '../present.ts';
import { ErrorDetail, Node, NodeHeartbeat, NodeIdParam, NodeRegister, NodeRegistered } from '../schemas.ts';


function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function nodeRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono();
  const { nodes } = deps;

  const register = createRoute({
    method: 'post',
    path: '/nodes/register',
    tags: ['nodes'],
    summary: 'Register a worker node (needs the registration token when one is configured)',
    request: { body: { content: { 'application/json': { schema: NodeRegister } }, required: true } },
    responses: { 201: json(NodeRegistered, 'The node, with the token it uses afterwards'), 401: json(ErrorDetail, 'Missing or wrong registration token') },
  });
  app.openapi(register, async (c) => {
    const required = deps.config.nodes.registration_token;
    if (required) {
      const given = (c.req.header('authorization') ?? '').replace(/^Bearer\s+/i, '');
      if (!given || !sameSecret(given, required)) {
        throw new UnauthorizedError('A valid registration token is required: pass it as "Authorization: Bearer TOKEN" (JARVIS_REGISTRATION_TOKEN on the worker)');
      }
    }
    const body = c.req.valid('json');
    const n = await nodes.register({ name: body.name, hostname: body.hostname, capacity: body.capacity, labels: body.labels ?? {} });
    deps.logger.info({ node_id: n.id, node: n.name }, 'node registered');
    await wakeWaitingTasks(deps.pendingQueue).catch(() => undefined);
    return c.json({ ...presentNode(n), token: n.token }, 201);
  });

  const heartbeat = createRoute({
    method: 'post',
    path: '/nodes/{id}/heartbeat',
    tags: ['nodes'],
    summary: "A node's heartbeat: its load and the tasks it runs",
    request: { params: NodeIdParam, body: { content: { 'application/json': { schema: NodeHeartbeat } }, required: true } },
    responses: {
      200: json(Node, 'The node'),
      401: json(ErrorDetail, "Missing or wrong node token (the one registration answered with)"),
      404: json(ErrorDetail, 'Unknown node: register again'),
    },
  });
  app.openapi(heartbeat, async (c) => {
    const { id } = c.req.valid('param');
    const hb = c.req.valid('json');
    // Only the node itself may report for it: with the token its registration answered.
    const token = (c.req.header('authorization') ?? '').replace(/^Bearer\s+/i, '');
    const n = await nodes.heartbeat(id, token, {
      cpuPercent: hb.cpu_percent ?? null,
      memoryUsedMb: hb.memory_used_mb ?? null,
      runningTaskIds: hb.running_task_ids ?? [],
      engine: hb.engine ?? 'ok',
    });
    if (n === 'unknown') throw new NotFoundError('Node not found: it may have been deleted; register again');
    if (n === 'unauthorized') {
      throw new UnauthorizedError("This node's token is required: pass the token POST /nodes/register answered with as \"Authorization: Bearer TOKEN\"");
    }
    return c.json(presentNode(n), 200);
  });

  const list = createRoute({
    method: 'get',
    path: '/nodes',
    tags: ['nodes'],
    summary: 'List nodes',
    responses: { 200: json(z.object({ items: z.array(Node) }), 'Every registered node') },
  });
  app.openapi(list, async (c) => c.json({ items: (await nodes.list()).map(presentNode) }, 200));

  const get = createRoute({
    method: 'get',
    path: '/nodes/{id}',
    tags: ['nodes'],
    summary: 'Get a node',
    request: { params: NodeIdParam },
    responses: { 200: json(Node, 'The node'), 404: json(ErrorDetail, 'No node with this id') },
  });
  app.openapi(get, async (c) => {
    const n = await nodes.get(c.req.valid('param').id);
    if (!n) throw new NotFoundError('Node not found');
    return c.json(presentNode(n), 200);
  });

  for (const [action, draining] of [['drain', true], ['resume', false]] as const) {
    const route = createRoute({
      method: 'post',
      path: `/nodes/{id}/${action}`,
      tags: ['nodes'],
      summary: draining ? 'Drain a node: it finishes what it runs and receives nothing new' : 'Resume a drained node',
      request: { params: NodeIdParam },
      responses: { 200: json(Node, 'The node'), 404: json(ErrorDetail, 'No node with this id'), 409: json(ErrorDetail, 'The node is offline') },
    });
    app.openapi(route, async (c) => {
      const n = await nodes.setDraining(c.req.valid('param').id, draining);
      if (!n) throw new NotFoundError('Node not found');
      if (n.status === 'offline') throw new ConflictError(`Node ${n.name} is offline; it can be ${action === 'drain' ? 'drained' : 'resumed'} once it heartbeats again`);
      deps.logger.info({ node_id: n.id, node: n.name, status: n.status }, `node ${action}`);
      if (!draining) await wakeWaitingTasks(deps.pendingQueue).catch(() => undefined);
      return c.json(presentNode(n), 200);
    });
  }

  const remove = createRoute({
    method: 'delete',
    path: '/nodes/{id}',
    tags: ['nodes'],
    summary: 'Forget a node (one with tasks placed on it must be drained and empty, or offline)',
    request: { params: NodeIdParam },
    responses: { 204: { description: 'Deleted' }, 404: json(ErrorDetail, 'No node with this id'), 409: json(ErrorDetail, 'Tasks are placed on the node') },
  });
  app.openapi(remove, async (c) => {
    const r = await nodes.delete(c.req.valid('param').id);
    if (r === 'not_found') throw new NotFoundError('Node not found');
    if (r !== 'deleted') {
      throw new ConflictError(`Node ${r.busy.name} has ${r.busy.allocatedTasks} task(s) placed on it: drain it (POST /nodes/${r.busy.id}/drain) and wait for them to end`);
    }
    return c.body(null, 204);
  });

  return app;
}
