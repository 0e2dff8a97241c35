// Placing attempts and marking them started, many at once: the transactions the dispatcher and
// the result recorder drive through TaskStore.placeMany and markRunningMany.
import { sql } from 'drizzle-orm';
import { CONTAINER_STARTED, placedOn, placedWaitingForStart } from '../domain/status-reasons.ts';
import { reserveStatement } from './node-reservations.ts';
import { tasks, type TaskRow } from './schema.ts';
import { rowsOf } from './row-mapping.ts';
import { updateWithEvents } from './task-history.ts';
import type { Tx } from './tx.ts';

/** The words of placedWaitingForStart(name) around the node's name, for the statement to put it in. */
const PLACED_ON = placedOn('');
const WAITING_SUFFIX = placedWaitingForStart('').slice(PLACED_ON.length);

/** See TaskStore.placeMany. */
export async function placeAttempts(db: Pick<Tx, 'execute'>, plans: Array<{ taskId: string; nodeId: string }>): Promise<{ placed: TaskRow[]; refused: string[]; gone: string[] }> {
  // ONE statement, so one round trip and no transaction around it (it was five: begin, lock,
  // reserve, move, commit; 5–9 ms of a lone task's wait on this machine, docs/decisions.md). In
  // order: the tasks still queued are locked, by id (two placements never wait on each other);
  // what they ask is summed per node and reserved only where the node accepts work and all of it
  // still fits (reserveStatement, FIT_GUARD); the tasks whose node took them move to `scheduled`
  // with their history events. Under READ COMMITTED a row changed by another transaction while
  // this one waited for its lock is checked again (a task cancelled or placed meanwhile is not
  // locked, a node drained meanwhile takes nothing), and the update works on the row locked.
  const at = new Date().toISOString();
  const plan = JSON.stringify(plans.map((p) => ({ id: p.taskId, node_id: p.nodeId })));
  const res = (await db.execute(sql`
    with plan as (
      select * from jsonb_to_recordset(${plan}::jsonb) as p(id uuid, node_id uuid)
    ), live as (
      select tasks.id, tasks.cpu, tasks.memory_mb, tasks.gpu, plan.node_id
      from tasks join plan on plan.id = tasks.id
      where tasks.status = 'queued'
      order by tasks.id
      for update of tasks
    ), r as (
      select node_id as id, sum(cpu)::float8 as cpu, sum(memory_mb)::int as "memoryMb", sum(gpu)::int as gpu, count(*)::int as tasks
      from live group by node_id
    ), took as (${reserveStatement(sql`r`)}
    ), changed as (
      update tasks set
        status = 'scheduled',
        node_id = live.node_id,
        attempts = tasks.attempts + 1,
        scheduled_at = ${at}::timestamptz,
        status_reason = ${PLACED_ON} || took.name || ${WAITING_SUFFIX}
      from live join took on took.id = live.node_id
      where tasks.id = live.id
      returning tasks.*, (${PLACED_ON} || took.name)::text as event_reason
    ), history as (
      insert into task_events (task_id, at, status, node_id, attempt, reason)
      select id, ${at}::timestamptz, status, node_id, attempts, event_reason from changed
    )
    select l.live_ids, changed.* from (select coalesce(json_agg(id), '[]'::json) as live_ids from live) l left join changed on true`)) as unknown as {
    rows: Array<Record<string, unknown>>;
  };
  const live = new Set<string>((res.rows[0]?.live_ids as string[] | undefined) ?? []);
  const moved = res.rows.filter((r) => r.id !== null && r.id !== undefined);
  const placedIds = new Set(moved.map((r) => r.id as string));
  const gone = plans.filter((p) => !live.has(p.taskId)).map((p) => p.taskId);
  const refused = plans.filter((p) => live.has(p.taskId) && !placedIds.has(p.taskId)).map((p) => p.taskId);
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
