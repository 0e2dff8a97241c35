// Registered nodes: capacity, what is reserved on them, and their last heartbeat. The
// reservation columns are changed only by node-reservations.ts, inside the same transaction as
// the task change, so they always add up to the tasks placed on the node.
import { randomBytes, randomUUID } from 'node:crypto';
import { and, asc, eq, getTableColumns, inArray, lt, or, isNull, sql } from 'drizzle-orm';
import type { Db } from './db.ts';
import { nodes, tasks, type NodeRow } from './schema.ts';
import type { PlacementNode } from '../domain/fit.ts';
import { fieldsOf } from './row-mapping.ts';

const PLACEMENT_FIELDS = fieldsOf(nodes, [
  'id', 'name', 'status', 'labels', 'cpu', 'memoryMb', 'gpu', 'maxTasks', 'allocatedCpu', 'allocatedMemoryMb', 'allocatedGpu', 'allocatedTasks',
] as const);

/**
 * Every column but the running list (a node running 1,000 tasks lists ~40 kB of ids). A heartbeat
 * reads these back, since it has just set the list itself (reading it back as well doubled the
 * statement's cost, docs/decisions.md "Cheaper rows"); the metrics read these and count the list.
 */
const ALL_BUT_RUNNING_LIST = fieldsOf(
  nodes,
  (Object.keys(getTableColumns(nodes)) as Array<keyof NodeRow>).filter((k): k is Exclude<keyof NodeRow, 'runningTaskIds'> => k !== 'runningTaskIds'),
);

export interface NodeRegistration {
  name: string;
  hostname: string;
  capacity: { cpu: number; memory_mb: number; gpu: number; max_tasks: number };
  labels: Record<string, string>;
}

/** An attempt the nodes' lists and the tasks table disagree about (NodeStore.compareLists). */
export interface ListedAttempt {
  id: string;
  attempts: number;
  nodeName: string;
}

const UUID_TEXT = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

export class NodeStore {
  constructor(private readonly db: Db) {}

  /** A node registering again under its name (a restarted worker) keeps its id and reservations. */
  async register(reg: NodeRegistration): Promise<NodeRow> {
    const now = new Date();
    const values = {
      hostname: reg.hostname,
      cpu: reg.capacity.cpu,
      memoryMb: reg.capacity.memory_mb,
      gpu: reg.capacity.gpu,
      maxTasks: reg.capacity.max_tasks,
      labels: reg.labels,
    };
    const [existing] = await this.db.select().from(nodes).where(eq(nodes.name, reg.name));
    if (existing) {
      // Status, last heartbeat and running tasks are left to the node's first heartbeat, which
      // follows at once: until then the control plane knows only what it last heard, and must
      // not take a fresh registration for a heartbeat that listed nothing running.
      // An offline node's tasks were already taken back: it starts afresh.
      const back = existing.status === 'offline' ? { status: existing.drained ? ('draining' as const) : ('available' as const), lastHeartbeatAt: now, runningTaskIds: [] } : {};
      const [n] = await this.db.update(nodes).set({ ...values, ...back }).where(eq(nodes.id, existing.id)).returning();
      return n;
    }
    const [n] = await this.db
      .insert(nodes)
      .values({ id: randomUUID(), name: reg.name, status: 'available', token: randomBytes(24).toString('hex'), registeredAt: now, lastHeartbeatAt: now, ...values })
      .returning();
    return n;
  }

