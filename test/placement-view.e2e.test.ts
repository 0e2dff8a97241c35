// The scheduler starts a placement batch from the nodes' view the last batch left
// (scheduler/kept-view.ts), but never fails a task, or makes it wait, on such a view: a node that
// registered through another process (`--processes 2`: the scheduler's process hears nothing of
// it) is found by a fresh read before a task only it fits is failed as fitting no node.
import { afterAll, afterEach, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { api, spawnSimulatedNodes, startJarvis } from './support/jarvis.ts';
import { TEST_IMAGE } from './support/env.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

it('reads the nodes again before failing a task that no node of its kept view fits', async () => {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  // A view kept for a minute: without the fresh read, the big node below would stay unseen.
  const server = await startJarvis({ command: 'server', databaseUrl: db.url, args: ['--processes', '2'], env: { JARVIS_VIEW_REUSE_MS: '60000' } });
  cleanups.push(() => server.stop());
  const http = api(server.url);
  const small = spawnSimulatedNodes(server, 'small', 1, { cpu: 1, memoryMb: 2048, maxTasks: 4 });
  cleanups.push(() => small.stop());
  await small.waitFor(/worker: registered/, 30_000);

  // A long task on the small node: the batch that places it leaves its view kept, and no task
  // ends (which would drop it).
  const first = await http.post('/tasks', { image: TEST_IMAGE, resources: { cpu: 0.5 }, labels: { 'jarvis.sim/duration_ms': '600000' } });
  expect(first.status).toBe(201);
  await http.waitForTask(first.body.id, (t) => t.status === 'running');

  const big = spawnSimulatedNodes(server, 'big', 1, { cpu: 8, memoryMb: 8192, maxTasks: 4 });
  cleanups.push(() => big.stop());
  await big.waitFor(/worker: registered/, 30_000);
  const bigNode = ((await http.get('/nodes')).body.items as Array<{ id: string; name: string }>).find((n) => n.name.startsWith('big'));
  expect(bigNode).toBeDefined();

  const wide = await http.post('/tasks', { image: TEST_IMAGE, resources: { cpu: 4 } });
  expect(wide.status).toBe(201);
  const done = await http.waitForTask(wide.body.id, (t) => t.status === 'succeeded' || t.status === 'failed');
  expect({ status: done.status, node: done.node_id, reason: done.status_reason }).toMatchObject({ status: 'succeeded', node: bigNode!.id });
}, 90_000);
