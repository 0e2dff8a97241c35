// (c), part 1: a 10,000-task layered DAG: zod parsing (WorkflowCreate) and validateGraph in this
// process, storing it (WorkflowStore.create as POST /workflows calls it) in this process, and
// POST /workflows end to end over HTTP, valid (201) and with a cycle (422).
import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { freshDatabase, pausePendingQueue } from '../support/fixtures.ts';
import { log, onCleanup, RUN_ID } from '../support/harness.ts';
import { startJarvis } from '../support/jarvis.ts';
import { HttpClient } from '../support/load.ts';
import { connectRedis, cpuDelta, cpuSnapshot, processCpuMs } from '../support/services.ts';
import { S } from '../support/settings.ts';
import { round, sleep, summarize } from '../support/stats.ts';

export interface TimedRequest {
  status: number;
  wall_ms: number;
  /** The server's own "request" log line: handler time from first middleware to response. */
  server_handler_ms: number | null;
  server_cpu_ms: number | null;
  request_bytes: number;
  response_bytes: number;
}

export async function dagValidationInProcess(bodyText: string, cycleText: string) {
  const { WorkflowCreate } = await import('../../src/api/schemas.ts');
  const { validateGraph } = await import('../../src/dag/validate.ts');
  const warmup = 2;
  const rounds = 10;
  const m = { json_parse_ms: [] as number[], zod_parse_ms: [] as number[], validate_graph_ms: [] as number[], validate_graph_with_cycle_ms: [] as number[] };
  const cold: Record<string, number> = {};
  let problemsOfCycle: string | null = null;
  for (let i = 0; i < warmup + rounds; i++) {
    const t0 = performance.now();
    const raw = JSON.parse(bodyText) as unknown;
    const t1 = performance.now();
    const parsed = WorkflowCreate.safeParse(raw);
    const t2 = performance.now();
    if (!parsed.success) throw new Error(`(c) WorkflowCreate refused the bench's DAG: ${parsed.error.message.slice(0, 500)}`);
    const problems = validateGraph(parsed.data.tasks.map((t) => ({ key: t.key, depends_on: t.depends_on ?? [] })));
    const t3 = performance.now();
    if (problems.length) throw new Error(`(c) validateGraph refused the bench's DAG: ${JSON.stringify(problems[0])}`);
    const cyc = WorkflowCreate.parse(JSON.parse(cycleText));
    const entries = cyc.tasks.map((t) => ({ key: t.key, depends_on: t.depends_on ?? [] }));
    const t4 = performance.now();
    const cycProblems = validateGraph(entries);
    const t5 = performance.now();
    if (cycProblems.length !== 1 || !cycProblems[0].msg.includes('cycle:')) throw new Error(`(c) validateGraph missed the cycle: ${JSON.stringify(cycProblems).slice(0, 300)}`);
    problemsOfCycle ??= `${cycProblems[0].msg.slice(0, 80)}… (loc ${JSON.stringify(cycProblems[0].loc)})`;
    if (i === 0) Object.assign(cold, { json_parse_ms: t1 - t0, zod_parse_ms: t2 - t1, validate_graph_ms: t3 - t2, validate_graph_with_cycle_ms: t5 - t4 });
    if (i >= warmup) {
      m.json_parse_ms.push(t1 - t0);
      m.zod_parse_ms.push(t2 - t1);
      m.validate_graph_ms.push(t3 - t2);
      m.validate_graph_with_cycle_ms.push(t5 - t4);
    }
  }
  const zodPlusGraph = m.zod_parse_ms.map((z, i) => z + m.validate_graph_ms[i]);
  return {
    what: `in this process, ${warmup} warm-up + ${rounds} measured rounds: JSON.parse of the body text, WorkflowCreate.safeParse (src/api/schemas.ts, the schema POST /workflows validates with), validateGraph (src/dag/validate.ts) on the parsed tasks; and validateGraph on the same graph plus one edge closing a cycle through every layer`,
    rounds,
    ms: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, summarize(v)])),
    zod_plus_validate_graph_ms: summarize(zodPlusGraph),
    first_call_ms: Object.fromEntries(Object.entries(cold).map(([k, v]) => [k, round(v)])),
    cycle_reported_as: problemsOfCycle,
  };
}

