// Placing attempts and marking them started, many at once: the transactions the dispatcher and
// the result recorder drive through TaskStore.placeMany and markRunningMany.
import { and, eq, sql } from 'drizzle-orm';
import { CONTAINER_STARTED, placedOn, placedWaitingForStart } from '../domain/status-reasons.ts';
import { reserve } from './node-reservations.ts';
import { tasks, type TaskRow } from './schema.ts';
import { recordEvents } from './task-history.ts';
import { idIn, type Tx } from './tx.ts';

/** See TaskStore.placeMany. */
export async function placeAttempts(tx: Tx, plans: Array<{ taskId: string; nodeId: string }>): Promise<{ placed: TaskRow[]; refused: string[]; gone: string[] }> {
  const ids = plans.map((p) => p.taskId);
  const live = await tx
    .select({ id: tasks.id, cpu: tasks.cpu, memoryMb: tasks.memoryMb, gpu: tasks.gpu })
    .from(tasks)
    .where(and(idIn(ids), eq(tasks.status, 'queued')))
    .orderBy(tasks.id)
    .for('update');
  const request = new Map(live.map((t) => [t.id, t]));
  const gone = ids.filter((id) => !request.has(id));
  const nodeName = await reserve(
    tx,
    plans.flatMap((p) => {
      const r = request.get(p.taskId);
      return r ? [{ ...r, nodeId: p.nodeId }] : [];
    }),
  );
  const refused: string[] = [];
  const go: Array<{ id: string; node_id: string; name: string; reason: string }> = [];
  for (const p of plans) {
    if (!request.has(p.taskId)) continue;
    const name = nodeName.get(p.nodeId);
    if (name === undefined) refused.push(p.taskId);
    else go.push({ id: p.taskId, node_id: p.nodeId, name, reason: placedWaitingForStart(name) });
  }
  if (go.length === 0) return { placed: [], refused, gone };
  const at = new Date();
  await tx.execute(sql`
    update tasks set
      status = 'scheduled',
      node_id = r.node_id,
      attempts = tasks.attempts + 1,
      scheduled_at = ${at.toISOString()}::timestamptz,
      status_reason = r.reason
    from jsonb_to_recordset(${JSON.stringify(go)}::jsonb) as r(id uuid, node_id uuid, reason text)
    where tasks.id = r.id`);
  const placed = await tx.select().from(tasks).where(idIn(go.map((g) => g.id)));
  const names = new Map(go.map((g) => [g.id, g.name]));
  await recordEvents(tx, placed, (t) => placedOn(names.get(t.id) as string), at);
  return { placed, refused, gone };
}

/** See TaskStore.markRunningMany. */
export async function markStarted(tx: Tx, reports: Array<{ taskId: string; attempt: number; startedAt: Date }>): Promise<TaskRow[]> {
  const rows = JSON.stringify(reports.map((r) => ({ id: r.taskId, attempt: r.attempt, at: r.startedAt.toISOString() })));
  const changed = (await tx.execute(sql`
    update tasks set status = 'running', started_at = r.at, status_reason = null
    from jsonb_to_recordset(${rows}::jsonb) as r(id uuid, attempt int, at timestamptz)
    where tasks.id = r.id and tasks.attempts = r.attempt and tasks.status = 'scheduled'
    returning tasks.id`)) as unknown as { rows: Array<{ id: string }> };
  if (changed.rows.length === 0) return [];
  const running = await tx.select().from(tasks).where(idIn(changed.rows.map((r) => r.id)));
  await recordEvents(tx, running, CONTAINER_STARTED);
  return running;
}
