// Cancelling wide workflows whose tasks are spread over many nodes, two at once: each cancel
// frees its tasks' reservations on their nodes. Until session 32 a workflow's cancel locked its
// tasks in no particular order and freed the reservations one task at a time, so it locked node
// rows in its tasks' order, and two cancels (or a cancel and a placement or a finish, which lock
// node rows in id order) could each hold a node the other wanted: PostgreSQL broke the deadlock
// (40P01) after a second by failing one of them, and its user got a 500.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { api, spawnSimulatedNodes, startJarvis, type JarvisProcess } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const NODES = 8;
const WIDTH = 120;
let server: JarvisProcess & { prefix: string };
let http: ReturnType<typeof api>;

beforeAll(async () => {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  // spread: each workflow's tasks land on every node, in no order of the nodes' ids.
  server = await startJarvis({ command: 'server', databaseUrl: db.url, env: { JARVIS_SCHEDULER_STRATEGY: 'spread' } });
  cleanups.push(() => server.stop());
  const nodes = spawnSimulatedNodes(server, `sim-${server.prefix}`, NODES, { cpu: 64, memoryMb: 65536, maxTasks: 1000 });
  cleanups.push(() => nodes.stop());
  await nodes.waitFor(new RegExp(`(worker: registered[\\s\\S]*){${NODES}}`), 60_000);
  http = api(server.url);
}, 120_000);

/** A workflow of WIDTH independent tasks that run for a minute, all of them placed. */
async function placedWorkflow(round: number, n: number): Promise<string> {
  const tasks = Array.from({ length: WIDTH }, (_, i) => ({ key: `t${i}`, image: 'sim', resources: { cpu: 0.01, memory_mb: 1 }, labels: { 'jarvis.sim/duration_ms': '60000' } }));
  const wf = (await http.post('/workflows', { name: `wide-${round}-${n}`, tasks })).body;
  for (let i = 0; i < 300; i++) {
    const tasks = (await http.get(`/workflows/${wf.id}`)).body.tasks as Array<{ status: string }>;
    if (tasks.every((t) => t.status === 'scheduled' || t.status === 'running')) return wf.id;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`workflow ${wf.id} was not all placed`);
}

it('two wide workflows cancelled at once both answer 200, and every reservation is given back', async () => {
  const until = Date.now() + 25_000;
  let rounds = 0;
  while (Date.now() < until && rounds < 6) {
    rounds++;
    const ids = await Promise.all([placedWorkflow(rounds, 1), placedWorkflow(rounds, 2)]);
    const answers = await Promise.all(ids.map((id) => http.post(`/workflows/${id}/cancel`)));
    expect(
      answers.map((a) => a.status),
      `round ${rounds}: ${server.output().split('\n').filter((l) => /deadlock detected/.test(l)).map((l) => JSON.parse(l).msg as string).slice(-2).join('\n')}`,
    ).toEqual([200, 200]);
  }
  const nodes = (await http.get('/nodes')).body.items as Array<{ allocated: { tasks: number; cpu: number } }>;
  expect(nodes.map((n) => n.allocated.tasks)).toEqual(nodes.map(() => 0));
}, 120_000);
