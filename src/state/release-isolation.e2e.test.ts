// The results recorder ends up to ~200 tasks of any tenants in one transaction (finishMany), and
// the release of their workflows' children runs inside it. Until session 33 nothing bounded a
// child's filled-in templates (a 64 KiB output read 8,000 times: a 524 MB command, a few more a
// RangeError), and anything a release threw failed the whole batch: every other tenant's report
// in it was rolled back, and again at each retry. Here a workflow's release goes wrong in the same
// batch as another workflow's task and another tenant's task, whose ends must be recorded.
import { sql } from 'drizzle-orm';
import { expect, it } from 'vitest';
import { useTestDatabase } from '../../test/support/database.ts';
import { loadConfig } from '../config/index.ts';
import { taskRowFrom, workflowRows } from '../control/task-rows.ts';
import { WorkflowReleaser } from '../dag/release.ts';
import { NodeStore } from './node-store.ts';
import type { TaskRow } from './schema.ts';
import { TaskStore, type Tx } from './task-store.ts';
import { WorkflowStore } from './workflow-store.ts';
import type { FinishReport } from './finish-attempts.ts';

const config = loadConfig({ file: null, overrides: {} });
const database = useTestDatabase();

function setUp(workflows?: (tasks: TaskStore) => WorkflowStore) {
  const db = database().db;
  const tasks = new TaskStore(db);
  const store = workflows ? workflows(tasks) : new WorkflowStore(db, tasks);
  const errors: unknown[] = [];
  const releaser = new WorkflowReleaser(store, { error: (obj: unknown) => void errors.push(obj) });
  tasks.setOnFinal(releaser.onTasksFinal);
  return { db, tasks, nodes: new NodeStore(db), workflows: store, releaser, errors };
}

/** A workflow p → c whose child's command is `command`; returns it with p placed on `node`. */
async function parentAndChild(s: ReturnType<typeof setUp>, nodeId: string, tenant: string, command: string[]) {
  const spec = {
    tasks: [
      { key: 'p', image: 'busybox', outputs: { x: { path: '/tmp/x' } } },
      { key: 'c', image: 'busybox', depends_on: ['p'], command },
    ],
  };
  const { wf, rows } = workflowRows(spec as never, config, tenant);
  const { queued } = await s.workflows.create(wf, rows, (tx, w) => s.releaser.start(tx, w));
  expect(queued).toHaveLength(1);
  const { placed } = await s.tasks.placeMany([{ taskId: queued[0].id, nodeId }]);
  expect(placed).toHaveLength(1);
  return { workflowId: wf.id, parentId: queued[0].id };
}

/** A task of another tenant, outside any workflow, placed on `node`. */
async function standalone(s: ReturnType<typeof setUp>, nodeId: string): Promise<string> {
  const row = taskRowFrom({ image: 'busybox' } as never, config, { status: 'queued', statusReason: 'waiting', tenant: 'other' });
  const { task } = await s.tasks.create(row, async () => undefined);
  await s.tasks.placeMany([{ taskId: task.id, nodeId }]);
  return task.id;
}

function succeeded(taskId: string, outputs: Record<string, string> | null = null): FinishReport {
  const at = new Date();
  return { taskId, attempt: 1, status: 'succeeded', exitCode: 0, error: null, startedAt: at, finishedAt: at, logs: '', truncated: false, outputs, result: null };
}

async function node(s: ReturnType<typeof setUp>): Promise<string> {
  const capacity = { cpu: 64, memory_mb: 65536, gpu: 0, max_tasks: 100 };
  return (await s.nodes.register({ name: `iso-${Math.random().toString(36).slice(2)}`, hostname: 'h', capacity, labels: {} })).id;
}

async function childOf(s: ReturnType<typeof setUp>, workflowId: string): Promise<TaskRow> {
  return (await s.workflows.tasksOf(workflowId)).find((t) => t.workflowKey === 'c') as TaskRow;
}

