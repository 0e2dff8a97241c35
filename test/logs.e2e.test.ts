// A task's output as its user meets it: cut at the configured cap and marked truncated, kept
// across a restart, streamed line by line (Server-Sent Events) while the container runs; and a
// task printing far more than the cap does not make the control plane's memory grow with it.
// Follows are limited per key and per process (429), share one Redis connection, and end when
// their key is revoked, through the API and the dashboard's relay. Quiet follows cost the
// database a few statements a second in all, not one or two each.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { REDIS_URL, TEST_DATABASE_URL, TEST_IMAGE } from './support/env.ts';
import { api, FINAL, runCli, startJarvis, tempDir, uniquePrefix } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';
import { signInWithFetch } from './support/dashboard.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const isFinal = (t: { status: string }) => FINAL.includes(t.status);
const MIB = 1024 * 1024;

interface SseEvent {
  event: string;
  data: string;
  /** Milliseconds since the request was sent. */
  at: number;
}

/** The events of a Server-Sent Events body as they arrive, each stamped with the ms since `t0`. */
async function* sseEvents(body: unknown, t0: number): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const e: SseEvent = { event: 'message', data: '', at: Date.now() - t0 };
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) e.event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      e.data = data.join('\n');
      yield e;
    }
  }
}

/** Reads a Server-Sent Events response to its end; `onEvent` sees each event as it arrives. */
async function readSse(url: string, onEvent: (e: SseEvent) => Promise<void> | void = () => undefined): Promise<{ status: number; contentType: string | null; events: SseEvent[] }> {
  const t0 = Date.now();
  const res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  const events: SseEvent[] = [];
  for await (const e of sseEvents(res.body, t0)) {
    events.push(e);
    await onEvent(e);
  }
  return { status: res.status, contentType: res.headers.get('content-type'), events };
}

async function residentBytes(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^process_resident_memory_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text);
  if (!m) throw new Error('no process_resident_memory_bytes in /metrics');
  return Number(m[1]);
}

