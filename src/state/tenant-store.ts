// Tenants' fair-share settings (weight and quota) and what each holds and waits for now. Usage
// and demand are sums over the tasks table, read through small partial indexes
// (tasks_tenant_active_idx, tasks_tenant_queued_idx), so they are always what the tasks say.
import { asc, eq, sql } from 'drizzle-orm';
import type { Db } from './db.ts';
import { tenants, type TenantRow } from './schema.ts';

export interface TenantSettings {
  weight: number;
  quota: { cpu: number | null; memoryMb: number | null; gpu: number | null; maxRunning: number | null };
}

export const DEFAULT_SETTINGS: TenantSettings = Object.freeze({
  weight: 1,
  quota: Object.freeze({ cpu: null, memoryMb: null, gpu: null, maxRunning: null }),
}) as TenantSettings;

/** What a tenant's scheduled and running tasks hold. */
export interface TenantUsage {
  cpu: number;
  memoryMb: number;
  gpu: number;
  running: number;
}

/** What a tenant's queued tasks ask for, summed. */
export interface TenantDemand {
  tasks: number;
  cpu: number;
  memoryMb: number;
  gpu: number;
}

/** Queued tasks of one tenant and one resource shape (the buckets an autoscaler reads). */
export interface DemandShape {
  tenant: string;
  cpu: string;
  memory: string;
  gpu: string;
  tasks: number;
}

/** Upper bounds of the shape buckets; the last is open ("+Inf"). */
export const CPU_BUCKETS = [0.5, 1, 2, 4, 8, 16] as const;
export const MEMORY_BUCKETS_MB = [256, 1024, 4096, 16384, 65536] as const;
export const GPU_BUCKETS = [0, 1, 2, 4, 8] as const;

function settingsOf(r: Pick<TenantRow, 'weight' | 'quotaCpu' | 'quotaMemoryMb' | 'quotaGpu' | 'quotaMaxRunning'>): TenantSettings {
  return { weight: r.weight, quota: { cpu: r.quotaCpu, memoryMb: r.quotaMemoryMb, gpu: r.quotaGpu, maxRunning: r.quotaMaxRunning } };
}

/** Each tenant's scheduled and running tasks, summed (usage() and shares()). */
const USAGE_BY_TENANT = sql`
  select tenant, sum(cpu)::float8 as cpu, sum(memory_mb)::float8 as memory_mb, sum(gpu)::float8 as gpu, count(*)::int as running
  from tasks where status in ('scheduled', 'running') group by tenant`;

interface UsageRow {
  cpu: number | null;
  memory_mb: number | null;
  gpu: number | null;
  running: number | null;
}

/** A row of USAGE_BY_TENANT (nulls: a tenant holding nothing). */
function usageOf(x: UsageRow): TenantUsage {
  return { cpu: Number(x.cpu ?? 0), memoryMb: Number(x.memory_mb ?? 0), gpu: Number(x.gpu ?? 0), running: Number(x.running ?? 0) };
}

/** SQL that names the bucket a value falls in: "le_<bound>" or "gt_<last bound>". */
function bucketSql(column: string, bounds: readonly number[]) {
  const cases = bounds.map((b) => `when ${column} <= ${b} then 'le_${b}'`).join(' ');
  return sql.raw(`case ${cases} else 'gt_${bounds[bounds.length - 1]}' end`);
}

export class TenantStore {
  constructor(private readonly db: Db) {}

  async get(name: string): Promise<TenantSettings | null> {
    const [r] = await this.db.select().from(tenants).where(eq(tenants.name, name));
    return r ? settingsOf(r) : null;
  }

  /** Every tenant with settings, by name. */
  async settings(): Promise<Map<string, TenantSettings>> {
    const rows = await this.db.select().from(tenants).orderBy(asc(tenants.name));
    return new Map(rows.map((r) => [r.name, settingsOf(r)]));
  }

  async put(name: string, s: TenantSettings): Promise<void> {
    const values = {
      weight: s.weight,
      quotaCpu: s.quota.cpu,
      quotaMemoryMb: s.quota.memoryMb,
      quotaGpu: s.quota.gpu,
      quotaMaxRunning: s.quota.maxRunning,
      updatedAt: new Date(),
    };
    await this.db
      .insert(tenants)
      .values({ name, ...values })
      .onConflictDoUpdate({ target: tenants.name, set: values });
  }

  /**
   * Every tenant with settings or holding capacity: its settings (the defaults for one without)
   * and what its scheduled and running tasks hold. One statement: settings() and usage() together,
   * for the dispatcher's every batch (scheduler/tenant-usage.ts).
   */
  async shares(): Promise<Map<string, { settings: TenantSettings; usage: TenantUsage }>> {
    const r = (await this.db.execute(sql`
      select coalesce(t.name, u.tenant) as name, t.weight, t.quota_cpu as "quotaCpu", t.quota_memory_mb as "quotaMemoryMb",
        t.quota_gpu as "quotaGpu", t.quota_max_running as "quotaMaxRunning", u.cpu, u.memory_mb, u.gpu, u.running
      from tenants t full join (${USAGE_BY_TENANT}) u on u.tenant = t.name`)) as unknown as {
      rows: Array<UsageRow & Pick<TenantRow, 'name' | 'quotaCpu' | 'quotaMemoryMb' | 'quotaGpu' | 'quotaMaxRunning'> & { weight: number | null }>;
    };
    return new Map(r.rows.map((x) => [x.name, { settings: x.weight === null ? DEFAULT_SETTINGS : settingsOf({ ...x, weight: x.weight }), usage: usageOf(x) }]));
  }

  /** What each tenant's scheduled and running tasks hold (tenants holding nothing are absent). */
  async usage(): Promise<Map<string, TenantUsage>> {
    const r = (await this.db.execute(USAGE_BY_TENANT)) as unknown as { rows: Array<UsageRow & { tenant: string }> };
    return new Map(r.rows.map((x) => [x.tenant, usageOf(x)]));
  }

  /** What each tenant's queued tasks ask for (tenants with none queued are absent). */
  async demand(): Promise<Map<string, TenantDemand>> {
    const r = (await this.db.execute(sql`
      select tenant, count(*)::int as tasks, sum(cpu)::float8 as cpu, sum(memory_mb)::float8 as memory_mb, sum(gpu)::float8 as gpu
      from tasks where status = 'queued' group by tenant`)) as unknown as {
      rows: Array<{ tenant: string; tasks: number; cpu: number; memory_mb: number; gpu: number }>;
    };
    return new Map(r.rows.map((x) => [x.tenant, { tasks: Number(x.tasks), cpu: Number(x.cpu), memoryMb: Number(x.memory_mb), gpu: Number(x.gpu) }]));
  }

  /** Queued tasks by tenant and resource shape. */
  async demandShapes(): Promise<DemandShape[]> {
    const r = (await this.db.execute(sql`
      select tenant, ${bucketSql('cpu', CPU_BUCKETS)} as cpu, ${bucketSql('memory_mb', MEMORY_BUCKETS_MB)} as memory,
        ${bucketSql('gpu', GPU_BUCKETS)} as gpu, count(*)::int as tasks
      from tasks where status = 'queued' group by 1, 2, 3, 4 order by 1, 2, 3, 4`)) as unknown as { rows: DemandShape[] };
    return r.rows.map((x) => ({ ...x, tasks: Number(x.tasks) }));
  }
}
