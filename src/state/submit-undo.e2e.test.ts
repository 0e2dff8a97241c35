// Taking back a submission whose enqueue failed, against a real PostgreSQL (and, for the use
// cases, a redis-server of the file's own that the test pauses and stops). An enqueue that fails
// by its deadline may still land, and the dispatcher then places the task before the take-back
// (so may the reconciler, which queues stored rows that have no job): such a task runs, holds a
// reservation on its node, and must not be deleted — it is accepted, as stored, and its report
// gives the reservation back. Only tasks nothing has touched (queued, no attempt) are deleted.
// And when the take-back itself fails, nobody is told that nothing was stored: the tasks may
// still run, so the answer is a 500 whose log line names them.
import { Hono } from 'hono';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { useTestDatabase } from '../../test/support/database.ts';
import { cuttableTestDatabase, PrivateRedis } from '../../test/support/services.ts';
import { TEST_DATABASE_URL } from '../../test/support/env.ts';
import { removeLeftovers } from '../../test/support/leftovers.ts';
import { loadConfig } from '../config/index.ts';
import { taskRowFrom } from '../control/task-rows.ts';
import { TaskControl } from '../control/tasks.ts';
import { WorkflowControl } from '../control/workflows.ts';
import type { ControlDeps } from '../control/deps.ts';
import { EVERYONE } from '../control/actor.ts';
import { WorkflowReleaser } from '../dag/release.ts';
import { DomainError } from '../domain/errors.ts';
import { ControlPlaneMetrics } from '../monitor/metrics.ts';
import { PendingQueues } from '../scheduler/pending.ts';
import { producerConnection, redisNames } from '../scheduler/queues.ts';
import { toHttpError } from '../api/domain-errors.ts';
import { fastApiErrorHandler } from '../api/fastapi/error-handler.ts';
import { openDatabase, type Database } from './db.ts';
import { GroupCommit, NotTakenBack } from './group-commit.ts';
import { NodeStore } from './node-store.ts';
import { TaskStore, type TaskRow } from './task-store.ts';
import { WorkflowStore } from './workflow-store.ts';

// The redis-servers this file starts; first, so that it runs after the other after-hooks.
afterAll(removeLeftovers);

const config = loadConfig({ file: null, overrides: {} });
const database = useTestDatabase();

function stores(db: Database['db'] = database().db) {
  const tasks = new TaskStore(db);
  const nodes = new NodeStore(db);
  const workflows = new WorkflowStore(db, tasks);
  const releaser = new WorkflowReleaser(workflows);
  tasks.setOnFinal(releaser.onTasksFinal);
  return { tasks, nodes, workflows, releaser };
}
type Stores = ReturnType<typeof stores>;

const row = (name: string, extra: Record<string, unknown> = {}) =>
  taskRowFrom({ image: 'busybox', name, resources: { cpu: 1, memory: '256Mi' }, ...extra } as never, config, { status: 'queued', statusReason: 'waiting', tenant: 'default' });

let nodeNo = 0;
async function node(s: Stores) {
  return s.nodes.register({ name: `n${++nodeNo}-${Date.now()}`, hostname: 'h', capacity: { cpu: 8, memory_mb: 8192, gpu: 0, max_tasks: 10 }, labels: {} });
}

/** What the dispatcher does with a job that landed: the tasks go to the node, reserved there. */
async function place(s: Stores, ids: string[], nodeId: string): Promise<void> {
  const { placed } = await s.tasks.placeMany(ids.map((taskId) => ({ taskId, nodeId })));
  expect(placed.map((t) => t.id).sort()).toEqual([...ids].sort());
}

/** What enqueueWithin throws when Redis does not answer in time. */
const deadline = () => new Error('Redis did not answer within 3000 ms');

/**
 * The node's reservation is what its placed tasks ask for, and each attempt's report (here, the
 * result recorder's statement) is applied and gives it back.
 */
