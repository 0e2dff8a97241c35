// What a control plane does after a burst it cannot place (issue #17: footprint): `jarvis server`
// on a fresh PostgreSQL database with no node, `--tasks` tasks stored by POST /tasks/batch (1,000
// per body, 4 in flight; priorities mixed 10 % critical, 20 % high, 50 % normal, 20 % low), then
// the server's CPU and Redis's command counts over 10 s windows starting `--at` seconds after the
// burst began. With the default aging (scheduler.aging_seconds 60) every waiting task's job moves
// up a class per minute until it is critical (docs/decisions.md, "Idle work"), so this is the
// cost of aging 100,000 waiting tasks; `--profile` adds a CPU profile of the server from the
// second window on, summarised in the result.
//
//   npx tsx bench/after-burst.ts [--tasks 100000] [--at 30,60,90,120,150,180,240,300] [--profile]
//
// Results: bench/results/after-burst-<timestamp>-<commit>.json.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { summarizeProfile, type ProfileSummary } from './support/cpuprofile.ts';
import { ROOT, startJarvis } from './support/jarvis.ts';
import { commandStatsDelta, connectRedis, createDatabase, deleteKeysWithPrefix, machineFacts, processCpuMs, redisCommandStats } from './support/services.ts';
import { round, sleep } from './support/stats.ts';

const { values: argv } = parseArgs({
  options: {
    tasks: { type: 'string', default: '100000' },
    at: { type: 'string', default: '30,60,90,120,150,180,240,300' },
    profile: { type: 'boolean', default: false },
  },
});
const TASKS = Number(argv.tasks);
const AT = argv.at.split(',').map(Number);
if (!Number.isInteger(TASKS) || TASKS < 1000 || AT.some((a) => !(a > 0)) || AT.some((a, i) => i > 0 && a < AT[i - 1] + 10)) {
  console.error('usage: npx tsx bench/after-burst.ts [--tasks N ≥ 1000] [--at s1,s2,… rising, at least 10 s apart] [--profile]');
  process.exit(2);
}
const PRIORITIES = ['critical', 'high', 'high', 'normal', 'normal', 'normal', 'normal', 'normal', 'low', 'low'];
const WINDOW_MS = 10_000;

const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z');
const tag = `ab_${Date.now().toString(36)}`;
const db = await createDatabase(tag);
const dataDir = mkdtempSync(join(tmpdir(), 'jarvis-after-burst-'));
const profDir = argv.profile ? mkdtempSync(join(tmpdir(), 'jarvis-after-burst-prof-')) : null;
const redis = await connectRedis();
const server = await startJarvis({
  command: 'server',
  prefix: tag,
  databaseUrl: db.url,
  dataDir,
  nodeArgs: profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [],
});
try {
  const t0 = Date.now();
  let next = 0;
  const sender = async () => {
    while (next < TASKS) {
      const n = Math.min(1000, TASKS - next);
      next += n;
      const body = JSON.stringify({ tasks: Array.from({ length: n }, (_, i) => ({ image: 'jarvis-test/busybox:latest', command: ['true'], priority: PRIORITIES[i % PRIORITIES.length] })) });
      const res = await fetch(`${server.url}/tasks/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      if (res.status !== 201) throw new Error(`POST /tasks/batch answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
      await res.arrayBuffer();
    }
  };
  await Promise.all([sender(), sender(), sender(), sender()]);
  const storedMs = Date.now() - t0;
  console.error(`after-burst: ${TASKS} tasks stored in ${(storedMs / 1000).toFixed(1)} s`);
  const windows: Array<{ at_s: number; server_cpu_pct_of_one_core: number; redis_calls_per_s: Record<string, number> }> = [];
  let fromUs = 0;
  for (const at of AT) {
    const wait = t0 + at * 1000 - Date.now();
    if (wait > 0) await sleep(wait);
    if (fromUs === 0 && windows.length === 1) fromUs = Number(process.hrtime.bigint() / 1000n);
    const c0 = processCpuMs(server.pid);
    const s0 = await redisCommandStats(redis);
    const w0 = Date.now();
    await sleep(WINDOW_MS);
    const c1 = processCpuMs(server.pid);
    const s1 = await redisCommandStats(redis);
    const secs = (Date.now() - w0) / 1000;
    const calls = Object.fromEntries(commandStatsDelta(s0, s1).map(([k, v]) => [k, round(v / secs, 1)]));
    const pct = c0 === null || c1 === null ? NaN : round(((c1 - c0) / (secs * 1000)) * 100, 1);
    windows.push({ at_s: at, server_cpu_pct_of_one_core: pct, redis_calls_per_s: calls });
    console.error(`after-burst: t=${at} s: server ${pct} % of a core; scripts (evalsha) ${calls.evalsha ?? 0}/s, hmget ${calls.hmget ?? 0}/s`);
  }
  const toUs = Number(process.hrtime.bigint() / 1000n);
  await server.stop();
  let profile: ProfileSummary | null = null;
  if (profDir) {
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (file) profile = summarizeProfile(join(profDir, file), { fromUs, toUs });
  }
  const result = {
    benchmark: 'after-burst',
    commit,
    started_at: new Date(t0).toISOString(),
    machine: machineFacts(),
    method:
      'jarvis server on a fresh PostgreSQL database, no node; tasks stored by POST /tasks/batch (1,000 per body, 4 in flight), default aging (60 s); per window: CPU of the server process over 10 s (/proc/<pid>/stat) and Redis calls per second (INFO commandstats, shared with anything else on this machine)',
    tasks: TASKS,
    stored_s: round(storedMs / 1000, 1),
    windows,
    profile,
  };
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  const out = join(ROOT, 'bench/results', `after-burst-${stamp}-${commit}.json`);
  writeFileSync(out, JSON.stringify(result, null, 2));
  console.log(`results: ${out}`);
} finally {
  await server.stop();
  await deleteKeysWithPrefix(redis, tag);
  redis.disconnect();
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
  if (profDir) rmSync(profDir, { recursive: true, force: true });
}
