// A cancelled task gets SIGTERM and worker.kill_grace_seconds before SIGKILL, through the worker
// process: a task that traps SIGTERM writes its last words and exits, and ends `cancelled`.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { REDIS_URL, TEST_IMAGE } from './support/env.ts';
import { api, spawnJarvis, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs last.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('worker.kill_grace_seconds', () => {
  it('lets a cancelled task handle SIGTERM before SIGKILL', async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const server = await startJarvis({ command: 'server', databaseUrl: db.url });
    cleanups.push(() => server.stop());
    const http = api(server.url);
    const worker = spawnJarvis(['worker', '--name', 'node-g'], {
      ...(process.env as Record<string, string>),
      REDIS_URL,
      JARVIS_REDIS_PREFIX: server.prefix,
      JARVIS_API_URL: server.url,
      JARVIS_KILL_GRACE_SECONDS: '30',
      JARVIS_LOG_LEVEL: 'info',
    });
    cleanups.push(() => worker.stop('SIGKILL'));
    await worker.waitFor(/worker: registered/, 30_000);

    const command = `trap 'echo flushed; exit 0' TERM; echo ready; while true; do sleep 0.1; done`;
    const t = await http.post('/tasks', { image: TEST_IMAGE, command, resources: { cpu: 0.1, memory_mb: 32 } });
    expect(t.status, JSON.stringify(t.body)).toBe(201);
    await http.waitForTask(t.body.id, (x) => x.status === 'running', 30_000);
    for (let i = 0; i < 100 && !(await http.get(`/tasks/${t.body.id}/logs`)).body.logs.includes('ready'); i++) await new Promise((r) => setTimeout(r, 100));
    const at = Date.now();
    expect((await http.post(`/tasks/${t.body.id}/cancel`)).status).toBe(200);
    await worker.waitFor(/"msg":"worker: attempt finished"/, 20_000);
    expect(Date.now() - at).toBeLessThan(15_000); // not the 30 s grace: it exited on SIGTERM
    expect((await http.get(`/tasks/${t.body.id}/logs`)).body.logs).toBe('ready\nflushed\n');
    expect((await http.get(`/tasks/${t.body.id}`)).body.status).toBe('cancelled');
    expect(worker.output()).toMatch(/SIGTERM, SIGKILL after the grace/);
  });
});
