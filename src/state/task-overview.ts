// The figures of the dashboard's overview (GET /overview), each one aggregate statement over an
// index: tasks by status and priority, the resources the queued tasks ask for, grouped into
// power-of-two shapes, and the last hour's status changes in 5-minute buckets (task_events_at_idx).
import { sql, type SQL } from 'drizzle-orm';
import type { Db } from './db.ts';

export interface ShapeDemand {
  /** The shape's upper bounds: cpu and memory rounded up to a power of two, gpu as asked. */
  cpu: number;
  memoryMb: number;
  gpu: number;
  tasks: number;
  /** What those tasks ask for in total. */
  cpuTotal: number;
  memoryMbTotal: number;
  gpuTotal: number;
}

export interface TaskOverview {
  byStatus: Record<string, number>;
  queuedByPriority: Record<string, number>;
  queuedDemand: ShapeDemand[];
  /** `bucketSeconds`-long buckets from `since`, each with the status changes it saw. */
  lastHour: { since: Date; bucketSeconds: number; buckets: Array<{ start: Date; counts: Record<string, number> }> };
}

export const OVERVIEW_BUCKET_SECONDS = 300;
const HOUR_BUCKETS = 12;
/** At most this many shapes are listed (the biggest by task count). */
const SHAPES = 20;

async function rows<T>(db: Db, query: SQL): Promise<T[]> {
  return ((await db.execute(query)) as unknown as { rows: T[] }).rows;
}

export async function taskOverview(db: Db, tenant: string | undefined, now = new Date()): Promise<TaskOverview> {
  const onTenant = tenant === undefined ? sql`true` : sql`t.tenant = ${tenant}`;
  // The window starts on a bucket boundary so buckets do not shift between two loads.
  const end = Math.ceil(now.getTime() / (OVERVIEW_BUCKET_SECONDS * 1000)) * OVERVIEW_BUCKET_SECONDS * 1000;
  const since = new Date(end - HOUR_BUCKETS * OVERVIEW_BUCKET_SECONDS * 1000);
  const [counts, shapes, events] = await Promise.all([
    rows<{ status: string; priority: string; n: string }>(db, sql`
      select t.status, t.priority, count(*) as n from tasks t where ${onTenant} group by t.status, t.priority`),
    rows<{ cpu: number; memory_mb: number; gpu: number; n: string; cpu_total: number; memory_total: string; gpu_total: string }>(db, sql`
      select s.cpu, s.memory_mb, s.gpu, count(*) as n, sum(s.cpu_asked) as cpu_total, sum(s.memory_asked) as memory_total, sum(s.gpu) as gpu_total
      from (select case when t.cpu <= 0.25 then 0.25 else power(2, ceil(log(2, t.cpu::numeric)))::float8 end as cpu,
                   case when t.memory_mb <= 128 then 128 else power(2, ceil(log(2, t.memory_mb::numeric)))::float8 end as memory_mb,
                   t.gpu, t.cpu as cpu_asked, t.memory_mb as memory_asked
            from tasks t where t.status = 'queued' and ${onTenant}) s
      group by s.cpu, s.memory_mb, s.gpu order by n desc, s.cpu, s.memory_mb, s.gpu limit ${SHAPES}`),
    rows<{ bucket: number; status: string; n: string }>(db, sql`
      select floor(extract(epoch from e.at - ${since.toISOString()}::timestamptz) / ${OVERVIEW_BUCKET_SECONDS})::int as bucket, e.status, count(*) as n
      from task_events e ${tenant === undefined ? sql`` : sql`join tasks t on t.id = e.task_id`}
      where e.at >= ${since.toISOString()}::timestamptz and ${onTenant} group by 1, 2`),
  ]);
  const byStatus: Record<string, number> = {};
  const queuedByPriority: Record<string, number> = {};
  for (const r of counts) {
    byStatus[r.status] = (byStatus[r.status] ?? 0) + Number(r.n);
    if (r.status === 'queued') queuedByPriority[r.priority] = (queuedByPriority[r.priority] ?? 0) + Number(r.n);
  }
  const buckets = Array.from({ length: HOUR_BUCKETS }, (_, i) => ({ start: new Date(since.getTime() + i * OVERVIEW_BUCKET_SECONDS * 1000), counts: {} as Record<string, number> }));
  for (const r of events) {
    const b = buckets[Math.min(HOUR_BUCKETS - 1, Math.max(0, r.bucket))];
    b.counts[r.status] = (b.counts[r.status] ?? 0) + Number(r.n);
  }
  return {
    byStatus,
    queuedByPriority,
    queuedDemand: shapes.map((r) => ({
      cpu: Number(r.cpu),
      memoryMb: Number(r.memory_mb),
      gpu: Number(r.gpu),
      tasks: Number(r.n),
      cpuTotal: Number(r.cpu_total),
      memoryMbTotal: Number(r.memory_total),
      gpuTotal: Number(r.gpu_total),
    })),
    lastHour: { since, bucketSeconds: OVERVIEW_BUCKET_SECONDS, buckets },
  };
}
