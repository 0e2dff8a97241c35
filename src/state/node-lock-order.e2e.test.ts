// A placement and the finish of tasks outside workflows take their nodes' row locks in id order,
// as a workflow's cancel and the finish of workflow tasks do (releaseMany). Each is one statement
// whose UPDATE of nodes used to take the rows in the order its plan met them: with more nodes
// than the planner expected node sums (the finish's recordset is guessed at 100 rows; placement's
// sums follow the statistics of tasks), a hash of the sums and a scan of nodes in their physical
// order. Here a statement's two nodes lie in the table the higher id first, and a transaction of
// the test's own takes the two in id order around the statement: it holds the lower, waits until
// the statement waits for it, then asks for the higher. Before, the statement held the higher by
// then: a deadlock (40P01), the statement failed. Now it holds no node row while it waits.
import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import pg from 'pg';
import { beforeAll, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/support/database.ts';
import { loadConfig } from '../config/index.ts';
import { taskRowFrom } from '../control/task-rows.ts';
import { nodes } from './schema.ts';
import { TaskStore } from './task-store.ts';

const config = loadConfig({ file: null, overrides: {} });
const database = useTestDatabase();

/** A node row as registration writes it, with `tasks` tasks of 1 CPU and 256 MiB reserved. */
function nodeRow(id: string, tasks = 0): typeof nodes.$inferInsert {
  const now = new Date();
  return {
    id,
    name: `lock-order-${id}`,
    hostname: 'h',
    status: 'available',
    labels: {},
    cpu: 1000,
    memoryMb: 1_000_000,
    gpu: 0,
    maxTasks: 1000,
    allocatedCpu: tasks,
    allocatedMemoryMb: tasks * 256,
    allocatedTasks: tasks,
    token: 't',
    registeredAt: now,
    lastHeartbeatAt: now,
  };
}

// Well over the planner's 100-row guess for a recordset: the old statements hashed theirs and
// scanned nodes.
beforeAll(async () => {
  await database().db.insert(nodes).values(Array.from({ length: 300 }, () => nodeRow(randomUUID())));
});

/**
 * Two new nodes, inserted in one statement the higher id first, so that a scan of nodes meets the
 * higher first (the table has only ever been appended to).
 */
async function highFirst(tasks: number): Promise<{ low: string; high: string }> {
  const [low, high] = [randomUUID(), randomUUID()].sort();
  await database().db.insert(nodes).values([nodeRow(high, tasks), nodeRow(low, tasks)]);
  return { low, high };
}

/**
 * Runs `statement` while a transaction of the test's own takes the two nodes in id order around
 * it: the lower before the statement starts, the higher once the statement waits for the lower.
 * Returns what the statement returned, or throws what it threw.
 */
async function inIdOrderAround<T>(low: string, high: string, statement: () => Promise<T>): Promise<T> {
  const other = new pg.Client({ connectionString: database().url });
  const watch = new pg.Client({ connectionString: database().url });
  await other.connect();
  await watch.connect();
  try {
    // A later deadlock check than the statement's (where the role may set it: a superuser), so
    // that when there is a cycle the statement is the side PostgreSQL fails.
    await other.query(`set deadlock_timeout = '10s'`).catch(() => undefined);
    await other.query('begin');
    await other.query('select id from nodes where id = $1 for update', [low]);
    const otherPid = (await other.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid;
    let settled = false;
    const outcome = statement().then(
      (value) => ((settled = true), { value }),
      (error: unknown) => ((settled = true), { error }),
    );
    for (let i = 0; ; i++) {
      const r = await watch.query(`select 1 from pg_stat_activity where $1 = any(pg_blocking_pids(pid))`, [otherPid]);
      if (r.rows.length > 0) break;
      if (settled) throw new Error('the statement ended without waiting for the lower node');
      if (i > 1000) throw new Error('the statement never waited for the lower node');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await other.query('select id from nodes where id = $1 for update', [high]);
    await other.query('commit');
    const r = await outcome;
    if ('error' in r) throw r.error;
    return r.value;
  } finally {
    await other.end();
    await watch.end();
  }
}

const reservation = async (id: string) => {
  const [n] = await database().db.select().from(nodes).where(eq(nodes.id, id));
  return { cpu: n.allocatedCpu, memoryMb: n.allocatedMemoryMb, tasks: n.allocatedTasks };
};

const spec = { image: 'busybox', command: ['true'], resources: { cpu: 1, memory: '256Mi' } };

it('places tasks on two nodes taking the node rows in id order, whatever order the table holds them in', async () => {
  const store = new TaskStore(database().db);
  const { low, high } = await highFirst(0);
  const queued = await store.insertMany(Array.from({ length: 10 }, () => taskRowFrom(spec as never, config, { status: 'queued', statusReason: 'waiting' })));
  const plans = queued.map((t, i) => ({ taskId: t.id, nodeId: i % 2 === 0 ? low : high }));
  // Statistics as autovacuum leaves them, with a batch as large as the tasks table (a quiet
  // cluster given a burst): the old statement hashed the node sums and scanned nodes. Unanalyzed,
  // it guessed one queued task and probed nodes by key, the sums in id order.
  await database().db.execute(sql`analyze tasks, nodes`);

  const r = await inIdOrderAround(low, high, () => store.placeMany(plans));
  expect({ placed: r.placed.map((t) => [t.id, t.status, t.nodeId]).sort(), refused: r.refused, gone: r.gone }).toEqual({
    placed: plans.map((p) => [p.taskId, 'scheduled', p.nodeId]).sort(),
    refused: [],
    gone: [],
  });
  for (const id of [low, high]) expect(await reservation(id)).toEqual({ cpu: 5, memoryMb: 5 * 256, tasks: 5 });
}, 30_000);

it('frees the reservations of finished tasks on two nodes taking the node rows in id order, whatever order the table holds them in', async () => {
  const store = new TaskStore(database().db);
  const { low, high } = await highFirst(1);
  const startedAt = new Date();
  const running = await store.insertMany(
    [low, high].map((nodeId) => taskRowFrom(spec as never, config, { status: 'running', statusReason: null, nodeId, attempts: 1, scheduledAt: startedAt, startedAt })),
  );

  const { results } = await inIdOrderAround(low, high, () =>
    store.finishMany(
      running.map((t) => ({ taskId: t.id, attempt: 1, status: 'succeeded' as const, exitCode: 0, error: null, startedAt, finishedAt: new Date(), logs: '', truncated: false })),
    ),
  );
  expect(results.map((x) => [x?.task.id, x?.task.status, x?.changed])).toEqual(running.map((t) => [t.id, 'succeeded', true]));
  for (const id of [low, high]) expect(await reservation(id)).toEqual({ cpu: 0, memoryMb: 0, tasks: 0 });
}, 30_000);
