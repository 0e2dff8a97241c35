// What a task end writes in a workflow with max_parallel: only the rows that change. Until
// session 33 every waiting task was rewritten (a new row version, and index entries) at every
// task end: n²/2 row versions over a run of n, 515 ms per end with 10,000 waiting.
import { sql } from 'drizzle-orm';
import { expect, it } from 'vitest';
import { useTestDatabase } from '../../test/support/database.ts';
import { loadConfig } from '../config/index.ts';
import { workflowRows } from '../control/task-rows.ts';
import { WorkflowReleaser } from '../dag/release.ts';
import { NodeStore } from './node-store.ts';
import { TaskStore } from './task-store.ts';
import { WorkflowStore } from './workflow-store.ts';

const config = loadConfig({ file: null, overrides: {} });
const database = useTestDatabase();

it('leaves the waiting tasks of a max_parallel workflow unwritten when one of its tasks ends, and queues them in order', async () => {
  const db = database().db;
  const tasks = new TaskStore(db);
  const workflows = new WorkflowStore(db, tasks);
  const releaser = new WorkflowReleaser(workflows);
  tasks.setOnFinal(releaser.onTasksFinal);
  const node = await new NodeStore(db).register({ name: `w-${Date.now()}`, hostname: 'h', capacity: { cpu: 8, memory_mb: 8192, gpu: 0, max_tasks: 10 }, labels: {} });
  const spec = { max_parallel: 1, tasks: Array.from({ length: 5 }, (_, i) => ({ key: `t${i}`, image: 'busybox' })) };
  const { wf, rows } = workflowRows(spec as never, config);
  const { queued } = await workflows.create(wf, rows, (tx, w) => releaser.start(tx, w));
  const versions = async () =>
    new Map(
      ((await db.execute(sql`select workflow_key, xmin::text as v, status, status_reason from tasks where workflow_id = ${wf.id}`)) as unknown as {
        rows: Array<{ workflow_key: string; v: string; status: string; status_reason: string }>;
      }).rows.map((r) => [r.workflow_key, r]),
    );
  const before = await versions();
  expect([...before.values()].filter((r) => r.status === 'pending').map((r) => r.status_reason)).toEqual(Array(4).fill('ready; waiting for a free slot (max_parallel 1)'));

  let running = queued[0].id;
  for (let i = 1; i < 5; i++) {
    await tasks.placeMany([{ taskId: running, nodeId: node.id }]);
    const at = new Date();
    const { released } = await tasks.finishMany([{ taskId: running, attempt: 1, status: 'succeeded', exitCode: 0, error: null, startedAt: at, finishedAt: at, logs: '', truncated: false }]);
    const after = await versions();
    expect(after.get(`t${i}`)?.status).toBe('queued');
    // The tasks still waiting are the rows they were.
    for (let j = i + 1; j < 5; j++) expect(after.get(`t${j}`)?.v).toBe(before.get(`t${j}`)?.v);
    expect(released).toHaveLength(1);
    running = released[0].id;
  }
});
