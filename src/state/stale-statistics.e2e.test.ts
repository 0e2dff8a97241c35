// The statements on a lone task's way (placing it, its start, a waiting task's reason) find their
// tasks by primary key even when PostgreSQL's statistics are stale: right after a burst of
// submissions, before autovacuum analyzes the table, the planner took `status = 'queued'` for a
// few dozen rows and read every queued task to join a one-row plan (5 ms per lone placement with
// 20,000 waiting; bench (b) with its backlog). Here the table is never analyzed (autovacuum off
// for it) and holds thousands of queued and scheduled tasks; each statement is EXPLAINed as sent.
import { describe, expect, it } from 'vitest';
import { sql, type SQL } from 'drizzle-orm';
import { useTestDatabase } from '../../test/support/database.ts';
import type { Db } from './db.ts';
import { markStarted, placeAttempts } from './place-attempts.ts';
import { TaskStore } from './task-store.ts';
import { taskRowFrom } from '../control/task-rows.ts';
import { loadConfig } from '../config/index.ts';

const config = loadConfig({ file: null, overrides: {} });

/** A stand-in for the database that EXPLAINs each statement instead of running it, and keeps the plans. */
function explaining(db: Db): { db: Db; plans: string[] } {
  const plans: string[] = [];
  const stand = {
    async execute(query: SQL) {
      const res = (await db.execute(sql`explain ${query}`)) as unknown as { rows: Array<{ 'QUERY PLAN': string }> };
      plans.push(res.rows.map((r) => r['QUERY PLAN']).join('\n'));
      return { rows: [] };
    },
  };
  return { db: stand as unknown as Db, plans };
}

/** The ways a plan could read tasks by status instead of by key. */
const BY_STATUS = /Seq Scan on tasks|tasks_status_idx|tasks_waiting_seq_idx|tasks_tenant_queued_idx|tasks_tenant_active_idx/;

describe('statements on a lone task\'s way, before the tasks table is analyzed', () => {
  const opened = useTestDatabase();

  it('read their tasks by primary key, not every queued or scheduled task', async () => {
    const { db } = opened();
    await db.execute(sql`alter table tasks set (autovacuum_enabled = false)`);
    const store = new TaskStore(db);
    const row = (status: 'queued' | 'scheduled') => taskRowFrom({ image: 'busybox' } as never, config, { status, statusReason: 'waiting' });
    for (let i = 0; i < 4; i++) await store.insertMany(Array.from({ length: 1000 }, () => row(i % 2 === 0 ? 'queued' : 'scheduled')));
    const [lone] = await store.insertMany([row('queued')]);
    const never = (await db.execute(sql`select last_analyze, last_autoanalyze from pg_stat_user_tables where relname = 'tasks'`)) as unknown as {
      rows: Array<{ last_analyze: unknown; last_autoanalyze: unknown }>;
    };
    expect(never.rows[0]).toEqual({ last_analyze: null, last_autoanalyze: null });

    const seen = explaining(db);
    await placeAttempts(seen.db, [{ taskId: lone.id, nodeId: '0190a1b2-0000-7000-8000-000000000001' }]);
    await markStarted(seen.db, [{ taskId: lone.id, attempt: 1, startedAt: new Date() }]);
    await store.setStatusReasons([{ taskId: lone.id, reason: 'no node fits' }], 'queued', seen.db);
    expect(seen.plans).toHaveLength(3);
    for (const plan of seen.plans) {
      expect(plan).toMatch(/tasks_pkey/);
      expect(plan, plan).not.toMatch(BY_STATUS);
    }
  });
});
