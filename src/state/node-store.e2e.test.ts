// NodeStore.delete against a real PostgreSQL: a node is deleted only when no task is scheduled or
// running on it, whatever its status. An offline node's tasks are placed again by the node health
// check, which finds them through the node: deleted first (a leader crash between marking the
// node offline and taking its tasks back), they stayed running or scheduled for ever. And
// compareLists, the node health check's one read of the nodes' lists against the tasks: what it
// finds was found by the two queries it replaced (the test passed on them first).
import { eq, sql } from 'drizzle-orm';
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

it("compares the live nodes' lists with the tasks: running ones no longer listed, cancelled ones still listed", async () => {
  const store = new NodeStore(database.db);
  const taskStore = new TaskStore(database.db);
  const config = loadConfig({ file: null, overrides: {} });
  const capacity = { cpu: 8, memory_mb: 8192, gpu: 0, max_tasks: 16 };
  const node = async (name: string, set: Partial<typeof nodes.$inferInsert>) => {
    const n = await store.register({ name, hostname: name, capacity, labels: {} });
    await database.db.update(nodes).set(set).where(eq(nodes.id, n.id));
    return n;
  };
  const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);
  const task = async (set: Partial<typeof tasks.$inferInsert>) => {
    const [t] = await taskStore.insertMany([taskRowFrom({ image: 'busybox', command: ['true'] } as never, config, { status: 'queued', statusReason: null, tenant: 'default' })]);
    await database.db.update(tasks).set({ attempts: 2, ...set }).where(eq(tasks.id, t.id));
    return t.id;
  };
  const a = await node('lists-a', { status: 'available', lastHeartbeatAt: new Date(), runningListedAt: new Date() });
  const b = await node('lists-b', { status: 'draining', lastHeartbeatAt: new Date(), runningListedAt: null });
  const off = await node('lists-off', { status: 'offline', lastHeartbeatAt: minutesAgo(10) });
  const unheard = await node('lists-unheard', { status: 'available', lastHeartbeatAt: null });
  const running = (nodeId: string, startedMinutesAgo = 5) => task({ status: 'running', nodeId, startedAt: minutesAgo(startedMinutesAgo) });
  const ended = (status: 'cancelled' | 'succeeded', finishedMinutesAgo: number) => task({ status, finishedAt: minutesAgo(finishedMinutesAgo) });

  const listedOnA = await running(a.id);
  const lostOnA = await running(a.id);
  const justStartedOnA = await running(a.id, 0);
  const listedByBOnly = await running(a.id);
  const lostOnB = await running(b.id);
  const onOffline = await running(off.id);
  const onUnheard = await running(unheard.id);
  const scheduledOnA = await task({ status: 'scheduled', nodeId: a.id });
  const cancelledOnA = await ended('cancelled', 5);
  const cancelledOnB = await ended('cancelled', 5);
  const justCancelled = await ended('cancelled', 0);
  const cancelledOnOffline = await ended('cancelled', 5);
  const succeeded = await ended('succeeded', 5);
  const list = (ids: unknown[]) => ({ runningTaskIds: ids as string[] });
  await database.db.update(nodes).set(list([listedOnA, cancelledOnA, cancelledOnA, justCancelled, succeeded, scheduledOnA, 'not-a-uuid', null, 7])).where(eq(nodes.id, a.id));
  await database.db.update(nodes).set(list([listedByBOnly, cancelledOnB, 'ffffffff-ffff-4fff-8fff-ffffffffffff'])).where(eq(nodes.id, b.id));
  await database.db.update(nodes).set(list([cancelledOnOffline])).where(eq(nodes.id, off.id));
  // A list that is not an array is no list.
  await database.db.execute(sql`update nodes set running_task_ids = '{"x": 1}'::jsonb where id = ${unheard.id}`);

  const found = await store.compareLists(20, new Date(Date.now() - 60_000));
  const byId = (rows: Array<{ id: string; attempts: number; nodeName: string }>) => [...new Map(rows.map((r) => [r.id, r])).values()].sort((x, y) => x.id.localeCompare(y.id));
  expect(byId(found.unlistedRunning)).toEqual(
    byId([
      { id: lostOnA, attempts: 2, nodeName: 'lists-a' },
      { id: listedByBOnly, attempts: 2, nodeName: 'lists-a' },
      { id: lostOnB, attempts: 2, nodeName: 'lists-b' },
    ]),
  );
  expect(byId(found.listedCancelled)).toEqual(
    byId([
      { id: cancelledOnA, attempts: 2, nodeName: 'lists-a' },
      { id: cancelledOnB, attempts: 2, nodeName: 'lists-b' },
    ]),
  );
  // Not found: justStartedOnA (within the grace), onOffline, onUnheard (no heartbeat yet), the
  // cancel within the grace, the one listed by an offline node, the succeeded and scheduled tasks.
  void [justStartedOnA, onOffline, onUnheard, justCancelled, cancelledOnOffline, succeeded, scheduledOnA];
});
