// A task end to end through the HTTP API of a real `jarvis up` (PostgreSQL, Redis, Docker).
import { execFileSync } from 'node:child_process';
import nodeHttp from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { Redis } from 'ioredis';
import { cancelCovers, redisNames } from '../src/scheduler/queues.ts';
import { REDIS_URL, REMOTE_IMAGE, TEST_IMAGE } from './support/env.ts';
import { api, startJarvis, type JarvisProcess } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

let jarvis: JarvisProcess & { prefix: string };
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let http: ReturnType<typeof api>;

beforeAll(async () => {
  db = await createTestDatabase();
  jarvis = await startJarvis({ databaseUrl: db.url, env: { JARVIS_HEARTBEAT_SECONDS: '1' } });
  http = api(jarvis.url);
});

afterAll(async () => {
  await jarvis?.stop();
  await db?.drop();
});

const submit = (body: Record<string, unknown>) => http.post('/tasks', { image: TEST_IMAGE, ...body });
const isFinal = (t: { status: string }) => ['succeeded', 'failed', 'timed_out', 'cancelled'].includes(t.status);

/** The task's containers (ids, one a line): all of them, or only those running. */
function containersOf(taskId: string, only: 'all' | 'running' = 'all'): string {
  return execFileSync('docker', ['ps', ...(only === 'all' ? ['-a'] : []), '-q', '--filter', `label=jarvis.task_id=${taskId}`]).toString().trim();
}

