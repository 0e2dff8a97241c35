// A worker whose Redis answers the take of an attempt with an error reply (OOM, READONLY during a
// failover; here NOPERM: the worker's Redis user may not run scripts for a while) takes it again
// once Redis accepts, instead of leaving its inbox entry pending until the next start while the
// task waits in `scheduled`. Only the take is a script in that window: the inbox is read with
// XREADGROUP and BLMPOP, and the reports (BullMQ's scripts) come after the take. Redis refuses
// the node's attempts together: the worker says so once (a minute) at warn, not per attempt.
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
  it('is tried again, said once for the node, and the tasks run once Redis accepts', async () => {
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
    const ids: string[] = [];
    for (const word of ['one', 'two', 'three']) {
      const t = await http.post('/tasks', { image: TEST_IMAGE, command: `echo ${word}`, resources: { cpu: 0.1, memory_mb: 32 } });
      expect(t.status, JSON.stringify(t.body)).toBe(201);
      ids.push(t.body.id);
    }
    await worker.waitFor(/NOPERM/, 30_000);
    await new Promise((r) => setTimeout(r, 3_000)); // a few tries of each
    for (const id of ids) expect((await http.get(`/tasks/${id}`)).body.status).toBe('scheduled');
    // Said once for the node, not once per attempt (nor per try).
    const refusals = () => worker.output().split('\n').filter((l) => /"level":40/.test(l) && /Redis refused to take an attempt; trying again/.test(l));
    expect(refusals(), worker.output().slice(-3000)).toHaveLength(1);
    await admin.call('ACL', 'SETUSER', user, '+@all'); // Redis accepts again
    for (const [i, id] of ids.entries()) {
      const done = await http.waitForTask(id, (x) => ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(x.status), 30_000);
      expect(done).toMatchObject({ status: 'succeeded', attempts: 1 });
      expect((await http.get(`/tasks/${id}/logs`)).body.logs).toBe(`${['one', 'two', 'three'][i]}\n`);
    }
    expect(refusals()).toHaveLength(1);
    expect(worker.output()).toMatch(/"level":30[^\n]*Redis took the attempt it had refused/);
  });
});
