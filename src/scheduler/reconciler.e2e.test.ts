// The reconciler against a real PostgreSQL and Redis: a queued task whose pending job is gone is
// given one again and the restore is logged, while a task caught between its commit and its
// enqueue (the accept path commits first, then adds the job) is left alone and not reported as
// lost.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/support/database.ts';
import { REDIS_URL } from '../../test/support/env.ts';
import { loadConfig } from '../config/index.ts';
import { taskRowFrom } from '../control/task-rows.ts';
import { openDatabase, type Database } from '../state/db.ts';
import { TaskStore } from '../state/task-store.ts';
import { PendingQueues } from './pending.ts';
import { consumerConnection, redisNames } from './queues.ts';
import { Reconciler } from './reconciler.ts';

const config = loadConfig({ file: null, overrides: {} });
const names = redisNames(`rec-${randomUUID().slice(0, 8)}`);
let database: Database;
let dropDatabase: () => Promise<void>;
let redis: Redis;
let pending: PendingQueues;
let store: TaskStore;
const logged: Array<{ msg: string; restored?: number }> = [];

beforeAll(async () => {
  const db = await createTestDatabase();
  database = await openDatabase({ url: db.url, dataDir: '/nonexistent' });
  dropDatabase = () => db.drop();
  redis = consumerConnection(REDIS_URL);
  pending = new PendingQueues(redis, names);
  store = new TaskStore(database.db);
}, 60_000);

