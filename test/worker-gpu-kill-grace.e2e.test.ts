// The control plane frees a node's GPUs as soon as a task is cancelled, while its container runs
// its kill grace (worker.kill_grace_seconds): a GPU task placed there meanwhile waits for the card
// instead of sharing it with the stopping container. This machine has no GPU: the worker talks to
// the engine through a proxy that drops the GPU request from each create, so the tasks run as
// plain containers, and the engine's container events say when each ran.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { REDIS_URL, TEST_IMAGE } from './support/env.ts';
import { api, spawnJarvis, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';
import { engineProxy } from './support/proxies.ts';
import { taskContainersAfter } from './support/containers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs last.
afterAll(removeLeftovers);

const run = promisify(execFile);
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** When the engine started and stopped the task's containers (ns since the epoch, as the engine's events say). */
async function containerEvents(taskId: string, since: number, attempt?: number): Promise<{ start: bigint[]; die: bigint[] }> {
  const { stdout } = await run('docker', [
    'events', '--since', String(since), '--until', String(Math.ceil(Date.now() / 1000) + 1),
    '--filter', 'type=container', '--filter', `label=jarvis.task_id=${taskId}`,
    ...(attempt === undefined ? [] : ['--filter', `label=jarvis.attempt=${attempt}`]),
    '--format', '{{.Action}} {{.TimeNano}}',
  ]);
  const lines = stdout.trim().split('\n').map((l) => l.split(' '));
  const at = (action: string) => lines.filter(([a]) => a === action).map(([, ns]) => BigInt(ns));
  return { start: at('start'), die: at('die') };
}

/**
 * A control plane and a worker with one GPU, behind an engine proxy that drops the GPU request
 * from each create (no GPU here), with a 4 s kill grace; `since`: for the engine's events.
 */
async function oneGpuWorker(name: string) {
  const since = Math.floor(Date.now() / 1000) - 1;
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const server = await startJarvis({ command: 'server', databaseUrl: db.url });
  cleanups.push(() => server.stop());
  const engine = await engineProxy((body) => delete (body.HostConfig as { DeviceRequests?: unknown }).DeviceRequests);
  cleanups.push(() => engine.close());
  const worker = spawnJarvis(['worker', '--name', name, '--gpu', '1'], {
    ...(process.env as Record<string, string>),
    REDIS_URL,
    JARVIS_REDIS_PREFIX: server.prefix,
    JARVIS_API_URL: server.url,
    DOCKER_HOST: engine.dockerHost,
    JARVIS_KILL_GRACE_SECONDS: '4',
    JARVIS_LOG_LEVEL: 'info',
  });
  cleanups.push(() => worker.stop('SIGKILL'));
  await worker.waitFor(/worker: registered/, 30_000);
  return { since, server, http: api(server.url), worker };
}

