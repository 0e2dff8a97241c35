// Memory of Jarvis's processes (issue #17, items 2 and 5): `jarvis up` on its embedded database
// and `jarvis server` on PostgreSQL, idle after start and with 100,000 tasks stored.
//
//   npx tsx bench/memory.ts [--modes up-embedded,server-postgres] [--tasks 100000] [--idle-seconds 15]
//                           [--embedded pglite,postgres]
//
// Per mode, on a fresh data directory (or a fresh PostgreSQL database) and Redis prefix, Jarvis is
// started the way a user starts it, with bench/support/memory-probe.mjs preloaded (it reports the
// process's own heap and WebAssembly memory). Phases, each measured after `--idle-seconds` of rest
// (median of one sample per second over the last 5 s):
//   1. idle after start (start time = spawn → the banner, and for `up` → the local worker registered);
//   2. `tasks` tasks stored and queued by POST /tasks/batch (1,000 per body, 2 in flight); for `up`
//      the local node is drained first (POST /nodes/{id}/drain) so nothing runs;
//   3. restarted on the same data (the steady state of a laptop that keeps 100,000 tasks).
// Each phase also gives the tree's CPU over its 5 s of samples (idle_cpu_pct_of_one_core).
// Memory = VmRSS summed over the process tree (the figure the issue sets aims for) and Pss (shared
// pages split between the processes sharing them; fairer when the tree holds PostgreSQL's processes,
// which share their buffers and binary). --embedded picks which embedded database(s) `up` runs on
// (JARVIS_EMBEDDED_DB), each one a separate mode.
// Results: bench/results/memory-<timestamp>-<commit>.json.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, startJarvis, type JarvisProcess } from './support/jarvis.ts';
import { HttpClient } from './support/load.ts';
import { treeCpuMsByPid, treeCpuPct, treeMemory, type TreeMemory } from './support/proc-memory.ts';
import { connectRedis, createDatabase, deleteKeysWithPrefix, IMAGE, machineFacts } from './support/services.ts';
import { round, sleep } from './support/stats.ts';

const { values: argv } = parseArgs({
  options: {
    modes: { type: 'string', default: 'up-embedded,server-postgres' },
    embedded: { type: 'string', default: 'default' },
    tasks: { type: 'string', default: '100000' },
    'idle-seconds': { type: 'string', default: '15' },
  },
});
const TASKS = Number(argv.tasks);
const IDLE_S = Math.max(5, Number(argv['idle-seconds']));
const BATCH = 1000;
const PROBE = join(ROOT, 'bench/support/memory-probe.mjs');
const log = (msg: string) => process.stderr.write(`bench memory: ${msg}\n`);

interface Probe {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  wasm_memories: number[];
}

interface PhaseFigures {
  tree: TreeMemory;
  rss_mb_samples: number[];
  /** CPU of the whole tree (Node and PostgreSQL's processes) over the 5 s of samples, % of one core. */
  idle_cpu_pct_of_one_core: number;
  node: { rss_mb: number; heap_total_mb: number; heap_used_mb: number; external_mb: number; array_buffers_mb: number; wasm_memory_mb: number } | null;
}

const MB = 1024 * 1024;

function readProbe(file: string): PhaseFigures['node'] {
  if (!existsSync(file)) return null;
  let p: Probe;
  try {
    p = JSON.parse(readFileSync(file, 'utf8')) as Probe;
  } catch {
    return null; // a probe from before the atomic write, caught mid-write
  }
  return {
    rss_mb: round(p.rss / MB, 1),
    heap_total_mb: round(p.heapTotal / MB, 1),
    heap_used_mb: round(p.heapUsed / MB, 1),
    external_mb: round(p.external / MB, 1),
    array_buffers_mb: round(p.arrayBuffers / MB, 1),
    wasm_memory_mb: round(p.wasm_memories.reduce((a, b) => a + b, 0) / MB, 1),
  };
}

