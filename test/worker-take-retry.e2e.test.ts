// A worker whose Redis answers the take of an attempt with an error reply (OOM, READONLY during a
// failover; here NOPERM: the worker's Redis user may not run scripts for a while) takes it again
// once Redis accepts, instead of leaving its inbox entry pending until the next start while the
// task waits in `scheduled`. Only the take is a script in that window: the inbox is read with
// XREADGROUP and BLMPOP, and the reports (BullMQ's scripts) come after the take.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
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

describe('a Redis error reply while taking an attempt', () => {
  it('is tried again, and the task runs once Redis accepts', async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const server = await startJarvis({ command: 'server', databaseUrl: db.url, env: { JARVIS_HEARTBEAT_SECONDS: '1' } });
    cleanups.push(() => server.stop());
    const http = api(server.url);

    // The worker's own Redis user: everything for now.
    const admin = new Redis(REDIS_URL);
    cleanups.push(async () => admin.disconnect());
    const user = `jarvis-take-${randomUUID().slice(0, 8)}`;
    await admin.call('ACL', 'SETUSER', user, 'on', '>take-pw', '~*', '&*', '+@all');
    cleanups.push(() => admin.call('ACL', 'DELUSER', user));
    const url = new URL(REDIS_URL);
    url.username = user;
    url.password = 'take-pw';

    const worker = spawnJarvis(['worker', '--name', 'node-t'], {
      ...(process.env as Record<string, string>),
      REDIS_URL: url.toString(),
      JARVIS_REDIS_PREFIX: server.prefix,
      JARVIS_API_URL: server.url,
      JARVIS_HEARTBEAT_SECONDS: '1',
      JARVIS_LOG_LEVEL: 'info',
    });
    cleanups.push(() => worker.stop('SIGKILL'));
    await worker.waitFor(/worker: registered/, 30_000);
    await new Promise((r) => setTimeout(r, 500)); // joined its inbox

    // Redis now refuses this user's scripts (NOPERM), the take among them; reads still pass.
    await admin.call('ACL', 'SETUSER', user, '-@scripting');
    const t = await http.post('/tasks', { image: TEST_IMAGE, command: 'echo ran', resources: { cpu: 0.1, memory_mb: 32 } });
    expect(t.status, JSON.stringify(t.body)).toBe(201);
    await worker.waitFor(/NOPERM/, 30_000);
    await new Promise((r) => setTimeout(r, 2_000)); // a few tries
    expect((await http.get(`/tasks/${t.body.id}`)).body.status).toBe('scheduled');
    await admin.call('ACL', 'SETUSER', user, '+@all'); // Redis accepts again
    const done = await http.waitForTask(t.body.id, (x) => ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(x.status), 30_000);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect((await http.get(`/tasks/${t.body.id}/logs`)).body.logs).toBe('ran\n');
    expect(worker.output()).toMatch(/Redis refused to take an attempt; trying again/);
  });
});
