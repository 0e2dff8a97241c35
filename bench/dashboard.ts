// Dashboard speed with 100,000 tasks in PostgreSQL and two 1,000-task workflows (a mesh drawn in
// depth bands, a 998-wide fan-out): the server time of each page, median of 5. Run with
// `node --import tsx bench/dashboard.ts` (needs the test services: Redis and PostgreSQL).
import pg from 'pg';
import { createTestDatabase } from '../test/support/database.ts';
import { TEST_IMAGE } from '../test/support/env.ts';
import { api, startJarvis } from '../test/support/jarvis.ts';

type Entry = Record<string, unknown>;

const db = await createTestDatabase();
const jarvis = await startJarvis({ command: 'server', databaseUrl: db.url });
try {
  // 100,000 ended tasks, written straight to the table (no queue to churn through).
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query(`INSERT INTO tasks (id, name, image, env, priority, cpu, memory_mb, gpu, max_retries, retry_backoff_seconds,
      node_selector, labels, network, status, status_reason, attempts, exit_code, created_at, started_at, finished_at)
    SELECT gen_random_uuid(), 'bulk-' || i, 'busybox', '{}'::jsonb, 'normal', 1, 256, 0, 0, 1, '{}'::jsonb,
      jsonb_build_object('batch', (i % 100)::text), 'none', (ARRAY['succeeded','failed','cancelled','succeeded'])[1 + i % 4], 'done', 1, 0,
      now() - (i || ' seconds')::interval, now() - (i || ' seconds')::interval, now() - (i || ' seconds')::interval + interval '3 seconds'
    FROM generate_series(1, 100000) AS i`);
  await client.query('ANALYZE tasks');
  await client.end();

  const task = (key: string, depends_on: string[] = []): Entry => ({ key, image: TEST_IMAGE, command: ['true'], depends_on });
  // The root never runs (no node matches), so the workflows stay as submitted.
  const root = { ...task('root'), node_selector: { zone: 'nowhere' } };
  const mesh: Entry[] = [root];
  for (let i = 1; i < 1000; i++) mesh.push(task(`t${i}`, [i > 10 ? `t${i - 10}` : 'root', ...(i > 7 ? [`t${i - 7}`] : [])]));
  const fan: Entry[] = [root];
  for (let i = 0; i < 998; i++) fan.push(task(`m${i}`, ['root']));
  fan.push(task('reduce', fan.slice(1).map((f) => f.key as string)));
  const ids: string[] = [];
  for (const [name, tasks] of [['mesh', mesh], ['fan', fan]] as const) {
    const r = await api(jarvis.url).post('/workflows', { name, tasks });
    if (r.status !== 201) throw new Error(`workflow ${name}: ${JSON.stringify(r.body).slice(0, 500)}`);
    ids.push(r.body.id);
  }

  const pages = ['/ui', '/ui/tasks', '/ui/tasks?offset=99000', '/ui/tasks?status=failed', '/ui/tasks?label=batch:7', '/ui/workflows'];
  pages.push(`/ui/workflows/${ids[0]}`, `/ui/workflows/${ids[1]}`);
  for (const path of pages) {
    const runs: number[] = [];
    let bytes = 0;
    for (let k = 0; k < 5; k++) {
      const start = performance.now();
      const r = await fetch(jarvis.url + path);
      bytes = (await r.text()).length;
      if (r.status !== 200) throw new Error(`${path}: ${r.status}`);
      runs.push(performance.now() - start);
    }
    runs.sort((a, b) => a - b);
    console.log(`${path.padEnd(60)} median ${runs[2].toFixed(0)} ms, fastest ${runs[0].toFixed(0)} ms, ${bytes} bytes`);
  }
} finally {
  await jarvis.stop();
  await db.drop();
}
