// (f) What security costs. Two `jarvis server`s side by side on PostgreSQL, one in open mode (no
// key exists) and one where every request carries a key from the database (key look-up and its
// cache, the Redis token bucket, a batched audit record per submit): POST /tasks per second in
// pairs of loops whose order alternates, as (d) does for metrics. Then a flood from a process of
// its own (support/flood-child.ts): one key asks at ten times its rate limit (almost everything
// 429) while another key reads at a steady rate; that key's latency p99 against the same reads
// with no flood.
import type { Redis } from 'ioredis';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freshDatabase, pausePendingQueue, TASK_BODY } from '../support/fixtures.ts';
import { log, onCleanup, RUN_ID } from '../support/harness.ts';
import { startJarvis, type JarvisProcess } from '../support/jarvis.ts';
import { HttpClient, openLoop } from '../support/load.ts';
import { measured, type ThroughputResult } from '../support/measured.ts';
import { S } from '../support/settings.ts';
import { round, summarize } from '../support/stats.ts';
import { pad } from '../support/table.ts';

const ADMIN = `bench-admin-${RUN_ID}-0123456789`;
const FLOOD_LIMIT_PER_S = 100;
const FLOOD_SECONDS = 10;
const VICTIM_RATE = 50;
const FLOOD_CHILD = fileURLToPath(new URL('../support/flood-child.ts', import.meta.url));

/** What flood-child.ts sends when its loop is done. */
interface FloodReport {
  statuses: Record<string, number>;
  errors: number;
  firstError: string | null;
}

/** The child's next message; rejects if it ends or fails first (`what`: for the error). */
function nextMessage<T = unknown>(child: ChildProcess, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`(f) the flood's process ended (exit code ${code}) before it ${what}`));
    child.once('exit', onExit);
    child.once('error', reject);
    child.once('message', (m) => {
      child.off('exit', onExit).off('error', reject);
      resolve(m as T);
    });
  });
}

interface Arm {
  arm: 'open' | 'key';
  jarvis: JarvisProcess;
  client: HttpClient;
  stop(): Promise<unknown>;
}

async function startArm(redis: Redis, arm: Arm['arm']): Promise<Arm> {
  const prefix = `${RUN_ID}-s${arm}`;
  const { db, tmp } = await freshDatabase(`security_${arm}`);
  await pausePendingQueue(redis, prefix);
  const jarvis = await startJarvis({
    command: 'server',
    prefix,
    databaseUrl: db.url,
    dataDir: `${tmp}/pglite`,
    env: { JARVIS_RECONCILE_SECONDS: '3600', JARVIS_ADMIN_KEY: arm === 'key' ? ADMIN : '' },
  });
  const stopServer = onCleanup(`stop jarvis server ${prefix}`, () => jarvis.stop());
  let headers: Record<string, string> = {};
  if (arm === 'key') {
    // A key from the database (not the environment's admin key, which skips the look-up), with a
    // limit far above the loop's rate: this arm measures the checks, not the refusals.
    const admin = new HttpClient(jarvis.url, 1, { authorization: `Bearer ${ADMIN}` });
    const made = await admin.json<{ key: string }>('POST', '/auth/keys', { name: 'bench', role: 'submitter', rate_limit_per_s: 1_000_000 }, 201);
    admin.close();
    headers = { authorization: `Bearer ${made.key}` };
  }
  const client = new HttpClient(jarvis.url, S.concurrency, headers);
  return { arm, jarvis, client, stop: async () => (client.close(), stopServer()) };
}

const postTask = (client: HttpClient) => async () => {
  const r = await client.request('POST', '/tasks', TASK_BODY);
  if (r.status !== 201) throw new Error(`POST /tasks answered ${r.status}: ${r.body.slice(0, 300)}`);
};

async function costPairs(redis: Redis) {
  const open = await startArm(redis, 'open');
  const key = await startArm(redis, 'key');
  const rows: ThroughputResult[] = [];
  const ratios: number[] = [];
  try {
    for (let i = 0; i < S.securityPairs; i++) {
      const order = i % 2 === 0 ? [open, key] : [key, open];
      const got: Record<string, ThroughputResult> = {};
      for (const a of order) {
        got[a.arm] = await measured(`security_${a.arm}_${i}`, `jarvis server, ${a.arm === 'open' ? 'open mode' : 'with an API key'} (pair ${i + 1})`, postTask(a.client), {
          redis,
          serverPid: a.jarvis.pid,
          tag: '(f)',
          requests: S.metricsRequests,
        });
        rows.push(got[a.arm]);
      }
      ratios.push(got.key.per_second / got.open.per_second);
    }
  } finally {
    await open.stop();
    await key.stop();
  }
  const sorted = [...ratios].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  return { pairs: rows, key_vs_open_ratios: ratios.map((r) => round(r, 4)), median_ratio: round(median, 4), cost_pct: round((1 - median) * 100, 2) };
}

