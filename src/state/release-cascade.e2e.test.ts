// The skip cascade of a `when`-chain: each task's `when` is false, so each skip releases the next,
// which is skipped in turn, all inside the transaction that records its first task's end (the
// results batch, holding the workflow's lock). Until session 34 every step was a wave of its own
// through the database (a scan of the workflow's pending tasks and four to six statements: 1,000
// tasks took 11.3 s); now the waves after the first two are decided in memory (dag/cascade.ts) and
// written in a few statements. What a user sees must not change: statuses, reasons, history
// events, the tasks released, the workflow's end.
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/support/database.ts';
import { loadConfig } from '../config/index.ts';
import { workflowRows } from '../control/task-rows.ts';
import { WorkflowReleaser } from '../dag/release.ts';
import type { Db } from './db.ts';
import { NodeStore } from './node-store.ts';
import * as schema from './schema.ts';
import type { TaskRow } from './schema.ts';
import { TaskStore } from './task-store.ts';
import { withAfterCommit } from './tx.ts';
import { WorkflowStore } from './workflow-store.ts';

const config = loadConfig({ file: null, overrides: {} });
const database = useTestDatabase();
const pools: pg.Pool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
});

/** The stores over a pool of the test's own, whose statements are counted. */
function setUp() {
  const pool = new pg.Pool({ connectionString: database().url, max: 4 });
  pools.push(pool);
  const counted = { statements: 0 };
  const wrapped = new WeakSet<object>();
  pool.on('acquire', (client) => {
    if (wrapped.has(client)) return;
    wrapped.add(client);
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      counted.statements++;
      return query(...args);
    };
  });
  const db = withAfterCommit(drizzle(pool, { schema })) as unknown as Db;
  const tasks = new TaskStore(db);
  const workflows = new WorkflowStore(db, tasks);
  const releaser = new WorkflowReleaser(workflows);
  tasks.setOnFinal(releaser.onTasksFinal);
  const ended: TaskRow[] = [];
  workflows.setOnEnded((rows) => ended.push(...rows));
  return { tasks, workflows, releaser, counted, ended, nodes: new NodeStore(db) };
}

type Spec = { key: string; image: string; depends_on?: string[]; when?: string; name?: string; command?: string };
const t = (key: string, depends_on: string[] = [], extra: Partial<Spec> = {}): Spec => ({ key, image: 'busybox', depends_on, ...extra });
/** t0 runs; each later task's `when` reads its parent's status and is false. */
const whenChain = (n: number): Spec[] => Array.from({ length: n }, (_, i) => (i === 0 ? t('t0') : t(`t${i}`, [`t${i - 1}`], { when: `{{ tasks.t${i - 1}.status }} == "failed"` })));
const whenReason = (i: number, parentStatus: string) => `when "{{ tasks.t${i - 1}.status }} == \\"failed\\"" was false (tasks.t${i - 1}.status = "${parentStatus}")`;

async function start(s: ReturnType<typeof setUp>, spec: { on_failure?: string; tasks: Spec[] }) {
  const node = await s.nodes.register({ name: `n-${Math.random().toString(36).slice(2)}`, hostname: 'h', capacity: { cpu: 64, memory_mb: 65536, gpu: 0, max_tasks: 100 }, labels: {} });
  const { wf, rows } = workflowRows(spec as never, config);
  const { queued } = await s.workflows.create(wf, rows, (tx, w) => s.releaser.start(tx, w));
  const idOf = (key: string) => rows.find((r) => r.workflowKey === key)?.id as string;
  /** Runs these tasks (queued) and ends them succeeded in one results batch; its statements are counted. */
  const succeed = async (...keys: string[]) => {
    await s.tasks.placeMany(keys.map((k) => ({ taskId: idOf(k), nodeId: node.id })));
    const at = new Date();
    const before = s.counted.statements;
    const r = await s.tasks.finishMany(keys.map((k) => ({ taskId: idOf(k), attempt: 1, status: 'succeeded', exitCode: 0, error: null, startedAt: at, finishedAt: at, logs: '', truncated: false })));
    return { released: r.released.map((x) => rows.find((row) => row.id === x.id)?.workflowKey), statements: s.counted.statements - before };
  };
  const byKey = async () => new Map((await s.workflows.tasksOf(wf.id)).map((x) => [x.workflowKey as string, x]));
  return { wf, queued, idOf, succeed, byKey };
}

