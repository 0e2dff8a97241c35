// (i) Schedules: many schedules firing together (default 1,000 every minute, `* * * * *`) on one
//     `jarvis server`: every tick runs exactly once per schedule (no tick missed, none twice), and
//     the lag from the tick to the run's submit (its transaction committed and its job enqueued,
//     as the ticker logs it at debug level), p50/p99/max.
// (j) Webhook fan-out: tasks on simulated nodes make 10,000 events (task.queued, task.running,
//     task.succeeded) for a webhook whose local receiver fails 20 % of requests with 500;
//     deliveries/s, lag from the event to its accepted delivery (p50/p99), and the checks: none
//     lost, none out of order per task (no event of a task reaches the receiver before the
//     previous one was accepted). Retries use a 0.2 s backoff base (webhooks.retry_base_seconds)
//     so the run stays short; the default 10 s only stretches the tail.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { freshDatabase, pausePendingQueue } from '../support/fixtures.ts';
import { log, onCleanup, RUN_ID } from '../support/harness.ts';
import { startJarvis } from '../support/jarvis.ts';
import { HttpClient } from '../support/load.ts';
import { S } from '../support/settings.ts';
import { round, sleep, summarize, type Summary } from '../support/stats.ts';

const TICK_LABEL = 'jarvis.schedule/tick';

export interface ScheduleResult {
  schedules: number;
  cron: string;
  ticks: number;
  runs_expected: number;
  runs: number;
  duplicate_runs: number;
  missed_runs: number;
  tick_to_submit_ms: Summary;
}

export async function schedulePhase(redis: Redis): Promise<ScheduleResult> {
  const prefix = `${RUN_ID}-h`;
  const { db, tmp } = await freshDatabase('schedules');
  await pausePendingQueue(redis, prefix); // only the ticker is measured, not placement
  const jarvis = await startJarvis({ command: 'server', prefix, databaseUrl: db.url, dataDir: `${tmp}/pglite`, env: { JARVIS_RECONCILE_SECONDS: '3600', JARVIS_LOG_LEVEL: 'debug' } });
  const stop = onCleanup(`stop jarvis server ${prefix}`, () => jarvis.stop());
  const client = new HttpClient(jarvis.url, 16);
  const cron = S.schedCron;
  try {
    log(`(i) creating ${S.schedules} schedules "${cron}"…`);
    const ids: string[] = [];
    for (let i = 0; i < S.schedules; i += 16) {
      const made = await Promise.all(
        Array.from({ length: Math.min(16, S.schedules - i) }, (_, j) =>
          client.json<{ id: string }>('POST', '/schedules', { name: `s${i + j}`, cron, task: { image: 'sim', labels: { bench: RUN_ID } } }, 201),
        ),
      );
      ids.push(...made.map((m) => m.id));
    }
    const createdAt = Date.now();
    log(`(i) waiting ${S.schedSeconds} s of ticks…`);
    await sleep(S.schedSeconds * 1000);
    const until = Date.now();
    // Let the last tick's runs land, then stop ticking.
    await sleep(10_000);
    await Promise.all(ids.map((id) => client.json('PATCH', `/schedules/${id}`, { paused: true }, 200)));
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const rows = (await c.query<{ schedule_id: string; tick: string; created_at: Date }>(`select schedule_id, labels->>'${TICK_LABEL}' as tick, created_at from tasks where schedule_id is not null`)).rows;
      // The ticks every schedule had to run: after the last one was created, up to `until`.
      const ticks = [...new Set(rows.map((r) => r.tick))].filter((t) => Date.parse(t) > createdAt && Date.parse(t) <= until).sort();
      const want = new Set(ticks);
      const seen = new Map<string, number>();
      let runs = 0;
      for (const r of rows) {
        if (!want.has(r.tick)) continue;
        const k = `${r.schedule_id} ${r.tick}`;
        seen.set(k, (seen.get(k) ?? 0) + 1);
        runs++;
      }
      // The ticker logs each run once its transaction has committed and its job is enqueued,
      // with how long after the tick that was: the lag a user sees.
      const lags = jarvis.logLines((l) => l.msg === 'schedules: run started').map((l) => Number(l.lag_ms));
      const duplicates = [...seen.values()].reduce((a, n) => a + (n - 1), 0);
      const expected = ticks.length * ids.length;
      return {
        schedules: ids.length,
        cron,
        ticks: ticks.length,
        runs_expected: expected,
        runs,
        duplicate_runs: duplicates,
        missed_runs: expected - seen.size,
        tick_to_submit_ms: summarize(lags),
      };
    } finally {
      await c.end();
    }
  } finally {
    client.close();
    await stop();
  }
}

export function printSchedules(r: ScheduleResult): string[] {
  const l = r.tick_to_submit_ms;
  return [
    `(i) schedules: ${r.schedules} × "${r.cron}", ${r.ticks} ticks`,
    `    runs ${r.runs} of ${r.runs_expected} expected; missed ${r.missed_runs}, twice ${r.duplicate_runs}`,
    `    tick → run committed and enqueued: p50 ${round(l.p50)} ms  p99 ${round(l.p99)} ms  max ${round(l.max)} ms`,
  ];
}