describe('task logs', () => {
  it('cuts output at the configured cap, marks it truncated, and keeps logs across a restart', async () => {
    const cap = 65_536;
    const prefix = uniquePrefix();
    const dataDir = join(tempDir(), 'pglite');
    const env = { JARVIS_LOG_CAP_BYTES: String(cap) };
    const first = await startJarvis({ databaseUrl: null, prefix, dataDir, env });
    cleanups.push(() => first.stop());
    let http = api(first.url);

    // 200 000 bytes of 11-byte lines: the first 65 536 bytes are kept, to the byte.
    const big = await http.post('/tasks', { image: TEST_IMAGE, command: 'yes 0123456789 | head -c 200000' });
    const small = await http.post('/tasks', { image: TEST_IMAGE, command: 'echo one; echo two >&2; echo three' });
    expect((await http.waitForTask(big.body.id, isFinal)).status).toBe('succeeded');
    expect((await http.waitForTask(small.body.id, isFinal)).status).toBe('succeeded');

    const expectedBig = '0123456789\n'.repeat(Math.ceil(cap / 11)).slice(0, cap);
    const bigLogs = await http.get(`/tasks/${big.body.id}/logs`);
    expect(bigLogs.status).toBe(200);
    expect(bigLogs.body.truncated).toBe(true);
    expect(Buffer.byteLength(bigLogs.body.logs)).toBe(cap);
    expect(bigLogs.body.logs).toBe(expectedBig);
    const smallLogs = (await http.get(`/tasks/${small.body.id}/logs`)).body;
    expect(smallLogs.truncated).toBe(false);
    expect(smallLogs.logs.split('\n').sort()).toEqual(['', 'one', 'three', 'two']);

    await first.stop();
    // The live Redis streams are gone after a restart in any case once they expire; the stored
    // logs are what must survive. Same embedded database, same prefix.
    const second = await startJarvis({ databaseUrl: null, prefix, dataDir, env });
    cleanups.push(() => second.stop());
    http = api(second.url);
    expect((await http.get(`/tasks/${big.body.id}/logs`)).body).toEqual({ task_id: big.body.id, logs: expectedBig, truncated: true });
    expect((await http.get(`/tasks/${small.body.id}/logs`)).body).toEqual({ task_id: small.body.id, ...smallLogs });
    // Following a finished task after the restart replays its stored lines, then ends.
    const followed = await readSse(`${second.url}/tasks/${small.body.id}/logs?follow=true`);
    expect(followed.events.filter((e) => e.event === 'message').map((e) => e.data).sort()).toEqual(['one', 'three', 'two']);
    expect(followed.events.at(-1)).toMatchObject({ event: 'end' });
    expect(JSON.parse(followed.events.at(-1)!.data)).toEqual({ status: 'succeeded', exit_code: 0 });
  });

  it('streams lines as Server-Sent Events while the container runs, then ends with the result', async () => {
    const jarvis = await startJarvis({ databaseUrl: null });
    cleanups.push(() => jarvis.stop());
    const http = api(jarvis.url);
    const task = await http.post('/tasks', { image: TEST_IMAGE, command: 'for i in 1 2 3 4; do echo "line $i"; sleep 1; done; exit 3' });
    expect(task.status).toBe(201);

    // The status the API gives when the first line arrives: the task has not ended yet (it may
    // still read `scheduled` for a moment: the worker's "started" report travels on its own).
    let statusAtFirstLine: string | undefined;
    const sse = await readSse(`${jarvis.url}/tasks/${task.body.id}/logs?follow=true`, async (e) => {
      if (e.event === 'message' && statusAtFirstLine === undefined) statusAtFirstLine = (await http.get(`/tasks/${task.body.id}`)).body.status;
    });
    expect(sse.status).toBe(200);
    expect(sse.contentType).toMatch(/^text\/event-stream/);
    const lines = sse.events.filter((e) => e.event === 'message');
    expect(lines.map((e) => e.data)).toEqual(['line 1', 'line 2', 'line 3', 'line 4']);
    // Lines arrive as they are printed, a second apart, not all at the end.
    expect(['scheduled', 'running']).toContain(statusAtFirstLine);
    const end = sse.events.at(-1)!;
    expect(end.event).toBe('end');
    expect(end.at - lines[0].at).toBeGreaterThan(2_500);
    expect(lines[3].at - lines[0].at).toBeGreaterThan(2_000);
    expect(JSON.parse(end.data)).toEqual({ status: 'failed', exit_code: 3 });
    expect(sse.events.filter((e) => e.event === 'end')).toHaveLength(1);
  });

  it('follows a retried task through every attempt and ends with its final result', async () => {
    const jarvis = await startJarvis({ databaseUrl: null });
    cleanups.push(() => jarvis.stop());
    const http = api(jarvis.url);
    const task = await http.post('/tasks', { image: TEST_IMAGE, command: 'echo "try"; exit 3', max_retries: 1, retry_backoff_seconds: 0 });
    expect(task.status).toBe(201);
    const sse = await readSse(`${jarvis.url}/tasks/${task.body.id}/logs?follow=true`);
    expect(sse.events.filter((e) => e.event === 'message').map((e) => e.data)).toEqual(['try', 'try']);
    expect(sse.events.filter((e) => e.event === 'end')).toHaveLength(1);
    expect(JSON.parse(sse.events.at(-1)!.data)).toEqual({ status: 'failed', exit_code: 3 });
    expect((await http.get(`/tasks/${task.body.id}`)).body).toMatchObject({ status: 'failed', attempts: 2 });
  });

  it("shows a retry's own output while it runs, not the attempt before it", async () => {
    const jarvis = await startJarvis({ databaseUrl: null });
    cleanups.push(() => jarvis.stop());
    const http = api(jarvis.url);
    // Each attempt prints its own number, then fails after a while.
    // It runs 5 s, time enough for its output to show while it runs on a loaded machine.
    const task = await http.post('/tasks', { image: TEST_IMAGE, command: 'echo "run $RANDOM$RANDOM"; sleep 5; exit 3', max_retries: 1, retry_backoff_seconds: 0 });
    const id = task.body.id as string;
    await http.waitForTask(id, (t) => t.attempts === 2 && t.status === 'running', 30_000);
    let now = '';
    let then: { status: string; attempts: number } | undefined;
    for (const until = Date.now() + 10_000; !now && Date.now() < until; ) {
      now = (await http.get(`/tasks/${id}/logs`)).body.logs as string;
      if (!now) await new Promise((r) => setTimeout(r, 50));
      else then = (await http.get(`/tasks/${id}`)).body;
    }
    // Read while attempt 2 still ran (the task is read after its output).
    expect(then, `output of attempt 2 within 10 s: ${JSON.stringify(now)}`).toMatchObject({ status: 'running', attempts: 2 });
    const done = await http.waitForTask(id, isFinal, 30_000);
    expect(done).toMatchObject({ status: 'failed', attempts: 2 });
    const last = (await http.get(`/tasks/${id}/logs`)).body.logs as string;
    // What it showed while attempt 2 ran is attempt 2's output, which is what is kept at its end.
    expect(now).toMatch(/^run \d+\n$/);
    expect(now).toBe(last);
  });

  it.each([
    ['PostgreSQL', true],
    ['the embedded database', false],
  ])('keeps the memory of jarvis up on %s bounded while a task prints 50 MiB (default cap 10 MiB)', async (database, postgres) => {
    let databaseUrl: string | null = null;
    if (postgres) {
      const db = await createTestDatabase();
      cleanups.push(() => db.drop());
      databaseUrl = db.url;
    }
    const jarvis = await startJarvis({ databaseUrl });
    cleanups.push(() => jarvis.stop());
    const http = api(jarvis.url);
    // Warm up (first container, first stored log), then take the baseline.
    const warm = await http.post('/tasks', { image: TEST_IMAGE, command: 'yes warm | head -c 100000' });
    await http.waitForTask(warm.body.id, isFinal);
    await new Promise((r) => setTimeout(r, 1_000));
    const before = await residentBytes(jarvis.url);

    const total = 50 * MIB;
    const task = await http.post('/tasks', {
      image: TEST_IMAGE,
      command: `yes abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz012 | head -c ${total}`,
    });
    let peak = before;
    let done: { status: string } | undefined;
    const until = Date.now() + 120_000;
    while (!done && Date.now() < until) {
      peak = Math.max(peak, await residentBytes(jarvis.url));
      const t = (await http.get(`/tasks/${task.body.id}`)).body;
      if (isFinal(t)) done = t;
      else await new Promise((r) => setTimeout(r, 200));
    }
    expect(done?.status).toBe('succeeded');
    const logs = await http.get(`/tasks/${task.body.id}/logs`);
    expect(logs.body.truncated).toBe(true);
    expect(Buffer.byteLength(logs.body.logs)).toBe(10 * MIB);
    const after = await residentBytes(jarvis.url);
    peak = Math.max(peak, after);

    const mib = (n: number) => Math.round((n / MIB) * 10) / 10;
    console.log(`jarvis up (${database}) RSS with a 50 MiB-printing task: before ${mib(before)} MiB, peak ${mib(peak)} MiB (+${mib(peak - before)}), after ${mib(after)} MiB (+${mib(after - before)})`);
    // Bounded by the cap, not by the 50 MiB printed. Storing the 10 MiB log costs a few copies
    // of it; on PGlite one of them lands in the WebAssembly heap, which grows and never shrinks
    // (seen: +88-117 MiB on PostgreSQL, +160-171 MiB on PGlite).
    const bound = (postgres ? 150 : 250) * MIB;
    expect(peak - before).toBeLessThan(bound);
    expect(after - before).toBeLessThan(bound);
  }, 180_000);
});