  /**
   * Records a heartbeat, only from the node itself (its token): one statement when all is well.
   * 'unknown' for a node that does not exist, 'unauthorized' for a wrong token.
   */
  async heartbeat(
    id: string,
    token: string,
    hb: { cpuPercent: number | null; memoryUsedMb: number | null; runningTaskIds: string[]; listedAt: Date | null; engine: 'ok' | 'unreachable'; stopping?: boolean },
  ): Promise<NodeRow | 'unknown' | 'unauthorized'> {
    // Raw (row-mapping.ts): 50 heartbeats a second in a large cluster, each returning its list
    // of running tasks; drizzle's builder and mapping were ~4 % of the control plane's CPU while
    // placing on 1,000 nodes.
    const res = (await this.db.execute(sql`
      update nodes set
        cpu_percent = ${hb.cpuPercent},
        memory_used_mb = ${hb.memoryUsedMb === null ? null : Math.round(hb.memoryUsedMb)},
        running_task_ids = ${JSON.stringify(hb.runningTaskIds)}::jsonb,
        running_listed_at = ${hb.listedAt?.toISOString() ?? null}::timestamptz,
        engine_status = ${hb.engine},
        last_heartbeat_at = ${new Date().toISOString()}::timestamptz,
        -- A node whose engine is unreachable cannot run anything: it is unhealthy until it is
        -- back. So is one whose worker is stopping: nothing more is placed on it (what it had
        -- not taken is given back: control/nodes.ts; what it ran is placed again only when it
        -- goes offline as usual, its last results may still be on their way); a worker that
        -- starts again under its name makes it available again.
        status = case when drained then 'draining' when ${hb.stopping === true} or ${hb.engine} = 'unreachable' then 'unhealthy' else 'available' end
      where id = ${id}::uuid and token = ${token}
      returning ${ALL_BUT_RUNNING_LIST.list}`)) as unknown as { rows: Array<Record<string, unknown>> };
    const [n] = ALL_BUT_RUNNING_LIST.read(res.rows);
    if (n) return { ...n, runningTaskIds: hb.runningTaskIds };
    return (await this.get(id)) ? 'unauthorized' : 'unknown';
  }

  async get(id: string): Promise<NodeRow | null> {
    const [n] = await this.db.select().from(nodes).where(eq(nodes.id, id));
    return n ?? null;
  }

  async list(): Promise<NodeRow[]> {
    return this.db.select().from(nodes).orderBy(asc(nodes.registeredAt));
  }

  /**
   * Every node as the metrics show it: each column but the running list, which is counted in
   * PostgreSQL instead. A scrape read every list whole (1,000 nodes running ~100 tasks each: ~4 MB
   * of JSON, ~45 ms of the server's CPU per scrape, docs/decisions.md "A scrape without the running lists").
   */
  async snapshots(): Promise<Array<Omit<NodeRow, 'runningTaskIds'> & { runningTasks: number }>> {
    const res = (await this.db.execute(
      sql`select ${ALL_BUT_RUNNING_LIST.list}, case when jsonb_typeof(running_task_ids) = 'array' then jsonb_array_length(running_task_ids) else 0 end as "runningTasks" from nodes order by nodes.registered_at`,
    )) as unknown as { rows: Array<Record<string, unknown> & { runningTasks: number }> };
    const rows = ALL_BUT_RUNNING_LIST.read(res.rows);
    return rows.map((n, i) => Object.assign(n, { runningTasks: Number(res.rows[i].runningTasks) }));
  }

  /**
   * The columns placement decides on, for every node (not the heartbeats' running-task lists).
   * Read raw (row-mapping.ts): placement batches read all nodes (those not starting from the last
   * batch's view, scheduler/kept-view.ts), 1,000 rows at a time in a large cluster, and drizzle's
   * per-row mapping was most of that read's cost.
   */
  async placementView(): Promise<PlacementNode[]> {
    const res = (await this.db.execute(sql`select ${PLACEMENT_FIELDS.list} from nodes order by nodes.registered_at`)) as unknown as { rows: Array<Record<string, unknown>> };
    return PLACEMENT_FIELDS.read(res.rows) as PlacementNode[];
  }

  /**
   * A digest of everything placement decides on that can change without the scheduler taking
   * part: each node's status, capacity, labels and reservations, and the tenants' settings.
   * Equal digests: tasks that found no room before still find none (dispatcher's failsafe).
   */
  async roomSignature(): Promise<string> {
    const res = (await this.db.execute(sql`
      select md5(concat(
        (select string_agg(concat_ws(',', id, status, cpu, memory_mb, gpu, max_tasks, allocated_cpu, allocated_memory_mb, allocated_gpu, allocated_tasks, labels::text), ';' order by id) from nodes),
        '|',
        (select concat_ws(',', count(*), max(updated_at)) from tenants))) as signature`)) as unknown as { rows: Array<{ signature: string }> };
    return res.rows[0].signature;
  }

