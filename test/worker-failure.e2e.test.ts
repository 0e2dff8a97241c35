// A worker killed with SIGKILL, with real containers: its node goes offline and its task runs
// again elsewhere (attempt 2), and the returning worker kills the container of the attempt it
// lost; a worker back before that adopts its container instead — even one that exited while
// no worker watched it, whose exit code is still recorded.
import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { TEST_IMAGE } from './support/env.ts';
import { api, spawnJarvis, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';
import { removeTaskContainers, taskContainers, taskContainersAfter } from './support/containers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** Resolves once the task's container has exited (docker inspect: State.Status "exited"). */
async function containerExited(taskId: string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  let seen = '';
  for (;;) {
    const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=jarvis.task_id=${taskId}`]).toString().trim().split('\n').filter(Boolean);
    seen = ids.length ? execFileSync('docker', ['inspect', '--format', '{{.State.Status}}', ...ids]).toString().trim() : '(no container)';
    if (ids.length && seen.split('\n').every((s) => s === 'exited')) return;
    if (Date.now() > until) throw new Error(`the container of task ${taskId} did not exit within ${ms} ms; docker inspect says: ${seen}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}


async function cluster(offlineSeconds: number) {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const server = await startJarvis({
    command: 'server',
    databaseUrl: db.url,
    env: { JARVIS_OFFLINE_SECONDS: String(offlineSeconds), JARVIS_HEARTBEAT_SECONDS: '1' },
  });
  cleanups.push(() => server.stop());
  const worker = (name: string) => {
    const w = spawnJarvis(['worker', '--name', name, '--max-tasks', '2'], {
      ...(process.env as Record<string, string>),
      JARVIS_REDIS_PREFIX: server.prefix,
      JARVIS_API_URL: server.url,
      JARVIS_HEARTBEAT_SECONDS: '1',
    });
    cleanups.push(() => w.stop('SIGKILL'));
    return w;
  };
  return { server, http: api(server.url), worker };
}

describe('a worker killed mid-task', () => {
  it('is marked offline; its task runs again on another node; back, it kills the lost attempt', async () => {
    const { http, worker } = await cluster(3);
    const a = worker('node-a');
    await a.waitFor(/worker: registered/, 30_000);
    const t = await http.post('/tasks', { image: TEST_IMAGE, command: 'echo start; sleep 6; echo end', resources: { cpu: 0.1, memory_mb: 32 } });
    cleanups.push(async () => removeTaskContainers(t.body.id));
    const running = await http.waitForTask(t.body.id, (x) => x.status === 'running');
    const nodeA = running.node_id;
    await a.stop('SIGKILL');
    const b = worker('node-b');
    await b.waitFor(/worker: registered/, 30_000);

    const done = await http.waitForTask(t.body.id, (x) => x.status === 'succeeded', 60_000);
    expect(done.attempts).toBe(2);
    expect(done.node_id).not.toBe(nodeA);
    expect((await http.get(`/nodes/${nodeA}`)).body.status).toBe('offline');
    expect((await http.get(`/tasks/${t.body.id}/logs`)).body.logs).toBe('start\nend\n');
    const events = (await http.get(`/tasks/${t.body.id}/events`)).body.items as Array<{ status: string; attempt: number; reason: string | null; node_id: string | null }>;
    expect(events.map((e) => `${e.status}@${e.attempt}`)).toEqual(['queued@0', 'scheduled@1', 'running@1', 'queued@1', 'scheduled@2', 'running@2', 'succeeded@2']);
    expect(events[3].reason).toBe('node node-a went offline during attempt 1; placing it again');

    // node-a comes back: the container of attempt 1 (still sleeping, or exited) is removed.
    const a2 = worker('node-a');
    await a2.waitFor(/worker: registered/, 30_000);
    const deadline = Date.now() + 20_000;
    while (taskContainers(t.body.id) !== '' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await taskContainersAfter(t.body.id)).toBe('');
    expect((await http.get(`/nodes/${nodeA}`)).body.status).toBe('available');
    expect((await http.get(`/tasks/${t.body.id}`)).body).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('adopts its running container when it returns in time, keeping the whole output', async () => {
    const { http, worker } = await cluster(60);
    const a = worker('node-a');
    await a.waitFor(/worker: registered/, 30_000);
    const t = await http.post('/tasks', { image: TEST_IMAGE, command: 'echo start; sleep 4; echo end', resources: { cpu: 0.1, memory_mb: 32 } });
    cleanups.push(async () => removeTaskContainers(t.body.id));
    await http.waitForTask(t.body.id, (x) => x.status === 'running');
    await a.stop('SIGKILL');
    const back = worker('node-a');
    await back.waitFor(/adopting the container of this attempt/, 40_000);
    const done = await http.waitForTask(t.body.id, (x) => x.status === 'succeeded', 60_000);
    expect(done.attempts).toBe(1);
    expect((await http.get(`/tasks/${t.body.id}/logs`)).body.logs).toBe('start\nend\n');
    expect(await taskContainersAfter(t.body.id)).toBe('');
  });

  it('records the exit code of a container that ended while its worker was down', async () => {
    const { http, worker } = await cluster(60);
    const a = worker('node-a');
    await a.waitFor(/worker: registered/, 30_000);
    const t = await http.post('/tasks', { image: TEST_IMAGE, command: 'sleep 1; echo finished alone; exit 3', resources: { cpu: 0.1, memory_mb: 32 } });
    cleanups.push(async () => removeTaskContainers(t.body.id));
    await http.waitForTask(t.body.id, (x) => x.status === 'running');
    await a.stop('SIGKILL');
    await containerExited(t.body.id); // the container exits while no worker watches it
    worker('node-a');
    const done = await http.waitForTask(t.body.id, (x) => x.status === 'failed', 60_000);
    expect(done).toMatchObject({ attempts: 1, exit_code: 3 });
    expect((await http.get(`/tasks/${t.body.id}/logs`)).body.logs).toBe('finished alone\n');
    expect(await taskContainersAfter(t.body.id)).toBe('');
  });
});