/** An event stream opened with headers, read as it comes; `close()` leaves it. */
function openSse(url: string, headers: Record<string, string> = {}) {
  const left = new AbortController();
  const t0 = Date.now();
  const events: SseEvent[] = [];
  const opened = fetch(url, { headers, signal: left.signal });
  const ended = (async () => {
    const res = await opened;
    if (res.status !== 200 || !res.body) return;
    try {
      for await (const e of sseEvents(res.body, t0)) events.push(e);
    } catch {
      // closed by us
    }
    return Date.now();
  })();
  return { opened, events, ended, close: () => left.abort() };
}

/** Resolves with when `p` settled, or null if it had not after `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  return Promise.race([p, new Promise<null>((r) => setTimeout(() => r(null), ms))]);
}

/** Established TCP connections from process `pid` to Redis (its sockets, found in /proc/net/tcp*). */
function redisConnectionsOf(pid: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  const port = `:${Number(new URL(REDIS_URL).port || 6379).toString(16).toUpperCase().padStart(4, '0')}`;
  let n = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[2].endsWith(port) && f[3] === '01' && inodes.has(f[9])) n++;
    }
  }
  return n;
}

describe('log follows: limits, one Redis reader, revoked keys', () => {
  const ADMIN = 'test-admin-key-follows-0123456789abcdef';
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let jarvis: Awaited<ReturnType<typeof startJarvis>>;
  let redis: Redis;
  let taskId: string;
  const as = (key: string) => (method: string, path: string, body?: unknown) => api(jarvis.url).call(method, path, body, { authorization: `Bearer ${key}` });
  const newKey = async (name: string) => {
    const r = await as(ADMIN)('POST', '/auth/keys', { name, role: 'viewer', tenant: 'default' });
    expect(r.status).toBe(201);
    return { key: r.body.key as string, id: r.body.id as string };
  };
  const follow = (key: string) => openSse(`${jarvis.url}/tasks/${taskId}/logs?follow=true`, { authorization: `Bearer ${key}` });
  /** The cookies of a dashboard signed in with this key (its session's). */
  const dashboardCookie = async (key: string) => (await signInWithFetch(jarvis.url, key)).cookie;
  /** Writes a line to the task's live stream, as its worker would. */
  const print = (line: string) => redis.xadd(`{${jarvis.prefix}}:logs:${taskId}`, '*', 'a', '1', 'd', `${line}\n`);
  const metric = async (series: string) => {
    const text = await (await fetch(`${jarvis.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    redis = new Redis(REDIS_URL);
    // No worker: the task stays queued, so a follow of it stays open until it is left.
    jarvis = await startJarvis({
      command: 'server',
      databaseUrl: db.url,
      env: { JARVIS_ADMIN_KEY: ADMIN, JARVIS_MAX_LOG_FOLLOWS_PER_KEY: '3', JARVIS_MAX_LOG_FOLLOWS: '5' },
    });
    const t = await as(ADMIN)('POST', '/tasks', { image: TEST_IMAGE, command: ['true'] });
    expect(t.status).toBe(201);
    taskId = t.body.id;
  });
  afterAll(async () => {
    await jarvis?.stop();
    await db?.drop();
    await redis?.quit();
  });

  it('refuses a key its 4th follow and the process its 6th with 429 in FastAPI\'s shape, and takes one again once one closes', async () => {
    const a = await newKey('follower-a');
    const b = await newKey('follower-b');
    const open: Array<ReturnType<typeof follow>> = [];
    for (let i = 0; i < 3; i++) {
      const f = follow(a.key);
      expect((await f.opened).status).toBe(200);
      open.push(f);
    }
    const refusedA = await (await follow(a.key).opened);
    expect(refusedA.status).toBe(429);
    expect(refusedA.headers.get('retry-after')).toBe('5');
    const bodyA = (await refusedA.json()) as { detail: string };
    expect(Object.keys(bodyA)).toEqual(['detail']);
    expect(bodyA.detail).toMatch(/^Too many log streams: this key has 3 open on this server process/);
    expect(bodyA.detail).toContain('server.max_log_follows_per_key, env JARVIS_MAX_LOG_FOLLOWS_PER_KEY');

    // Another key is not held back by the first's streams, until the process has 5.
    for (let i = 0; i < 2; i++) {
      const f = follow(b.key);
      expect((await f.opened).status).toBe(200);
      open.push(f);
    }
    const refusedB = await (await follow(b.key).opened);
    expect(refusedB.status).toBe(429);
    expect(refusedB.headers.get('retry-after')).toBe('5');
    expect(((await refusedB.json()) as { detail: string }).detail).toMatch(/^Too many log streams: this server process has 5 open, the most it serves \(server\.max_log_follows, env JARVIS_MAX_LOG_FOLLOWS\)/);

    // The dashboard's live log calls the same route with the signed-in key: refused alike, with its words.
    const relay = await fetch(`${jarvis.url}/ui/tasks/${taskId}/logs/stream`, { headers: { cookie: await dashboardCookie(a.key) } });
    expect(relay.status).toBe(429);
    expect(relay.headers.get('retry-after')).toBe('5');
    expect(await relay.text()).toMatch(/^The log stream could not be opened: Too many log streams: this (key|server process) has/);

    // Refusals are audited, as the key check's are (folded within a second).
    const audit = await as(ADMIN)('GET', `/audit?action=task.logs&key_id=${a.id}`);
    expect(audit.body.items).toEqual(expect.arrayContaining([expect.objectContaining({ status: 429, key_name: 'follower-a', target: taskId })]));
    expect(await metric('jarvis_log_follows')).toBe(5);
    expect(await metric('jarvis_log_follows_refused_total{limit="key"}')).toBeGreaterThanOrEqual(1);
    expect(await metric('jarvis_log_follows_refused_total{limit="process"}')).toBeGreaterThanOrEqual(1);

    // One of a's streams closes: a may open one again (its place is given back when it leaves).
    open.shift()!.close();
    let again: Response | undefined;
    for (const until = Date.now() + 5_000; Date.now() < until; ) {
      const f = follow(a.key);
      again = await f.opened;
      if (again.status === 200) {
        open.push(f);
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(again?.status).toBe(200);
    for (const f of open) f.close();
    await expect.poll(() => metric('jarvis_log_follows'), { timeout: 5_000 }).toBe(0);
  });

  it('takes no place for a HEAD of a follow, through the API or the dashboard', async () => {
    // Hono answers HEAD by running the GET handler and dropping its body: the stream was never
    // read nor cancelled, so each HEAD held its place for good (a GET then got 429).
    const k = await newKey('header-reader');
    const head = (path: string, headers: Record<string, string>) => fetch(`${jarvis.url}${path}`, { method: 'HEAD', headers, signal: AbortSignal.timeout(10_000) });
    for (let i = 0; i < 3; i++) {
      const r = await head(`/tasks/${taskId}/logs?follow=true`, { authorization: `Bearer ${k.key}` });
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('text/event-stream');
    }
    expect((await head(`/tasks/00000000-0000-4000-8000-000000000000/logs?follow=true`, { authorization: `Bearer ${k.key}` })).status).toBe(404);
    expect(await metric('jarvis_log_follows')).toBe(0);
    const f = follow(k.key);
    expect((await f.opened).status).toBe(200);
    f.close();
    await expect.poll(() => metric('jarvis_log_follows'), { timeout: 5_000 }).toBe(0);

    // The dashboard's relay: five HEADs filled the whole process (max 5).
    const cookie = await dashboardCookie(k.key);
    for (let i = 0; i < 5; i++) {
      const r = await head(`/ui/tasks/${taskId}/logs/stream`, { cookie });
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toBe('text/event-stream');
    }
    expect(await metric('jarvis_log_follows')).toBe(0);
    const relayed = openSse(`${jarvis.url}/ui/tasks/${taskId}/logs/stream`, { cookie });
    expect((await relayed.opened).status).toBe(200);
    relayed.close();
    await expect.poll(() => metric('jarvis_log_follows'), { timeout: 5_000 }).toBe(0);
  });

  it('serves many follows on one Redis connection, not one each', async () => {
    const pid = jarvis.child.pid!;
    const keys = await Promise.all([1, 2].map((i) => newKey(`sharing-${i}`)));
    // One follow first, so that the reader's connection exists; then four more.
    const first = follow(keys[0].key);
    expect((await first.opened).status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    const before = redisConnectionsOf(pid);
    const more = [follow(keys[0].key), follow(keys[0].key), follow(keys[1].key), follow(keys[1].key)];
    for (const f of more) expect((await f.opened).status).toBe(200);
    await new Promise((r) => setTimeout(r, 500));
    expect(redisConnectionsOf(pid)).toBe(before);
    // And each of them gets the lines.
    await print('shared line');
    for (const f of [first, ...more]) await expect.poll(() => f.events.map((e) => e.data), { timeout: 5_000 }).toContain('shared line');
    for (const f of [first, ...more]) f.close();
  });

  it('ends a follow within 2 s of its key being revoked, sending no line written after the revocation', async () => {
    const k = await newKey('revoked-follower');
    const f = follow(k.key);
    expect((await f.opened).status).toBe(200);
    await print('before revocation');
    await expect.poll(() => f.events.map((e) => e.data), { timeout: 5_000 }).toContain('before revocation');

    expect((await as(ADMIN)('DELETE', `/auth/keys/${k.id}`)).status).toBe(204);
    const revokedAt = Date.now();
    // The task goes on printing.
    let n = 0;
    const printing = setInterval(() => void print(`after revocation ${++n}`), 50);
    try {
      const endedAt = await within(f.ended, 4_000);
      expect(endedAt, 'the stream was still open 4 s after the revocation').not.toBeNull();
      console.log(`a follow ended ${endedAt! - revokedAt} ms after its key was revoked`);
      expect(endedAt! - revokedAt).toBeLessThan(2_000);
    } finally {
      clearInterval(printing);
      f.close();
    }
    expect(n).toBeGreaterThan(0);
    expect(f.events.filter((e) => e.data.startsWith('after revocation'))).toEqual([]);
    const last = f.events.at(-1)!;
    expect(last.event).toBe('refused');
    expect(JSON.parse(last.data)).toEqual({ detail: expect.stringMatching(/API key is no longer accepted \(revoked\)/) });
    // Its place is given back.
    await expect.poll(() => metric('jarvis_log_follows'), { timeout: 5_000 }).toBe(0);
  });

  it('ends a quiet follow within 2 s of its key being revoked behind the server (jarvis keys revoke, on the database)', async () => {
    const k = await newKey('revoked-elsewhere');
    const f = follow(k.key);
    expect((await f.opened).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_500)); // past the key's cached lookup
    const revoked = await runCli(['keys', 'revoke', k.id], { DATABASE_URL: db.url });
    expect(revoked.code, revoked.stderr).toBe(0);
    const revokedAt = Date.now();
    // Nothing is printed: the stream finds out at a quiet second, once the lookup's cache is over.
    const endedAt = await within(f.ended, 4_000);
    f.close();
    expect(endedAt, 'the stream was still open 4 s after the revocation').not.toBeNull();
    console.log(`a quiet follow ended ${endedAt! - revokedAt} ms after its key was revoked by the CLI`);
    expect(endedAt! - revokedAt).toBeLessThan(2_000);
    expect(f.events.at(-1)?.event).toBe('refused');
  });

  it("ends the dashboard's live log within 2 s of its session's key being revoked", async () => {
    const k = await newKey('revoked-dashboard');
    const f = openSse(`${jarvis.url}/ui/tasks/${taskId}/logs/stream`, { cookie: await dashboardCookie(k.key) });
    expect((await f.opened).status).toBe(200);
    await print('dashboard before');
    await expect.poll(() => f.events.map((e) => e.data), { timeout: 5_000 }).toContain('dashboard before');

    expect((await as(ADMIN)('DELETE', `/auth/keys/${k.id}`)).status).toBe(204);
    const revokedAt = Date.now();
    let n = 0;
    const printing = setInterval(() => void print(`dashboard after ${++n}`), 50);
    try {
      const endedAt = await within(f.ended, 4_000);
      expect(endedAt, 'the relayed stream was still open 4 s after the revocation').not.toBeNull();
      console.log(`the dashboard's live log ended ${endedAt! - revokedAt} ms after its key was revoked`);
      expect(endedAt! - revokedAt).toBeLessThan(2_000);
    } finally {
      clearInterval(printing);
      f.close();
    }
    expect(f.events.filter((e) => e.data.startsWith('dashboard after'))).toEqual([]);
    expect(f.events.at(-1)?.event).toBe('refused');
    await expect.poll(() => metric('jarvis_log_follows'), { timeout: 5_000 }).toBe(0);

    // A page that goes away gives its place back too.
    const other = await newKey('dashboard-leaves');
    const gone = openSse(`${jarvis.url}/ui/tasks/${taskId}/logs/stream`, { cookie: await dashboardCookie(other.key) });
    expect((await gone.opened).status).toBe(200);
    await expect.poll(() => metric('jarvis_log_follows'), { timeout: 5_000 }).toBe(1);
    gone.close();
    await expect.poll(() => metric('jarvis_log_follows'), { timeout: 5_000 }).toBe(0);
  });
});