/** WorkflowStore.create exactly as POST /workflows calls it, on a fresh database, in this process. */
export async function dagPersistInProcess(redis: Redis, bodyText: string) {
  const { openDatabase } = await import('../../src/state/db.ts');
  const { TaskStore } = await import('../../src/state/task-store.ts');
  const { WorkflowStore } = await import('../../src/state/workflow-store.ts');
  const { WorkflowReleaser } = await import('../../src/dag/release.ts');
  const { PendingQueues } = await import('../../src/scheduler/pending.ts');
  const { redisNames } = await import('../../src/scheduler/queues.ts');
  const { workflowRows } = await import('../../src/control/task-rows.ts');
  const { presentWorkflow } = await import('../../src/api/present.ts');
  const { WorkflowCreate } = await import('../../src/api/schemas.ts');
  const { loadConfig } = await import('../../src/config/index.ts');
  const config = loadConfig({ env: {} });
  const { db, tmp } = await freshDatabase('wfstore');
  const database = await openDatabase({ url: db.url, dataDir: join(tmp, 'pglite') });
  const prefix = `${RUN_ID}-wfs`;
  const conn = await connectRedis();
  const queue = new Queue('pending', { connection: conn, prefix: `{${prefix}}` });
  await queue.pause();
  const pending = new PendingQueues(conn, redisNames(prefix));
  try {
    const taskStore = new TaskStore(database.db);
    const workflows = new WorkflowStore(database.db, taskStore);
    const releaser = new WorkflowReleaser(workflows);
    const m = {
      build_rows_ms: [] as number[],
      store_ms: [] as number[],
      enqueue_roots_ms: [] as number[],
      read_back_ms: [] as number[],
      present_and_stringify_ms: [] as number[],
    };
    const storeCpuMs: number[] = [];
    let queuedCount = 0;
    const warmup = 1;
    for (let i = 0; i < warmup + S.dagRounds; i++) {
      const body = WorkflowCreate.parse(JSON.parse(bodyText));
      const t0 = performance.now();
      const { id, wf, rows } = workflowRows(body, config);
      const c1 = process.cpuUsage();
      const t1 = performance.now();
      const { workflow, queued } = await workflows.create(wf, rows, (tx, w) => releaser.start(tx, w));
      const t2 = performance.now();
      const storeCpu = process.cpuUsage(c1);
      await pending.add(queued);
      const t3 = performance.now();
      const all = await workflows.tasksOf(id);
      const t4 = performance.now();
      const text = JSON.stringify(presentWorkflow(workflow, all));
      const t5 = performance.now();
      if (all.length !== body.tasks.length || text.length < 100) throw new Error(`(c) stored ${all.length} tasks, expected ${body.tasks.length}`);
      queuedCount = queued.length;
      if (i >= warmup) {
        storeCpuMs.push((storeCpu.user + storeCpu.system) / 1000);
        m.build_rows_ms.push(t1 - t0);
        m.store_ms.push(t2 - t1);
        m.enqueue_roots_ms.push(t3 - t2);
        m.read_back_ms.push(t4 - t3);
        m.present_and_stringify_ms.push(t5 - t4);
      }
    }
    return {
      what:
        'in this process on a fresh PostgreSQL database (pool of 10), as POST /workflows does after validation: build the rows (workflowRows), ' +
        'WorkflowStore.create (one transaction: the workflow row, every task in ONE INSERT … FROM jsonb_to_recordset, the roots queued by WorkflowReleaser.start), ' +
        'enqueue the roots (addBulk, paused queue), read every task back (tasksOf) and present + JSON.stringify the 201 body',
      rounds: S.dagRounds,
      roots_queued: queuedCount,
      ms: Object.fromEntries(Object.entries(m).map(([k, v]) => [k, summarize(v)])),
      /** CPU of this (Node) process during the store step: building and serialising the INSERTs. */
      store_node_cpu_ms: summarize(storeCpuMs),
    };
  } finally {
    await queue.close();
    conn.disconnect();
    await database.close();
  }
}