async function reservationHoldsThenReturns(s: Stores, nodeId: string, placed: string[]): Promise<void> {
  const n = await s.nodes.get(nodeId);
  expect(n).toMatchObject({ allocatedCpu: placed.length, allocatedMemoryMb: 256 * placed.length, allocatedTasks: placed.length });
  const { results } = await s.tasks.finishMany(
    placed.map((taskId) => ({ taskId, attempt: 1, status: 'succeeded' as const, exitCode: 0, error: null, startedAt: new Date(), finishedAt: new Date(), logs: 'ok\n', truncated: false })),
  );
  expect(results.map((r) => r?.task.status)).toEqual(placed.map(() => 'succeeded'));
  expect(await s.nodes.get(nodeId)).toMatchObject({ allocatedCpu: 0, allocatedMemoryMb: 0, allocatedTasks: 0 });
}

async function gone(s: Stores, id: string): Promise<void> {
  expect(await s.tasks.get(id)).toBeNull();
  expect(await s.tasks.events(id)).toEqual([]);
}

describe('the store takes back only what nothing touched', () => {
  it('group commit: a task placed before the take-back is accepted as stored; its untouched group-mate is refused and deleted', async () => {
    const s = stores();
    const n = await node(s);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const [a, b] = [row('gc-a'), row('gc-b')];
    let calls = 0;
    const group = new GroupCommit(s.tasks, async (ts) => {
      if (++calls === 1) return held; // a first submission in flight, so the next two share one group
      expect(ts.map((t) => t.id).sort()).toEqual([a.id, b.id].sort());
      await place(s, [a.id as string], n.id);
      throw deadline();
    });
    const first = group.submit(row('gc-first'));
    const [ra, rb] = [group.submit(a), group.submit(b)].map((p) => p.then((t) => t, (err: unknown) => err));
    release();
    expect((await first).status).toBe('queued');
    const accepted = (await ra) as TaskRow;
    expect(accepted).toMatchObject({ id: a.id, status: 'scheduled', attempts: 1, nodeId: n.id });
    expect(await rb).toEqual(deadline());
    await gone(s, b.id as string);
    expect((await s.tasks.events(a.id as string)).map((e) => e.status)).toEqual(['queued', 'scheduled']);
    await reservationHoldsThenReturns(s, n.id, [a.id as string]);
  });

  it('one task (the idempotency-key path): placed before the take-back, it is accepted as stored', async () => {
    const s = stores();
    const n = await node(s);
    const r = await s.tasks.create(row('one', { idempotency_key: `k-${Date.now()}` }), async (t) => {
      await place(s, [t.id], n.id);
      throw deadline();
    });
    expect(r.created).toBe(true);
    expect(r.task).toMatchObject({ status: 'scheduled', attempts: 1, nodeId: n.id });
    await reservationHoldsThenReturns(s, n.id, [r.task.id]);
  });

  it('a batch: one task placed before the take-back keeps the whole batch, accepted as stored', async () => {
    const s = stores();
    const n = await node(s);
    const rows = [row('batch-0'), row('batch-1'), row('batch-2')];
    const created = await s.tasks.createMany(rows, async (ts) => {
      await place(s, [ts[1].id], n.id);
      throw deadline();
    });
    expect(created.map((t) => [t.id, t.status])).toEqual([
      [rows[0].id, 'queued'],
      [rows[1].id, 'scheduled'],
      [rows[2].id, 'queued'],
    ]);
    for (const t of created) expect(await s.tasks.get(t.id)).toEqual(t);
    await reservationHoldsThenReturns(s, n.id, [rows[1].id as string]);
  });

  it('a batch nothing touched is deleted with its events, and the enqueue error is what the caller gets', async () => {
    const s = stores();
    const rows = [row('untouched-0'), row('untouched-1')];
    await expect(s.tasks.createMany(rows, async () => Promise.reject(deadline()))).rejects.toEqual(deadline());
    for (const r of rows) await gone(s, r.id as string);
  });

  it('a workflow: a first task placed before the take-back keeps the workflow; one nothing touched is deleted', async () => {
    const s = stores();
    const n = await node(s);
    const store = async (name: string) => {
      const { id, wf, rows } = (await import('../control/task-rows.ts')).workflowRows(
        { name, tasks: [{ key: 'a', image: 'busybox', resources: { cpu: 1, memory: '256Mi' } }, { key: 'b', image: 'busybox', depends_on: ['a'] }] } as never,
        config,
      );
      const { queued } = await s.workflows.create(wf, rows, (tx, w) => s.releaser.start(tx, w));
      expect(queued).toHaveLength(1);
      return { id, queued: queued.map((t) => t.id) };
    };
    const kept = await store('kept');
    await place(s, kept.queued, n.id);
    expect(await s.workflows.delete(kept.id, kept.queued)).toBe(false);
    expect(await s.workflows.get(kept.id)).toMatchObject({ status: 'running' });
    expect((await s.workflows.tasksOf(kept.id)).map((t) => [t.workflowKey, t.status])).toEqual([
      ['a', 'scheduled'],
      ['b', 'pending'],
    ]);
    await reservationHoldsThenReturns(s, n.id, kept.queued);
    // Its report released the child: the workflow goes on.
    expect((await s.workflows.tasksOf(kept.id)).map((t) => t.status)).toEqual(['succeeded', 'queued']);

    const untouched = await store('untouched');
    expect(await s.workflows.delete(untouched.id, untouched.queued)).toBe(true);
    expect(await s.workflows.get(untouched.id)).toBeNull();
    expect(await s.workflows.tasksOf(untouched.id)).toEqual([]);
    await gone(s, untouched.queued[0]);
  });
});

