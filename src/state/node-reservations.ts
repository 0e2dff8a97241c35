// The reservation columns of the nodes table: what is reserved on each node for the tasks placed
// on it. They change only with those tasks, in the same statement (placing: place-attempts.ts,
// with RESERVE_SET and FIT_GUARD) or transaction (releasing, here), so they always add up to the
// tasks placed on the node. The guard of a reservation is the domain's fit rule
// (src/domain/fit.ts) written as SQL from the same terms. A statement here or in place-attempts.ts
// that changes several nodes locks their rows in id order first, so two never wait on each
// other's node rows.
import { eq, getTableColumns, sql, type SQL } from 'drizzle-orm';
import { FIT_TERMS, type Ask } from '../domain/fit.ts';
import { nodes } from './schema.ts';
import type { Tx } from './tx.ts';

/** What tasks placed on one node ask of it, summed. */
interface NodeSum {
  id: string;
  cpu: number;
  memoryMb: number;
  gpu: number;
  tasks: number;
}

const column = (key: keyof typeof nodes.$inferSelect) => sql.raw(`nodes.${getTableColumns(nodes)[key].name}`);
const askedColumn = (key: keyof Ask | null) => sql.raw(key === null ? 'r.tasks' : `r."${key}"`);

/** FIT_TERMS as SQL over `nodes` and the recordset `r` of node sums. */
export const FIT_GUARD: SQL = sql.join(
  FIT_TERMS.map((t) => sql`${column(t.allocated)} + ${askedColumn(t.asked)} <= ${column(t.capacity)}${t.slack ? sql.raw(` + ${t.slack}`) : sql``}`),
  sql` and `,
);

/** The reservation's SET list: each node's columns grow by the sums in `r` (as RECORDSET names them). */
export const RESERVE_SET: SQL = sql.raw(
  'allocated_cpu = nodes.allocated_cpu + r.cpu, allocated_memory_mb = nodes.allocated_memory_mb + r."memoryMb", ' +
    'allocated_gpu = nodes.allocated_gpu + r.gpu, allocated_tasks = nodes.allocated_tasks + r.tasks',
);

const RECORDSET = sql.raw(`r(id uuid, cpu float8, "memoryMb" int, gpu int, tasks int)`);

/** What tasks ask of each node, summed: JSON rows for jsonb_to_recordset, or null for none. */
function nodeSums(items: Array<{ nodeId: string; cpu: number; memoryMb: number; gpu: number }>): string | null {
  const sums = new Map<string, NodeSum>();
  for (const t of items) {
    const s = sums.get(t.nodeId) ?? { id: t.nodeId, cpu: 0, memoryMb: 0, gpu: 0, tasks: 0 };
    s.cpu += t.cpu;
    s.memoryMb += t.memoryMb;
    s.gpu += t.gpu;
    s.tasks += 1;
    sums.set(t.nodeId, s);
  }
  return sums.size === 0 ? null : JSON.stringify([...sums.values()]);
}

type Placed = { nodeId: string; cpu: number; memoryMb: number; gpu: number };

/** Releases one task's reservation on its node. */
export async function release(tx: Tx, t: Placed): Promise<void> {
  await tx
    .update(nodes)
    .set({
      allocatedCpu: sql`greatest(${nodes.allocatedCpu} - ${t.cpu}, 0)`,
      allocatedMemoryMb: sql`greatest(${nodes.allocatedMemoryMb} - ${t.memoryMb}, 0)`,
      allocatedGpu: sql`greatest(${nodes.allocatedGpu} - ${t.gpu}, 0)`,
      allocatedTasks: sql`greatest(${nodes.allocatedTasks} - 1, 0)`,
    })
    .where(eq(nodes.id, t.nodeId));
}

/**
 * The UPDATE that releases the reservations of many tasks (one update of each node's sums, by
 * id), or null for none: run alone (releaseMany) or as a CTE of a larger statement (the finish of
 * tasks outside workflows). Its own CTE locks the node rows in id order before the update reaches
 * them, as placement does (place-attempts.ts says why that holds whatever the update's plan). The
 * update alone did not keep that order: once the nodes table is larger than the planner's guess
 * for the recordset (100 rows), it hashes the recordset and scans nodes in their physical order
 * (EXPLAIN with 1,000 nodes), and two transactions taking node rows in different orders can
 * deadlock (40P01).
 */
export function releaseStatement(ts: Array<Omit<Placed, 'nodeId'> & { nodeId: string | null }>): SQL | null {
  const rows = nodeSums(ts.filter((t): t is Placed => t.nodeId !== null));
  if (rows === null) return null;
  return sql`
    with locked as (
      select r.* from jsonb_to_recordset(${rows}::jsonb) as ${RECORDSET} join nodes on nodes.id = r.id order by nodes.id for update of nodes
    )
    update nodes set
      allocated_cpu = greatest(nodes.allocated_cpu - r.cpu, 0),
      allocated_memory_mb = greatest(nodes.allocated_memory_mb - r."memoryMb", 0),
      allocated_gpu = greatest(nodes.allocated_gpu - r.gpu, 0),
      allocated_tasks = greatest(nodes.allocated_tasks - r.tasks, 0)
    from locked as r
    where nodes.id = r.id`;
}

/** Releases the reservations of many tasks: releaseStatement, node rows locked in id order. */
export async function releaseMany(tx: Tx, ts: Array<Omit<Placed, 'nodeId'> & { nodeId: string | null }>): Promise<void> {
  const statement = releaseStatement(ts);
  if (!statement) return;
  await tx.execute(statement);
}
