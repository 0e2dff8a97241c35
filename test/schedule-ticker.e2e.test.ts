// The ticker's exactly-once, with the clock in the test's hands: two tickers (as two control
// planes, or a leader and its successor, would run them) make passes at the same simulated
// instants over one PostgreSQL database, and every schedule gets exactly one run per tick —
// the compare-and-set on last_tick decides, not timing. A pass after a gap makes one catch-up.
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { loadConfig } from '../src/config/index.ts';
import { ScheduleTicker } from '../src/control/schedule-ticker.ts';
import { WorkflowReleaser } from '../src/dag/release.ts';
import { ControlPlaneMetrics } from '../src/monitor/metrics.ts';
import { PendingQueues } from '../src/scheduler/pending.ts';
import { redisNames } from '../src/scheduler/queues.ts';
import { openDatabase, type Database } from '../src/state/db.ts';
import { ScheduleStore } from '../src/state/schedule-store.ts';
import { TaskStore } from '../src/state/task-store.ts';
import { WorkflowStore } from '../src/state/workflow-store.ts';
import { createTestDatabase } from './support/database.ts';
import { REDIS_URL } from './support/env.ts';
import { uniquePrefix } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let database: Database;
let redis: Redis;
let pending: PendingQueues;
let prefix: string;
beforeAll(async () => {
  db = await createTestDatabase();
  database = await openDatabase({ url: db.url, dataDir: '/nonexistent' });
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  prefix = uniquePrefix();
  pending = new PendingQueues(redis, redisNames(prefix));
});
afterAll(async () => {
  await pending?.queue('default').obliterate({ force: true }).catch(() => undefined);
  await pending?.close();
  redis?.disconnect();
  await database?.close();
  await db?.drop();
});

function ticker(schedules = new ScheduleStore(database.db)) {
  const tasks = new TaskStore(database.db);
  const workflows = new WorkflowStore(database.db, tasks);
  return new ScheduleTicker({
    config: loadConfig({ env: {} }),
    schedules,
    workflows,
    releaser: new WorkflowReleaser(workflows),
    tasks,
    pending,
    redis,
    names: redisNames(prefix),
    metrics: new ControlPlaneMetrics({ enabled: false } as never),
    logger: pino({ level: 'silent' }),
  });
}

it('two tickers passing at the same instants start each tick of each schedule once', async () => {
  const store = new ScheduleStore(database.db);
  const t0 = new Date('2030-01-01T00:00:00Z');
  const kinds = [
    { task: { image: 'sim' }, workflow: null, concurrency: 'allow' as const }, // claimed in a batch
    { task: { image: 'sim' }, workflow: null, concurrency: 'forbid' as const }, // one by one; its first run stays queued, so later ticks wait
    { task: null, workflow: { tasks: [{ key: 'a', image: 'sim' }] }, concurrency: 'allow' as const }, // a workflow, one by one
  ];
  const ids: string[] = [];
  for (let i = 0; i < 60; i++) {
    const k = kinds[i % 3];
    const s = await store.create({
      id: randomUUID(), name: `s${i}`, tenant: 'default', cron: '* * * * * *', timezone: 'UTC',
      task: k.task, workflow: k.workflow, concurrency: k.concurrency, startingDeadlineSeconds: null, paused: false,
      lastTick: t0, nextTick: new Date(t0.getTime() + 1000), createdAt: t0, updatedAt: t0,
    });
    ids.push(s.id);
  }
  const a = ticker();
  const b = ticker();
  for (let sec = 1; sec <= 5; sec++) {
    const now = new Date(t0.getTime() + sec * 1000 + 5);
    await Promise.all([a.pass(now), b.pass(now), a.pass(now), b.pass(now)]);
  }
  // A gap of 10 s: one catch-up (the latest tick), nine missed.
  const later = new Date(t0.getTime() + 15_000 + 5);
  await Promise.all([a.pass(later), b.pass(later)]);

  const rows = (await database.db.execute(sql`
    select schedule_id as id, labels->>'jarvis.schedule/tick' as tick, count(*)::int as n
    from tasks where schedule_id is not null and (workflow_id is null or workflow_key = 'a') group by 1, 2`)) as unknown as { rows: Array<{ id: string; tick: string; n: number }> };
  expect(rows.rows.filter((r) => r.n !== 1)).toEqual([]); // never two runs for one tick
  const ticksOf = (id: string) => rows.rows.filter((r) => r.id === id).map((r) => r.tick).sort();
  const all = [1, 2, 3, 4, 5, 15].map((s) => new Date(t0.getTime() + s * 1000).toISOString());
  for (let i = 0; i < ids.length; i++) {
    // forbid: the first run is still queued (nothing runs it here), so every later tick waits and is missed.
    expect(ticksOf(ids[i]), `schedule ${i}`).toEqual(kinds[i % 3].concurrency === 'forbid' ? all.slice(0, 1) : all);
  }
  const s0 = await store.get(ids[0]);
  expect(s0).toMatchObject({ lastTick: new Date(t0.getTime() + 15_000), missedTicks: 9 });
}, 60_000);

