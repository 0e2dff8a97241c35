import { openDatabase } from '/work/main/src/state/db.ts';
import { TaskStore } from '/work/main/src/state/task-store.ts';
import { taskRowFrom } from '/work/main/src/control/task-rows.ts';
import { loadConfig } from '/work/main/src/config/index.ts';
const url = process.argv[2];
const db = await openDatabase({ url, dataDir: '/tmp/x' });
const store = new TaskStore(db.db);
const cfg = loadConfig({});
for (const n of [1, 16, 100]) {
  const times: number[] = [];
  for (let i = 0; i < 200; i++) {
    const rows = Array.from({ length: n }, () => taskRowFrom({ image: 'img', command: ['true'] } as any, cfg as any, { status: 'queued', statusReason: 'w', tenant: 'default' }));
    const t = performance.now();
    await store.insertMany(rows);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  console.log(n, 'rows: p50', times[100].toFixed(2), 'ms p90', times[180].toFixed(2));
}
await db.close();