it('fails a child whose filled-in command would be over 1 MiB, naming the field and the limit; the other ends of its batch are recorded', async () => {
  const s = setUp();
  const nodeId = await node(s);
  // 17 reads of a 64 KiB output: 1.1 MB, over what a task's command and env may hold.
  const big = await parentAndChild(s, nodeId, 'a', ['sh', '-c', '{{ tasks.p.outputs.x }}'.repeat(17)]);
  const fine = await parentAndChild(s, nodeId, 'a', ['echo', '{{ tasks.p.outputs.x }}']);
  const other = await standalone(s, nodeId);
  const value = 'x'.repeat(64 * 1024);

  const { results, released } = await s.tasks.finishMany([succeeded(big.parentId, { x: value }), succeeded(fine.parentId, { x: 'small' }), succeeded(other)]);

  expect(results.map((r) => r?.task.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
  const failed = await childOf(s, big.workflowId);
  expect(failed.status).toBe('failed');
  expect(failed.error).toBe(
    "cannot fill command.2: filled in, the command and env would be over 1048576 bytes (1 MiB), the most a task's command and env may hold together",
  );
  expect(failed.command).toEqual(['sh', '-c', '{{ tasks.p.outputs.x }}'.repeat(17)]); // never filled in
  expect((await s.workflows.get(big.workflowId))?.status).toBe('failed');
  const ran = await childOf(s, fine.workflowId);
  expect(ran.status).toBe('queued');
  expect(ran.command).toEqual(['echo', 'small']);
  expect(released.map((r) => r.id)).toEqual([ran.id]);
});

it('rolls back a workflow whose release the database refuses and fails its pending tasks; the rest of the batch is recorded and released', async () => {
  // The release of one workflow fails in PostgreSQL (a statement it refuses, as a row too big
  // or a value out of range would be): the transaction would be aborted without the savepoint.
  let doomed = '';
  class RefusingStore extends WorkflowStore {
    override async fillTemplates(tx: Tx, id: string, fields: Partial<Pick<TaskRow, 'name' | 'command' | 'env'>>): Promise<void> {
      const [row] = await tx.execute(sql`select workflow_id from tasks where id = ${id}`).then((r) => (r as unknown as { rows: Array<{ workflow_id: string }> }).rows);
      if (row.workflow_id === doomed) await tx.execute(sql`select 1 / 0`);
      return super.fillTemplates(tx, id, fields);
    }
  }
  const s = setUp((tasks) => new RefusingStore(database().db, tasks));
  const nodeId = await node(s);
  const bad = await parentAndChild(s, nodeId, 'a', ['echo', '{{ tasks.p.outputs.x }}']);
  const good = await parentAndChild(s, nodeId, 'b', ['echo', '{{ tasks.p.outputs.x }}']);
  doomed = bad.workflowId;
  const other = await standalone(s, nodeId);

  const { results, released } = await s.tasks.finishMany([succeeded(bad.parentId, { x: '1' }), succeeded(good.parentId, { x: '2' }), succeeded(other)]);

  expect(results.map((r) => r?.task.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
  const failed = await childOf(s, bad.workflowId);
  expect(failed.status).toBe('failed');
  expect(failed.error).toBe('cannot release: division by zero; retry the workflow (POST /workflows/{id}/retry) to run it again');
  expect((await s.workflows.get(bad.workflowId))?.status).toBe('failed');
  expect(s.errors).toHaveLength(1);
  const ran = await childOf(s, good.workflowId);
  expect(ran.status).toBe('queued');
  expect(ran.command).toEqual(['echo', '2']);
  expect(released.map((r) => r.id)).toEqual([ran.id]);
  // The failed child's history says why, once.
  const events = await s.db.execute(sql`select status, reason from task_events where task_id = ${failed.id} order by at, id`);
  expect((events as unknown as { rows: Array<{ status: string }> }).rows.map((e) => e.status)).toEqual(['pending', 'failed']);
});

it('fails the whole batch, to be tried again, when a release meets a deadlock rather than bad data: the user\'s tasks are not failed for it', async () => {
  // A deadlock (or a lock or statement timeout, a database going away) is a moment's trouble:
  // the batch is tried again, as before the savepoints; failing the workflow's pending tasks
  // for it would end work that runs fine a second later.
  let doomed = '';
  class DeadlockingStore extends WorkflowStore {
    override async fillTemplates(tx: Tx, id: string, fields: Partial<Pick<TaskRow, 'name' | 'command' | 'env'>>): Promise<void> {
      const [row] = await tx.execute(sql`select workflow_id from tasks where id = ${id}`).then((r) => (r as unknown as { rows: Array<{ workflow_id: string }> }).rows);
      if (row.workflow_id === doomed) await tx.execute(sql.raw(`do $$ begin raise exception 'deadlock detected' using errcode = '40P01'; end $$`));
      return super.fillTemplates(tx, id, fields);
    }
  }
  const s = setUp((tasks) => new DeadlockingStore(database().db, tasks));
  const nodeId = await node(s);
  const bad = await parentAndChild(s, nodeId, 'a', ['echo', '{{ tasks.p.outputs.x }}']);
  doomed = bad.workflowId;
  const other = await standalone(s, nodeId);

  await expect(s.tasks.finishMany([succeeded(bad.parentId, { x: '1' }), succeeded(other)])).rejects.toThrow(/deadlock/);
  expect((await childOf(s, bad.workflowId)).status).toBe('pending');
  expect((await s.workflows.get(bad.workflowId))?.status).toBe('running');
  expect(s.errors).toHaveLength(0);
  // Tried again once the trouble has passed, the batch is recorded and the child released.
  doomed = '';
  const { results, released } = await s.tasks.finishMany([succeeded(bad.parentId, { x: '1' }), succeeded(other)]);
  expect(results.map((r) => r?.task.status)).toEqual(['succeeded', 'succeeded']);
  expect(released.map((r) => r.id)).toEqual([(await childOf(s, bad.workflowId)).id]);
});
