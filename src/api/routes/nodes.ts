// /nodes: worker registration and heartbeats, and reading node state. Each handler parses, calls
// the use case (src/control/nodes.ts) and presents its answer.
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Control } from '../../control/index.ts';
import type { Authenticator } from '../../auth/authenticator.ts';
import { allows } from '../../auth/policy.ts';
import { bearerToken } from '../../auth/keys.ts';
import { json } from './responses.ts';
import { presentNode } from '../present.ts';
import { HEARTBEAT_PERIOD_HEADER } from '../../domain/heartbeats.ts';
import { ErrorDetail, Node, NodeAttempt, NodeAttemptParams, NodeAttemptQuery, NodeSecrets, NodeSecretsRequest, NodeHeartbeat, NodeIdParam, NodeRegister, NodeRegistered } from '../schemas.ts';

/** The token of an `Authorization: Bearer TOKEN` header, or '' for none. */
const bearerOf = (header: string | undefined) => bearerToken(header) ?? '';

export function nodeRoutes(control: Control, authenticator: Authenticator) {
  const app = new OpenAPIHono();
  const { nodes } = control;

  const register = createRoute({
    method: 'post',
    path: '/nodes/register',
    tags: ['nodes'],
    summary: 'Register a worker node (needs the registration token when one is configured)',
    request: { body: { content: { 'application/json': { schema: NodeRegister } }, required: true } },
    responses: { 201: json(NodeRegistered, 'The node, with the token it uses afterwards'), 401: json(ErrorDetail, 'Missing or wrong registration token') },
  });
  app.openapi(register, async (c) => {
    const body = c.req.valid('json');
    const bearer = bearerOf(c.req.header('authorization'));
    const keysInUse = !(await authenticator.isOpen());
    const auth = keysInUse && bearer ? await authenticator.authenticate(bearer) : { ok: false as const };
    const byKey = auth.ok && allows(auth.principal.role, 'nodes:register');
    const n = await nodes.register({ name: body.name, hostname: body.hostname, capacity: body.capacity, labels: body.labels ?? {} }, bearer, { keysInUse, byKey });
    return c.json({ ...presentNode(n), token: n.token }, 201);
  });

  const heartbeat = createRoute({
    method: 'post',
    path: '/nodes/{id}/heartbeat',
    tags: ['nodes'],
    summary: "A node's heartbeat: its load and the tasks it runs",
    request: { params: NodeIdParam, body: { content: { 'application/json': { schema: NodeHeartbeat } }, required: true } },
    responses: {
      200: {
        ...json(Node, 'The node'),
        headers: z.object({
          'X-Jarvis-Heartbeat-Seconds': z.string().openapi({ description: 'How often the node heartbeats from now on, in seconds: worker.heartbeat_seconds, or longer so the whole cluster sends at most nodes.max_heartbeats_per_second' }),
        }),
      },
      401: json(ErrorDetail, "Missing or wrong node token (the one registration answered with)"),
      404: json(ErrorDetail, 'Unknown node: register again'),
    },
  });
  app.openapi(heartbeat, async (c) => {
    const hb = c.req.valid('json');
    const n = await nodes.heartbeat(c.req.valid('param').id, bearerOf(c.req.header('authorization')), {
      cpuPercent: hb.cpu_percent ?? null,
      memoryUsedMb: hb.memory_used_mb ?? null,
      runningTaskIds: hb.running_task_ids ?? [],
      listedAt: hb.listed_at ? new Date(hb.listed_at) : null,
      engine: hb.engine ?? 'ok',
      stopping: hb.stopping === true,
    });
    // The period the node keeps from now on: longer in a large cluster (domain/heartbeats.ts).
    c.header(HEARTBEAT_PERIOD_HEADER, String(await nodes.heartbeatPeriod()));
    return c.json(presentNode(n), 200);
  });

  const attempt = createRoute({
    method: 'get',
    path: '/nodes/{id}/attempts/{task_id}',
    tags: ['nodes'],
    summary: 'For the node itself (its token): does it still own this attempt of a task?',
    request: { params: NodeAttemptParams, query: NodeAttemptQuery },
    responses: {
      200: json(NodeAttempt, 'Whether the node owns the attempt'),
      401: json(ErrorDetail, "Missing or wrong node token (the one registration answered with)"),
      404: json(ErrorDetail, 'Unknown node: register again'),
    },
  });
  app.openapi(attempt, async (c) => {
    const { id, task_id } = c.req.valid('param');
    const { attempt: n } = c.req.valid('query');
    const r = await nodes.ownsAttempt(id, bearerOf(c.req.header('authorization')), task_id, n);
    return c.json({ task_id, attempt: n, owned: r.owned, status: r.status }, 200);
  });

  const secrets = createRoute({
    method: 'post',
    path: '/nodes/{id}/secrets',
    tags: ['nodes'],
    summary: "For the node itself (its token): the secret values of the env of an attempt it runs now",
    request: { params: NodeIdParam, body: { content: { 'application/json': { schema: NodeSecretsRequest } }, required: true } },
    responses: {
      200: json(NodeSecrets, 'The values, for this run only'),
      401: json(ErrorDetail, "Missing or wrong node token (the one registration answered with)"),
      404: json(ErrorDetail, 'Unknown node, or a secret that no longer exists'),
      409: json(ErrorDetail, 'The node does not run that attempt'),
    },
  });
  app.openapi(secrets, async (c) => {
    const b = c.req.valid('json');
    const env = await nodes.secretsFor(c.req.valid('param').id, bearerOf(c.req.header('authorization')), b.task_id, b.attempt);
    return c.json({ env }, 200);
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
  app.openapi(get, async (c) => c.json(presentNode(await nodes.get(c.req.valid('param').id)), 200));

  for (const [action, draining] of [['drain', true], ['resume', false]] as const) {
    const route = createRoute({
      method: 'post',
      path: `/nodes/{id}/${action}`,
      tags: ['nodes'],
      summary: draining ? 'Drain a node: it finishes what it runs and receives nothing new' : 'Resume a drained node',
      request: { params: NodeIdParam },
      responses: { 200: json(Node, 'The node'), 404: json(ErrorDetail, 'No node with this id'), 409: json(ErrorDetail, 'The node is offline') },
    });
    app.openapi(route, async (c) => c.json(presentNode(await nodes.setDraining(c.req.valid('param').id, draining)), 200));
  }

  const remove = createRoute({
    method: 'delete',
    path: '/nodes/{id}',
    tags: ['nodes'],
    summary: 'Forget a node (one with tasks scheduled or running on it is refused: drain it and wait for them to end)',
    request: { params: NodeIdParam },
    responses: { 204: { description: 'Deleted' }, 404: json(ErrorDetail, 'No node with this id'), 409: json(ErrorDetail, 'Tasks are placed on the node') },
  });
  app.openapi(remove, async (c) => {
    await nodes.delete(c.req.valid('param').id);
    return c.body(null, 204);
  });

  return app;
}
