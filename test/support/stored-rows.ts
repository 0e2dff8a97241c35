// A print of the rows a request could store or change, table by table, for the fuzz tests'
// "a refused request stores nothing" (test/hostile-input.e2e.test.ts, test/size-limits.e2e.test.ts):
// each row's small columns, and the stored size of its big ones (cheap, where hashing a
// 10,000-label map every request is not); not the times the server moves by itself (heartbeats,
// ticks).
import type pg from 'pg';

const PRINT = (() => {
  const digest = (cols: string, table: string, order: string) => `(select count(*) || '/' || md5(coalesce(string_agg(concat_ws('|', ${cols}), ',' order by ${order}), '')) from ${table})`;
  const size = (col: string) => `pg_column_size(${col})`;
  return `select
    (select count(*) || '/' || coalesce(max(seq), 0) from tasks) as tasks,
    (select count(*) || '/' || coalesce(max(seq), 0) from workflows) as workflows,
    ${digest(`id, name, cron, timezone, ${size('task')}, ${size('workflow')}, concurrency, starting_deadline_seconds, paused`, 'schedules', 'id')} as schedules,
    ${digest(`id, tenant, ${size('url')}, events::text`, 'webhooks', 'id')} as webhooks,
    ${digest(`tenant, name, ${size('sealed')}, created_at`, 'secrets', 'tenant, name')} as secrets,
    ${digest('id, name, role, tenant, rate_limit_per_s, revoked_at', 'api_keys', 'id')} as api_keys,
    ${digest('name, weight, quota_cpu, quota_memory_mb, quota_gpu, quota_max_running', 'tenants', 'name')} as tenants,
    ${digest(`id, name, hostname, drained, ${size('labels')}, cpu, memory_mb, gpu, max_tasks, cpu_percent, memory_used_mb, ${size('running_task_ids')}, running_listed_at, engine_status`, 'nodes', 'id')} as nodes`;
})();

/** The print (JSON text): compare two to know whether anything was stored or changed between them. */
export async function storedRows(sql: pg.Client): Promise<string> {
  return JSON.stringify((await sql.query({ name: 'stored-rows-print', text: PRINT })).rows[0]);
}

/** The tables whose rows differ between two prints. */
export function changedTables(before: string, after: string): string {
  const b = JSON.parse(before) as Record<string, string>;
  const a = JSON.parse(after) as Record<string, string>;
  return Object.keys(a)
    .filter((k) => a[k] !== b[k])
    .join(', ');
}
