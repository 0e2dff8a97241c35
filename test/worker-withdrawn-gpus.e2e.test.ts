// An attempt that ends without running because the control plane withdrew it leaves the worker's
// running attempts, and gives back the GPUs its container held before a restart: here a worker
// restarts with such a container (GPU 0 of one) and its withdrawn entry pending, then is handed a
// task that needs the GPU.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { REDIS_URL, TEST_IMAGE } from './support/env.ts';
import { api, spawnJarvis, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';
import { ownsRefusingForwarder } from './support/proxies.ts';

// Redis keys and task containers of this file's processes; first, so that it runs last.
afterAll(removeLeftovers);

const run = promisify(execFile);
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('a withdrawn attempt', () => {
  it('gives back the GPUs of the container it left before a restart', async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const server = await startJarvis({ command: 'server', databaseUrl: db.url });
    cleanups.push(() => server.stop());
    const http = api(server.url);
    const front = await ownsRefusingForwarder(server.url);
    cleanups.push(() => new Promise((r) => front.server.close(r)));
    cleanups.push(async () => front.server.closeAllConnections());
    const redis = new Redis(REDIS_URL);
    cleanups.push(async () => redis.disconnect());
    const env = {
      ...(process.env as Record<string, string>),
      REDIS_URL,
      JARVIS_REDIS_PREFIX: server.prefix,
      JARVIS_API_URL: front.url,
      JARVIS_LOG_LEVEL: 'info',
    };

    const first = spawnJarvis(['worker', '--name', 'node-w', '--gpu', '1'], env);
    cleanups.push(() => first.stop('SIGKILL'));
    const nodeId = JSON.parse((await first.waitFor(/\{[^\n]*"worker: registered"[^\n]*\}/, 30_000))[0]).node_id as string;
    await new Promise((r) => setTimeout(r, 500)); // its inbox's group made
    await first.stop('SIGKILL');

    // What it left: a container of an attempt holding GPU 0, its inbox entry taken and never
    // done, and the attempt withdrawn since (its task placed elsewhere).
    const taskId = randomUUID();
    const labels = ['jarvis.node_id', nodeId, 'jarvis.task_id', taskId, 'jarvis.attempt', '1', 'jarvis.gpus', '0'];
    const { stdout } = await run('docker', ['run', '-d', '--network', 'none', ...labels.flatMap((v, i) => (i % 2 ? [] : ['--label', `${v}=${labels[i + 1]}`])), TEST_IMAGE, 'sleep', '300']);
    cleanups.push(() => run('docker', ['rm', '-f', '-v', stdout.trim()]));
    const tag = `{${server.prefix}}`;
    const inbox = `${tag}:inbox:${nodeId}`;
    const job = { taskId, attempt: 1, nodeId, image: TEST_IMAGE, command: 'true', env: {}, cpu: 0.1, memoryMb: 32, gpu: 1, network: 'none', timeoutSeconds: null, logCapBytes: 1 << 20, labels: {}, outputs: {} };
    await redis.xadd(inbox, '*', 'job', JSON.stringify(job));
    await redis.xreadgroup('GROUP', 'node', 'worker', 'COUNT', 10, 'STREAMS', inbox, '>');
    await redis.hset(`${tag}:attempt:${taskId}-a1`, 'withdrawn', '1');

    // The restart, while the control plane cannot say whose the attempt is (it keeps the container for its entry).
    front.refuseOwns = true;
    const second = spawnJarvis(['worker', '--name', 'node-w', '--gpu', '1'], env);
    cleanups.push(() => second.stop('SIGKILL'));
    await second.waitFor(/skipping an attempt the control plane withdrew/, 30_000);
    front.refuseOwns = false;

    const t = await http.post('/tasks', { image: TEST_IMAGE, command: 'true', resources: { cpu: 0.1, memory_mb: 32, gpu: 1 } });
    expect(t.status, JSON.stringify(t.body)).toBe(201);
    // No GPU on this machine: the run itself ends in error; what counts is which GPU it was given.
    await http.waitForTask(t.body.id, (x) => ['succeeded', 'failed', 'error', 'cancelled', 'timed_out'].includes(x.status), 30_000);
    await second.waitFor(new RegExp(`"task_id":"${t.body.id}"[^\\n]*"worker: attempt finished"`), 10_000);
    expect(second.output()).not.toMatch(/not enough free GPUs/);
  });
});
