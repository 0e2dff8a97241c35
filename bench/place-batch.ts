// How placement's one statement (state/place-attempts.ts) scales with the batch: a scratch
// database (created and dropped here) with NODES nodes and QUEUED queued tasks; for each batch
// size, plans spread over every node, timed through placeAttempts (committed, fresh tasks each
// run) and its plan read with EXPLAIN (ANALYZE, BUFFERS) inside a transaction rolled back, then
// the same for the finish's release of the last run's reservations (releaseStatement). Prints
// each join, sort and CTE or function scan with its loops and rows, and flags a nested loop that
// reads a CTE or function scan again for each outer row (loops × rows growing with the square of
// the batch). docs/decisions.md, "Placement statement at batch scale".
//   TEST_DATABASE_URL=postgres://… npx tsx bench/place-batch.ts [sizes…]   (default 10 100 500 1000 2000)
//   env: NODES (1000), QUEUED (100000), RUNS (7), ANALYZED=0 (no vacuum analyze after loading),
//   TEXT_PLAN=<size> (also print that size's plan as text), PLACE_FROM (see below)
import { randomBytes } from 'node:crypto';
import type { SQL } from 'drizzle-orm';
import { sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { loadConfig } from '../src/config/index.ts';
import { taskRowFrom } from '../src/control/task-rows.ts';
import { openDatabase } from '../src/state/db.ts';
import { releaseStatement } from '../src/state/node-reservations.ts';
import { nodes } from '../src/state/schema.ts';
import { TaskStore } from '../src/state/task-store.ts';
import type { Db } from '../src/state/db.ts';
import { newId } from '../src/domain/ids.ts';

const NODES = Number(process.env.NODES ?? 1000);
const QUEUED = Number(process.env.QUEUED ?? 100_000);
const RUNS = Number(process.env.RUNS ?? 7);
const SIZES = process.argv.slice(2).map(Number).filter((n) => n > 0);
const sizes = SIZES.length > 0 ? SIZES : [10, 100, 500, 1000, 2000];
const ANALYZED = process.env.ANALYZED !== '0';
// PLACE_FROM: another copy of place-attempts.ts (say the main checkout's) to measure instead.
const { placeAttempts } = (await import(process.env.PLACE_FROM ?? '../src/state/place-attempts.ts')) as typeof import('../src/state/place-attempts.ts');
const admin = process.env.TEST_DATABASE_URL ?? 'postgres://jarvis:jarvis@127.0.0.1:5432/postgres';

interface PlanNode {
  'Node Type': string;
  'Parent Relationship'?: string;
  'Subplan Name'?: string;
  'CTE Name'?: string;
  'Relation Name'?: string;
  'Function Name'?: string;
  'Join Type'?: string;
  'Actual Loops': number;
  'Actual Rows': number;
  'Actual Total Time': number;
  'Plan Rows': number;
  'Hash Cond'?: string;
  'Join Filter'?: string;
  'Rows Removed by Join Filter'?: number;
  Filter?: string;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

const label = (n: PlanNode) =>
  `${n['Node Type']}${n['Join Type'] ? ` ${n['Join Type']}` : ''}${n['CTE Name'] ? ` on ${n['CTE Name']}` : ''}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''}${n['Function Name'] ? ` ${n['Function Name']}` : ''}${n['Subplan Name'] ? ` [${n['Subplan Name']}]` : ''}`;

/** Each join, subplan and scan of CTEs or functions, with what it did (loops × rows per loop). */
function lines(n: PlanNode, depth: number, out: string[]): void {
  const join = /Nested Loop|Hash Join|Merge Join|Semi|Anti/.test(n['Node Type']) || n['Join Type'] !== undefined;
  const interesting = join || n['Subplan Name'] || /CTE Scan|Function Scan|Hash$|Materialize|Sort|SetOp|Aggregate/.test(n['Node Type']);
  if (interesting) {
    const extra = [
      n['Hash Cond'] && `hash ${n['Hash Cond']}`,
      n['Join Filter'] && `join filter ${n['Join Filter']} (removed ${n['Rows Removed by Join Filter'] ?? 0})`,
      n.Filter && `filter ${n.Filter.slice(0, 80)} (removed ${n['Rows Removed by Filter'] ?? 0})`,
    ].filter(Boolean);
    out.push(
      `${'  '.repeat(depth)}${label(n)}: est ${n['Plan Rows']}, loops ${n['Actual Loops']} × rows ${n['Actual Rows']}, ${n['Actual Total Time'].toFixed(2)} ms${extra.length ? ' — ' + extra.join('; ') : ''}`,
    );
  }
  for (const c of n.Plans ?? []) lines(c, interesting ? depth + 1 : depth, out);
}

/** Nested loops whose inner side is a CTE or function scan read more than once per outer row's worth. */
function quadratic(n: PlanNode, out: string[]): void {
  if (n['Node Type'] === 'Nested Loop' && n.Plans?.length === 2) {
    const inner = n.Plans[1];
    const scanned = (x: PlanNode): PlanNode | null =>
      /CTE Scan|Function Scan/.test(x['Node Type']) ? x : x['Node Type'] === 'Materialize' && x.Plans ? scanned(x.Plans[0]) : null;
    const s = scanned(inner);
    if (s && inner['Actual Loops'] > 1) out.push(`${label(n)} inner ${label(inner)}: loops ${inner['Actual Loops']} × rows ${inner['Actual Rows']} (+removed ${n['Rows Removed by Join Filter'] ?? 0})`);
  }
  for (const c of n.Plans ?? []) quadratic(c, out);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const name = `jarvis_placesql_${randomBytes(4).toString('hex')}`;
  const root = new pg.Client({ connectionString: admin });
  await root.connect();
  await root.query(`create database ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  const database = await openDatabase({ url: url.toString(), dataDir: '/nonexistent' });
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const db = database.db;
    const config = loadConfig({ file: null, overrides: {} });
    const store = new TaskStore(db);
    // Nodes with room for every run's tasks: FIT_GUARD passes, so every plan is placed.
    const now = new Date();
    const nodeIds = Array.from({ length: NODES }, () => newId());
    for (let i = 0; i < NODES; i += 500) {
      await db.insert(nodes).values(
        nodeIds.slice(i, i + 500).map((id) => ({
          id,
          name: `n-${id}`,
          hostname: 'h',
          status: 'available' as const,
          labels: {},
          cpu: 1_000_000,
          memoryMb: 1_000_000_000,
          gpu: 0,
          maxTasks: 1_000_000,
          token: 't',
          registeredAt: now,
          lastHeartbeatAt: now,
        })),
      );
    }
    nodeIds.sort();
    const spec = { image: 'busybox', command: ['true'], resources: { cpu: 0.1, memory: '64Mi' } };
    const queued: string[] = [];
    for (let i = 0; i < QUEUED; i += 2000) {
      const rows = Array.from({ length: Math.min(2000, QUEUED - i) }, () => taskRowFrom(spec as never, config, { status: 'queued', statusReason: 'waiting' }));
      const stored = await store.insertMany(rows);
      queued.push(...stored.map((t) => t.id));
    }
    // Their submission events, as the tasks table's companion has them.
    await db.execute(sql`insert into task_events (task_id, at, status, node_id, attempt, reason) select id, created_at, 'queued', null, 0, 'submitted' from tasks`);
    if (ANALYZED) await db.execute(sql`vacuum analyze`);
    console.log(`${NODES} nodes, ${queued.length} queued tasks, ${ANALYZED ? 'analyzed' : 'never analyzed'}; ${RUNS} timed runs per size (median)`);

    // Shuffled, so a batch's tasks are spread over the table as a dispatcher's are.
    for (let i = queued.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [queued[i], queued[j]] = [queued[j], queued[i]];
    }
    let next = 0;
    const take = (n: number) => queued.slice(next, (next += n));
    const spread = (ids: string[]) => {
      const start = Math.floor(Math.random() * NODES);
      return ids.map((taskId, i) => ({ taskId, nodeId: nodeIds[(start + i) % NODES] }));
    };
    const dialect = new PgDialect();
    const summary: string[] = [];
    for (const size of sizes) {
      // The statement placeAttempts runs, read with EXPLAIN ANALYZE and rolled back.
      let captured: { sql: string; params: unknown[] } | null = null;
      const capture = {
        execute: async (q: SQL) => {
          captured = dialect.sqlToQuery(q);
          return { rows: [] };
        },
      } as unknown as Db;
      const plans = spread(take(size));
      await placeAttempts(capture, plans);
      const q = captured as unknown as { sql: string; params: unknown[] };
      await client.query('begin');
      const res = await client.query(`explain (analyze, buffers, format json) ${q.sql}`, q.params);
      await client.query('rollback');
      const top = res.rows[0]['QUERY PLAN'][0] as { Plan: PlanNode; 'Execution Time': number; 'Planning Time': number };
      const out: string[] = [];
      lines(top.Plan, 1, out);
      const quad: string[] = [];
      quadratic(top.Plan, quad);
      // Timed through the store, committed: fresh tasks each run.
      const wall: number[] = [];
      let last: Awaited<ReturnType<typeof placeAttempts>> | null = null;
      for (let r = 0; r < RUNS; r++) {
        const batch = spread(take(size));
        const t0 = performance.now();
        const done = await placeAttempts(db, batch);
        wall.push(performance.now() - t0);
        if (done.placed.length !== size) throw new Error(`placed ${done.placed.length} of ${size}`);
        last = done;
      }
      console.log(`\n== ${size} plans on ${Math.min(size, NODES)} nodes: EXPLAIN ANALYZE execution ${top['Execution Time'].toFixed(1)} ms (planning ${top['Planning Time'].toFixed(1)} ms); placeMany median ${median(wall).toFixed(1)} ms [${wall.map((w) => w.toFixed(0)).join(', ')}]`);
      console.log(out.join('\n'));
      console.log(quad.length ? `nested loops over CTE/function scans:\n  ${quad.join('\n  ')}` : 'no nested loop re-reads a CTE or function scan');
      // The finish's release of those tasks' reservations (releaseStatement), read the same way.
      const release = dialect.sqlToQuery(releaseStatement(last!.placed)!);
      await client.query('begin');
      const rel = await client.query(`explain (analyze, buffers, format json) ${release.sql}`, release.params);
      await client.query('rollback');
      const relTop = rel.rows[0]['QUERY PLAN'][0] as { Plan: PlanNode; 'Execution Time': number };
      const relOut: string[] = [];
      lines(relTop.Plan, 1, relOut);
      const relQuad: string[] = [];
      quadratic(relTop.Plan, relQuad);
      console.log(`releaseStatement for them: ${relTop['Execution Time'].toFixed(1)} ms\n${relOut.join('\n')}\n${relQuad.length ? relQuad.join('\n') : 'no nested loop re-reads a CTE or function scan'}`);
      summary.push(`| ${size} | ${top['Execution Time'].toFixed(1)} | ${median(wall).toFixed(1)} | ${(median(wall) / size * 1000).toFixed(0)} |`);
      if (process.env.TEXT_PLAN === String(size)) {
        await client.query('begin');
        const text = await client.query(`explain (analyze, buffers) ${q.sql}`, q.params);
        await client.query('rollback');
        console.log(text.rows.map((r: Record<string, string>) => r['QUERY PLAN'].replace(/'\{[^}]*\}'/g, "'{…}'")).join('\n'));
      }
    }
    console.log('\n| plans | EXPLAIN ANALYZE ms | placeMany median ms | µs per plan |\n| --- | --- | --- | --- |');
    console.log(summary.join('\n'));
  } finally {
    await client.end();
    await database.close();
    await root.query(`drop database if exists ${name} with (force)`);
    await root.end();
  }
}

await main();
