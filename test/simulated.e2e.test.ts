// The simulated executor: same queues, reports and heartbeats as a real worker, no container.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { api, spawnJarvis, startJarvis, type JarvisProcess } from './support/jarvis.ts';

let server: JarvisProcess & { prefix: string };
let worker: ReturnType<typeof spawnJarvis>;

beforeAll(async () => {
  server = await startJarvis({ command: 'server', databaseUrl: null });
  worker = spawnJarvis(['worker', '--executor', 'simulated', '--cpu', '64', '--memory-mb', '65536', '--max-tasks', '100'], {
    ...(process.env as Record<string, string>),
    JARVIS_REDIS_PREFIX: server.prefix,
    JARVIS_API_URL: server.url,
    JARVIS_WORKER_NAME: `sim-${server.prefix}`,
    DOCKER_HOST: 'unix:///nonexistent/docker.sock', // it must not need an engine
  });
  await worker.waitFor(/worker: registered/, 30_000);
});
afterAll(async () => {
  await worker?.stop();
  await server?.stop();
});

it('waits for the labelled duration, reports the labelled exit code, and honours timeouts', async () => {
  const http = api(server.url);
  const nodes = (await http.get('/nodes')).body.items;
  expect(nodes[0]).toMatchObject({ capacity: { cpu: 64, memory_mb: 65536, max_tasks: 100 }, status: 'available' });
  const ok = await http.post('/tasks', { image: 'not/pulled', labels: { 'jarvis.sim/duration_ms': '300' } });
  const bad = await http.post('/tasks', { image: 'not/pulled', labels: { 'jarvis.sim/exit_code': '9' } });
  const slow = await http.post('/tasks', { image: 'not/pulled', timeout_seconds: 1, labels: { 'jarvis.sim/duration_ms': '60000' } });
  const a = await http.waitForTask(ok.body.id, (t) => t.status === 'succeeded');
  expect(Date.parse(a.finished_at) - Date.parse(a.started_at)).toBeGreaterThanOrEqual(290);
  expect((await http.get(`/tasks/${ok.body.id}/logs`)).body.logs).toBe('simulated run of 300 ms\n');
  expect(await http.waitForTask(bad.body.id, (t) => t.status === 'failed')).toMatchObject({ exit_code: 9 });
  expect((await http.waitForTask(slow.body.id, (t) => t.status !== 'queued' && t.status !== 'scheduled' && t.status !== 'running')).status).toBe('timed_out');
});