  /** How many nodes are not offline (what sets the heartbeat period, domain/heartbeats.ts). */
  async countLive(): Promise<number> {
    const [r] = await this.db.select({ n: sql<number>`count(*)::int` }).from(nodes).where(sql`${nodes.status} <> 'offline'`);
    return r?.n ?? 0;
  }

  /**
   * How many nodes are not offline, and when the control plane last heard any of them (its
   * latest heartbeat or registration): the health check counts silence only while it can hear
   * (monitor/node-health.ts). One pass over the nodes, as countLive.
   */
  async hearing(): Promise<{ live: number; lastHeardAt: Date | null }> {
    const res = (await this.db.execute(
      sql`select count(*)::int as live, max(last_heartbeat_at) as last_heard_at from nodes where status <> 'offline'`,
    )) as unknown as { rows: Array<{ live: number; last_heard_at: string | Date | null }> };
    const r = res.rows[0];
    return { live: Number(r?.live ?? 0), lastHeardAt: r?.last_heard_at ? new Date(r.last_heard_at) : null };
  }

  /**
   * The live nodes' latest heartbeats against the tasks table, for the leader's node health check
   * (monitor/node-health.ts), once a heartbeat period:
   *
   * - `unlistedRunning`: tasks running on a live node whose latest list, drawn up more than
   *   `graceSeconds` after the attempt started, no longer names them (their result may be lost).
   *   Both times are the node's clock (its list's listed_at, its report's started_at), so a
   *   heartbeat delivered late (a control plane that stalled for longer than the grace) or a node
   *   clock behind the control plane's is not taken for a lost attempt; from a worker that sends
   *   no listed_at, the time its heartbeat arrived stands in.
   * - `listedCancelled`: tasks a live node still lists whose row is `cancelled`, the cancel
   *   recorded before `cancelledBefore`: a cancel whose telling never reached Redis (the control
   *   plane stopped between committing it and telling the nodes). `attempts` is the task's when it
   *   was cancelled: a cancel naming it stops that attempt and earlier ones, never a retry's later
   *   one. Only `cancelled`: the other final statuses come from the node's own report, and the
   *   node lists an attempt until that report is queued.
   *
   * One statement: the lists are spread into rows once and full-joined by hash with the running
   * tasks (tasks_status_idx) on node and id. What matches is the normal case and is dropped; the
   * running tasks left over are checked against their node, and the listed ids left over (a task
   * that just ended, one placed elsewhere, a cancel not heard) are looked up by primary key once
   * they read as a UUID (heartbeats do not check them). So the cost grows with the tasks running,
   * not with the ended ones kept. Two statements did this until session 32, each spreading the
   * lists: 290–330 ms together with 1,000 nodes listing 100 each among 1.1 million tasks; this
   * one 120–130 ms (docs/decisions.md, "Two costs that grew with the tables"). Testing each running task
   * against its node's jsonb array (`running_task_ids ? id`) instead searched the array linearly:
   * seconds of PostgreSQL's CPU at 100,000 running tasks.
   */
  async compareLists(graceSeconds: number, cancelledBefore: Date): Promise<{ unlistedRunning: ListedAttempt[]; listedCancelled: ListedAttempt[] }> {
    const r = (await this.db.execute(sql`
      with odd as materialized (
        select r.id, r.attempts, r.node_id, r.started_at, l.node_name as listed_by, l.task_id
        from (select t.id, t.attempts, t.node_id, t.started_at from tasks t where t.status = 'running') r
        full join (
          select n.id as node_id, n.name as node_name, e.task_id
          from nodes n cross join lateral jsonb_array_elements_text(n.running_task_ids) as e(task_id)
          where n.status <> 'offline' and jsonb_typeof(n.running_task_ids) = 'array'
        ) l on l.node_id = r.node_id and l.task_id = r.id::text
        where l.task_id is null or r.id is null
      )
      select 'unlisted' as kind, o.id, o.attempts, n.name as node_name
      from odd o
      join nodes n on n.id = o.node_id
      where o.id is not null and n.status <> 'offline' and n.last_heartbeat_at is not null
        and o.started_at < coalesce(n.running_listed_at, n.last_heartbeat_at) - make_interval(secs => ${graceSeconds})
      union all
      select 'cancelled' as kind, t.id, t.attempts, o.listed_by
      from odd o
      join tasks t on t.id = case when o.task_id ~* ${UUID_TEXT} then o.task_id::uuid end
      where o.id is null and t.status = 'cancelled' and t.finished_at < ${cancelledBefore.toISOString()}::timestamptz`)) as unknown as {
      rows: Array<{ kind: 'unlisted' | 'cancelled'; id: string; attempts: number; node_name: string }>;
    };
    const of = (kind: 'unlisted' | 'cancelled') => r.rows.filter((x) => x.kind === kind).map((x) => ({ id: x.id, attempts: Number(x.attempts), nodeName: x.node_name }));
    return { unlistedRunning: of('unlisted'), listedCancelled: of('cancelled') };
  }