export async function dagOverHttp(redis: Redis, bodyText: string, cycleText: string, tasks: number, width: number) {
  const prefix = `${RUN_ID}-wf`;
  const { db, tmp } = await freshDatabase('wfhttp');
  // No worker, and the pending queue paused: the server does what POST /workflows costs, nothing else.
  await pausePendingQueue(redis, prefix);
  log('(c) starting `jarvis server` for POST /workflows…');
  const jarvis = await startJarvis({ command: 'server', prefix, databaseUrl: db.url, dataDir: join(tmp, 'pglite') });
  const stop = onCleanup(`stop jarvis server ${prefix}`, () => jarvis.stop());
  const client = new HttpClient(jarvis.url, 2);
  try {
    const handlerTimes = () =>
      jarvis.logLines((l) => l.msg === 'request' && l.method === 'POST' && l.path === '/workflows').map((l) => Number(l.ms));
    const timed = async (text: string): Promise<TimedRequest & { body: string }> => {
      const seen = handlerTimes().length;
      const c0 = processCpuMs(jarvis.pid);
      const t0 = performance.now();
      const r = await client.request('POST', '/workflows', text, 120_000);
      const wall = performance.now() - t0;
      const c1 = processCpuMs(jarvis.pid);
      await sleep(50); // the log line is written after the response
      const h = handlerTimes();
      return {
        status: r.status,
        wall_ms: round(wall),
        server_handler_ms: h.length > seen ? h[h.length - 1] : null,
        server_cpu_ms: c0 !== null && c1 !== null ? round(c1 - c0) : null,
        request_bytes: Buffer.byteLength(text),
        response_bytes: Buffer.byteLength(r.body),
        body: r.body,
      };
    };
    const valid: TimedRequest[] = [];
    const cycle: TimedRequest[] = [];
    const load0 = cpuSnapshot(jarvis.pid);
    for (let i = 0; i < 1 + S.dagRounds; i++) {
      const ok = await timed(bodyText);
      if (ok.status !== 201) throw new Error(`(c) POST /workflows (${tasks} tasks) answered ${ok.status}: ${ok.body.slice(0, 300)}`);
      const wf = JSON.parse(ok.body) as { tasks: Array<{ status: string }> };
      const queued = wf.tasks.filter((t) => t.status === 'queued').length;
      if (wf.tasks.length !== tasks || queued !== Math.min(width, tasks)) {
        throw new Error(`(c) POST /workflows returned ${wf.tasks.length} tasks with ${queued} queued; expected ${tasks} and ${Math.min(width, tasks)}`);
      }
      const bad = await timed(cycleText);
      const detail = bad.status === 422 ? (JSON.parse(bad.body) as { detail: Array<{ msg: string }> }).detail : [];
      if (bad.status !== 422 || !detail[0]?.msg.includes('cycle:')) throw new Error(`(c) POST /workflows with a cycle answered ${bad.status}: ${bad.body.slice(0, 300)}`);
      const { body: _a, ...okRow } = ok;
      const { body: _b, ...badRow } = bad;
      if (i > 0) {
        valid.push(okRow);
        cycle.push(badRow);
      }
      log(`(c) POST /workflows ${tasks} tasks${i === 0 ? ' (warm-up)' : ''}: 201 in ${okRow.wall_ms} ms, with a cycle: 422 in ${badRow.wall_ms} ms`);
    }
    const load1 = cpuSnapshot(jarvis.pid);
    const page = await client.json<{ total: number }>('GET', '/tasks?limit=1', undefined, 200);
    const wfPage = await client.json<{ total: number }>('GET', '/workflows?limit=1', undefined, 200);
    const expected = (1 + S.dagRounds) * tasks;
    if (page.total !== expected || wfPage.total !== 1 + S.dagRounds) throw new Error(`(c) ${page.total} tasks / ${wfPage.total} workflows stored, expected ${expected} / ${1 + S.dagRounds} (a refused workflow must store nothing)`);
    const col = (rows: TimedRequest[], k: keyof TimedRequest) => summarize(rows.map((r) => r[k] as number));
    return {
      what:
        '`jarvis server` (PostgreSQL, no worker, pending queue paused), one request at a time, after one warm-up pair. wall = request sent -> ' +
        'whole response received (the 201 body has every task); server_handler = the server\'s own request log (middleware to response); ' +
        'the 422 request is the same graph plus one edge closing a cycle, so it measures reading + zod + validateGraph + the error, nothing stored',
      rounds: S.dagRounds,
      valid_201: { wall_ms: col(valid, 'wall_ms'), server_handler_ms: col(valid, 'server_handler_ms'), server_cpu_ms: col(valid, 'server_cpu_ms'), request_bytes: valid[0].request_bytes, response_bytes: valid[0].response_bytes, rows: valid },
      cycle_422: { wall_ms: col(cycle, 'wall_ms'), server_handler_ms: col(cycle, 'server_handler_ms'), server_cpu_ms: col(cycle, 'server_cpu_ms'), rows: cycle },
      check: { tasks_stored: page.total, workflows_stored: wfPage.total, expected_tasks: expected },
      cpu: cpuDelta(load0, load1),
    };
  } finally {
    client.close();
    await stop();
  }
}