describe('a GPU task placed while a cancelled one runs its kill grace', () => {
  it('starts once the cancelled container has ended, on its own card', async () => {
    const { since, http, worker } = await oneGpuWorker('node-gpu');

    const resources = { cpu: 0.1, memory_mb: 32, gpu: 1 };
    // Ignores SIGTERM: it runs the whole grace, until SIGKILL.
    const a = await http.post('/tasks', { image: TEST_IMAGE, command: `trap '' TERM; echo ready; sleep 300`, resources });
    expect(a.status, JSON.stringify(a.body)).toBe(201);
    await http.waitForTask(a.body.id, (x) => x.status === 'running', 30_000);
    for (let i = 0; i < 100 && !(await http.get(`/tasks/${a.body.id}/logs`)).body.logs.includes('ready'); i++) await new Promise((r) => setTimeout(r, 100));

    expect((await http.post(`/tasks/${a.body.id}/cancel`)).status).toBe(200);
    const b = await http.post('/tasks', { image: TEST_IMAGE, command: 'echo ran', resources });
    expect(b.status, JSON.stringify(b.body)).toBe(201);
    const done = await http.waitForTask(b.body.id, (x) => ['succeeded', 'failed', 'error', 'cancelled', 'timed_out'].includes(x.status), 40_000);
    expect(done.status, JSON.stringify(done)).toBe('succeeded');
    expect((await http.get(`/tasks/${b.body.id}/logs`)).body.logs).toBe('ran\n');
    expect((await http.get(`/tasks/${a.body.id}`)).body.status).toBe('cancelled');
    // B was placed on the node while A's container ran its grace (it was not held back elsewhere).
    expect(done.node_id).toBe((await http.get(`/tasks/${a.body.id}`)).body.node_id);

    expect(await taskContainersAfter(a.body.id), "A's container gone").toBe('');
    const ofA = await containerEvents(a.body.id, since);
    const ofB = await containerEvents(b.body.id, since);
    expect(ofA.die.length, 'A ended').toBe(1);
    expect(ofB.start.length, 'B started').toBe(1);
    expect(ofB.start[0] > ofA.die[0], `B started ${Number(ofA.die[0] - ofB.start[0]) / 1e6} ms before A's container ended`).toBe(true);
    await worker.waitFor(new RegExp(`"task_id":"${b.body.id}"[^\\n]*"worker: attempt finished"`), 10_000);
    expect(worker.output()).toMatch(/waiting for GPUs a stopping container holds/);
    expect(worker.output()).not.toMatch(/not enough free GPUs/);
  });

  it("a newer attempt of the same task waits for the cards the older one's stopping container holds", async () => {
    const { since, server, http, worker } = await oneGpuWorker('node-gpu2');

    const a = await http.post('/tasks', { image: TEST_IMAGE, command: `trap '' TERM; echo ready; sleep 300`, resources: { cpu: 0.1, memory_mb: 32, gpu: 1 } });
    expect(a.status, JSON.stringify(a.body)).toBe(201);
    const running = await http.waitForTask(a.body.id, (x) => x.status === 'running', 30_000);
    for (let i = 0; i < 100 && !(await http.get(`/tasks/${a.body.id}/logs`)).body.logs.includes('ready'); i++) await new Promise((r) => setTimeout(r, 100));
    // The node is handed attempt 2 of the task (as after the control plane took attempt 1 for
    // lost): the worker stops attempt 1 (SIGTERM, then SIGKILL after the 4 s grace) and runs 2.
    const redis = new Redis(REDIS_URL);
    cleanups.push(async () => redis.disconnect());
    const job = { taskId: a.body.id, attempt: 2, nodeId: running.node_id, image: TEST_IMAGE, command: 'echo second', env: {}, cpu: 0.1, memoryMb: 32, gpu: 1, network: 'none', timeoutSeconds: null, logCapBytes: 1 << 20, labels: {}, outputs: {} };
    await redis.xadd(`{${server.prefix}}:inbox:${running.node_id}`, '*', 'job', JSON.stringify(job));
    for (const n of [1, 2]) await worker.waitFor(new RegExp(`"attempt":${n}[^\\n]*"worker: attempt finished"|"worker: attempt finished"[^\\n]*"attempt":${n}`), 60_000);
    expect(worker.output()).toMatch(/stopped an attempt this node no longer owns: it was handed a newer attempt/);

    const first = await containerEvents(a.body.id, since, 1);
    const second = await containerEvents(a.body.id, since, 2);
    expect(first.die.length, 'attempt 1 ended').toBeGreaterThanOrEqual(1);
    expect(second.start.length, 'attempt 2 started').toBeGreaterThanOrEqual(1);
    expect(second.start[0] > first.die[0], `attempt 2 started ${Number(first.die[0] - second.start[0]) / 1e6} ms before attempt 1's container ended`).toBe(true);
    expect(worker.output()).toMatch(/waiting for GPUs a stopping container holds/);
    expect(worker.output()).not.toMatch(/not enough free GPUs/);
  });
});
