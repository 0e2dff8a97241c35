// What-if prototypes for the submit path, run in the bench process against the same schema,
// to put numbers on the suggested changes. They are NOT Jarvis code: each stores what
// TaskStore.create stores (the task row and its "queued" event) and enqueues the same job.
//
//  - oneStatement: the row and its event in ONE statement (a data-modifying CTE; a single
//    statement is atomic, so no BEGIN/COMMIT): 1 round trip instead of 4.
//  - groupCommit: concurrent submits coalesced into one multi-row statement + one addBulk
//    (at most `maxFlushes` (2) batches in flight; a batch takes whatever queued up meanwhile).
import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../src/state/db.ts';
import { IMAGE } from './services.ts';

const REASON = 'waiting for the scheduler to place it on a node';
const JOB_OPTS = { priority: 3, removeOnComplete: true, removeOnFail: { count: 1000 } };

function rowValues(id: string): SQL {
  return sql`(${id}::uuid, NULL, ${IMAGE}, ${JSON.stringify(['true'])}, ${'{}'}::jsonb, 'normal', ${1}, ${256}, ${0}, NULL, ${0}, ${1},
    ${'{}'}::jsonb, ${'{}'}::jsonb, NULL, 'none', 'queued', ${REASON}, ${new Date().toISOString()}::timestamptz)`;
}

function insertStatement(values: SQL): SQL {
  return sql`WITH t AS (
      INSERT INTO tasks (id, name, image, command, env, priority, cpu, memory_mb, gpu, timeout_seconds, max_retries,
        retry_backoff_seconds, node_selector, labels, idempotency_key, network, status, status_reason, created_at)
      VALUES ${values}
      RETURNING *
    ), e AS (
      INSERT INTO task_events (task_id, at, status, node_id, attempt, reason)
      SELECT id, clock_timestamp(), status, node_id, attempts, status_reason FROM t
    )
    SELECT * FROM t`;
}

export function oneStatement(db: Db, queue: Queue): () => Promise<void> {
  return async () => {
    const id = randomUUID();
    await db.execute(insertStatement(rowValues(id)));
    await queue.add('place', { taskId: id }, { jobId: id, ...JOB_OPTS });
  };
}

export function groupCommit(db: Db, queue: Queue, maxBatch = 128, maxFlushes = 2): { op: () => Promise<void>; batches: number[] } {
  let waiting: Array<{ id: string; resolve: () => void; reject: (e: unknown) => void }> = [];
  let flushing = 0;
  const batches: number[] = [];
  const flush = async (): Promise<void> => {
    if (flushing >= maxFlushes || waiting.length === 0) return;
    const batch = waiting.slice(0, maxBatch);
    waiting = waiting.slice(batch.length);
    flushing++;
    batches.push(batch.length);
    try {
      await db.execute(insertStatement(sql.join(batch.map((b) => rowValues(b.id)), sql`, `)));
      await queue.addBulk(batch.map((b) => ({ name: 'place', data: { taskId: b.id }, opts: { jobId: b.id, ...JOB_OPTS } })));
      for (const b of batch) b.resolve();
    } catch (err) {
      for (const b of batch) b.reject(err);
    } finally {
      flushing--;
      void flush();
    }
  };
  const op = () =>
    new Promise<void>((resolve, reject) => {
      waiting.push({ id: randomUUID(), resolve, reject });
      void flush();
    });
  return { op, batches };
}

// ---------------------------------------------------------------------------------------------
// What-if for POST /workflows: the tasks of a workflow in ONE statement that reads them from a
// single JSON parameter (jsonb_to_recordset), instead of drizzle's multi-row INSERTs of 500 rows
// (25 bound parameters per row, each built and serialised in JS). Otherwise as
// WorkflowStore.create: one transaction, the workflow row first, then `start` (the roots queued).
