// TaskStore's queries against a real PostgreSQL whose statistics are stale, as they are while
// tasks arrive faster than autoanalyze runs: the reconciler's page must still be read in order
// from the index, not gathered whole and sorted. And the label filter's count must reach the
// partial index on labels.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { createTestDatabase } from '../../test/support/database.ts';
import { openDatabase, type Database, type Db } from './db.ts';
import * as schema from './schema.ts';
import { TaskStore } from './task-store.ts';
import { taskRowFrom } from '../control/task-rows.ts';
import { loadConfig } from '../config/index.ts';

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}
const nodesOf = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodesOf)];

describe('TaskStore with stale statistics', () => {
  let db: { url: string; drop(): Promise<void> };
  let database: Database;
  let pool: pg.Pool;
  const sent: Array<{ query: string; params: unknown[] }> = [];
  let store: TaskStore;
  beforeAll(async () => {
    db = await createTestDatabase();
    database = await openDatabase({ url: db.url, dataDir: '/nonexistent' }); // migrates
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    const logged = drizzle(pool, { schema, logger: { logQuery: (query, params) => void sent.push({ query, params }) } });
    store = new TaskStore(logged as unknown as Db);
    // Statistics taken while the table was empty, and no autoanalyze to refresh them.
    await pool.query('alter table tasks set (autovacuum_enabled = off)');
    await pool.query('analyze tasks');
    const config = loadConfig({ file: null, overrides: {} });
    for (let i = 0; i < 20; i++) {
      await new TaskStore(database.db).insertMany(
        Array.from({ length: 1000 }, () => taskRowFrom({ image: 'busybox', command: ['true'] } as never, config, { status: 'queued', statusReason: 'waiting', tenant: 't' })),
      );
    }
  }, 60_000);
  afterAll(async () => {
    await pool?.end();
    await database?.close();
    await db?.drop();
  });

  /** The plan of the page query as PostgreSQL runs it with the statements the store sent before it in its transaction. */
  async function planOfPage(withSettings: boolean): Promise<PlanNode[]> {
    const page = sent.findIndex((s) => /^select .* from "tasks"/i.test(s.query));
    expect(page).toBeGreaterThan(-1);
    const before = sent.slice(0, page).filter((s) => !/^(begin|commit|rollback)/i.test(s.query.trim()));
    const c = await pool.connect();
    try {
      await c.query('begin');
      if (withSettings) for (const s of before) await c.query(s.query, s.params);
      const r = await c.query(`explain (format json) ${sent[page].query}`, sent[page].params);
      await c.query('rollback');
      return nodesOf(r.rows[0]['QUERY PLAN'][0].Plan);
    } finally {
      c.release();
    }
  }

  it("reads the reconciler's page of waiting tasks in seq order from the partial index, sorting nothing", async () => {
    sent.length = 0;
    const first = await store.idsInStatus(['queued', 'scheduled'], 0, 100);
    expect(first).toHaveLength(100);
    const next = await store.idsInStatus(['queued', 'scheduled'], first[99].seq, 100);
    expect(next[0].seq).toBeGreaterThan(first[99].seq);
    // The setup is stale enough to matter: the query alone is planned as a bitmap read and a sort.
    const bare = await planOfPage(false);
    expect(bare.map((n) => n['Node Type'])).toEqual(expect.arrayContaining(['Sort']));
    const plan = await planOfPage(true);
    expect(plan.map((n) => n['Node Type'])).toEqual(['Limit', 'Index Scan']);
    expect(plan[1]['Index Name']).toBe('tasks_waiting_seq_idx');
  });

  it('counts a label filter from the partial labels index, which the filter alone could not use', async () => {
    const config = loadConfig({ file: null, overrides: {} });
    await new TaskStore(database.db).insertMany(
      Array.from({ length: 200 }, (_, i) => taskRowFrom({ image: 'busybox', labels: { team: i % 2 ? 'a' : 'b' } } as never, config, { status: 'queued', statusReason: 'waiting', tenant: 't' })),
    );
    await pool.query('analyze tasks');
    sent.length = 0;
    const page = await store.list({ label: { key: 'team', value: 'a' }, limit: 50, offset: 0 });
    expect(page.total).toBe(100);
    expect(page.items.every((t) => t.labels.team === 'a')).toBe(true);
    const count = sent.find((s) => /^select count\(\*\)/i.test(s.query));
    expect(count).toBeDefined();
    const plan = async (query: string) => {
      const r = await pool.query(`explain (format json) ${query}`, count!.params);
      return nodesOf(r.rows[0]['QUERY PLAN'][0].Plan).map((n) => n['Index Name']);
    };
    expect(await plan(count!.query)).toContain('tasks_labels_idx');
    // Without its `labels <> '{}'` the same filter reads the table: the index is partial.
    const bare = count!.query.replace(/ and "tasks"\."labels" <> '\{\}'::jsonb/, '');
    expect(bare).not.toBe(count!.query);
    expect(await plan(bare)).not.toContain('tasks_labels_idx');
  });
});
