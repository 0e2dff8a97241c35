// Restarting Jarvis keeps every task and its logs, on the embedded database (the default) and
// on PostgreSQL; migrations are applied at start on a fresh database and again harmlessly.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { TEST_IMAGE } from './support/env.ts';
import { api, startJarvis, tempDir, uniquePrefix } from './support/jarvis.ts';
import { join } from 'node:path';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const isFinal = (t: { status: string }) => ['succeeded', 'failed', 'timed_out', 'cancelled'].includes(t.status);

async function survivesRestart(databaseUrl: string | null, signal: NodeJS.Signals) {
  const prefix = uniquePrefix();
  const dataDir = join(tempDir(), 'pglite');
  const first = await startJarvis({ databaseUrl, prefix, dataDir });
  cleanups.push(() => first.stop());
  let http = api(first.url);
  const done = await http.post('/tasks', { image: TEST_IMAGE, command: 'echo kept; exit 7', name: 'keep-me' });
  await http.waitForTask(done.body.id, isFinal);
  const before = (await http.get(`/tasks/${done.body.id}`)).body;
  const beforeEvents = (await http.get(`/tasks/${done.body.id}/events`)).body;
  expect(before).toMatchObject({ status: 'failed', exit_code: 7, name: 'keep-me' });
  await first.stop(signal);

  const second = await startJarvis({ databaseUrl, prefix, dataDir });
  cleanups.push(() => second.stop());
  http = api(second.url);
  expect((await http.get(`/tasks/${done.body.id}`)).body).toEqual(before);
  expect((await http.get(`/tasks/${done.body.id}/logs`)).body).toEqual({ task_id: done.body.id, logs: 'kept\n', truncated: false });
  expect((await http.get(`/tasks/${done.body.id}/events`)).body).toEqual(beforeEvents);
  // The restarted node is the same node (registered again under its name), and it still works.
  expect((await http.get('/nodes')).body.items).toHaveLength(1);
  const again = await http.post('/tasks', { image: TEST_IMAGE, command: ['echo', 'after restart'] });
  expect((await http.waitForTask(again.body.id, isFinal)).status).toBe('succeeded');
}

describe('restarting jarvis up', () => {
  it('keeps tasks, events and logs in the embedded database', () => survivesRestart(null, 'SIGTERM'));

  it('keeps tasks, events and logs in PostgreSQL, even after SIGKILL', async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    await survivesRestart(db.url, 'SIGKILL');
  });
});
