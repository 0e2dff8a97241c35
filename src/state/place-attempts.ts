// Placing attempts and marking them started, many at once: the transactions the dispatcher and
// the result recorder drive through TaskStore.placeMany and markRunningMany.
import { sql } from 'drizzle-orm';
import { CONTAINER_STARTED, placedOn, placedWaitingForStart } from '../domain/status-reasons.ts';
import { reserve } from './node-reservations.ts';
import { tasks, type TaskRow } from './schema.ts';
import { rowsOf } from './row-mapping.ts';
import { updateWithEvents } from './task-history.ts';
import { uuidArray, type Tx } from './tx.ts';

/** See TaskStore.placeMany. */
export async function placeAttempts(tx: Tx, plans: Array<{ taskId: string; nodeId: string }>): Promise<{ placed: TaskRow[]; refused: string[]; gone: string[] }> {
  const ids = plans.map((p) => p.taskId);
  // Raw statements, not drizzle's builder (see row-mapping.ts): lock the tasks still queued,
  // reserve room on their nodes, then ONE statement moves the placed ones to `scheduled`,
  // records their history events and returns their rows (three round trips; five before).
  const live = (await tx.execute(sql`
    select id, cpu, memory_mb as "memoryMb", gpu from tasks
    where id = any(${uuidArray(ids)}::uuid[]) and status = 'queued'
    order by id for update`)) as unknown as { rows: Array<{ id: string; cpu: number; memoryMb: number; gpu: number }> };
  const request = new Map(live.rows.map((t) => [t.id, t]));
  const gone = ids.filter((id) => !request.has(id));
  const nodeName = await reserve(
    tx,
    plans.flatMap((p) => {
      const r = request.get(p.taskId);
      return r ? [{ cpu: r.cpu, memoryMb: r.memoryMb, gpu: r.gpu, nodeId: p.nodeId }] : [];
    }),
  );
  const refused: string[] = [];
  const go: Array<{ id: string; node_id: string; reason: string; event: string }> = [];
  for (const p of plans) {
    if (!request.has(p.taskId)) continue;
    const name = nodeName.get(p.nodeId);
    if (name === undefined) refused.push(p.taskId);
    else go.push({ id: p.taskId, node_id: p.nodeId, reason: placedWaitingForStart(name), event: placedOn(name) });
  }
  if (go.length === 0) return { placed: [], refused, gone };
  const at = new Date().toISOString();
  const moved = await updateWithEvents(
    tx,
    sql`update tasks set
        status = 'scheduled',
        node_id = r.node_id,
        attempts = tasks.attempts + 1,
        scheduled_at = ${at}::timestamptz,
        status_reason = r.reason
      from jsonb_to_recordset(${JSON.stringify(go)}::jsonb) as r(id uuid, node_id uuid, reason text, event text)
      where tasks.id = r.id`,
    sql`r.event`,
    at,
    true,
  );
  return { placed: rowsOf(tasks, moved), refused, gone };
}

/** See TaskStore.markRunningMany. */
export async function markStarted(tx: Tx, reports: Array<{ taskId: string; attempt: number; startedAt: Date }>): Promise<string[]> {
  const rows = JSON.stringify(reports.map((r) => ({ id: r.taskId, attempt: r.attempt, at: r.startedAt.toISOString() })));
  // One statement: the attempts still scheduled become running, with their history events.
  const started = await updateWithEvents(
    tx,
    sql`update tasks set status = 'running', started_at = r.at, status_reason = null
      from jsonb_to_recordset(${rows}::jsonb) as r(id uuid, attempt int, at timestamptz)
      where tasks.id = r.id and tasks.attempts = r.attempt and tasks.status = 'scheduled'`,
    sql`${CONTAINER_STARTED}`,
    new Date().toISOString(),
    false,
  );
  return started.map((r) => r.id as string);
}
