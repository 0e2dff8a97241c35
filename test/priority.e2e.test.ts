// Priority classes on a full node: higher classes first, FIFO within one, and aging so a low
// task that has waited long enough is not starved by newer high-priority work.
import { afterEach, expect, it } from 'vitest';
import { api, spawnJarvis, startJarvis } from './support/jarvis.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function oneSlotCluster(agingSeconds: number) {
  const s = await startJarvis({ command: 'server', databaseUrl: null, env: { JARVIS_AGING_SECONDS: String(agingSeconds) } });
  cleanups.push(() => s.stop());
  const w = spawnJarvis(['worker', '--executor', 'simulated', '--cpu', '4', '--memory-mb', '4096', '--max-tasks', '1'], {
    ...(process.env as Record<string, string>),
    JARVIS_REDIS_PREFIX: s.prefix,
    JARVIS_API_URL: s.url,
    JARVIS_WORKER_NAME: `one-${s.prefix}`,
  });
  cleanups.push(() => w.stop());
  await w.waitFor(/worker: registered/, 30_000);
  return api(s.url);
}

const sim = (ms: number, priority: string, name: string) => ({ image: 'sim', name, priority, labels: { 'jarvis.sim/duration_ms': String(ms) } });
const startOf = async (h: ReturnType<typeof api>, id: string) => Date.parse((await h.waitForTask(id, (t) => t.status === 'succeeded', 60_000)).started_at);

it('runs waiting tasks by priority class, FIFO within a class', async () => {
  const h = await oneSlotCluster(3600);
  const blocker = await h.post('/tasks', sim(1500, 'normal', 'blocker'));
  await h.waitForTask(blocker.body.id, (t) => t.status === 'running');
  const order = [['low', 'l1'], ['normal', 'n1'], ['critical', 'c1'], ['high', 'h1'], ['critical', 'c2'], ['low', 'l2']];
  const ids: Record<string, string> = {};
  for (const [p, n] of order) ids[n] = (await h.post('/tasks', sim(50, p, n))).body.id;
  const starts = await Promise.all(Object.entries(ids).map(async ([n, id]) => [n, await startOf(h, id)] as const));
  expect(starts.sort((a, b) => a[1] - b[1]).map(([n]) => n)).toEqual(['c1', 'c2', 'h1', 'n1', 'l1', 'l2']);
});

it('ages a waiting low task past newer high-priority ones', async () => {
  const h = await oneSlotCluster(0.5);
  const blocker = await h.post('/tasks', sim(2500, 'normal', 'blocker'));
  await h.waitForTask(blocker.body.id, (t) => t.status === 'running');
  const low = (await h.post('/tasks', sim(50, 'low', 'old-low'))).body.id;
  await new Promise((r) => setTimeout(r, 1800));
  const highs: string[] = [];
  for (let i = 0; i < 3; i++) highs.push((await h.post('/tasks', sim(50, 'high', `new-high-${i}`))).body.id);
  const lowStart = await startOf(h, low);
  for (const id of highs) expect(lowStart).toBeLessThan(await startOf(h, id));
});