describe('a task end to end', () => {
  it('runs a container, stores its output and exit code, and removes the container', async () => {
    const r = await submit({ command: ['sh', '-c', 'echo hello; sleep 0.2; echo oops >&2'], name: 'greet', labels: { team: 'a' } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ status: 'queued', name: 'greet', priority: 'normal', resources: { cpu: 1, memory_mb: 256, gpu: 0 }, attempts: 0 });
    expect(r.body.status_reason).toMatch(/scheduler/);
    const done = await http.waitForTask(r.body.id, isFinal);
    expect(done).toMatchObject({ status: 'succeeded', exit_code: 0, attempts: 1, error: null });
    expect(done.node_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(done.started_at)).toBeLessThanOrEqual(Date.parse(done.finished_at));
    expect(Date.parse(done.created_at)).toBeLessThanOrEqual(Date.parse(done.started_at));
    const logs = await http.get(`/tasks/${r.body.id}/logs`);
    expect(logs.body).toEqual({ task_id: r.body.id, logs: 'hello\noops\n', truncated: false });
    expect(containersOf(r.body.id)).toBe('');
  });

  it('records a non-zero exit as failed, and runs a string command under sh -c with env', async () => {
    const r = await submit({ command: 'echo "$GREETING"; exit 3', env: { GREETING: 'hi there' } });
    const done = await http.waitForTask(r.body.id, isFinal);
    expect(done).toMatchObject({ status: 'failed', exit_code: 3 });
    expect(done.error).toMatch(/exited with code 3/);
    expect((await http.get(`/tasks/${r.body.id}/logs`)).body.logs).toBe('hi there\n');
  });

  it('applies the requested CPU and memory limits to the container', async () => {
    const r = await submit({
      command: 'cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us; cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes',
      resources: { cpu: '500m', memory: '64Mi' },
    });
    expect(r.body.resources).toEqual({ cpu: 0.5, memory_mb: 64, gpu: 0 });
    const done = await http.waitForTask(r.body.id, isFinal);
    expect(done.status).toBe('succeeded');
    const out = (await http.get(`/tasks/${r.body.id}/logs`)).body.logs as string;
    expect(out).toMatch(/^(50000( 100000)?)\n/);
    expect(out).toContain(String(64 * 1024 * 1024));
  });

  it('pulls an image that is not on the node from a registry', async () => {
    try {
      execFileSync('docker', ['rmi', '-f', REMOTE_IMAGE], { stdio: 'ignore' });
    } catch {
      /* not present: fine */
    }
    const r = await http.post('/tasks', { image: REMOTE_IMAGE, command: ['echo', 'pulled'] });
    const done = await http.waitForTask(r.body.id, isFinal, 60_000);
    expect(done.status).toBe('succeeded');
    expect((await http.get(`/tasks/${r.body.id}/logs`)).body.logs).toBe('pulled\n');
  });

  it('fails a task whose image does not exist, naming the image', async () => {
    const r = await http.post('/tasks', { image: 'jarvis-test/no-such-image:1.0', command: ['true'] });
    const done = await http.waitForTask(r.body.id, isFinal, 60_000);
    expect(done.status).toBe('failed');
    expect(done.exit_code).toBeNull();
    expect(done.error).toMatch(/^image "jarvis-test\/no-such-image:1\.0" could not be pulled: /);
  });

  it('kills a container that exceeds timeout_seconds', async () => {
    const r = await submit({ command: 'echo start; sleep 30', timeout_seconds: 1 });
    const done = await http.waitForTask(r.body.id, isFinal);
    expect(done.status).toBe('timed_out');
    expect(done.error).toMatch(/timed out after 1 s/);
    expect((await http.get(`/tasks/${r.body.id}/logs`)).body.logs).toBe('start\n');
    expect(containersOf(r.body.id)).toBe('');
  });

  it('cancels a running task, killing its container; cancelling again is a 409', async () => {
    const r = await submit({ command: 'echo started; sleep 60' });
    await http.waitForTask(r.body.id, (t) => t.status === 'running');
    const c = await http.post(`/tasks/${r.body.id}/cancel`);
    expect(c.status).toBe(200);
    expect(c.body.status).toBe('cancelled');
    const deadline = Date.now() + 10_000;
    while (containersOf(r.body.id) !== '' && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
    expect(containersOf(r.body.id)).toBe('');
    const again = await http.post(`/tasks/${r.body.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.detail).toMatch(/already ended/);
    const t = (await http.get(`/tasks/${r.body.id}`)).body;
    expect(t.status).toBe('cancelled');
  });

  it('applies a cancel whose message the node missed: it reads the cancel keys each heartbeat', async () => {
    const r = await submit({ command: 'echo started; sleep 60' });
    await http.waitForTask(r.body.id, (t) => t.status === 'running');
    // What a cancel leaves in Redis when its published message is lost (the node's subscriber
    // was reconnecting): the key alone.
    const redis = new Redis(REDIS_URL);
    try {
      await redis.set(redisNames(jarvis.prefix).cancelKey(r.body.id), '1', 'EX', 600);
    } finally {
      redis.disconnect();
    }
    const done = await http.waitForTask(r.body.id, isFinal, 15_000);
    expect(done.status).toBe('cancelled');
    const deadline = Date.now() + 10_000;
    while (containersOf(r.body.id) !== '' && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
    expect(containersOf(r.body.id)).toBe('');
  });

  it('runs a task retried right after it was cancelled (the cancel was about the old attempt)', async () => {
    const r = await submit({ command: 'echo attempt; sleep 30' });
    await http.waitForTask(r.body.id, (t) => t.status === 'running');
    expect((await http.post(`/tasks/${r.body.id}/cancel`)).status).toBe(200);
    const again = await http.post(`/tasks/${r.body.id}/retry`);
    expect(again.status).toBe(200);
    const running = await http.waitForTask(r.body.id, (t) => t.attempts === 2 && (t.status === 'running' || isFinal(t)));
    expect(running.status).toBe('running');
    // The cancel still stands for attempt 1 (a node that took it only now, its inbox paused while
    // its engine was away, would find it cancelled), and not for attempt 2.
    const redis = new Redis(REDIS_URL);
    try {
      const names = redisNames(jarvis.prefix);
      const [attemptKey, taskKey] = await redis.mget(names.attemptCancelKey(r.body.id), names.cancelKey(r.body.id));
      expect(taskKey).toBeNull(); // older workers' "any attempt" key: gone with the retry
      expect([cancelCovers(attemptKey, 1), cancelCovers(attemptKey, 2)]).toEqual([true, false]);
    } finally {
      redis.disconnect();
    }
    // The new attempt is the node's to stop: cancelling it kills its container (the first
    // attempt's clean-up, still under way when the second started, must not make the worker
    // forget the second one), and the node stops listing the task as running.
    expect((await http.post(`/tasks/${r.body.id}/cancel`)).status).toBe(200);
    const deadline = Date.now() + 15_000;
    while (containersOf(r.body.id, 'running') !== '') {
      expect(Date.now(), 'the second attempt’s container still runs after its cancel').toBeLessThan(deadline);
      await new Promise((ok) => setTimeout(ok, 200));
    }
  });

  it('says why a task waits, and fails at once a task no node can ever fit', async () => {
    const node = (await http.get('/nodes')).body.items[0];
    const big = await submit({ command: 'sleep 30', resources: { cpu: node.capacity.cpu } });
    await http.waitForTask(big.body.id, (t) => t.status === 'running');
    const waiting = await submit({ command: 'true', resources: { cpu: node.capacity.cpu } });
    const queued = await http.waitForTask(waiting.body.id, (t) => /no node fits/.test(t.status_reason ?? ''));
    expect(queued.status).toBe('queued');
    expect(queued.status_reason).toMatch(/1 node, 1 lacks \d+ CPU free/);
    const never = await submit({ command: 'true', resources: { cpu: node.capacity.cpu * 100 } });
    const failed = await http.waitForTask(never.body.id, isFinal);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/no node can ever fit this task/);
    expect((await http.post(`/tasks/${big.body.id}/cancel`)).status).toBe(200);
    const ran = await http.waitForTask(waiting.body.id, isFinal);
    expect(ran.status).toBe('succeeded');
  });

  it('streams output as Server-Sent Events while the task runs, ending when it ends', async () => {
    const r = await submit({ command: 'for i in 1 2 3; do echo line $i; sleep 0.3; done' });
    const res = await fetch(`${jarvis.url}/tasks/${r.body.id}/logs?follow=true`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const text = await res.text();
    const data = text.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim());
    expect(data.slice(0, 3)).toEqual(['line 1', 'line 2', 'line 3']);
    expect(text).toMatch(/event: end\ndata: \{"status":"succeeded","exit_code":0\}/);
    // A finished task followed later gets its stored output and the end.
    const later = await (await fetch(`${jarvis.url}/tasks/${r.body.id}/logs?follow=true`)).text();
    expect(later).toContain('data: line 3');
    expect(later).toContain('event: end');
  });

  it('lists tasks newest first with filters and paging', async () => {
    const label = `run-${Date.now()}`;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await submit({ command: 'true', labels: { batch: label } })).body.id);
    for (const id of ids) await http.waitForTask(id, isFinal);
    const page = await http.get(`/tasks?label=batch:${label}&limit=2`);
    expect(page.status).toBe(200);
    expect(page.body.total).toBe(3);
    expect(page.body.limit).toBe(2);
    expect(page.body.offset).toBe(0);
    expect(page.body.items.map((t: { id: string }) => t.id)).toEqual([ids[2], ids[1]]);
    const rest = await http.get(`/tasks?label=batch:${label}&limit=2&offset=2`);
    expect(rest.body.items.map((t: { id: string }) => t.id)).toEqual([ids[0]]);
    const failed = await http.get(`/tasks?status=failed&limit=500`);
    expect(failed.body.items.every((t: { status: string }) => t.status === 'failed')).toBe(true);
    const byNode = await http.get(`/tasks?node_id=${(await http.get(`/tasks/${ids[0]}`)).body.node_id}&label=batch:${label}`);
    expect(byNode.body.total).toBe(3);
    const events = await http.get(`/tasks/${ids[0]}/events`);
    expect(events.body.items.map((e: { status: string }) => e.status)).toEqual(['queued', 'scheduled', 'running', 'succeeded']);
  });


  it('starts every accepted task’s history with one "queued" event, whether it came alone, grouped with others or in a batch', async () => {
    // Concurrent single submits share one INSERT (group commit); a batch is one INSERT: the
    // created events are written per statement (drizzle/0009), one per row.
    const singles = await Promise.all(Array.from({ length: 20 }, (_, i) => submit({ command: 'true', name: `grouped-${i}` })));
    const batch = await http.post('/tasks/batch', { tasks: Array.from({ length: 5 }, (_, i) => ({ image: TEST_IMAGE, command: 'true', name: `batched-${i}` })) });
    expect(batch.status).toBe(201);
    const tasks = [...singles.map((r) => r.body), ...batch.body.items];
    for (const t of tasks) {
      const events = (await http.get(`/tasks/${t.id}/events`)).body.items as Array<{ status: string; at: string; reason: string | null }>;
      expect(events[0]).toMatchObject({ status: 'queued', at: t.created_at, reason: t.status_reason });
      expect(events.filter((e) => e.at === t.created_at && e.status === 'queued')).toHaveLength(1);
    }
  });
  it('returns the first task for a repeated idempotency_key', async () => {
    const key = `k-${Date.now()}`;
    const a = await submit({ command: 'true', idempotency_key: key });
    const b = await submit({ command: 'true', idempotency_key: key });
    expect(a.status).toBe(201);
    expect(b.status).toBe(200);
    expect(b.body.id).toBe(a.body.id);
  });

  it('reports health and Prometheus metrics', async () => {
    const h = await http.get('/health');
    expect(h.status).toBe(200);
    expect(h.body).toEqual({ status: 'ok', checks: { redis: 'ok', database: 'ok' } });
    const m = await fetch(`${jarvis.url}/metrics`);
    expect(m.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await m.text();
    expect(text).toMatch(/^jarvis_tasks\{status="succeeded"\} [1-9]\d*$/m);
    expect(text).toMatch(/^jarvis_tasks_submitted_total\{priority="normal"\} [1-9]\d*$/m);
    expect(text).toMatch(/^jarvis_http_request_duration_seconds_count\{method="POST",route="\/tasks",status="201"\} [1-9]\d*$/m);
    expect(text).toMatch(/^jarvis_http_request_duration_seconds_count\{method="GET",route="\/tasks\/:id",status="200"\} [1-9]\d*$/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
  });

  it('logs JSON lines with a request id', async () => {
    const r = await fetch(`${jarvis.url}/tasks?limit=1`, { headers: { 'x-request-id': 'trace-me-123' } });
    expect(r.headers.get('x-request-id')).toBe('trace-me-123');
    // Request log lines are written within 50 ms (buffered): wait for it rather than a fixed time.
    await jarvis.waitFor(/trace-me-123[^\n]*\n/, 5_000);
    const line = jarvis
      .output()
      .split('\n')
      .find((l) => l.includes('trace-me-123'));
    expect(line).toBeDefined();
    expect(JSON.parse(line as string)).toMatchObject({ request_id: 'trace-me-123', method: 'GET', path: '/tasks', status: 200, level: 30 });
  });

  it('shows the node with its capacity, allocation and heartbeat', async () => {
    const nodes = await http.get('/nodes');
    expect(nodes.body.items).toHaveLength(1);
    const n = nodes.body.items[0];
    expect(n).toMatchObject({ status: 'available', name: `node-${jarvis.prefix}` });
    expect(n.capacity.cpu).toBeGreaterThan(0);
    expect(n.last_heartbeat_at).not.toBeNull();
    expect((await http.get(`/nodes/${n.id}`)).body.id).toBe(n.id);
  });

  it('keeps an idle keep-alive connection open well past 5 s, and says for how long', async () => {
    // A client that reuses a connection as the server closes it gets no answer: the server keeps
    // idle connections 65 s (Node's default, 5 s, was met by clients pausing between bursts).
    const agent = new nodeHttp.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string) =>
      new Promise<{ status: number; keepAlive: string | undefined; port: number }>((resolve, reject) => {
        nodeHttp
          .get(`${jarvis.url}${path}`, { agent }, (res) => {
            const port = res.socket.localPort ?? 0;
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, keepAlive: res.headers['keep-alive']?.toString(), port }));
          })
          .on('error', reject);
      });
    try {
      const first = await get('/health');
      expect(first).toMatchObject({ status: 200, keepAlive: 'timeout=65' });
      await new Promise((r) => setTimeout(r, 5_500));
      const second = await get('/tasks?limit=1');
      expect(second.status).toBe(200);
      expect(second.port, 'the same connection, still open').toBe(first.port);
    } finally {
      agent.destroy();
    }
  }, 20_000);
});