async function flood(redis: Redis) {
  const s = await startArm(redis, 'key');
  try {
    const admin = new HttpClient(s.jarvis.url, 2, { authorization: `Bearer ${ADMIN}` });
    const mk = (name: string, rate: number) => admin.json<{ key: string }>('POST', '/auth/keys', { name, role: 'viewer', rate_limit_per_s: rate }, 201);
    const flooderKey = (await mk('flooder', FLOOD_LIMIT_PER_S)).key;
    const victim = new HttpClient(s.jarvis.url, 8, { authorization: `Bearer ${(await mk('victim', 10_000)).key}` });
    admin.close();
    const victimCount = VICTIM_RATE * FLOOD_SECONDS;
    const read = async () => {
      const r = await victim.request('GET', '/tasks?limit=1');
      if (r.status !== 200) throw new Error(`victim GET /tasks answered ${r.status}`);
    };
    log(`(f) victim alone: ${victimCount} reads at ${VICTIM_RATE}/s…`);
    await openLoop(VICTIM_RATE, VICTIM_RATE, read); // warm-up
    const alone = await openLoop(victimCount, VICTIM_RATE, read);
    log(`(f) victim beside a key flooding at ${FLOOD_LIMIT_PER_S * 10}/s (10x its limit)…`);
    // The flood comes from a process of its own (flood-child.ts), as another client's would.
    const child = fork(FLOOD_CHILD, [s.jarvis.url, String(FLOOD_LIMIT_PER_S * 10 * FLOOD_SECONDS), String(FLOOD_LIMIT_PER_S * 10)], {
      env: { ...process.env, FLOOD_KEY: flooderKey },
    });
    await nextMessage(child, 'started'); // its loader and modules are in: the flood begins now
    const floodDone = nextMessage<FloodReport>(child, 'reported');
    floodDone.catch(() => undefined); // awaited below
    await new Promise((r) => setTimeout(r, 300)); // the flood is on before the victim starts
    const beside = await openLoop(victimCount, VICTIM_RATE, read);
    const flood = await floodDone;
    victim.close();
    const p99 = (l: number[]) => summarize(l.filter(Number.isFinite)).p99;
    return {
      flood_rate_per_s: FLOOD_LIMIT_PER_S * 10,
      flood_limit_per_s: FLOOD_LIMIT_PER_S,
      flood_statuses: flood.statuses,
      flood_from: 'a process of its own (bench/support/flood-child.ts)',
      flood_without_answer: flood.errors,
      // When the slow reads came (s after the victim's first read), to tell a stall at the flood's
      // start from one that recurs.
      victim_beside_over_50ms: beside.latenciesMs.flatMap((ms, i) => (ms > 50 ? [{ at_s: round(i / VICTIM_RATE, 2), ms: round(ms, 1) }] : [])),
      flood_first_error: flood.firstError,
      victim_rate_per_s: VICTIM_RATE,
      victim_alone_ms: summarize(alone.latenciesMs.filter(Number.isFinite)),
      victim_beside_flood_ms: summarize(beside.latenciesMs.filter(Number.isFinite)),
      victim_errors: alone.errors + beside.errors,
      p99_ratio: round(p99(beside.latenciesMs) / p99(alone.latenciesMs), 3),
    };
  } finally {
    await s.stop();
  }
}

export async function securityPhase(redis: Redis) {
  const cost = await costPairs(redis);
  const floodResult = await flood(redis);
  return { cost, flood: floodResult };
}

export function printSecurity(r: Awaited<ReturnType<typeof securityPhase>>): string[] {
  const f = r.flood;
  return [
    '(f) what security costs',
    `  POST /tasks with an API key vs open mode, median of ${r.cost.key_vs_open_ratios.length} pairs: ${pad(String(r.cost.median_ratio), 7)} (cost ${r.cost.cost_pct} %; aim <= 5 %)`,
    `  pairs (key/open): ${r.cost.key_vs_open_ratios.join(', ')}`,
    `  one key flooding at ${f.flood_rate_per_s}/s (limit ${f.flood_limit_per_s}/s; answers ${JSON.stringify(f.flood_statuses)})`,
    `  another key's reads at ${f.victim_rate_per_s}/s: p99 ${f.victim_alone_ms.p99} ms alone, ${f.victim_beside_flood_ms.p99} ms beside the flood: ${f.p99_ratio}x (aim <= 1.5x)`,
  ];
}