it('starts no run for a schedule paused after the pass read it due, and leaves it without a next tick', async () => {
  // A PATCH {"paused": true} answered between the ticker's read of the due schedules and its
  // claim: the claim must not go through (the batch claim of plain task schedules did).
  const t0 = new Date('2031-01-01T00:00:00Z');
  const ids: string[] = [];
  const plain = new ScheduleStore(database.db);
  for (const concurrency of ['allow', 'forbid'] as const) {
    const s = await plain.create({
      id: randomUUID(), name: `paused-${concurrency}`, tenant: 'default', cron: '* * * * * *', timezone: 'UTC',
      task: { image: 'sim' }, workflow: null, concurrency, startingDeadlineSeconds: null, paused: false,
      lastTick: t0, nextTick: new Date(t0.getTime() + 1000), createdAt: t0, updatedAt: t0,
    });
    ids.push(s.id);
  }
  class PausedOnRead extends ScheduleStore {
    override async due(now: Date, limit: number) {
      const rows = await super.due(now, limit);
      // As the PATCH does (control/schedules.ts): paused, no next tick, last_tick left as it was.
      for (const r of rows) if (ids.includes(r.id)) await this.update(r.id, { paused: true, nextTick: null });
      return rows;
    }
  }
  await ticker(new PausedOnRead(database.db)).pass(new Date(t0.getTime() + 1005));
  const runs = (await database.db.execute(sql`select count(*)::int as n from tasks where schedule_id in (${sql.join(ids.map((id) => sql`${id}::uuid`), sql`, `)})`)) as unknown as { rows: Array<{ n: number }> };
  expect(runs.rows[0].n).toBe(0);
  for (const id of ids) expect(await plain.get(id)).toMatchObject({ paused: true, nextTick: null, lastTick: t0 });
});

it('replace: the tick that starts a run cancels the earlier one in the same transaction, so no crash leaves both running', async () => {
  // Cancelled after the claim committed, a crash between the two left the earlier run going
  // until the next tick (for a daily cron, a day).
  const t0 = new Date('2032-01-01T00:00:00Z');
  const store = new ScheduleStore(database.db);
  const made = [];
  for (const k of [{ task: { image: 'sim' }, workflow: null }, { task: null, workflow: { tasks: [{ key: 'a', image: 'sim' }] } }]) {
    made.push(
      await store.create({
        id: randomUUID(), name: `replace-${k.task ? 'task' : 'workflow'}`, tenant: 'default', cron: '* * * * * *', timezone: 'UTC',
        ...k, concurrency: 'replace', startingDeadlineSeconds: null, paused: false,
        lastTick: t0, nextTick: new Date(t0.getTime() + 1000), createdAt: t0, updatedAt: t0,
      }),
    );
  }
  const t = ticker();
  await t.pass(new Date(t0.getTime() + 1005));
  await t.pass(new Date(t0.getTime() + 2005));
  const [task, workflow] = made;
  // The task schedule: the first run cancelled by the transaction that inserted the second.
  const runs = (await database.db.execute(sql`
    select t.id, t.status, t.labels->>'jarvis.schedule/tick' as tick,
           (select e.xid from task_events e where e.task_id = t.id and e.status = 'cancelled') as cancelled_xid,
           (select min(e.xid) from task_events e where e.task_id = t.id) as first_xid
    from tasks t where t.schedule_id = ${task.id}::uuid order by t.seq`)) as unknown as { rows: Array<{ status: string; cancelled_xid: string | null; first_xid: string }> };
  expect(runs.rows.map((r) => r.status)).toEqual(['cancelled', 'queued']);
  expect(runs.rows[0].cancelled_xid).toBe(runs.rows[1].first_xid);
  // The workflow schedule: the first workflow cancelled in the transaction that made the second.
  const wfs = (await database.db.execute(sql`
    select w.id, w.status,
           (select e.xid from workflow_events e where e.workflow_id = w.id and e.status = 'cancelled') as cancelled_xid,
           (select min(e.xid) from task_events e join tasks x on x.id = e.task_id where x.workflow_id = w.id) as first_xid
    from workflows w where w.schedule_id = ${workflow.id}::uuid order by w.seq`)) as unknown as { rows: Array<{ status: string; cancelled_xid: string | null; first_xid: string }> };
  expect(wfs.rows.map((r) => r.status)).toEqual(['cancelled', 'running']);
  expect(wfs.rows[0].cancelled_xid).toBe(wfs.rows[1].first_xid);
});
