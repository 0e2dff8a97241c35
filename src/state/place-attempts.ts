// Placing attempts and marking them started, many at once, each in one statement: what the
// dispatcher and the result recorder drive through TaskStore.placeMany and markRunningMany.
import { sql } from 'drizzle-orm';
import { CONTAINER_STARTED, placedOn, placedWaitingForStart } from '../domain/status-reasons.ts';
import { ACCEPTS_WORK } from '../domain/fit.ts';
import type { Db } from './db.ts';
import { FIT_GUARD, RESERVE_SET } from './node-reservations.ts';
import { tasks, type TaskRow } from './schema.ts';
import { rowsOf } from './row-mapping.ts';
import { eventsOf, updateWithEvents } from './task-history.ts';
import { uuidArray, type Tx } from './tx.ts';

/** A reason built around a node's name, split where the name goes (the SQL puts it between). */
function around(reason: (node: string) => string): [string, string] {
  const parts = reason('\u0000').split('\u0000');
  if (parts.length !== 2) throw new Error(`place-attempts: a placement reason must name its node once: ${JSON.stringify(reason('<node>'))}`);
  return [parts[0], parts[1]];
}
const WAITING = around(placedWaitingForStart);
const PLACED = around(placedOn);

/**
 * See TaskStore.placeMany. ONE statement, so it needs no transaction of its own (one round trip
 * instead of five: begin, lock, reserve, place, commit): it locks the tasks still queued (in id
 * order), reserves on each node the sum of its tasks' requests where the node accepts work and
 * it all still fits (the guard of node-reservations.ts), moves the tasks whose node took them to
 * `scheduled` with their history events, and returns those rows and the tasks it locked whose
 * node refused them (the rest of the plans are gone: no longer queued). A
 * concurrent change waits for the locks and is seen as READ COMMITTED re-reads a locked or
 * updated row (a task placed or cancelled meanwhile is no longer queued; a node's room taken
 * meanwhile is checked against its latest row).
 *
 * The node rows are locked in id order (`r`: the sums joined to their nodes, `order by nodes.id
 * for update`) before the update reaches them, as the finish and a workflow's cancel lock theirs
 * (releaseStatement). The update alone took them in its plan's order: with a batch large against
 * the tasks table's statistics (a quiet cluster given a burst) it hashed the sums and scanned
 * nodes in their physical order, and two such statements, or one and a finish, could each hold a
 * node the other waited for (40P01). A CTE that locks rows is never folded into the query, and it
 * runs only as far as the update reads it, in its own order: a node reaches the update after it
 * and every node of lower id in the batch are locked, whatever the update's plan. The update then
 * sees the node's latest row (READ COMMITTED's recheck of a row changed since the statement
 * began), so FIT_GUARD judges current room. Cost: an index probe and a row lock per node, ~1.5 %
 * of the statement's PostgreSQL CPU (docs/decisions.md, "Node rows locked in id order").
 *
 * The tasks are found by `id = any(array)` as well as by the join: the planner then reads them
 * by primary key whatever its statistics say. Right after a burst of submissions (before
 * autovacuum's analyze, up to a minute) it took `status = 'queued'` for a few dozen rows and
 * scanned every queued task for the join: 5 ms per lone placement with 20,000 waiting, 0.1 ms
 * by key (docs/decisions.md, "Statistics after a burst"). setStatusReasons and markStarted do
 * the same.
 *
 * No step joins two CTEs: the planner guesses a CTE's rows from its query (`live` ~1 whatever
 * the batch, the join to the JSON's 100-row guess; `took` ~1, FIT_GUARD's terms each a third), so
 * such a join was a nested loop reading one side once per row of the other: `changed` read `took`
 * once per task and the refusal's `not exists` half of it, 1 M and 0.5 M rows compared for 1,000
 * plans on 1,000 nodes, 84-86 % of the statement (bench/place-batch.ts; docs/decisions.md,
 * "Placement statement at batch scale"). So each node's task ids ride with its sums
 * (`task_ids`) into `took`'s RETURNING; `changed` unnests them and reaches each task by its key,
 * and the tasks refused are `live`'s ids EXCEPT ALL those taken (sorted or hashed, never
 * compared pairwise; the same multiset as the `not exists`, a task planned twice included).
 */
