// TaskStore.get reads a task as one JSON text through a named statement (row_to_json): the row
// it gives must equal drizzle's own SELECT of the same task, for every column and for tasks in
// every shape (fresh, placed and finished with outputs, all nullable columns set or null), on
// PostgreSQL and on PGlite. TaskStore.statuses reads many tasks' statuses alike.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq, sql } from 'drizzle-orm';
import { useTestDatabase } from '../../test/support/database.ts';
import { openDatabase, type Database } from './db.ts';
import { tasks } from './schema.ts';
import { TaskStore } from './task-store.ts';
import { taskRowFrom } from '../control/task-rows.ts';
import { loadConfig } from '../config/index.ts';

const config = loadConfig({ file: null, overrides: {} });

async function checkReads(database: Database) {
  const store = new TaskStore(database.db);
  const specs = [
    { image: 'busybox', command: 'echo "1"' },
    { image: 'busybox', command: ['sh', '-c', '123'], env: { A: '1', N: '42', B: { secret: 'x' } }, labels: { k: '7', 'team/x': 'é "q" \\' }, name: 'n\u2028', priority: 'critical' },
    { image: 'busybox', resources: { cpu: 0.25, memory: '1Gi', gpu: 1 }, timeout_seconds: 5, max_retries: 2, retry_backoff_seconds: 0.5, node_selector: { zone: 'a' }, idempotency_key: 'k-1' },
  ];
  const rows = specs.map((s) => taskRowFrom(s as never, config, { status: 'queued', statusReason: 'waiting', tenant: 't1' }));
  const created = await store.insertMany(rows);
  // The third: placed, run and finished, so every timestamp, the node, outputs and result are set.
  await database.db.execute(sql`
    update tasks set status = 'succeeded', node_id = ${'0190a1b2-0000-7000-8000-000000000001'}::uuid, attempts = 2, exit_code = 0,
      error = 'none', scheduled_at = now() - interval '3.123456 seconds', started_at = now() - interval '2 seconds',
      finished_at = now(), outputs = '{"a":"1","b":"{\\"x\\":2}"}'::jsonb, result = '{"r": 1}', output_spec = '{"a":{"path":"/tmp/a"}}'::jsonb,
      templates = '{"name":"x"}'::jsonb, when_condition = 'true', status_reason = null
    where id = ${created[2].id}::uuid`);
  for (const t of created) {
    const [expected] = await database.db.select().from(tasks).where(eq(tasks.id, t.id));
    const got = await store.get(t.id);
    expect(got).toEqual(expected);
    // Same property order as drizzle's row (one object shape for every read).
    expect(Object.keys(got as object)).toEqual(Object.keys(expected));
  }
  expect((await store.get(created[2].id))?.finishedAt).toBeInstanceOf(Date);
  expect(await store.get('0190a1b2-0000-7000-8000-0000000000ff')).toBeNull();
  // A quiet log follower's read (control/task-status-reads.ts): an unknown task is left out.
  const statuses = await store.statuses([...created.map((t) => t.id), '0190a1b2-0000-7000-8000-0000000000ff']);
  expect(statuses).toEqual(new Map([[created[0].id, 'queued'], [created[1].id, 'queued'], [created[2].id, 'succeeded']]));
  expect(await store.statuses([])).toEqual(new Map());
}

describe('TaskStore.get', () => {
  const opened = useTestDatabase();

  it('reads what a SELECT reads, on PostgreSQL, again and again on each pooled connection', async () => {
    await checkReads(opened());
    // The named statement is prepared once per connection: reads in parallel use several.
    const store = new TaskStore(opened().db);
    const [t] = await store.insertMany([taskRowFrom({ image: 'busybox' } as never, config, { status: 'queued', statusReason: null })]);
    const all = await Promise.all(Array.from({ length: 40 }, () => store.get(t.id)));
    expect(all.every((r) => r?.id === t.id)).toBe(true);
  });

  it('reads what a SELECT reads, on PGlite', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jarvis-get-'));
    const prev = process.env.JARVIS_EMBEDDED_DB;
    process.env.JARVIS_EMBEDDED_DB = 'pglite';
    const lite = await openDatabase({ url: null, dataDir: join(dir, 'pglite') });
    try {
      await checkReads(lite);
    } finally {
      await lite.close();
      if (prev === undefined) delete process.env.JARVIS_EMBEDDED_DB;
      else process.env.JARVIS_EMBEDDED_DB = prev;
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
