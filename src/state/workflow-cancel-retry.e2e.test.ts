// A workflow's cancel that PostgreSQL fails for a deadlock is run again. The cancel frees its
// tasks' reservations with the node rows locked in id order (releaseMany), as placement and the
// finish of tasks now do too, but not every transaction that locks several node rows keeps that
// order (the schedule ticker's replace across runs, markSilent's updates), so the cancel may still
// hold a node another waits for, and PostgreSQL fails one of them (40P01). Until session 32 the
// cancel's user got a 500. Here the other side is a transaction of the test's own that takes the
// two nodes in the opposite order around the cancel, so the deadlock comes at once and every time.
import pg from 'pg';
import { expect, it } from 'vitest';
import { useTestDatabase } from '../../test/support/database.ts';
import { loadConfig } from '../config/index.ts';
import { workflowRows } from '../control/task-rows.ts';
import { WorkflowReleaser } from '../dag/release.ts';
import { NodeStore } from './node-store.ts';
import { TaskStore } from './task-store.ts';
import { isDeadlock, isRetryable, retryTransaction } from './tx.ts';
import { WorkflowStore } from './workflow-store.ts';

const config = loadConfig({ file: null, overrides: {} });
const database = useTestDatabase();

it('runs a workflow cancel again when it loses a deadlock over node rows, and it then frees every reservation', async () => {
  const db = database().db;
  const tasks = new TaskStore(db);
  const nodes = new NodeStore(db);
  const workflows = new WorkflowStore(db, tasks);
  const releaser = new WorkflowReleaser(workflows);
  tasks.setOnFinal(releaser.onTasksFinal);
  const capacity = { cpu: 8, memory_mb: 8192, gpu: 0, max_tasks: 10 };
  const [low, high] = (
    await Promise.all(['dl-a', 'dl-b'].map((name) => nodes.register({ name: `${name}-${Date.now()}`, hostname: 'h', capacity, labels: {} })))
  ).sort((a, b) => (a.id < b.id ? -1 : 1));
  const spec = { tasks: ['one', 'two'].map((key) => ({ key, image: 'busybox', resources: { cpu: 1, memory: '256Mi' } })) };
  const { wf, rows } = workflowRows(spec as never, config);
  const { queued } = await workflows.create(wf, rows, (tx, w) => releaser.start(tx, w));
  expect(queued).toHaveLength(2);
  const { placed } = await tasks.placeMany([
    { taskId: queued[0].id, nodeId: low.id },
    { taskId: queued[1].id, nodeId: high.id },
  ]);
  expect(placed).toHaveLength(2);

  // The other side holds the node the cancel locks second.
  const other = new pg.Client({ connectionString: database().url });
  await other.connect();
  try {
    // Its own deadlock check later than the cancel's where the role may set it (a superuser),
    // so that the cancel is the one PostgreSQL fails; by default the cancel, which waits
    // first, checks first anyway.
    await other.query(`set deadlock_timeout = '10s'`).catch(() => undefined);
    await other.query('begin');
    await other.query('select id from nodes where id = $1 for update', [high.id]);
    const otherPid = (await other.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0].pid;

    const cancel = workflows.cancel(wf.id).then(
      (r) => r,
      (err: unknown) => err,
    );
    // The cancel holds the lower node and waits for the higher one.
    const watch = new pg.Client({ connectionString: database().url });
    await watch.connect();
    try {
      for (let i = 0; ; i++) {
        const r = await watch.query(`select 1 from pg_stat_activity where $1 = any(pg_blocking_pids(pid))`, [otherPid]);
        if (r.rows.length > 0) break;
        if (i > 500) throw new Error('the cancel never waited for the node row');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    } finally {
      await watch.end();
    }
    // Now the other side asks for the lower node: a cycle. PostgreSQL fails the cancel's
    // transaction (after deadlock_timeout), which frees the lower node for this one.
    const started = Date.now();
    await other.query('select id from nodes where id = $1 for update', [low.id]);
    expect(Date.now() - started).toBeGreaterThan(500);
    await other.query('commit');

    const r = await cancel;
    if (r instanceof Error) throw r;
    expect(r).toMatchObject({ workflow: { id: wf.id, status: 'cancelled' } });
    const cancelled = (r as { cancelled: Array<{ task: { id: string; status: string }; wasOnNode: boolean }> }).cancelled;
    expect(cancelled.map((c) => [c.task.status, c.wasOnNode])).toEqual([
      ['cancelled', true],
      ['cancelled', true],
    ]);
  } finally {
    await other.end();
  }
  for (const n of [low, high]) expect(await nodes.get(n.id)).toMatchObject({ allocatedCpu: 0, allocatedMemoryMb: 0, allocatedTasks: 0 });
  expect((await workflows.tasksOf(wf.id)).map((t) => t.status)).toEqual(['cancelled', 'cancelled']);
}, 30_000);

it('retries only what a rerun can fix, a few times', async () => {
  const deadlock = Object.assign(new Error('deadlock detected'), { code: '40P01' });
  const serialization = Object.assign(new Error('could not serialize access'), { code: '40001' });
  const wrapped = new Error('Failed query', { cause: deadlock });
  expect([isDeadlock(wrapped), isRetryable(wrapped), isRetryable(serialization), isRetryable(new Error('x'))]).toEqual([true, true, true, false]);

  let runs = 0;
  expect(await retryTransaction(async () => (++runs < 3 ? Promise.reject(wrapped) : 'done'))).toBe('done');
  expect(runs).toBe(3);
  runs = 0;
  await expect(retryTransaction(async () => Promise.reject(new Error(`run ${++runs}`)))).rejects.toThrow('run 1');
  runs = 0;
  await expect(retryTransaction(async () => (++runs, Promise.reject(serialization)), 2)).rejects.toBe(serialization);
  expect(runs).toBe(2);
});
