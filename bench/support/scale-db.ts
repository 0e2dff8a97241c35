// Section (e) reads the server: its database afterwards (timestamps only) and its nodes over HTTP.
import pg from 'pg';
import { sleep } from './stats.ts';
import { SET_LABEL, type Priority } from './scale-workload.ts';
import { HttpClient } from './load.ts';

export interface Row {
  set: string;
  priority: Priority;
  status: string;
  attempts: number;
  created: number;
  /** The task's FIRST placement (its first "scheduled" event); null if never placed. */
  scheduled: number | null;
  /** How many times it was placed (more than once when a node lost it). */
  placements: number;
}

/**
 * Tasks of the given sets with their first placement time. A task whose node is lost is placed
 * again and its scheduled_at moves on, so the first placement comes from its history
 * (task_events, what GET /tasks/{id}/events shows); if that cannot be read, from scheduled_at.
 */
export async function rowsOf(dbc: pg.Client, sets: string[]): Promise<{ rows: Row[]; from: string }> {
  const base = `labels->>'${SET_LABEL}' as set, priority, status, attempts, (extract(epoch from created_at) * 1000)::float8 as created`;
  try {
    const { rows } = await dbc.query<Row>(
      `select ${base},
              (select (extract(epoch from min(e.at)) * 1000)::float8 from task_events e where e.task_id = t.id and e.status = 'scheduled') as scheduled,
              (select count(*)::int from task_events e where e.task_id = t.id and e.status = 'scheduled') as placements
         from tasks t where labels->>'${SET_LABEL}' = any($1)`,
      [sets],
    );
    return { rows, from: 'task_events: first "scheduled" event of each task' };
  } catch (err) {
    const { rows } = await dbc.query<Row>(
      `select ${base}, (extract(epoch from scheduled_at) * 1000)::float8 as scheduled, (case when scheduled_at is null then 0 else 1 end) as placements
         from tasks where labels->>'${SET_LABEL}' = any($1)`,
      [sets],
    );
    return { rows, from: `tasks.scheduled_at (the last placement; task_events could not be read: ${(err as Error).message})` };
  }
}

export interface Counts {
  queued: number;
  /** Queued and never placed (attempts 0); a task placed, lost with its node and queued again is not counted. */
  never_placed: number;
  failed: number;
}

export async function statusCounts(dbc: pg.Client): Promise<Counts> {
  const { rows } = await dbc.query<Counts>(
    `select count(*) filter (where status = 'queued')::int as queued,
            count(*) filter (where status = 'queued' and attempts = 0)::int as never_placed,
            count(*) filter (where status = 'failed')::int as failed
       from tasks where status in ('queued', 'failed')`,
  );
  return rows[0];
}

/** Polls until every task has been placed at least once, or `ms` passed, or none was placed for `stallMs`. */
export async function waitUntilPlaced(dbc: pg.Client, ms: number, stallMs: number, everyMs: number, progress?: (c: Counts, elapsedMs: number) => void) {
  const t0 = Date.now();
  let last = -1;
  let lastMove = t0;
  let lastLog = t0;
  for (;;) {
    const c = await statusCounts(dbc);
    const now = Date.now();
    if (c.never_placed !== last) {
      last = c.never_placed;
      lastMove = now;
    }
    if (progress && now - lastLog >= 15_000) {
      progress(c, now - t0);
      lastLog = now;
    }
    const end = { ...c, at: now };
    if (c.never_placed === 0) return { outcome: 'all placed' as const, ...end };
    if (now - t0 >= ms) return { outcome: 'time cap reached' as const, ...end };
    if (now - lastMove >= stallMs) return { outcome: `stalled: nothing placed for ${stallMs / 1000} s` as const, ...end };
    await sleep(everyMs);
  }
}

/** How many nodes are in each status (GET /nodes). */
export async function nodeStatuses(url: string): Promise<Record<string, number>> {
  const listed = await withClient(url, 1, (c) => c.json<{ items: Array<{ status: string }> }>('GET', '/nodes', undefined, 200));
  const out: Record<string, number> = {};
  for (const n of listed.items) out[n.status] = (out[n.status] ?? 0) + 1;
  return out;
}

/**
 * Every step gets its own keep-alive client, closed after it: a connection left idle between
 * steps (while this process is busy reading 100,000 rows, say) can be closed by the server
 * (5 s keep-alive) just as it is reused, and the reset would be this client's doing, not Jarvis's.
 */
export async function withClient<T>(url: string, sockets: number, fn: (c: HttpClient) => Promise<T>): Promise<T> {
  const c = new HttpClient(url, sockets);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** A task placed late in the drain, with its history (what held it). */
export interface Straggler {
  set: string;
  priority: string;
  tenant: string;
  resources: { cpu: number; memory_mb: number; gpu: number };
  /** Each state change, ms from the drain's resume (negative: before it), with its reason. */
  events: Array<{ at_ms: number; status: string; reason: string | null }>;
}

/**
 * The `n` tasks of these sets whose first placement came last, with their history: a drain that
 * ends with a few tasks placed seconds after the rest says, here, what those tasks waited in.
 */
export async function stragglers(dbc: pg.Client, sets: string[], resumedAt: number, n = 5): Promise<Straggler[]> {
  const { rows } = await dbc.query<{ id: string; set: string; priority: string; tenant: string; cpu: number; memory_mb: number; gpu: number }>(
    `select t.id, labels->>'${SET_LABEL}' as set, priority, tenant, cpu::float8 as cpu, memory_mb, gpu::float8 as gpu
       from tasks t join lateral (select min(e.at) as first from task_events e where e.task_id = t.id and e.status = 'scheduled') p on true
      where labels->>'${SET_LABEL}' = any($1) and p.first is not null
      order by p.first desc limit $2`,
    [sets, n],
  );
  const out: Straggler[] = [];
  for (const r of rows) {
    const ev = await dbc.query<{ at: number; status: string; reason: string | null }>(
      `select (extract(epoch from at) * 1000)::float8 as at, status, reason from task_events where task_id = $1 order by id`,
      [r.id],
    );
    out.push({
      set: r.set,
      priority: r.priority,
      tenant: r.tenant,
      resources: { cpu: Number(r.cpu), memory_mb: Number(r.memory_mb), gpu: Number(r.gpu) },
      events: ev.rows.map((e) => ({ at_ms: Math.round(Number(e.at) - resumedAt), status: e.status, reason: e.reason })),
    });
  }
  return out;
}

/** Stretches of more than `minMs` with no first placement between the drain's first and last (ms from the first, and how many were placed before). */
export function placementGaps(sortedTimes: number[], minMs = 1_000): Array<{ after_ms: number; gap_ms: number; placed_before: number }> {
  const gaps: Array<{ after_ms: number; gap_ms: number; placed_before: number }> = [];
  for (let i = 1; i < sortedTimes.length; i++) {
    const gap = sortedTimes[i] - sortedTimes[i - 1];
    if (gap > minMs) gaps.push({ after_ms: Math.round(sortedTimes[i - 1] - sortedTimes[0]), gap_ms: Math.round(gap), placed_before: i });
  }
  return gaps;
}