/** Rests `IDLE_S` seconds, then the median of 5 one-second samples. */
async function measureIdle(j: JarvisProcess, probeFile: string): Promise<PhaseFigures> {
  await sleep((IDLE_S - 5) * 1000);
  const samples: TreeMemory[] = [];
  const cpu0 = treeCpuMsByPid(j.pid);
  const t0 = performance.now();
  for (let i = 0; i < 5; i++) {
    samples.push(treeMemory(j.pid));
    await sleep(1000);
  }
  const cpu = treeCpuPct(cpu0, treeCpuMsByPid(j.pid), (performance.now() - t0) / 1000);
  const sorted = [...samples].sort((a, b) => a.rss_mb - b.rss_mb);
  return { tree: sorted[2], rss_mb_samples: samples.map((s) => s.rss_mb), idle_cpu_pct_of_one_core: cpu, node: readProbe(probeFile) };
}

async function fill(j: JarvisProcess, drainLocalNode: boolean) {
  const client = new HttpClient(j.url, 4);
  if (drainLocalNode) {
    const nodes = JSON.parse((await client.request('GET', '/nodes')).body) as { items: Array<{ id: string }> };
    for (const n of nodes.items) {
      const r = await client.request('POST', `/nodes/${n.id}/drain`);
      if (r.status !== 200) throw new Error(`POST /nodes/${n.id}/drain answered ${r.status}: ${r.body.slice(0, 300)}`);
    }
  }
  const body = JSON.stringify({ tasks: Array.from({ length: BATCH }, () => ({ image: IMAGE, command: ['true'], resources: { cpu: 0.01, memory_mb: 1 } })) });
  const batches = Math.ceil(TASKS / BATCH);
  let next = 0;
  let retried = 0;
  const t0 = performance.now();
  const peak = { rss_mb: 0 };
  const sampler = setInterval(() => (peak.rss_mb = Math.max(peak.rss_mb, treeMemory(j.pid).rss_mb)), 1000);
  try {
    await Promise.all(
      [0, 1].map(async () => {
        while (next < batches) {
          next++;
          // A busy machine can make the enqueue of 1,000 jobs miss the API's Redis timeout (503,
          // nothing stored): send the batch again, and count it.
          for (let attempt = 1; ; attempt++) {
            const r = await client.request('POST', '/tasks/batch', body, 180_000);
            if (r.status === 201) break;
            if (r.status !== 503 || attempt === 5) throw new Error(`POST /tasks/batch answered ${r.status}: ${r.body.slice(0, 300)}`);
            retried++;
          }
        }
      }),
    );
  } finally {
    clearInterval(sampler);
    client.agent.destroy();
  }
  const s = (performance.now() - t0) / 1000;
  return { tasks: batches * BATCH, seconds: round(s, 1), tasks_per_s: Math.round((batches * BATCH) / s), peak_rss_mb_while_filling: peak.rss_mb, batches_sent_again_after_503: retried };
}

