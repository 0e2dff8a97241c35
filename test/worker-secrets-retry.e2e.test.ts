// A worker that cannot get a task's secrets because the control plane is restarting (the
// connection refused or cut, a 503 from it or a proxy in front) asks again until it answers,
// instead of ending the attempt in error, which is final. The worker reaches the control plane
// through a forwarder here that fails the first secrets requests and passes everything else.
import type { Server } from 'node:http';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { REDIS_URL, TEST_IMAGE } from './support/env.ts';
import { api, spawnJarvis, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';
import { httpForwarder, restarting } from './support/proxies.ts';

// Redis keys and task containers of this file's processes; first, so that it runs last.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** Forwards to `target`; the first secrets requests fail: `failures` says how, in turn. */
async function flakyForwarder(target: string, failures: Array<'cut' | 503>): Promise<{ url: string; secretsAsked: () => number; server: Server }> {
  let asked = 0;
  const { url, server } = await httpForwarder(target, (req, res) => {
    if (!/^\/nodes\/[^/]+\/secrets$/.test(req.url ?? '')) return false;
    const failure = failures[asked++];
    if (failure === 'cut') return void req.socket.destroy(), true;
    return failure === 503 && restarting(res);
  });
  return { url, secretsAsked: () => asked, server };
}

describe('secrets while the control plane restarts', () => {
  it('asks again after a cut connection and 503s, and runs the task with its secret masked', async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const server = await startJarvis({ command: 'server', databaseUrl: db.url, env: { JARVIS_SECRET_KEY: Buffer.alloc(32, 9).toString('base64') } });
    cleanups.push(() => server.stop());
    const http = api(server.url);
    expect((await http.post('/secrets', { name: 'pw', value: 'restart-proof-secret' })).status).toBe(201);
    const forwarder = await flakyForwarder(server.url, ['cut', 503, 503]);
    cleanups.push(() => new Promise((r) => forwarder.server.close(r)));
    cleanups.push(async () => forwarder.server.closeAllConnections());
    const worker = spawnJarvis(['worker', '--name', 'node-s'], {
      ...(process.env as Record<string, string>),
      REDIS_URL,
      JARVIS_REDIS_PREFIX: server.prefix,
      JARVIS_API_URL: forwarder.url,
      JARVIS_HEARTBEAT_SECONDS: '1',
      JARVIS_LOG_LEVEL: 'info',
    });
    cleanups.push(() => worker.stop('SIGKILL'));
    await worker.waitFor(/worker: registered/, 30_000);

    const t = await http.post('/tasks', { image: TEST_IMAGE, command: 'echo "pw=$PW"', env: { PW: { secret: 'pw' } }, resources: { cpu: 0.1, memory_mb: 32 } });
    expect(t.status, JSON.stringify(t.body)).toBe(201);
    const done = await http.waitForTask(t.body.id, (x) => ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(x.status), 60_000);
    expect(done.status, JSON.stringify(done)).toBe('succeeded');
    await worker.waitFor(/cannot get the task's secrets from the control plane yet; asking again/, 10_000);
    expect(done.attempts).toBe(1);
    expect(forwarder.secretsAsked()).toBe(4);
    expect((await http.get(`/tasks/${t.body.id}/logs`)).body.logs).toBe('pw=***\n');
  });
});