  /** Marks nodes whose heartbeats stopped; returns those that changed. */
  /** Nodes last heard from before these times become offline, or unhealthy; null: none yet. */
  async markSilent(unhealthyBefore: Date | null, offlineBefore: Date | null): Promise<NodeRow[]> {
    const offline = offlineBefore
      ? await this.db
          .update(nodes)
          .set({ status: 'offline' })
          .where(and(inArray(nodes.status, ['available', 'draining', 'unhealthy']), or(isNull(nodes.lastHeartbeatAt), lt(nodes.lastHeartbeatAt, offlineBefore))))
          .returning()
      : [];
    const unhealthy = unhealthyBefore
      ? await this.db
          .update(nodes)
          .set({ status: 'unhealthy' })
          .where(and(inArray(nodes.status, ['available']), lt(nodes.lastHeartbeatAt, unhealthyBefore)))
          .returning()
      : [];
    return [...offline, ...unhealthy];
  }

  async offlineHoldingTasks(): Promise<NodeRow[]> {
    // By the tasks on them, as delete() counts them, not by the reservation counter: a node whose
    // counter drifted to 0 with tasks still on it would keep them for ever (and refuse deletion).
    return this.db
      .select()
      .from(nodes)
      .where(
        and(
          eq(nodes.status, 'offline'),
          or(sql`${nodes.allocatedTasks} > 0`, sql`exists (select 1 from ${tasks} t where t.node_id = ${nodes.id} and t.status in ('scheduled', 'running'))`),
        ),
      );
  }

  /**
   * available <-> draining. A draining node keeps what it runs and receives nothing new. The
   * drain is kept (`drained`) while the node is offline too: it is `draining` when it is back.
   */
  async setDraining(id: string, draining: boolean): Promise<NodeRow | null> {
    const [n] = await this.db
      .update(nodes)
      .set({ drained: draining, status: draining ? 'draining' : sql`case when ${nodes.engineStatus} = 'unreachable' then 'unhealthy' else 'available' end` })
      .where(and(eq(nodes.id, id), inArray(nodes.status, draining ? ['available', 'unhealthy', 'draining'] : ['draining', 'available'])))
      .returning();
    return n ?? (await this.get(id));
  }

  /**
   * Deletes a node that holds no task: none scheduled or running on it, whatever its status (an
   * offline node's tasks are placed again by the node health check, which finds them through the
   * node: deleted first, they stayed running or scheduled for ever). Its reservation counter is
   * not what decides (`held` counts the tasks themselves).
   */
  async delete(id: string): Promise<'deleted' | 'not_found' | { busy: NodeRow; held: number }> {
    return this.db.transaction(async (tx) => {
      const [n] = await tx.select().from(nodes).where(eq(nodes.id, id)).for('update');
      if (!n) return 'not_found';
      const [{ held }] = await tx
        .select({ held: sql<number>`count(*)::int` })
        .from(tasks)
        .where(and(eq(tasks.nodeId, id), inArray(tasks.status, ['scheduled', 'running'])));
      if (held > 0) return { busy: n, held };
      await tx.delete(nodes).where(eq(nodes.id, id));
      return 'deleted';
    });
  }
}
