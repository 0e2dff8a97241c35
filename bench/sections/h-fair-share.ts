// (h) Fair share between tenants (docs/fair-share.md), driven through the API with one key per
// tenant against `jarvis server` and simulated nodes (`jarvis worker --executor simulated`):
//   1. weights 1 : 2 : 1 — three tenants each flood more than the cluster runs; each tenant's
//      share of the busy slot-time while all three still had work queued, vs its weighted share;
//   2. DRF — a GPU-heavy and a CPU-heavy tenant, equal weights, each flooding: each one's
//      dominant share (gpu-time over the cluster's GPUs, cpu-time over its CPUs) over the window;
//   3. starvation — a weight-1 tenant's single task against a weight-100 tenant that holds the
//      whole cluster: submit → placed, several times;
//   4. speed — placements/s draining a backlog on 1,000 simulated nodes, submitted by 1 tenant
//      and by 10 tenants (the issue: 10 within 10 % of 1).
// Shares are computed afterwards from the tasks' own timestamps in the server's database
// (scheduled_at → finished_at is when a task holds its slot).
import pg from 'pg';
import type { Redis } from 'ioredis';
import { freshDatabase } from '../support/fixtures.ts';
import { log, onCleanup, RUN_ID } from '../support/harness.ts';
import { startJarvis, type JarvisProcess } from '../support/jarvis.ts';
import { S } from '../support/settings.ts';
import { round, sleep, summarize, type Summary } from '../support/stats.ts';
import { pad } from '../support/table.ts';

const ADMIN = `bench-admin-${RUN_ID}-0123456789abcdef`;
const TOKEN = `bench-registration-${RUN_ID}`;
const DURATION_LABEL = 'jarvis.sim/duration_ms';

