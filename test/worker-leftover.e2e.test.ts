// A worker killed mid-task comes back and finds its attempt's container still running (it keeps it
// for the attempt's inbox entry to adopt), but the entry then ends the attempt without running it:
// cancelled meanwhile, or its secrets gone. The container must go with the attempt: nothing else
// waits for it, enforces its timeout or removes it, and its GPUs would go to other attempts.
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { redisNames } from '../src/scheduler/queues.ts';
import { createTestDatabase } from './support/database.ts';
import { REDIS_URL, TEST_IMAGE } from './support/env.ts';
import { api, spawnJarvis, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';
import { taskContainers, taskContainersAfter } from './support/containers.ts';

/** Each container as `name state`. */
const STATE = '{{.Names}} {{.State}}';

// Redis keys and task containers of this file's processes; first, so that it runs last.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});


async function cluster() {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const server = await startJarvis({
    command: 'server',
    databaseUrl: db.url,
    env: { JARVIS_OFFLINE_SECONDS: '60', JARVIS_HEARTBEAT_SECONDS: '1', JARVIS_SECRET_KEY: Buffer.alloc(32, 7).toString('base64') },
  });
  cleanups.push(() => server.stop());
  const worker = (name: string) => {
    const w = spawnJarvis(['worker', '--name', name, '--max-tasks', '2'], {
      ...(process.env as Record<string, string>),
      REDIS_URL,
      JARVIS_REDIS_PREFIX: server.prefix,
      JARVIS_API_URL: server.url,
      JARVIS_HEARTBEAT_SECONDS: '1',
      JARVIS_LOG_LEVEL: 'info',
    });
    cleanups.push(() => w.stop('SIGKILL'));
    return w;
  };
  return { server, http: api(server.url), worker };
}

/** Submits a long task, waits for it to run, and kills its worker (SIGKILL): the container stays. */
async function runThenKill(c: Awaited<ReturnType<typeof cluster>>, body: Record<string, unknown>) {
  const a = c.worker('node-a');
  await a.waitFor(/worker: registered/, 30_000);
  const t = await c.http.post('/tasks', { image: TEST_IMAGE, command: 'echo start; sleep 120', resources: { cpu: 0.1, memory_mb: 32 }, ...body });
  expect(t.status, JSON.stringify(t.body)).toBe(201);
  const id = t.body.id as string;
  cleanups.push(async () => {
    const names = taskContainers(id, STATE).split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
    if (names.length) execFileSync('docker', ['rm', '-f', '-v', ...names]);
  });
  await c.http.waitForTask(id, (x) => x.status === 'running');
  await a.stop('SIGKILL');
  expect(taskContainers(id, STATE)).toMatch(/ running$/);
  return id;
}

describe('a restarted worker whose adopted attempt ends before it runs', () => {
  it('removes the container of an attempt cancelled while it was down (the cancel key alone)', async () => {
    const c = await cluster();
    const id = await runThenKill(c, {});
    // What a cancel whose message nobody heard leaves: the key naming the attempt.
    const redis = new Redis(REDIS_URL);
    try {
      await redis.set(redisNames(c.server.prefix).attemptCancelKey(id), 'a1', 'EX', 600);
    } finally {
      redis.disconnect();
    }
    const back = c.worker('node-a');
    await back.waitFor(/its inbox entry will adopt it/, 30_000);
    const done = await c.http.waitForTask(id, (x) => x.status === 'cancelled', 30_000);
    expect(done.attempts).toBe(1);
    expect(await taskContainersAfter(id, 15_000, STATE)).toBe('');
  });

  it('removes the container of an attempt whose secret was deleted while it was down', async () => {
    const c = await cluster();
    expect((await c.http.post('/secrets', { name: 'pw', value: 'left-behind-secret' })).status).toBe(201);
    const id = await runThenKill(c, { env: { PW: { secret: 'pw' } } });
    expect((await c.http.call('DELETE', '/secrets/pw')).status).toBe(204);
    const back = c.worker('node-a');
    await back.waitFor(/its inbox entry will adopt it/, 30_000);
    const done = await c.http.waitForTask(id, (x) => x.status === 'failed', 30_000);
    expect(done.error).toMatch(/secret "pw" .*no longer exists/);
    expect(await taskContainersAfter(id, 15_000, STATE)).toBe('');
  });
});
