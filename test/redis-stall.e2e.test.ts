// A Redis that stalls (CLIENT PAUSE: it holds commands rather than refusing them) while work is
// submitted. Every enqueue of the use cases waits for it at most the deadline POST /tasks has
// (3 s): POST /workflows then answers 503 and takes the workflow back, as POST /tasks does; a
// workflow's retry and a schedule's trigger answer, leaving their tasks queued for the reconciler;
// the schedule ticker goes on with its next ticks. Until session 32 they waited for as long as
// Redis did, and a client that gave up and submitted again got two workflow runs. And a submission
// taken back takes with it the webhook deliveries the outbox had already made of its first events,
// which were otherwise sent, and retried, for ids that answer 404.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { api, spawnSimulatedWorker, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';
import { PrivateRedis } from './support/services.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sim = (extra: Record<string, string> = {}) => ({ image: 'sim', labels: { 'jarvis.sim/duration_ms': '1', ...extra } });

let admin: Redis;
/** The leader (dispatcher, ticker, outbox, sender) and a replica, which has no dispatcher: its POST /tasks always goes through the queue. */
let leader: ReturnType<typeof api>;
let replica: ReturnType<typeof api>;

beforeAll(async () => {
  const redis = await PrivateRedis.start();
  cleanups.push(() => redis.stop());
  admin = new Redis(redis.url);
  admin.on('error', () => undefined);
  cleanups.push(async () => admin.disconnect());
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  // The leader keeps its lock through the pauses (a renewal waits for Redis like everything else).
  const env = { REDIS_URL: redis.url, JARVIS_LEADER_TTL_SECONDS: '60', JARVIS_SECRET_KEY: randomBytes(32).toString('hex') };
  const first = await startJarvis({ command: 'server', databaseUrl: db.url, env });
  cleanups.push(() => first.stop());
  const second = await startJarvis({ command: 'server', databaseUrl: db.url, prefix: first.prefix, env });
  cleanups.push(() => second.stop());
  const worker = spawnSimulatedWorker(first, `w-${first.prefix}`, { REDIS_URL: redis.url });
  cleanups.push(() => worker.stop());
  await worker.waitFor(/worker: registered/, 30_000);
  leader = api(first.url);
  replica = api(second.url);
}, 120_000);

/** Resolves with the answer and how long it took. */
async function timed<T>(p: Promise<T>): Promise<T & { ms: number }> {
  const start = Date.now();
  const r = await p;
  return { ...r, ms: Date.now() - start };
}

async function workflowEnded(id: string) {
  for (let i = 0; i < 300; i++) {
    const w = (await leader.get(`/workflows/${id}`)).body;
    if (w.status !== 'running') return w;
    await sleep(100);
  }
  throw new Error(`workflow ${id} did not end`);
}

