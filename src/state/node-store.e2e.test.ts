// NodeStore.delete against a real PostgreSQL: a node is deleted only when no task is scheduled or
// running on it, whatever its status. An offline node's tasks are placed again by the node health
// check, which finds them through the node: deleted first (a leader crash between marking the
// node offline and taking its tasks back), they stayed running or scheduled for ever.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/support/database.ts';
import { loadConfig } from '../config/index.ts';
import { taskRowFrom } from '../control/task-rows.ts';
import { openDatabase, type Database } from './db.ts';
import { NodeStore } from './node-store.ts';
import { nodes, tasks } from './schema.ts';
import { TaskStore } from './task-store.ts';

let db: { url: string; drop(): Promise<void> };
let database: Database;
beforeAll(async () => {
  db = await createTestDatabase();
  database = await openDatabase({ url: db.url, dataDir: '/nonexistent' });
});
afterAll(async () => {
  await database?.close();
  await db?.drop();
});

it('keeps an offline node that still has a running task, and deletes it once the task has ended', async () => {
  const store = new NodeStore(database.db);
  const n = await store.register({ name: 'gone', hostname: 'h', capacity: { cpu: 2, memory_mb: 1024, gpu: 0, max_tasks: 4 }, labels: {} });
  const config = loadConfig({ file: null, overrides: {} });
  const [t] = await new TaskStore(database.db).insertMany([
    taskRowFrom({ image: 'busybox', command: ['true'] } as never, config, { status: 'running', statusReason: 'container started', tenant: 'default' }),
  ]);
  await database.db.update(tasks).set({ nodeId: n.id, attempts: 1 }).where(eq(tasks.id, t.id));
  // Offline, its reservation already given back (or never counted): the task still names it.
  await database.db.update(nodes).set({ status: 'offline', allocatedTasks: 0 }).where(eq(nodes.id, n.id));

  // The node health check finds it by its task, to place that again, though its counter says 0.
  expect((await store.offlineHoldingTasks()).map((x) => x.id)).toEqual([n.id]);
  const refused = await store.delete(n.id);
  expect(refused).toMatchObject({ busy: { id: n.id, status: 'offline' }, held: 1 });
  expect(await store.get(n.id)).not.toBeNull();

  await database.db.update(tasks).set({ status: 'succeeded' }).where(eq(tasks.id, t.id));
  expect(await store.offlineHoldingTasks()).toEqual([]);
  expect(await store.delete(n.id)).toBe('deleted');
  expect(await store.get(n.id)).toBeNull();
});