export interface WebhookResult {
  events: number;
  tasks: number;
  fail_rate: number;
  requests: number;
  refused_500: number;
  delivered: number;
  lost: number;
  out_of_order: number;
  duplicates_accepted: number;
  deliveries_per_second: number;
  event_to_delivered_ms: Summary;
}

export async function webhookPhase(): Promise<WebhookResult> {
  const prefix = `${RUN_ID}-i`;
  const { db, tmp } = await freshDatabase('webhooks');
  const secretKey = Buffer.alloc(32, 7).toString('hex');
  const jarvis = await startJarvis({
    command: 'server',
    prefix,
    databaseUrl: db.url,
    dataDir: `${tmp}/pglite`,
    env: { JARVIS_SECRET_KEY: secretKey, JARVIS_WEBHOOK_RETRY_BASE_SECONDS: '0.2' },
  });
  const stop = onCleanup(`stop jarvis server ${prefix}`, () => jarvis.stop());
  const worker = await startJarvis({
    command: 'worker',
    prefix,
    apiUrl: jarvis.url,
    databaseUrl: null,
    dataDir: `${tmp}/w`,
    args: ['--executor', 'simulated', '--cpu', '10000', '--memory-mb', '10000000', '--max-tasks', '1000'],
  });
  const stopWorker = onCleanup(`stop worker ${prefix}`, () => worker.stop());

  // The receiver: 20 % of requests answer 500. Per task, the events accepted in order.
  const failRate = 0.2;
  const accepted = new Map<string, number>(); // event id → accepted at (ms)
  const eventAt = new Map<string, number>();
  const lastAccepted = new Map<string, string>(); // task → type of its last accepted event
  const ORDER = ['task.queued', 'task.running', 'task.succeeded'];
  let requests = 0;
  let refused = 0;
  let outOfOrder = 0;
  let duplicates = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      requests++;
      const e = JSON.parse(Buffer.concat(chunks).toString()) as { id: string; type: string; at: string; data: { task: { id: string } } };
      const task = e.data.task.id;
      // Out of order: this event is not the one that follows the task's last accepted event.
      const prev = lastAccepted.get(task);
      const expectedPrev = ORDER[ORDER.indexOf(e.type) - 1];
      if (!accepted.has(e.id) && prev !== expectedPrev && !(prev === undefined && e.type === ORDER[0])) outOfOrder++;
      if (Math.random() < failRate) {
        refused++;
        res.writeHead(500).end();
        return;
      }
      if (accepted.has(e.id)) duplicates++;
      else {
        accepted.set(e.id, Date.now());
        eventAt.set(e.id, Date.parse(e.at));
        lastAccepted.set(task, e.type);
      }
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const closeReceiver = onCleanup('close the webhook receiver', () => new Promise((r) => server.close(r)));
  const client = new HttpClient(jarvis.url, 8);
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    await client.json('POST', '/webhooks', { url, events: ORDER, secret: 'bench-webhook-secret-0123456789' }, 201);
    const tasks = Math.ceil(S.webhookEvents / ORDER.length);
    const events = tasks * ORDER.length;
    log(`(j) ${tasks} tasks → ${events} events to a receiver failing ${failRate * 100} % of requests…`);
    const started = Date.now();
    for (let i = 0; i < tasks; i += 500) {
      const n = Math.min(500, tasks - i);
      await client.json('POST', '/tasks/batch', { tasks: Array.from({ length: n }, () => ({ image: 'sim', labels: { 'jarvis.sim/duration_ms': '0' } })) }, 201);
    }
    const deadline = Date.now() + 600_000;
    while (accepted.size < events && Date.now() < deadline) await sleep(200);
    const finished = Math.max(...accepted.values());
    await sleep(2_000); // anything sent after the last needed one (there should be nothing new)
    const lags = [...accepted.entries()].map(([id, at]) => at - eventAt.get(id)!);
    return {
      events,
      tasks,
      fail_rate: failRate,
      requests,
      refused_500: refused,
      delivered: accepted.size,
      lost: events - accepted.size,
      out_of_order: outOfOrder,
      duplicates_accepted: duplicates,
      deliveries_per_second: round(accepted.size / ((finished - started) / 1000), 1),
      event_to_delivered_ms: summarize(lags),
    };
  } finally {
    client.close();
    await stopWorker();
    await stop();
    await closeReceiver();
  }
}

export function printWebhooks(r: WebhookResult): string[] {
  const l = r.event_to_delivered_ms;
  return [
    `(j) webhook fan-out: ${r.events} events of ${r.tasks} tasks, receiver failing ${r.fail_rate * 100} % (${r.refused_500} of ${r.requests} requests refused)`,
    `    delivered ${r.delivered}, lost ${r.lost}, out of order ${r.out_of_order}, accepted twice ${r.duplicates_accepted}`,
    `    ${r.deliveries_per_second} deliveries/s; event → delivered: p50 ${round(l.p50)} ms  p99 ${round(l.p99)} ms  max ${round(l.max)} ms`,
  ];
}