describe('the use cases, with Redis stalling', () => {
  let redis: PrivateRedis;
  let admin: Redis;
  let connection: Redis;
  const names = redisNames(`undo-${Date.now()}`);
  beforeAll(async () => {
    redis = await PrivateRedis.start();
    admin = new Redis(redis.url);
    admin.on('error', () => undefined); // while the test has stopped it
    connection = producerConnection(redis.url);
    connection.on('error', () => undefined);
  });
  afterAll(async () => {
    connection?.disconnect();
    admin?.disconnect();
    await redis?.stop();
  });

  function control(s: Stores, logger = pino({ level: 'silent' })) {
    const deps = { config, logger, ...s, redis: connection, names, pending: new PendingQueues(connection, names), metrics: new ControlPlaneMetrics({ enabled: false } as never) } as unknown as ControlDeps;
    return { tasks: new TaskControl(deps), workflows: new WorkflowControl(deps) };
  }

  /**
   * Waits for a row of the given name to be stored, as the dispatcher would find its job. The
   * wait is a deadline, not a count of polls (on a loaded CI machine 200 polls of 10 ms were
   * once too few), and a submission that ends before its row shows is reported as it ended.
   */
  async function stored(db: pg.Client | Database['db'], name: string, submission?: Promise<unknown>): Promise<string> {
    let settled: { value: unknown } | null = null;
    void submission?.then(
      (value) => (settled = { value }),
      (err: unknown) => (settled = { value: err }),
    );
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const r =
        db instanceof pg.Client
          ? await db.query<{ id: string }>('select id from tasks where name = $1', [name])
          : ((await db.execute(sql`select id from tasks where name = ${name}`)) as unknown as { rows: Array<{ id: string }> });
      if (r.rows[0]) return r.rows[0].id;
      if (settled) throw new Error(`the submission of ${name} ended before its row was stored: ${String((settled as { value: unknown }).value)}`);
      await new Promise((res) => setTimeout(res, 10));
    }
    throw new Error(`no task named ${name} was stored within 30 s`);
  }

  it('POST /tasks: Redis answers after the deadline, the task was placed meanwhile: it is accepted as stored, not refused', async () => {
    const s = stores();
    const n = await node(s);
    const c = control(s);
    // Writes wait (the add lands when the pause ends, after the 3 s deadline has passed).
    await admin.call('CLIENT', 'PAUSE', '30000', 'WRITE'); // ended by the UNPAUSE below
    try {
      const submitted = c.tasks.submit({ image: 'busybox', name: 'late-enqueue', resources: { cpu: 1, memory: '256Mi' } } as never, EVERYONE);
      const id = await stored(database().db, 'late-enqueue', submitted);
      await place(s, [id], n.id);
      const { task, created } = await submitted;
      expect(created).toBe(true);
      expect(task).toMatchObject({ id, status: 'scheduled', attempts: 1, nodeId: n.id });
    } finally {
      await admin.call('CLIENT', 'UNPAUSE');
    }
    const [id] = (await s.tasks.list({ namePrefix: 'late-enqueue', limit: 10, offset: 0 })).items.map((t) => t.id);
    await reservationHoldsThenReturns(s, n.id, [id]);
  });

  it('POST /workflows: Redis fails the add after a first task was placed: the workflow is accepted as stored', async () => {
    const s = stores();
    const n = await node(s);
    const c = control(s);
    await admin.call('CLIENT', 'PAUSE', '30000', 'WRITE'); // ended by the stop below
    const submitted = c.workflows.submit(
      { name: 'wf-late', tasks: [{ key: 'first', name: 'wf-late-first', image: 'busybox', resources: { cpu: 1, memory: '256Mi' } }, { key: 'then', image: 'busybox', depends_on: ['first'] }] } as never,
      EVERYONE,
    );
    const id = await stored(database().db, 'wf-late-first', submitted);
    await place(s, [id], n.id);
    await redis.stop(); // the add waiting in it fails
    try {
      const { workflow, tasks } = await submitted;
      expect(workflow.status).toBe('running');
      expect(tasks.map((t) => [t.workflowKey, t.status])).toEqual([
        ['first', 'scheduled'],
        ['then', 'pending'],
      ]);
    } finally {
      await redis.start();
    }
    await reservationHoldsThenReturns(s, n.id, [id]);
  });

  it('POST /tasks: when the take-back fails too, the answer is a 500 whose error log names the task, never "nothing was stored"', async () => {
    const cleanups: Array<() => Promise<unknown>> = [];
    try {
      const { url, forwarder } = await cuttableTestDatabase(cleanups);
      const cut = await openDatabase({ url, dataDir: '/nonexistent' });
      cleanups.push(() => cut.close());
      // The same database, not through the forwarder: what the test reads after the cut.
      const around = new URL(url);
      around.port = new URL(TEST_DATABASE_URL).port || '5432';
      const direct = new pg.Client({ connectionString: around.toString() });
      await direct.connect();
      cleanups.push(() => direct.end());
      const c = control(stores(cut.db));
      await admin.call('CLIENT', 'PAUSE', '30000', 'WRITE'); // ended by the UNPAUSE below
      let err: unknown;
      try {
        const submitted = c.tasks.submit({ image: 'busybox', name: 'not-taken-back' } as never, EVERYONE).then(
          () => null,
          (e: unknown) => e,
        );
        const id = await stored(direct, 'not-taken-back', submitted);
        await forwarder.cut(); // PostgreSQL goes away before the take-back
        err = await submitted;
        expect((err as Error).message).not.toMatch(/nothing was stored/);
        expect((err as Error).message).toContain(`task ${id} was stored`);
        expect((err as Error).message).toMatch(/may still run/);
        expect(err).toBeInstanceOf(NotTakenBack);
        expect(err).not.toBeInstanceOf(DomainError);
        expect((err as NotTakenBack).taskIds).toEqual([id]);
        // Still there, queued: the reconciler queues it once Redis answers, and it runs.
        expect((await direct.query('select status from tasks where id = $1', [id])).rows).toEqual([{ status: 'queued' }]);
      } finally {
        await admin.call('CLIENT', 'UNPAUSE');
      }
      // What the API makes of it: a 500, logged at error level with the task's id.
      const logged: Array<{ obj: Record<string, unknown>; msg: string }> = [];
      const app = new Hono();
      app.onError(fastApiErrorHandler({ error: (obj, msg) => void logged.push({ obj: obj as Record<string, unknown>, msg }) }));
      app.post('/tasks', () => {
        throw toHttpError(err as Error);
      });
      const res = await app.request('/tasks', { method: 'POST' });
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ detail: 'Internal Server Error' });
      expect(logged).toHaveLength(1);
      expect(logged[0].msg).toContain((err as NotTakenBack).taskIds[0]);
      expect(logged[0].msg).toMatch(/may still run/);
      expect((logged[0].obj.err as NotTakenBack).taskIds).toEqual((err as NotTakenBack).taskIds);
    } finally {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
    }
  });
});