async function runMode(mode: string, embedded: string) {
  const isUp = mode === 'up-embedded';
  const label = isUp ? `up-embedded${embedded === 'default' ? '' : `-${embedded}`}` : mode;
  const dir = mkdtempSync(join(tmpdir(), 'jarvis-bench-mem-'));
  const dataDir = join(dir, '.jarvis', 'pglite');
  const prefix = `jbm${Date.now().toString(36)}`;
  const db = isUp ? null : await createDatabase('mem');
  const probeFile = join(dir, 'probe.json');
  const env: Record<string, string> = { JARVIS_MEMORY_PROBE: probeFile };
  if (isUp && embedded !== 'default') env.JARVIS_EMBEDDED_DB = embedded;
  const start = async () => {
    const t0 = performance.now();
    const j = await startJarvis({ command: isUp ? 'up' : 'server', prefix, databaseUrl: db?.url ?? null, dataDir, env, nodeArgs: ['--import', PROBE], readyTimeoutMs: 300_000 });
    return { j, start_s: round((performance.now() - t0) / 1000, 2) };
  };
  const redis = await connectRedis();
  let running: JarvisProcess | null = null;
  try {
    log(`${label}: starting (fresh data)…`);
    let { j, start_s } = await start();
    running = j;
    const first_start_s = start_s;
    const idle = await measureIdle(j, probeFile);
    log(`${label}: idle ${idle.tree.rss_mb} MB RSS (${idle.tree.pss_mb} MB PSS); storing ${TASKS} tasks…`);
    const filled = await fill(j, isUp);
    const afterFill = await measureIdle(j, probeFile);
    log(`${label}: ${filled.tasks_per_s} tasks/s; after: ${afterFill.tree.rss_mb} MB RSS (${afterFill.tree.pss_mb} MB PSS); restarting…`);
    await j.stop();
    rmSync(probeFile, { force: true });
    ({ j, start_s } = await start());
    running = j;
    const restarted = await measureIdle(j, probeFile);
    log(`${label}: restarted with ${TASKS} tasks: ${restarted.tree.rss_mb} MB RSS (${restarted.tree.pss_mb} MB PSS)`);
    await j.stop();
    return {
      mode: label,
      command: isUp ? 'jarvis up' : 'jarvis server',
      database: isUp ? `embedded (${embedded === 'default' ? 'the default choice' : embedded})` : 'PostgreSQL (a throwaway database on the shared server, not counted in the tree)',
      start_s_fresh: first_start_s,
      start_s_restart_with_tasks: start_s,
      idle_after_start: idle,
      fill: filled,
      idle_after_fill: afterFill,
      idle_after_restart_with_tasks: restarted,
    };
  } finally {
    await running?.stop().catch(() => undefined);
    await deleteKeysWithPrefix(redis, prefix).catch(() => undefined);
    redis.disconnect();
    await db?.drop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

const started = new Date();
let commit = process.env.BENCH_COMMIT ?? 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
} catch {
  /* not a git checkout: BENCH_COMMIT or unknown */
}
const resultsDir = join(ROOT, 'bench/results');
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `memory-${started.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')}-${commit}.json`);
const results: Array<Awaited<ReturnType<typeof runMode>>> = [];
const errors: Array<{ mode: string; error: string }> = [];
/** Written after every mode, so a mode that fails keeps the ones before it. */
const save = () =>
  writeFileSync(
    file,
    JSON.stringify(
      {
        kind: 'memory',
        started_at: started.toISOString(),
        commit,
        machine: machineFacts(),
        settings: { tasks: TASKS, batch: BATCH, idle_seconds: IDLE_S },
        aims: { up_idle_rss_mb: 250, up_with_100k_rss_mb: 600, server_idle_rss_mb: 150, server_with_100k_rss_mb: 600 },
        results,
        errors,
      },
      null,
      2,
    ) + '\n',
  );
for (const mode of argv.modes.split(',')) {
  if (mode !== 'up-embedded' && mode !== 'server-postgres') throw new Error(`--modes takes up-embedded and/or server-postgres, got "${mode}"`);
  for (const embedded of mode === 'up-embedded' ? argv.embedded.split(',') : ['-']) {
    try {
      results.push(await runMode(mode, embedded));
    } catch (err) {
      log(`${mode} ${embedded}: ${(err as Error).stack ?? String(err)}`);
      errors.push({ mode: `${mode} ${embedded}`, error: (err as Error).message.slice(0, 2000) });
    }
    save();
  }
}
for (const r of results) {
  process.stdout.write(
    `${r.mode}: idle ${r.idle_after_start.tree.rss_mb} MB RSS / ${r.idle_after_start.tree.pss_mb} MB PSS; ` +
      `with ${TASKS} tasks ${r.idle_after_fill.tree.rss_mb} / ${r.idle_after_fill.tree.pss_mb}; restarted ${r.idle_after_restart_with_tasks.tree.rss_mb} / ${r.idle_after_restart_with_tasks.tree.pss_mb}; ` +
      `start ${r.start_s_fresh} s (restart ${r.start_s_restart_with_tasks} s); fill ${r.fill.tasks_per_s}/s; ` +
      `idle CPU ${r.idle_after_start.idle_cpu_pct_of_one_core} / ${r.idle_after_fill.idle_cpu_pct_of_one_core} / ${r.idle_after_restart_with_tasks.idle_cpu_pct_of_one_core} % of a core\n`,
  );
}
process.stdout.write(`results: ${file}\n`);
if (errors.length) process.exitCode = 1;