describe('Redis stalling', () => {
  it('POST /workflows answers 503 within the enqueue deadline; a retry and a trigger answer; the ticker goes on', async () => {
    const failed = (await leader.post('/workflows', { name: 'to-retry', tasks: [{ key: 'a', ...sim({ 'jarvis.sim/exit_code': '1' }) }] })).body;
    expect((await workflowEnded(failed.id)).status).toBe('failed');
    const manual = (await leader.post('/schedules', { name: 'by-hand', cron: '0 0 1 1 *', paused: true, workflow: { tasks: [{ key: 'a', ...sim() }] } })).body;
    const ticking = (await leader.post('/schedules', { name: 'every-second', cron: '* * * * * *', task: sim() })).body;
    const runs = async () => (await leader.get(`/tasks?schedule_id=${ticking.id}&limit=500`)).body.items as Array<{ created_at: string }>;
    for (let i = 0; i < 300 && (await runs()).length === 0; i++) await sleep(100);

    await admin.call('CLIENT', 'PAUSE', '12000', 'WRITE');
    const paused = Date.now();
    const [submit, retry, trigger] = await Promise.all([
      timed(leader.post('/workflows', { name: 'during-the-stall', tasks: [{ key: 'a', ...sim() }, { key: 'b', ...sim(), depends_on: ['a'] }] })),
      timed(leader.post(`/workflows/${failed.id}/retry`)),
      timed(leader.post(`/schedules/${manual.id}/trigger`)),
    ]);
    expect(submit.status).toBe(503);
    expect(submit.body.detail).toMatch(/task queue \(Redis at 127\.0\.0\.1:\d+\) is unavailable.*nothing was stored/);
    expect(submit.ms).toBeLessThan(6_000);
    expect(retry.status).toBe(200);
    expect(retry.body.status).toBe('running');
    expect(retry.ms).toBeLessThan(6_000);
    expect(trigger.status).toBe(201);
    expect(trigger.ms).toBeLessThan(6_000);
    // The ticker started a run every few seconds (each waiting out the deadline), not one for the whole stall.
    await sleep(Math.max(0, paused + 11_000 - Date.now()));
    const during = (await runs()).filter((t) => Date.parse(t.created_at) > paused && Date.parse(t.created_at) < paused + 11_000);
    expect(during.length).toBeGreaterThanOrEqual(3);
    expect((await leader.call('PATCH', `/schedules/${ticking.id}`, { paused: true })).status).toBe(200);
    await sleep(Math.max(0, paused + 12_500 - Date.now()));

    // Nothing of the refused workflow is stored; the retried and the triggered ones run.
    const names = ((await leader.get('/workflows?limit=100')).body.items as Array<{ name: string }>).map((w) => w.name);
    expect(names).not.toContain('during-the-stall');
    expect((await workflowEnded(trigger.body.run.id)).status).toBe('succeeded');
    const again = (await leader.get(`/workflows/${failed.id}`)).body;
    expect((await leader.waitForTask(again.tasks[0].id, (t) => t.attempts === 2 && t.status === 'failed', 30_000)).attempts).toBe(2);
  }, 90_000);

  it('a submission taken back takes the webhook deliveries of its first events with it', async () => {
    // A receiver that refuses every delivery: each is tried once, then waits ~10 s to be tried again.
    const got: Array<{ type: string; data: { task?: { id: string; name: string | null }; workflow?: { id: string; name: string | null } } }> = [];
    const server: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        got.push(JSON.parse(Buffer.concat(chunks).toString()));
        res.writeHead(500).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const hook = (await leader.post('/webhooks', { url, events: ['task.queued', 'workflow.running'], secret: 'whsec-stall-0123456789' })).body;
    expect(hook.id).toBeTruthy();

    await admin.call('CLIENT', 'PAUSE', '8000', 'WRITE');
    const paused = Date.now();
    const [workflow, task] = await Promise.all([
      leader.post('/workflows', { name: 'taken-back', tasks: [{ key: 'a', name: 'taken-back-a', ...sim() }] }),
      replica.post('/tasks', { name: 'taken-back-task', ...sim() }),
    ]);
    expect(workflow.status).toBe(503);
    expect(task.status).toBe(503);
    // While the enqueues waited, the outbox made deliveries of their first events and the sender
    // tried them: the window this is about happened.
    const wfId = got.find((e) => e.type === 'workflow.running' && e.data.workflow?.name === 'taken-back')?.data.workflow?.id;
    const inWf = got.find((e) => e.type === 'task.queued' && e.data.task?.name === 'taken-back-a')?.data.task?.id;
    const alone = got.find((e) => e.type === 'task.queued' && e.data.task?.name === 'taken-back-task')?.data.task?.id;
    expect([wfId, inWf, alone].every(Boolean), `deliveries sent before the take-back: ${JSON.stringify(got.map((e) => e.type))}`).toBe(true);
    expect((await leader.get(`/workflows/${wfId}`)).status).toBe(404);
    for (const id of [inWf, alone]) expect((await leader.get(`/tasks/${id}`)).status).toBe(404);
    // Their deliveries are gone: none waits to be tried again for ids that answer 404.
    const log = (await leader.get(`/webhooks/${hook.id}/deliveries?limit=100`)).body;
    expect(log.items.filter((d: { status: string }) => d.status === 'pending')).toEqual([]);
    await sleep(Math.max(0, paused + 8_500 - Date.now()));
  }, 60_000);
});