interface Cluster {
  server: JarvisProcess;
  worker: JarvisProcess;
  db: pg.Client;
  call(key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  key(tenant: string): Promise<string>;
  stop(): Promise<void>;
}

async function cluster(tag: string, worker: string[], nodes: number): Promise<Cluster> {
  const prefix = `${RUN_ID}-h${tag}`;
  const { db, tmp } = await freshDatabase(`fair${tag}`);
  const server = await startJarvis({ command: 'server', prefix, databaseUrl: db.url, dataDir: `${tmp}/pglite`, env: { JARVIS_ADMIN_KEY: ADMIN, JARVIS_REGISTRATION_TOKEN: TOKEN, JARVIS_LOG_LEVEL: 'warn', JARVIS_RATE_LIMIT_PER_S: '1000000' } });
  const w = await startJarvis({ command: 'worker', prefix, apiUrl: server.url, databaseUrl: null, dataDir: tmp, args: ['--executor', 'simulated', '--nodes', String(nodes), ...worker], env: { JARVIS_REGISTRATION_TOKEN: TOKEN, JARVIS_WORKER_NAME: `h${tag}` }, readyTimeoutMs: 120_000 });
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  const call = async (key: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(server.url + path, { method, headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  const stop = async () => {
    w.child.kill('SIGKILL');
    await w.stop();
    await server.stop();
    await client.end().catch(() => undefined);
  };
  onCleanup(`stop (h) ${tag} processes`, stop);
  // Every node registered before anything is measured.
  for (const until = Date.now() + 120_000; ; ) {
    const n = await client.query(`select count(*)::int as n from nodes where status = 'available'`);
    if (n.rows[0].n >= nodes) break;
    if (Date.now() > until) throw new Error(`(h) ${tag}: only ${n.rows[0].n} of ${nodes} nodes registered in 2 minutes`);
    await sleep(200);
  }
  return {
    server,
    worker: w,
    db: client,
    call,
    async key(tenant) {
      const r = await call(ADMIN, 'POST', '/auth/keys', { name: tenant, role: 'submitter', tenant });
      if (r.status !== 201) throw new Error(`(h) creating a key for ${tenant}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.key;
    },
    stop,
  };
}

async function setTenant(c: Cluster, name: string, weight: number): Promise<void> {
  const r = await c.call(ADMIN, 'PUT', `/tenants/${name}`, { weight });
  if (r.status !== 200) throw new Error(`(h) PUT /tenants/${name}: ${r.status} ${JSON.stringify(r.body)}`);
}

/** Submits n tasks from one key in batches of 500. */
async function flood(c: Cluster, key: string, n: number, task: Record<string, unknown>): Promise<void> {
  for (let i = 0; i < n; i += 500) {
    const r = await c.call(key, 'POST', '/tasks/batch', { tasks: Array.from({ length: Math.min(500, n - i) }, () => task) });
    if (r.status !== 201) throw new Error(`(h) POST /tasks/batch: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  }
}

async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  for (const end = Date.now() + ms; ; ) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`(h) ${what}: not within ${ms} ms`);
    await sleep(250);
  }
}

interface Held {
  tenant: string;
  from: number;
  to: number;
  cpu: number;
  gpu: number;
}

/**
 * What each tenant held over the window in which every tenant still had work queued: from the
 * first placement + 1 s (the cluster filled) to the first time any tenant's last task was placed.
 */
async function heldOverWindow(c: Cluster): Promise<{ window_s: number; byTenant: Map<string, { slotSeconds: number; cpuSeconds: number; gpuSeconds: number }> }> {
  const rows = (await c.db.query(`select tenant, extract(epoch from scheduled_at) * 1000 as s, extract(epoch from coalesce(finished_at, now())) * 1000 as f, cpu, gpu from tasks where scheduled_at is not null`)).rows;
  const held: Held[] = rows.map((r) => ({ tenant: r.tenant, from: Number(r.s), to: Number(r.f), cpu: Number(r.cpu), gpu: Number(r.gpu) }));
  const lastPlaced = new Map<string, number>();
  for (const h of held) lastPlaced.set(h.tenant, Math.max(lastPlaced.get(h.tenant) ?? 0, h.from));
  const start = Math.min(...held.map((h) => h.from)) + 1_000;
  const end = Math.min(...lastPlaced.values());
  const byTenant = new Map<string, { slotSeconds: number; cpuSeconds: number; gpuSeconds: number }>();
  for (const h of held) {
    const overlap = Math.max(0, Math.min(h.to, end) - Math.max(h.from, start)) / 1000;
    const t = byTenant.get(h.tenant) ?? { slotSeconds: 0, cpuSeconds: 0, gpuSeconds: 0 };
    t.slotSeconds += overlap;
    t.cpuSeconds += overlap * h.cpu;
    t.gpuSeconds += overlap * h.gpu;
    byTenant.set(h.tenant, t);
  }
  return { window_s: round((end - start) / 1000, 1), byTenant };
}

export async function weights(): Promise<Record<string, unknown>> {
  const nodes = 20;
  const c = await cluster('w', ['--cpu', '4', '--memory-mb', '8192', '--max-tasks', '4'], nodes);
  try {
    const want = { a: 1, b: 2, c: 1 };
    for (const [t, w] of Object.entries(want)) await setTenant(c, t, w);
    const keys = Object.fromEntries(await Promise.all(Object.keys(want).map(async (t) => [t, await c.key(t)] as const)));
    const perTenant = S.fairTasks;
    const task = { image: 'sim', resources: { cpu: 1, memory_mb: 256 }, labels: { [DURATION_LABEL]: String(S.fairTaskMs) } };
    await Promise.all(Object.keys(want).map((t) => flood(c, keys[t], perTenant, task)));
    await until('every weighted task ended', 15 * 60_000, async () => (await c.db.query(`select count(*)::int as n from tasks where status not in ('succeeded','failed')`)).rows[0].n === 0);
    const { window_s, byTenant } = await heldOverWindow(c);
    const total = [...byTenant.values()].reduce((a, t) => a + t.slotSeconds, 0);
    const weightSum = Object.values(want).reduce((a, b) => a + b, 0);
    const tenants = Object.entries(want).map(([t, w]) => {
      const share = (byTenant.get(t)?.slotSeconds ?? 0) / total;
      return { tenant: t, weight: w, weighted_share: round(w / weightSum, 3), measured_share: round(share, 3), off_by_points: round((share - w / weightSum) * 100, 1) };
    });
    return { nodes, slots: nodes * 4, tasks_per_tenant: perTenant, task_ms: S.fairTaskMs, window_s, busy_slot_seconds: round(total, 1), tenants, aim: 'each within ±5 points of its weighted share' };
  } finally {
    await c.stop();
  }
}

export async function drf(): Promise<Record<string, unknown>> {
  const nodes = 20;
  const cap = { cpu: 8, gpu: 2 };
  const c = await cluster('d', ['--cpu', String(cap.cpu), '--memory-mb', '65536', '--gpu', String(cap.gpu), '--max-tasks', '16'], nodes);
  try {
    const gpuKey = await c.key('gpu-team');
    const cpuKey = await c.key('cpu-team');
    const gpuTask = { image: 'sim', resources: { cpu: 1, memory_mb: 1024, gpu: 1 }, labels: { [DURATION_LABEL]: String(S.fairTaskMs) } };
    const cpuTask = { image: 'sim', resources: { cpu: 1, memory_mb: 1024 }, labels: { [DURATION_LABEL]: String(S.fairTaskMs) } };
    // DRF runs four CPU tasks for each GPU task here: flood in that proportion so both still have
    // work queued for most of the run.
    await Promise.all([flood(c, gpuKey, Math.ceil(S.fairTasks / 2), gpuTask), flood(c, cpuKey, S.fairTasks * 2, cpuTask)]);
    await until('every DRF task ended', 15 * 60_000, async () => (await c.db.query(`select count(*)::int as n from tasks where status not in ('succeeded','failed')`)).rows[0].n === 0);
    const { window_s, byTenant } = await heldOverWindow(c);
    const totalCpu = nodes * cap.cpu;
    const totalGpu = nodes * cap.gpu;
    const dominant = (t: string) => {
      const h = byTenant.get(t)!;
      return Math.max(h.cpuSeconds / (totalCpu * window_s), h.gpuSeconds / (totalGpu * window_s));
    };
    const g = dominant('gpu-team');
    const k = dominant('cpu-team');
    return {
      nodes,
      node: cap,
      tasks: { 'gpu-team': gpuTask.resources, 'cpu-team': cpuTask.resources },
      window_s,
      dominant_share: { 'gpu-team': round(g, 3), 'cpu-team': round(k, 3) },
      difference_points: round((g - k) * 100, 1),
      drf_ideal: 'gpu-team 32 tasks (0.8 of the GPUs), cpu-team 128 (0.8 of the CPUs): equal dominant shares, the cluster\'s CPUs all used',
      aim: 'dominant shares within ±5 points of each other',
    };
  } finally {
    await c.stop();
  }
}

async function starvation(): Promise<Record<string, unknown>> {
  const nodes = 10;
  const c = await cluster('s', ['--cpu', '4', '--memory-mb', '8192', '--max-tasks', '4'], nodes);
  try {
    await setTenant(c, 'big', 100);
    await setTenant(c, 'small', 1);
    const big = await c.key('big');
    const small = await c.key('small');
    const runMs = 1_000;
    await flood(c, big, 2_000, { image: 'sim', resources: { cpu: 1, memory_mb: 256 }, labels: { [DURATION_LABEL]: String(runMs) } });
    await until('the big tenant holds the cluster', 60_000, async () => (await c.db.query(`select count(*)::int as n from tasks where tenant = 'big' and status in ('scheduled','running')`)).rows[0].n >= nodes * 4);
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      await sleep(700);
      const r = await c.call(small, 'POST', '/tasks', { image: 'sim', resources: { cpu: 1, memory_mb: 256 }, labels: { [DURATION_LABEL]: '10' } });
      const id = r.body.id;
      await until('the small task placed', 60_000, async () => (await c.db.query(`select scheduled_at from tasks where id = $1`, [id])).rows[0].scheduled_at !== null);
      const row = (await c.db.query(`select extract(epoch from scheduled_at - created_at) * 1000 as ms from tasks where id = $1`, [id])).rows[0];
      waits.push(Number(row.ms));
    }
    return { nodes, slots: nodes * 4, big_weight: 100, big_task_ms: runMs, small_weight: 1, submit_to_placed_ms: summarize(waits), samples_ms: waits.map((x) => round(x, 1)), bound: `the first slot that frees: at most one task's run (${runMs} ms here) plus a batch` };
  } finally {
    await c.stop();
  }
}

export async function placementRate(tenants: number): Promise<Record<string, unknown>> {
  const nodes = S.fairScaleNodes;
  const tasks = S.fairScaleTasks;
  const c = await cluster(`p${tenants}`, ['--cpu', '64', '--memory-mb', '262144', '--max-tasks', String(Math.ceil((tasks / nodes) * 1.5))], nodes);
  try {
    const ids = (await c.db.query(`select id from nodes`)).rows.map((r) => r.id as string);
    const each = async (action: string) => {
      for (let i = 0; i < ids.length; i += 16) {
        const answers = await Promise.all(ids.slice(i, i + 16).map((id) => c.call(ADMIN, 'POST', `/nodes/${id}/${action}`)));
        const bad = answers.find((a) => a.status !== 200);
        if (bad) throw new Error(`(h) POST /nodes/{id}/${action}: ${bad.status} ${JSON.stringify(bad.body).slice(0, 200)}`);
      }
    };
    await each('drain');
    const keys = await Promise.all(Array.from({ length: tenants }, (_, i) => c.key(`t${i}`)));
    const body = (i: number) => ({ image: 'sim', priority: ['critical', 'high', 'normal', 'low'][i % 4], resources: { cpu: [0.25, 0.5, 1, 2][i % 4], memory_mb: [128, 256, 512, 1024][i % 4] }, labels: { [DURATION_LABEL]: '3600000' } });
    // Batches of up to 1,000 (the API's limit), each tenant's key in turn, every tenant several.
    const size = Math.min(1000, Math.ceil(tasks / tenants / 3));
    const t0 = Date.now();
    for (let i = 0; i < tasks; i += 4 * size) {
      await Promise.all(
        [0, 1, 2, 3].map(async (j) => {
          const from = i + j * size;
          if (from >= tasks) return;
          const r = await c.call(keys[(from / size) % tenants], 'POST', '/tasks/batch', { tasks: Array.from({ length: Math.min(size, tasks - from) }, (_, k) => body(from + k)) });
          if (r.status !== 201) throw new Error(`(h) backlog batch: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
        }),
      );
    }
    const buildS = (Date.now() - t0) / 1000;
    await each('resume');
    await until('the backlog placed', Number(process.env.H_PLACE_MS ?? 600_000), async () => (await c.db.query(`select count(*)::int as n from tasks where status = 'queued'`)).rows[0].n === 0);
    const r = (await c.db.query(`select count(*)::int as n, extract(epoch from max(scheduled_at) - min(scheduled_at)) as s, count(distinct tenant)::int as tenants from tasks where scheduled_at is not null`)).rows[0];
    const twice = (await c.db.query(`select count(*)::int as n from task_events where status = 'scheduled' group by task_id having count(*) > 1`)).rowCount;
    return { nodes, tenants: r.tenants, tasks: r.n, backlog_build_s: round(buildS, 1), placing_s: round(Number(r.s), 2), placements_per_second: round(r.n / Number(r.s), 0), placed_twice: twice };
  } finally {
    await c.stop();
  }
}

export interface FairShareResult {
  weights_1_2_1: Record<string, unknown>;
  drf_gpu_vs_cpu: Record<string, unknown>;
  starvation: Record<string, unknown>;
  placement: Array<Record<string, unknown>>;
  ten_over_one: number | null;
}

export async function fairSharePhase(_redis: Redis): Promise<FairShareResult> {
  log('(h) weights 1:2:1…');
  const w = await weights();
  log('(h) GPU-heavy vs CPU-heavy…');
  const d = await drf();
  log('(h) a weight-1 tenant against a weight-100 flood…');
  const s = await starvation();
  // One tenant, ten, one, ten: alternating, so a change in the machine's load hits both.
  const placement: Array<Record<string, unknown>> = [];
  for (const t of [1, 10, 1, 10]) {
    log(`(h) placement on ${S.fairScaleNodes} nodes, ${t} tenant(s)…`);
    placement.push(await placementRate(t));
  }
  const rate = (t: number) => {
    const xs = placement.filter((p) => p.tenants === t).map((p) => Number(p.placements_per_second));
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
  };
  const one = rate(1);
  const ten = rate(10);
  return { weights_1_2_1: w, drf_gpu_vs_cpu: d, starvation: s, placement, ten_over_one: one && ten ? round(ten / one, 3) : null };
}

export function printFairShare(r: FairShareResult): string[] {
  const out = ['(h) fair share between tenants'];
  const w = r.weights_1_2_1 as { tenants: Array<{ tenant: string; weight: number; weighted_share: number; measured_share: number; off_by_points: number }>; window_s: number };
  out.push(`  weights 1:2:1 over a ${w.window_s} s window with all three flooding:`);
  for (const t of w.tenants) out.push(`    ${pad(t.tenant, 4)} weight ${t.weight}: ${pad((t.measured_share * 100).toFixed(1) + ' %', 8, true)} of busy slots (weighted ${(t.weighted_share * 100).toFixed(1)} %, off by ${t.off_by_points} points)`);
  const d = r.drf_gpu_vs_cpu as { dominant_share: Record<string, number>; difference_points: number };
  out.push(`  DRF: dominant share gpu-team ${(d.dominant_share['gpu-team'] * 100).toFixed(1)} %, cpu-team ${(d.dominant_share['cpu-team'] * 100).toFixed(1)} % (difference ${d.difference_points} points)`);
  const s = r.starvation as { submit_to_placed_ms: Summary };
  out.push(`  weight-1 task against a weight-100 flood: submit→placed p50 ${round(s.submit_to_placed_ms.p50, 0)} ms, max ${round(s.submit_to_placed_ms.max, 0)} ms`);
  for (const p of r.placement) out.push(`  placement, ${p.nodes} nodes, ${pad(String(p.tenants), 2, true)} tenant(s): ${pad(String(p.placements_per_second), 6, true)} /s (${p.tasks} tasks in ${p.placing_s} s; placed twice: ${p.placed_twice})`);
  out.push(`  10 tenants / 1 tenant: ${r.ten_over_one ?? 'n/a'} (aim ≥ 0.9)`);
  return out;
}