it('skips a 300-task when-chain in its first task\'s end, each task with its reason and history event, and ends the workflow', async () => {
  const s = setUp();
  const w = await start(s, { on_failure: 'continue', tasks: whenChain(300) });
  expect(w.queued.map((q) => q.id)).toEqual([w.idOf('t0')]);

  const end = await w.succeed('t0');
  expect(end.released).toEqual([]);
  const after = await w.byKey();
  expect(after.get('t0')?.status).toBe('succeeded');
  expect(after.get('t1')).toMatchObject({ status: 'skipped', statusReason: whenReason(1, 'succeeded'), error: null, dagReady: false });
  for (let i = 2; i < 300; i++) expect(after.get(`t${i}`)).toMatchObject({ status: 'skipped', statusReason: whenReason(i, 'skipped'), error: null, dagReady: false });
  expect([...after.values()].every((x) => x.status === 'succeeded' || x.finishedAt !== null)).toBe(true);
  // Skipped by a `when` is no failure: the workflow succeeded, in the same transaction.
  expect((await s.workflows.get(w.wf.id))?.status).toBe('succeeded');
  // Each skipped task's history: stored pending, then skipped with its reason, once.
  for (const i of [1, 2, 150, 299]) {
    const events = await s.tasks.events(w.idOf(`t${i}`));
    expect(events.map((e) => [e.status, e.reason])).toEqual([
      ['pending', 'waiting on t' + (i - 1)],
      ['skipped', whenReason(i, i === 1 ? 'succeeded' : 'skipped')],
    ]);
  }
  // The onEnded hook (the finished-tasks counter) heard of each skipped task once, after the commit.
  expect(s.ended.map((x) => x.workflowKey).sort()).toEqual(Array.from({ length: 299 }, (_, i) => `t${i + 1}`).sort());
  expect(s.ended.every((x) => x.status === 'skipped')).toBe(true);
  // A bounded number of statements, not four to six a task (the waves read what they need in
  // reads that double in size: O(log n) of them). Wave by wave it took over 1,200.
  expect(end.statements).toBeLessThan(60);
});

it('under skip_downstream, skips the rest of a when-chain as descendants of the task its when skipped', async () => {
  const s = setUp();
  const w = await start(s, { tasks: whenChain(300) });
  await w.succeed('t0');
  const after = await w.byKey();
  expect(after.get('t1')).toMatchObject({ status: 'skipped', statusReason: whenReason(1, 'succeeded') });
  for (let i = 2; i < 300; i++) expect(after.get(`t${i}`)).toMatchObject({ status: 'skipped', statusReason: 'skipped: upstream task t1 skipped' });
  expect((await s.tasks.events(w.idOf('t299'))).map((e) => e.reason)).toEqual(['waiting on t298', 'skipped: upstream task t1 skipped']);
  expect((await s.workflows.get(w.wf.id))?.status).toBe('succeeded');
  expect(s.ended).toHaveLength(299);
});

it('at the end of a cascade releases what may run, fails a task whose value is missing, and says what the rest wait on', async () => {
  const s = setUp();
  const w = await start(s, {
    on_failure: 'continue',
    tasks: [
      ...whenChain(200),
      t('slow'),
      // Released by the cascade's last skip: plain, and with a name filled from the skipped task.
      t('after', ['t199']),
      t('named', ['t199'], { name: '{{ tasks.t199.status }} tail' }),
      // A value the skipped task never produced: failed at release; its child skipped for it.
      t('reads', ['t199'], { command: 'echo {{ tasks.t199.result }}' }),
      t('after-reads', ['reads']),
      // Still waiting on a running task once the cascade passed it.
      t('join', ['t100', 'slow']),
    ],
  });
  const end = await w.succeed('t0');
  expect(end.released.sort()).toEqual(['after', 'named']);
  const after = await w.byKey();
  expect(after.get('t199')).toMatchObject({ status: 'skipped', statusReason: whenReason(199, 'skipped') });
  expect(after.get('after')).toMatchObject({ status: 'queued', statusReason: 'waiting for the scheduler to place it on a node' });
  expect(after.get('named')).toMatchObject({ status: 'queued', name: 'skipped tail' });
  expect(after.get('reads')).toMatchObject({ status: 'failed', statusReason: null, error: 'cannot fill command: tasks.t199.result has no value (task "t199" ended skipped)' });
  expect((await s.tasks.events(w.idOf('reads'))).map((e) => [e.status, e.reason]).at(-1)).toEqual(['failed', 'cannot fill command: tasks.t199.result has no value (task "t199" ended skipped)']);
  expect(after.get('after-reads')).toMatchObject({ status: 'skipped', statusReason: 'skipped: upstream task reads failed' });
  expect(after.get('join')).toMatchObject({ status: 'pending', statusReason: 'waiting on slow' });
  expect((await s.workflows.get(w.wf.id))?.status).toBe('running');

  // The rest runs as before: join once slow has ended; the workflow fails for `reads`.
  expect((await w.succeed('slow')).released).toEqual(['join']);
  await w.succeed('after', 'named', 'join');
  expect((await s.workflows.get(w.wf.id))?.status).toBe('failed');
});
