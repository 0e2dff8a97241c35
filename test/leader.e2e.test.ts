// Two control planes on one Redis and database: both serve the API, only the leader schedules.
// Killing the leader hands scheduling to the other within 15 s, and nothing is placed twice.
import { afterAll, afterEach, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { api, spawnJarvis, startJarvis, uniquePrefix } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const LEADS = /"msg":"leader: this control plane now schedules and monitors"/;

it('fails over to the second control plane within 15 s without placing anything twice', async () => {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const prefix = uniquePrefix();
  // The production lock timings (10 s, renewed every 2 s), not the tests' short ones.
  const env = { JARVIS_LEADER_TTL_SECONDS: '10', JARVIS_LEADER_RENEW_SECONDS: '2' };
  const a = await startJarvis({ command: 'server', databaseUrl: db.url, prefix, env });
  cleanups.push(() => a.stop('SIGKILL'));
  const b = await startJarvis({ command: 'server', databaseUrl: db.url, prefix, env });
  cleanups.push(() => b.stop());
  expect(a.output()).toMatch(LEADS);
  expect(b.output()).not.toMatch(LEADS);

  const worker = spawnJarvis(['worker', '--executor', 'simulated', '--cpu', '64', '--memory-mb', '65536', '--max-tasks', '50'], {
    ...(process.env as Record<string, string>),
    JARVIS_REDIS_PREFIX: prefix,
    JARVIS_API_URL: b.url,
    JARVIS_WORKER_NAME: `sim-${prefix}`,
  });
  cleanups.push(() => worker.stop());
  await worker.waitFor(/worker: registered/, 30_000);

  // Both serve the API.
  const httpA = api(a.url);
  const httpB = api(b.url);
  const task = (i: number) => ({ image: 'sim', name: `t${i}`, labels: { 'jarvis.sim/duration_ms': '200' } });
  const first = await httpA.post('/tasks/batch', { tasks: Array.from({ length: 100 }, (_, i) => task(i)) });
  expect(first.status).toBe(201);

  await a.stop('SIGKILL');
  const killedAt = Date.now();
  const second = await httpB.post('/tasks/batch', { tasks: Array.from({ length: 100 }, (_, i) => task(100 + i)) });
  expect(second.status).toBe(201);
  await b.waitFor(LEADS, 20_000);
  const takeover = Date.now() - killedAt;
  expect(takeover).toBeLessThan(15_000);

  const ids = [...first.body.items, ...second.body.items].map((t: { id: string }) => t.id);
  for (const id of ids) {
    const t = await httpB.waitForTask(id, (x) => x.status === 'succeeded', 60_000);
    expect(t.attempts).toBe(1);
  }
  // Placed once each: one "scheduled" event per task.
  for (const id of ids.slice(0, 20).concat(ids.slice(100, 120))) {
    const events = (await httpB.get(`/tasks/${id}/events`)).body.items.map((e: { status: string }) => e.status);
    expect(events).toEqual(['queued', 'scheduled', 'running', 'succeeded']);
  }
}, 120_000);
