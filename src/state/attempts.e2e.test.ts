// Placing, starting and finishing attempts (place-attempts.ts, finish-attempts.ts: raw statements
// read through row-mapping.ts)
// against a real PostgreSQL and the embedded one: the rows placeMany returns equal what a SELECT
// reads (as do getMany, placementRequests and placementView, also read raw), each placed or
// started task gets exactly one history event, and a node without room refuses its tasks
// without touching them. The tenants' shares the dispatcher reads with them (one statement) are
// what the tenants' settings and usage read apart give.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import pg from 'pg';
import { createTestDatabase } from '../../test/support/database.ts';
import { openDatabase, type Database } from './db.ts';
import { TaskStore } from './task-store.ts';
import { NodeStore } from './node-store.ts';
import { DEFAULT_SETTINGS, TenantStore } from './tenant-store.ts';
import { taskRowFrom } from '../control/task-rows.ts';
import { loadConfig } from '../config/index.ts';

const config = loadConfig({ file: null, overrides: {} });

describe.each(['postgres', 'embedded'] as const)('placing and starting attempts (%s)', (kind) => {
  let database: Database;
  let cleanup: () => Promise<void>;
  let url: string | null = null;
  beforeAll(async () => {
    if (kind === 'postgres') {
      const db = await createTestDatabase();
      url = db.url;
      database = await openDatabase({ url: db.url, dataDir: '/nonexistent' });
      cleanup = () => db.drop();
    } else {
      const dir = mkdtempSync(join(tmpdir(), 'jarvis-place-'));
      database = await openDatabase({ url: null, dataDir: dir });
      cleanup = async () => rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
  afterAll(async () => {
    await database?.close();
    await cleanup?.();
  });

  it('returns the placed rows a SELECT reads, records one event per task, and refuses what no longer fits', async () => {
    const store = new TaskStore(database.db);
    const nodeStore = new NodeStore(database.db);
    const roomy = await nodeStore.register({ name: `roomy-${kind}`, hostname: 'h', capacity: { cpu: 8, memory_mb: 8192, gpu: 0, max_tasks: 10 }, labels: {} });
    const tight = await nodeStore.register({ name: `tight-${kind}`, hostname: 'h', capacity: { cpu: 1, memory_mb: 512, gpu: 0, max_tasks: 1 }, labels: {} });
    const specs = [
      { image: 'busybox', command: ['sh', '-c', 'echo "hi"'], env: { A: '1', B: { secret: 'x' } }, labels: { team: 'é "q"' }, name: 'one', outputs: { o: { path: '/tmp/o' } } },
      { image: 'busybox', command: 'true', resources: { cpu: 0.5, memory: '256Mi' }, priority: 'critical', timeout_seconds: 5 },
      { image: 'busybox', resources: { cpu: 2 } },
    ];
    const created = await store.insertMany(specs.map((s) => taskRowFrom(s as never, config, { status: 'queued', statusReason: 'waiting', tenant: 't1' })));
    const [a, b, c] = created.map((t) => t.id);
    // c asks 2 CPUs of a node that has 1: refused, and stays as it was.
    const { placed, refused, gone } = await store.placeMany([
      { taskId: a, nodeId: roomy.id },
      { taskId: b, nodeId: roomy.id },
      { taskId: c, nodeId: tight.id },
      { taskId: '00000000-0000-7000-8000-000000000000', nodeId: roomy.id },
    ]);
    expect(refused).toEqual([c]);
    expect(gone).toEqual(['00000000-0000-7000-8000-000000000000']);
    expect(placed.map((t) => t.id).sort()).toEqual([a, b].sort());
    for (const t of placed) {
      expect(t).toEqual(await store.get(t.id));
      expect(t).toMatchObject({ status: 'scheduled', nodeId: roomy.id, attempts: 1 });
      expect(t.scheduledAt).toBeInstanceOf(Date);
      expect(typeof t.seq).toBe('number');
      const events = await store.events(t.id);
      expect(events.map((e) => [e.status, e.attempt, e.nodeId])).toEqual([
        ['queued', 0, null],
        ['scheduled', 1, roomy.id],
      ]);
      expect(events[1].reason).toContain(`roomy-${kind}`);
    }
    expect(placed.find((t) => t.id === a)).toMatchObject({ command: ['sh', '-c', 'echo "hi"'], env: { A: '1', B: { secret: 'x' } }, labels: { team: 'é "q"' }, outputSpec: { o: { path: '/tmp/o' } } });
    expect(await store.get(c)).toMatchObject({ status: 'queued', attempts: 0, nodeId: null });
    // The other raw reads of the placement path: whole rows, the scheduler's fields, the nodes.
    const many = await store.getMany([a, b, c]);
    expect(many.sort((x, y) => (x.id < y.id ? -1 : 1))).toEqual(await Promise.all([a, b, c].sort().map((id) => store.get(id))));
    const [request] = await store.placementRequests([c]);
    const row = (await store.get(c))!;
    expect(request).toEqual({ id: c, status: 'queued', nodeId: null, priority: row.priority, tenant: 't1', createdAt: row.createdAt, waitingSince: null, statusReason: 'waiting', cpu: 2, memoryMb: row.memoryMb, gpu: 0, nodeSelector: {}, image: row.image, network: row.network });
    const view = await nodeStore.placementView();
    const roomyNow = (await nodeStore.get(roomy.id))!;
    expect(view.find((n) => n.id === roomy.id)).toEqual({
      id: roomy.id, name: roomyNow.name, status: 'available', labels: {}, cpu: 8, memoryMb: 8192, gpu: 0, maxTasks: 10,
      allocatedCpu: roomyNow.allocatedCpu, allocatedMemoryMb: roomyNow.allocatedMemoryMb, allocatedGpu: 0, allocatedTasks: 2,
    });
    expect((await nodeStore.get(roomy.id))?.allocatedTasks).toBe(2);
    expect((await nodeStore.get(tight.id))?.allocatedTasks).toBe(0);

    // The tenants' shares: t1 holds a and b and has no settings; another has settings and holds nothing.
    const tenantStore = new TenantStore(database.db);
    await tenantStore.put(`quiet-${kind}`, { weight: 3, quota: { cpu: 2.5, memoryMb: null, gpu: 1, maxRunning: 5 } });
    const shares = await tenantStore.shares();
    const [settings, usage] = await Promise.all([tenantStore.settings(), tenantStore.usage()]);
    expect(new Set(shares.keys())).toEqual(new Set([...settings.keys(), ...usage.keys()]));
    for (const [name, share] of shares) {
      expect(share.settings).toEqual(settings.get(name) ?? DEFAULT_SETTINGS);
      expect(share.usage).toEqual(usage.get(name) ?? { cpu: 0, memoryMb: 0, gpu: 0, running: 0 });
    }
    expect(shares.get('t1')).toEqual({ settings: DEFAULT_SETTINGS, usage: { cpu: 1.5, memoryMb: expect.any(Number), gpu: 0, running: 2 } });
    expect(shares.get(`quiet-${kind}`)).toEqual({ settings: { weight: 3, quota: { cpu: 2.5, memoryMb: null, gpu: 1, maxRunning: 5 } }, usage: { cpu: 0, memoryMb: 0, gpu: 0, running: 0 } });

    // Started: a's report counts; a report for an attempt b does not have changes nothing.
    const at = new Date(Date.now() - 1000);
    expect(await store.markRunningMany([{ taskId: a, attempt: 1, startedAt: at }, { taskId: b, attempt: 2, startedAt: at }])).toEqual([a]);
    expect(await store.get(a)).toMatchObject({ status: 'running', startedAt: at, statusReason: null });
    expect((await store.events(a)).map((e) => e.status)).toEqual(['queued', 'scheduled', 'running']);
    expect((await store.events(b)).map((e) => e.status)).toEqual(['queued', 'scheduled']);
    // The same report again changes nothing and records nothing.
    expect(await store.markRunningMany([{ taskId: a, attempt: 1, startedAt: at }])).toEqual([]);
    expect((await store.events(a)).map((e) => e.status)).toEqual(['queued', 'scheduled', 'running']);

    // Finished (finish-attempts.ts, also raw): a succeeds; b fails with a retry left (back to
    // queued, with why); a report for an attempt the task does not have is ignored.
    await database.db.execute(sql`update tasks set max_retries = 1 where id = ${b}`);
    const end = { exitCode: 0, error: null, startedAt: at, finishedAt: new Date(), logs: 'out\n', truncated: false };
    const { results } = await store.finishMany([
      { ...end, taskId: a, attempt: 1, status: 'succeeded', outputs: { o: 'v' }, result: 'r', logs: 'a "q" \\ é\u2028 \ud800 lone\n' },
      { ...end, taskId: b, attempt: 1, status: 'failed', exitCode: 3, error: 'exited with code 3', truncated: true },
      { ...end, taskId: c, attempt: 1, status: 'succeeded' },
    ]);
    expect(results[2]).toBeNull();
    expect(results[0]).toMatchObject({ changed: true, retryInMs: null, task: { id: a, status: 'succeeded', outputs: { o: 'v' }, result: 'r' } });
    expect(results[0]?.task).toEqual(await store.get(a));
    expect(results[1]).toMatchObject({ changed: true, task: { id: b, status: 'queued', nodeId: null, exitCode: 3 } });
    expect(results[1]?.retryInMs).toBeGreaterThan(0);
    expect(results[1]?.task).toEqual(await store.get(b));
    expect((await store.events(a)).map((e) => [e.status, e.reason])).toEqual([
      ['queued', 'waiting'],
      ['scheduled', expect.stringContaining(`roomy-${kind}`)],
      ['running', expect.any(String)],
      ['succeeded', null],
    ]);
    const bEvents = await store.events(b);
    // b's "started" report never came: its start is written into the history before the retry.
    expect(bEvents.map((e) => e.status)).toEqual(['queued', 'scheduled', 'running', 'queued']);
    expect(bEvents[3]).toMatchObject({ nodeId: null, attempt: 1, reason: results[1]?.task.statusReason });
    expect((await nodeStore.get(roomy.id))?.allocatedTasks).toBe(0);
    // The logs of both attempts that counted, as sent (a lone surrogate stored as U+FFFD, as the
    // driver stores a parameter holding one); none for the ignored report.
    expect(await store.logs(a)).toEqual({ logs: 'a "q" \\ é\u2028 \ufffd lone\n', truncated: false, attempt: 1 });
    expect(await store.logs(b)).toEqual({ logs: 'out\n', truncated: true, attempt: 1 });
    expect(await store.logs(c)).toBeNull();
  });

  it('places a task once and fills a node no further than its room when placements race', async () => {
    const store = new TaskStore(database.db);
    const nodeStore = new NodeStore(database.db);
    const one = await nodeStore.register({ name: `race-${kind}`, hostname: 'h', capacity: { cpu: 4, memory_mb: 4096, gpu: 0, max_tasks: 3 }, labels: {} });
    const roomy = await nodeStore.register({ name: `race-roomy-${kind}`, hostname: 'h', capacity: { cpu: 64, memory_mb: 65536, gpu: 0, max_tasks: 100 }, labels: {} });
    const rows = await store.insertMany(Array.from({ length: 8 }, () => taskRowFrom({ image: 'busybox' } as never, config, { status: 'queued', statusReason: 'waiting', tenant: 't1' })));
    const ids = rows.map((t) => t.id);
    // The same task in two placements at once, and more tasks than the node has slots: each
    // placement sees what the other committed (it waits for the rows the other locked). On
    // PostgreSQL another session changes the first task's row meanwhile, so both placements are
    // under way, past their snapshots, when it lets go (the embedded database runs one at a time).
    const blocker = url ? new pg.Client({ connectionString: url }) : null;
    if (blocker) {
      await blocker.connect();
      await blocker.query('begin');
      // It changes the row (still queued), so each placement finds a newer version of it than
      // its statement's snapshot holds, the case READ COMMITTED re-reads.
      await blocker.query(`update tasks set status_reason = 'changed meanwhile' where id = $1`, [ids[0]]);
    }
    const racing = Promise.all([
      store.placeMany([{ taskId: ids[0], nodeId: roomy.id }]),
      store.placeMany([{ taskId: ids[0], nodeId: roomy.id }]),
      store.placeMany(ids.slice(1, 5).map((taskId) => ({ taskId, nodeId: one.id }))),
      store.placeMany(ids.slice(5).map((taskId) => ({ taskId, nodeId: one.id }))),
    ]);
    if (blocker) {
      await new Promise((r) => setTimeout(r, 300));
      await blocker.query('commit');
      await blocker.end();
    }
    const results = await racing;
    const placed = results.flatMap((r) => r.placed.map((t) => t.id));
    expect(new Set(placed).size, 'no task placed twice').toBe(placed.length);
    expect(results[0].placed.length + results[1].placed.length, 'the task both placements wanted is placed once').toBe(1);
    expect([...results[0].gone, ...results[1].gone], 'and the other placement finds it gone').toEqual([ids[0]]);
    expect((await nodeStore.get(roomy.id))!.allocatedTasks).toBe(1);
    const onOne = results[2].placed.length + results[3].placed.length;
    expect(onOne, 'the small node is filled, no further than its slots').toBe(3);
    expect((await nodeStore.get(one.id))!.allocatedTasks, "the node's reservation is what was placed on it").toBe(3);
    const inDb = (await store.getMany(ids)).filter((t) => t.status === 'scheduled');
    expect(inDb.map((t) => t.id).sort()).toEqual([...placed].sort());
    for (const t of inDb) {
      expect(t.attempts).toBe(1);
      expect(t.statusReason).toMatch(new RegExp(`^placed on node race-(roomy-)?${kind}; waiting for it to start the container$`));
      expect((await store.events(t.id)).map((e) => e.status)).toEqual(['queued', 'scheduled']);
    }
    // Every task not placed is still queued, untouched, and reported refused or gone.
    for (const r of results) {
      for (const id of [...r.refused, ...r.gone]) expect(placed.includes(id) ? 'placed' : (await store.get(id))?.status).toMatch(/queued|placed/);
    }
    // A node that no longer accepts work takes nothing.
    await database.db.execute(sql`update nodes set status = 'draining' where id = ${one.id}`);
    const rest = ids.filter((id) => !placed.includes(id));
    expect(rest).toHaveLength(4);
    const late = await store.placeMany(rest.map((taskId) => ({ taskId, nodeId: one.id })));
    expect(late).toEqual({ placed: [], refused: rest, gone: [] });
  });
});