describe('quiet log follows and the database', () => {
  const ADMIN = 'test-admin-key-quiet-follows-0123456789ab';
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let jarvis: Awaited<ReturnType<typeof startJarvis>>;
  let stats: pg.Client;
  const as = (key: string) => (method: string, path: string, body?: unknown) => api(jarvis.url).call(method, path, body, { authorization: `Bearer ${key}` });

  beforeAll(async () => {
    db = await createTestDatabase();
    stats = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await stats.connect();
    // No worker: the tasks stay queued and their follows quiet. The reconciler at its default
    // pace, so that the server's own statements are few beside the follows'.
    jarvis = await startJarvis({ command: 'server', databaseUrl: db.url, env: { JARVIS_ADMIN_KEY: ADMIN, JARVIS_RECONCILE_SECONDS: '30' } });
  });
  afterAll(async () => {
    await jarvis?.stop();
    await stats?.end();
    await db?.drop();
  });

  /**
   * Transactions the server's database committed in `ms` (each statement outside a transaction
   * is one), as PostgreSQL counts them (pg_stat_database; a backend reports at most once a second).
   */
  async function statementsIn(ms: number): Promise<number> {
    const read = async () => {
      const r = await stats.query('select xact_commit + xact_rollback as n from pg_stat_database where datname = $1', [new URL(db.url).pathname.slice(1)]);
      return Number(r.rows[0].n);
    };
    const before = await read();
    await new Promise((r) => setTimeout(r, ms));
    return (await read()) - before;
  }

  it('reads the tasks and keys of every quiet follow of the process together: a few statements a second, not one or two per follow', async () => {
    const tasks: string[] = [];
    for (let i = 0; i < 3; i++) {
      const t = await as(ADMIN)('POST', '/tasks', { image: TEST_IMAGE, command: ['true'] });
      expect(t.status).toBe(201);
      tasks.push(t.body.id);
    }
    const keys: string[] = [];
    for (let i = 0; i < 12; i++) {
      const k = await as(ADMIN)('POST', '/auth/keys', { name: `quiet-${i}`, role: 'viewer', tenant: 'default' });
      expect(k.status).toBe(201);
      keys.push(k.body.key);
    }
    await new Promise((r) => setTimeout(r, 2_000));
    const idle = await statementsIn(5_000);

    // 120 follows: 10 per key, 40 per task.
    const follows = [];
    for (let i = 0; i < 120; i++) {
      const f = openSse(`${jarvis.url}/tasks/${tasks[i % 3]}/logs?follow=true`, { authorization: `Bearer ${keys[i % 12]}` });
      expect((await f.opened).status).toBe(200);
      follows.push({ task: tasks[i % 3], ...f });
    }
    try {
      await new Promise((r) => setTimeout(r, 2_000));
      const quiet = await statementsIn(5_000);
      console.log(`120 quiet follows: ${quiet} statements in 5 s (${idle} with none open)`);
      // Before, each follow read its task's whole row at each quiet second (1 to 1.25 s), and
      // each key was looked up about as often: ~650 more in 5 s. Now one statement reads the
      // statuses of all the follows that are due, and one the keys whose lookup is due: a few a
      // second, whatever the number of follows.
      expect(quiet - idle).toBeLessThan(150);
      expect(follows.every((f) => f.events.length === 0)).toBe(true);

      // A task that ends still ends its follows at their next quiet second, with its status.
      const cancelledAt = Date.now();
      expect((await as(ADMIN)('POST', `/tasks/${tasks[0]}/cancel`)).status).toBe(200);
      const ended = follows.filter((f) => f.task === tasks[0]);
      const endedAt = await within(Promise.all(ended.map((f) => f.ended)), 4_000);
      expect(endedAt, 'the follows of the cancelled task were still open 4 s after').not.toBeNull();
      console.log(`the follows of a cancelled task ended ${Math.max(...(endedAt as number[])) - cancelledAt} ms after`);
      for (const f of ended) {
        expect(f.events.map((e) => e.event)).toEqual(['end']);
        expect(JSON.parse(f.events[0].data)).toEqual({ status: 'cancelled', exit_code: null });
      }
      expect(follows.filter((f) => f.task !== tasks[0]).every((f) => f.events.length === 0)).toBe(true);
    } finally {
      for (const f of follows) f.close();
    }
  });
});
