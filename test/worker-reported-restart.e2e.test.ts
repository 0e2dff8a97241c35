// A worker that stops (killed) after an attempt's report is queued and before its inbox entry is
// done finds the entry again at its next start. The attempt's container is gone by then (it is
// removed before the entry is done), and the control plane may not have recorded the report yet
// or may not answer: the attempt is not run a second time (nor its log wiped), the entry is done.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { REDIS_URL, TEST_IMAGE } from './support/env.ts';
import { api, spawnJarvis, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';
import { ownsRefusingForwarder } from './support/proxies.ts';

// Redis keys and task containers of this file's processes; first, so that it runs last.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

describe('a worker killed between an attempt’s report and its inbox entry’s done', () => {
  it('does not run the attempt again at its next start', async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const server = await startJarvis({ command: 'server', databaseUrl: db.url, env: { JARVIS_HEARTBEAT_SECONDS: '1' } });
    cleanups.push(() => server.stop());
    const http = api(server.url);
    const front = await ownsRefusingForwarder(server.url);
    cleanups.push(() => new Promise((r) => front.server.close(r)));
    cleanups.push(async () => front.server.closeAllConnections());

    // The first worker's own Redis user, to make its entry's done fail (below).
    const admin = new Redis(REDIS_URL);
    cleanups.push(async () => admin.disconnect());
    const user = `jarvis-done-${randomUUID().slice(0, 8)}`;
    await admin.call('ACL', 'SETUSER', user, 'on', '>done-pw', '~*', '&*', '+@all');
    cleanups.push(() => admin.call('ACL', 'DELUSER', user));
    const url = new URL(REDIS_URL);
    url.username = user;
    url.password = 'done-pw';
    const env = (redisUrl: string) => ({
      ...(process.env as Record<string, string>),
      REDIS_URL: redisUrl,
      JARVIS_REDIS_PREFIX: server.prefix,
      JARVIS_API_URL: front.url,
      JARVIS_HEARTBEAT_SECONDS: '1',
      JARVIS_LOG_LEVEL: 'info',
    });

    const first = spawnJarvis(['worker', '--name', 'node-r'], env(url.toString()));
    cleanups.push(() => first.stop('SIGKILL'));
    await first.waitFor(/worker: registered/, 30_000);
    const t = await http.post('/tasks', { image: TEST_IMAGE, command: 'sleep 3; cat /proc/sys/kernel/random/uuid', resources: { cpu: 0.1, memory_mb: 32 } });
    expect(t.status, JSON.stringify(t.body)).toBe(201);
    await http.waitForTask(t.body.id, (x) => x.status === 'running', 30_000);
    // From now on the worker may not write its inbox (the entry's done fails); its reports,
    // attempt records and logs still go through.
    const tag = `{${server.prefix}}:`;
    await admin.call('ACL', 'SETUSER', user, 'resetkeys', '%R~*', `~${tag}[^i]*`);
    await first.waitFor(/could not mark an attempt done in Redis/, 30_000);
    await first.stop('SIGKILL'); // the crash: the report queued, the container removed, the entry pending
    await admin.call('ACL', 'SETUSER', user, 'resetkeys', '~*');
    const done = await http.waitForTask(t.body.id, (x) => x.status === 'succeeded', 30_000);
    expect(done.attempts).toBe(1);
    const logKey = `${tag}logs:${t.body.id}`;
    const log = await admin.xrange(logKey, '-', '+');
    expect(JSON.stringify(log)).toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);

    // The next start, while the control plane cannot say whether the attempt is still this node's.
    front.refuseOwns = true;
    const second = spawnJarvis(['worker', '--name', 'node-r'], env(REDIS_URL));
    cleanups.push(() => second.stop('SIGKILL'));
    await second.waitFor(/worker: registered/, 30_000);
    await second.waitFor(/skipping an attempt already reported|attempt finished/, 30_000);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(second.output()).not.toMatch(/attempt finished/);
    expect(await admin.xrange(logKey, '-', '+')).toEqual(log);
    const inbox = `${tag}inbox:${JSON.parse(second.output().match(/\{[^\n]*"worker: registered"[^\n]*\}/)![0]).node_id}`;
    expect(((await admin.xpending(inbox, 'node')) as [number])[0]).toBe(0);
    expect(await http.get(`/tasks/${t.body.id}`)).toMatchObject({ body: { status: 'succeeded', attempts: 1 } });
  });
});