afterAll(async () => {
  await pending?.close();
  const keys = await redis.keys(`${names.bullPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis?.quit();
  await database?.close();
  await dropDatabase?.();
});

function reconciler(agingSeconds = 3600, tasks: TaskStore = store) {
  const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
  return new Reconciler({ tasks, connection: redis, names, logger, intervalMs: 3_600_000, agingSeconds, restorePlaced: async () => undefined, pending });
}

const queuedTask = async () => (await store.insertMany([taskRowFrom({ image: 'sim' } as never, config, { status: 'queued', statusReason: 'waiting', tenant: 'default' })]))[0];
const jobKey = (tenant: string, jobId: string) => `${names.bullPrefix}:${names.pendingQueue(tenant)}:${jobId}`;
/** The id of the job that holds a queued task: its own, or the group job its mark names whose tasks include it (pending.ts). */
async function jobOf(id: string, tenant = 'default'): Promise<string | null> {
  if ((await redis.exists(jobKey(tenant, id))) === 1) return id;
  const group = await redis.hget(names.groupedTasks(tenant), id);
  if (!group) return null;
  const data = await redis.hget(jobKey(tenant, group), 'data');
  return data && (JSON.parse(data) as { taskIds: string[] }).taskIds.includes(id) ? group : null;
}
const jobExists = async (id: string, tenant = 'default') => (await jobOf(id, tenant)) !== null;

it('gives a queued task whose job Redis lost a job again, and says so', async () => {
  const lost = await queuedTask();
  logged.length = 0;
  expect(await reconciler().reconcile()).toBe(1);
  expect(await jobExists(lost.id)).toBe(true);
  expect(logged).toContainEqual(expect.objectContaining({ msg: 'reconciler: re-enqueued queued or placed tasks whose jobs Redis had lost', restored: 1 }));
});

it('leaves a task whose job arrives just after the first look alone, and reports nothing lost', async () => {
  const arriving = await queuedTask();
  logged.length = 0;
  const pass = reconciler().reconcile();
  // The accept path's enqueue, landing while the pass runs (after its first look at Redis).
  await new Promise((r) => setTimeout(r, 100));
  await pending.add([arriving]);
  expect(await pass).toBe(0);
  expect(await jobExists(arriving.id)).toBe(true);
  expect(logged.filter((l) => l.msg.startsWith('reconciler: re-enqueued'))).toEqual([]);
});

it('checks every task once, then new tasks and a slice of the backlog each pass, and everything again once Redis lost its data', async () => {
  // A backlog longer than two steady slices (1,000 tasks each), every task with its job. Critical
  // (and the tests' earlier tasks aged at once): a backlog that can still age is checked at full
  // pace, for its aging. One task ahead of it, to be queued again later.
  const early = (await store.insertMany([taskRowFrom({ image: 'sim', priority: 'critical' } as never, config, { status: 'queued', statusReason: 'waiting', tenant: 'default' })]))[0];
  await pending.add([early]);
  const backlog = await store.insertMany(
    Array.from({ length: 2_500 }, () => taskRowFrom({ image: 'sim', priority: 'critical' } as never, config, { status: 'queued', statusReason: 'waiting', tenant: 'default' })),
  );
  await pending.add(backlog);
  const r = reconciler(0.001);
  await redis.del(names.reconciledKey);
  logged.length = 0;
  expect(await r.reconcile(), 'catching up: all checked, nothing missing').toBe(0);
  expect(await redis.exists(names.reconciledKey), 'and Redis is marked').toBe(1);
  expect(await r.reconcile(), 'a steady pass: the first slice').toBe(0);
  // Accepted by a process that died between its commit and its enqueue: the next pass finds it,
  // though the slice it reads of the backlog is far from the end.
  const orphan = await queuedTask();
  expect(await r.reconcile()).toBe(1);
  expect(await jobExists(orphan.id)).toBe(true);
  // Queued again (a retry, or its node lost) and its enqueue refused: its seq is old, and the
  // next slice of the backlog (its last third) does not reach it; the next pass finds it all the same.
  await pending.remove((await jobOf(early.id))!, 'default');
  await database.db.execute(sql`update tasks set waiting_since = now() where id = ${early.id}`);
  expect(await r.reconcile(), 'the task queued again').toBe(1);
  expect(await jobExists(early.id)).toBe(true);
  // Many queued again at once (a lost node, a workflow's retry), none in the next slice of the
  // backlog: the window is read page after page (100 a page), each from where the last ended.
  const groups = new Set<string>();
  for (const t of backlog.slice(1_200, 1_450)) groups.add((await jobOf(t.id))!);
  const again = new Set<string>();
  for (const g of groups) for (const id of JSON.parse((await redis.hget(jobKey('default', g), 'data'))!).taskIds as string[]) again.add(id);
  for (const g of groups) await pending.remove(g, 'default');
  await database.db.execute(sql`update tasks set waiting_since = now() where id = any(${`{${[...again].join(',')}}`}::uuid[])`);
  expect(again.size, 'three groups or more').toBeGreaterThanOrEqual(300);
  expect(await r.reconcile(), 'every task queued again').toBe(again.size);
  for (const id of again) expect(await jobExists(id)).toBe(true);
  // Redis lost its data (the mark with it); one job is enough to show the whole backlog is read
  // again. The backlog was added together, so it is in group jobs of 100: the late task's goes,
  // and its 100 tasks are given jobs again.
  const late = backlog[2_200];
  const group = await jobOf(late.id);
  expect(group, 'added together, the backlog is in group jobs').toMatch(/^g-/);
  expect(JSON.parse((await redis.hget(jobKey('default', group!), 'data'))!).taskIds).toHaveLength(100);
  await pending.remove(group!, 'default');
  expect(await jobExists(late.id)).toBe(false);
  await redis.del(names.reconciledKey);
  logged.length = 0;
  expect(await r.reconcile()).toBe(100);
  expect(await jobExists(late.id)).toBe(true);
  expect(logged.map((l) => l.msg)).toContain('reconciler: Redis lost its data (its mark is gone); checking every queued task again');
  expect(await redis.exists(names.reconciledKey)).toBe(1);
}, 60_000);

it("ages waiting tasks' jobs in their queue: each moves up a class per aging period, ahead of newer work of that class", async () => {
  // Three steps' worth of low tasks (the changes of a step go out together) that have waited two
  // and a half periods (created so; no clock to race), and a new normal task: the lows are high
  // now and go before it.
  const tenant = 'aging';
  const rows = (priority: string, n: number, createdAt: Date) =>
    store.insertMany(Array.from({ length: n }, () => taskRowFrom({ image: 'sim', priority } as never, config, { status: 'queued', statusReason: 'waiting', tenant, createdAt })));
  const lows = await rows('low', 250, new Date(Date.now() - 150_000));
  const [normal] = await rows('normal', 1, new Date());
  await pending.add([...lows, normal]);
  const queue = pending.queue(tenant);
  expect((await queue.getPrioritized(0, 0)).map((j) => j.id), 'before the pass the normal task goes first').toEqual([normal.id]);
  await reconciler(60).reconcile();
  // The lows were added together: three group jobs (100, 100, 50), each moved once; the normal task has its own.
  const priority = async (id: string) => Number(await redis.hget(jobKey(tenant, (await jobOf(id, tenant))!), 'priority'));
  expect(new Set(await Promise.all(lows.map((t) => jobOf(t.id, tenant)))).size, 'the lows are in three group jobs').toBe(3);
  expect(new Set(await Promise.all(lows.map((t) => priority(t.id)))), 'every low task is high now').toEqual(new Set([2]));
  expect(await priority(normal.id), 'the new normal task has not aged').toBe(3);
  const order = (await queue.getPrioritized(0, -1)).map((j) => j.id);
  expect(order).toHaveLength(4);
  expect(order.at(-1), 'the normal task is taken last').toBe(normal.id);
  // The queue depth counts tasks, not jobs: 250 high (aged) and 1 normal.
  expect(await pending.depthByRank([1, 2, 3, 4], [tenant])).toEqual({ '1': 0, '2': 250, '3': 1, '4': 0 });
}, 60_000);

it('once caught up, re-ranks a task that moved up an aging class without reading the rest of a backlog that can still age', async () => {
  // A backlog of 2,500 normal tasks (they can age, but not within the test: an hour a class) and
  // one more normal task, stored first, that will cross into its first aging class between two
  // steady passes. The store counts the rows the passes read of the backlog.
  const tenant = 'aging-steady';
  const rows = (n: number) => store.insertMany(Array.from({ length: n }, () => taskRowFrom({ image: 'sim' } as never, config, { status: 'queued', statusReason: 'waiting', tenant })));
  const [soon] = await rows(1);
  const backlog = await rows(2_500);
  await pending.add([soon]); // a job of its own (tasks added together share group jobs)
  await pending.add(backlog);
  let read = 0;
  const counting = Object.create(store) as TaskStore;
  counting.idsInStatus = async (...args) => {
    const page = await store.idsInStatus(...args);
    read += page.length;
    return page;
  };
  const r = reconciler(3600, counting);
  expect(await r.reconcile(), 'catching up').toBe(0);
  const queued = read;
  expect(queued).toBeGreaterThan(2_500);
  read = 0;
  expect(await r.reconcile(), 'a steady pass').toBe(0);
  expect(read, 'a steady pass reads a slice of the backlog, not all of it').toBeLessThanOrEqual(1_000);
  // Half a second short of an hour's wait: it moves up a class before the next pass.
  await database.db.execute(sql`update tasks set created_at = now() - interval '3599.5 seconds' where id = ${soon.id}`);
  await new Promise((res) => setTimeout(res, 700));
  read = 0;
  expect(await r.reconcile()).toBe(0);
  expect(read).toBeLessThanOrEqual(1_000);
  const priority = async (id: string) => Number(await redis.hget(jobKey(tenant, (await jobOf(id, tenant))!), 'priority'));
  expect(await priority(soon.id), 'the task that waited an hour is high now').toBe(2);
  expect(await priority(backlog[0].id), 'the rest are still normal').toBe(3);
  expect(await priority(backlog[2_499].id)).toBe(3);
}, 60_000);

it("restores a queued task that left its group job (a group that moved back without it, or ended), but not one still in it", async () => {
  const [a, b, c] = await store.insertMany(
    Array.from({ length: 3 }, () => taskRowFrom({ image: 'sim' } as never, config, { status: 'queued', statusReason: 'waiting', tenant: 'default' })),
  );
  await pending.add([a, b, c]);
  const group = (await jobOf(a.id))!;
  expect(group).toMatch(/^g-/);
  expect(await reconciler().reconcile(), 'all three are in their group job').toBe(0);
  // The group moves back with a and b only (c was held in memory by a dispatcher that then died).
  const job = await pending.queue('default').getJob(group);
  await job!.updateData({ taskIds: [a.id, b.id], priority: 'normal' });
  logged.length = 0;
  expect(await reconciler().reconcile()).toBe(1);
  expect(await jobExists(c.id)).toBe(true);
  expect(await jobOf(a.id), 'a is still in its group').toBe(group);
  // The group job is gone (Redis lost it): its marks name a job that no longer exists.
  await pending.remove(group, 'default');
  expect(await reconciler().reconcile()).toBe(2);
  expect(await jobExists(a.id)).toBe(true);
  expect(await jobExists(b.id)).toBe(true);
});