export async function placeAttempts(db: Tx | Db, plans: Array<{ taskId: string; nodeId: string }>): Promise<{ placed: TaskRow[]; refused: string[]; gone: string[] }> {
  const at = new Date().toISOString();
  const plan = JSON.stringify(plans.map((p) => ({ id: p.taskId, node_id: p.nodeId })));
  const res = (await db.execute(sql`
    with plan as (
      select * from jsonb_to_recordset(${plan}::jsonb) as p(id uuid, node_id uuid)
    ), live as (
      select t.id, t.cpu, t.memory_mb, t.gpu, p.node_id from tasks t join plan p on p.id = t.id
      where t.id = any(${uuidArray(plans.map((p) => p.taskId))}::uuid[]) and t.status = 'queued'
      order by t.id for update of t
    ), sums as (
      select node_id as id, sum(cpu)::float8 as cpu, sum(memory_mb)::int as "memoryMb", sum(gpu)::int as gpu, count(*)::int as tasks,
        array_agg(id) as task_ids
      from live group by node_id
    ), r as (
      select sums.* from sums join nodes on nodes.id = sums.id order by nodes.id for update of nodes
    ), took as (
      update nodes set ${RESERVE_SET}
      from r where nodes.id = r.id and nodes.status = ${ACCEPTS_WORK} and ${FIT_GUARD}
      returning nodes.id, nodes.name, r.task_ids
    ), changed as (
      update tasks set
        status = 'scheduled',
        node_id = p.node_id,
        attempts = tasks.attempts + 1,
        scheduled_at = ${at}::timestamptz,
        status_reason = ${WAITING[0]} || p.name || ${WAITING[1]}
      from (select t.id, took.id as node_id, took.name from took cross join unnest(took.task_ids) as t(id)) p
      where tasks.id = p.id
      returning tasks.*, ${PLACED[0]} || p.name || ${PLACED[1]} as event_reason
    ), history as (${eventsOf(sql`changed`, at)})
    select case when row_number() over () = 1 then n.refused end as refused, c.*
    from (select coalesce(json_agg(id), '[]') as refused from (select id from live except all select unnest(task_ids) from took) x) n
    left join changed c on true`)) as unknown as {
    rows: Array<Record<string, unknown> & { refused: string[] | string | null }>;
  };
  // The tasks locked whose node did not take them, on the first row only (a batch's rows would
  // each carry the list otherwise); json comes back parsed from node-postgres, as text from PGlite.
  const first = res.rows[0]?.refused ?? [];
  const refusedIds = new Set<string>(typeof first === 'string' ? JSON.parse(first) : first);
  const moved = res.rows.filter((r) => r.id !== null && r.id !== undefined);
  const placedIds = new Set(moved.map((r) => r.id as string));
  const gone: string[] = [];
  const refused: string[] = [];
  for (const p of plans) {
    if (refusedIds.has(p.taskId)) refused.push(p.taskId);
    else if (!placedIds.has(p.taskId)) gone.push(p.taskId);
  }
  return { placed: rowsOf(tasks, moved), refused, gone };
}

/** See TaskStore.markRunningMany. */
export async function markStarted(tx: Tx | Db, reports: Array<{ taskId: string; attempt: number; startedAt: Date }>): Promise<string[]> {
  const rows = JSON.stringify(reports.map((r) => ({ id: r.taskId, attempt: r.attempt, at: r.startedAt.toISOString() })));
  // One statement: the attempts still scheduled become running, with their history events.
  const started = await updateWithEvents(
    tx,
    sql`update tasks set status = 'running', started_at = r.at, status_reason = null
      from jsonb_to_recordset(${rows}::jsonb) as r(id uuid, attempt int, at timestamptz)
      where tasks.id = r.id and tasks.id = any(${uuidArray(reports.map((r) => r.taskId))}::uuid[]) and tasks.attempts = r.attempt and tasks.status = 'scheduled'`,
    sql`${CONTAINER_STARTED}`,
    new Date().toISOString(),
    false,
  );
  return started.map((r) => r.id as string);
}
