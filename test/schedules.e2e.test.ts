// Schedules through the HTTP API: create, list, patch, trigger, delete; ticks of a seconds cron
// run once each — with two control planes on one database, across a leader change, and after a
// restart (one catch-up run within starting_deadline_seconds, none past it); forbid and replace.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, runCli, spawnSimulatedNodes, startJarvis, tempDir, uniquePrefix } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const TICK = 'jarvis.schedule/tick';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

type Http = ReturnType<typeof api>;
/** The runs (tasks) of a schedule, found by a label only its task carries. */
async function runsOf(http: Http, tag: string) {
  const r = await http.get(`/tasks?label=${encodeURIComponent(`sched:${tag}`)}&limit=500`);
  expect(r.status).toBe(200);
  return r.body.items as Array<{ id: string; status: string; schedule_id: string | null; labels: Record<string, string>; created_at: string }>;
}
/** jarvis_tasks_submitted_total, summed over priorities, as /metrics shows it. */
async function submittedTotal(http: Http): Promise<number> {
  const text = (await http.get('/metrics')).body as string;
  return [...text.matchAll(/^jarvis_tasks_submitted_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
}
const simTask = (tag: string, ms = 50) => ({ image: 'sim', labels: { sched: tag, 'jarvis.sim/duration_ms': String(ms) } });

describe('schedules on one control plane', () => {
  let http: Http;
  let url: string;
  beforeAll(async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const server = await startJarvis({ command: 'server', databaseUrl: db.url });
    cleanups.push(() => server.stop());
    const nodes = spawnSimulatedNodes(server, `sim-${server.prefix}`, 1, { cpu: 64, memoryMb: 65536, maxTasks: 100 });
    cleanups.push(() => nodes.stop());
    await nodes.waitFor(/worker: registered/, 30_000);
    http = api(server.url);
    url = server.url;
  }, 90_000);

  it('jarvis schedules: create from YAML, list, pause, resume, trigger, delete', async () => {
    const file = join(tempDir(), 'nightly.yaml');
    writeFileSync(file, ['name: nightly-etl', 'cron: "30 2 * * *"', 'timezone: Europe/Berlin', 'concurrency: forbid', 'task:', '  image: sim', '  labels: {sched: cli}', ''].join('\n'));
    const env = { JARVIS_API_URL: url };
    const created = await runCli(['schedules', 'create', file, '--json'], env);
    expect(created.code, created.stderr).toBe(0);
    const s = JSON.parse(created.stdout);
    expect(s).toMatchObject({ name: 'nightly-etl', cron: '30 2 * * *', timezone: 'Europe/Berlin', concurrency: 'forbid' });
    // 02:30 in Berlin is 00:30 or 01:30 UTC, depending on DST.
    expect(new Date(s.next_run_at).getUTCMinutes()).toBe(30);
    const list = await runCli(['schedules', 'list'], env);
    expect(list.stdout).toMatch(new RegExp(`${s.id}\\s+nightly-etl\\s+30 2 \\* \\* \\*\\s+Europe/Berlin\\s+forbid\\s+active`));
    expect((await runCli(['schedules', 'pause', s.id], env)).stdout).toMatch(/paused/);
    expect((await http.get(`/schedules/${s.id}`)).body.paused).toBe(true);
    expect((await runCli(['schedules', 'resume', s.id], env)).stdout).toMatch(/next run: 20/);
    const trig = await runCli(['schedules', 'trigger', s.id], env);
    expect(trig.stdout).toMatch(/^task [0-9a-f-]{36} started/);
    const runId = trig.stdout.split(' ')[1];
    expect((await http.waitForTask(runId, (t) => t.status === 'succeeded')).schedule_id).toBe(s.id);
    expect((await runCli(['schedules', 'delete', s.id], env)).code).toBe(0);
    const gone = await runCli(['schedules', 'get', s.id], env);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toMatch(/404: Schedule not found/);
    const bad = await runCli(['schedules', 'create', '--name', 'x', '--cron', 'every day', '--image', 'sim'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/body\.cron: .*is not valid/);
  }, 60_000);

  it('creates, lists, reads, pauses, resumes, triggers and deletes', async () => {
    const created = await http.post('/schedules', { name: 'every-2s', cron: '*/2 * * * * *', task: simTask('crud') });
    expect(created.status).toBe(201);
    const s = created.body;
    expect(s).toMatchObject({ name: 'every-2s', timezone: 'UTC', concurrency: 'allow', starting_deadline_seconds: null, paused: false, tenant: 'default', missed_ticks: 0 });
    expect(Date.parse(s.next_run_at) - Date.now()).toBeLessThanOrEqual(2_000);

    const list = await http.get('/schedules?limit=1');
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ total: 1, limit: 1, offset: 0 });
    expect(list.body.items[0].id).toBe(s.id);

    // It ticks: runs appear, each linked to the schedule and labelled with its own tick.
    await sleep(4_500);
    const runs = await runsOf(http, 'crud');
    expect(runs.length).toBeGreaterThanOrEqual(2);
    expect(runs.length).toBeLessThanOrEqual(3);
    for (const r of runs) expect(r.schedule_id).toBe(s.id);
    expect(new Set(runs.map((r) => r.labels[TICK])).size).toBe(runs.length);
    for (const r of runs) expect(new Date(r.labels[TICK]).getUTCSeconds() % 2).toBe(0);
    const done = await http.waitForTask(runs[0].id, (t) => t.status === 'succeeded');
    expect(done.schedule_id).toBe(s.id);
    const listed = (await http.get(`/tasks?schedule_id=${s.id}&limit=500`)).body.items.map((t: { id: string }) => t.id);
    expect(listed).toEqual(expect.arrayContaining(runs.map((r) => r.id)));

    // Paused: no next run, no runs.
    const paused = await http.call('PATCH', `/schedules/${s.id}`, { paused: true });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ paused: true, next_run_at: null });
    // A pause is no tick: last_tick_at is still the last even-second tick, not the PATCH's time.
    const lastTick = new Date(paused.body.last_tick_at);
    expect([lastTick.getUTCSeconds() % 2, lastTick.getUTCMilliseconds()]).toEqual([0, 0]);
    const before = (await runsOf(http, 'crud')).length;
    await sleep(3_000);
    expect((await runsOf(http, 'crud')).length).toBe(before);

    // Trigger runs it now even while paused, with no tick label.
    const trig = await http.post(`/schedules/${s.id}/trigger`);
    expect(trig.status).toBe(201);
    expect(trig.body.run.kind).toBe('task');
    const manual = await http.waitForTask(trig.body.run.id, (t) => t.status === 'succeeded');
    expect(manual.schedule_id).toBe(s.id);
    expect(manual.labels[TICK]).toBeUndefined();
    expect((await http.get(`/schedules/${s.id}`)).body.last_run_id).toBe(trig.body.run.id);

    // Resumed: ticks that passed while paused are not caught up; new ones run.
    const resumed = await http.call('PATCH', `/schedules/${s.id}`, { paused: false, cron: '* * * * * *' });
    expect(resumed.status).toBe(200);
    expect(resumed.body.next_run_at).not.toBeNull();
    await sleep(2_500);
    const after = await runsOf(http, 'crud');
    const ticked = after.filter((r) => r.labels[TICK] && Date.parse(r.labels[TICK]) >= Date.parse(resumed.body.updated_at) - 1000);
    expect(ticked.length).toBeGreaterThanOrEqual(1);
    expect(after.filter((r) => r.labels[TICK] && Date.parse(r.labels[TICK]) > Date.parse(paused.body.updated_at) && Date.parse(r.labels[TICK]) < Date.parse(resumed.body.updated_at) - 1000)).toEqual([]);

    expect((await http.call('DELETE', `/schedules/${s.id}`)).status).toBe(204);
    expect((await http.get(`/schedules/${s.id}`)).status).toBe(404);
    expect((await http.call('DELETE', `/schedules/${s.id}`)).status).toBe(404);
    // The runs stay, no longer linked.
    const kept = await http.get(`/tasks/${trig.body.run.id}`);
    expect(kept.status).toBe(200);
    expect(kept.body.schedule_id).toBeNull();
  }, 60_000);

  it('refuses a bad schedule with 422 at the field', async () => {
    const bad = async (body: unknown) => {
      const r = await http.post('/schedules', body);
      expect(r.status).toBe(422);
      return r.body.detail.map((d: { loc: unknown[] }) => d.loc.join('.'));
    };
    expect(await bad({ name: 'x', cron: '0 25 * * *', task: simTask('bad') })).toEqual(['body.cron']);
    expect(await bad({ name: 'x', cron: '0 2 * * *', timezone: 'Mars/Base', task: simTask('bad') })).toEqual(['body.timezone']);
    expect(await bad({ name: 'x', cron: '0 2 * * *' })).toEqual(['body.task']);
    expect(await bad({ name: 'x', cron: '0 2 * * *', task: { ...simTask('bad'), idempotency_key: 'k' } })).toEqual(['body.task.idempotency_key']);
    expect(await bad({ name: 'x', cron: '0 2 * * *', workflow: { tasks: [{ key: 'a', image: 'sim', depends_on: ['zz'] }] } })).toEqual(['body.workflow.tasks.0.depends_on.0']);
    const s = (await http.post('/schedules', { name: 'ok', cron: '0 2 * * *', task: simTask('bad'), paused: true })).body;
    const r = await http.call('PATCH', `/schedules/${s.id}`, { cron: 'every night' });
    expect(r.status).toBe(422);
    expect(r.body.detail[0].loc).toEqual(['body', 'cron']);
    expect((await http.get('/schedules/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });

  it('runs a workflow per tick, linked to the schedule', async () => {
    const wf = { name: 'wf', tasks: [{ key: 'a', ...simTask('wf') }, { key: 'b', ...simTask('wf'), depends_on: ['a'] }] };
    const s = (await http.post('/schedules', { name: 'wf', cron: '0 0 1 1 *', workflow: wf })).body;
    const before = await submittedTotal(http);
    const trig = await http.post(`/schedules/${s.id}/trigger`);
    expect(trig.status).toBe(201);
    expect(trig.body.run.kind).toBe('workflow');
    expect(await submittedTotal(http), "the run's two tasks are counted as submitted").toBe(before + 2);
    let w;
    for (let i = 0; i < 100; i++) {
      w = (await http.get(`/workflows/${trig.body.run.id}`)).body;
      if (w.status !== 'running') break;
      await sleep(100);
    }
    expect(w).toMatchObject({ status: 'succeeded', schedule_id: s.id });
    const listed = (await http.get(`/workflows?schedule_id=${s.id}`)).body;
    expect(listed.items.map((x: { id: string }) => x.id)).toEqual([trig.body.run.id]);
    expect(listed.items[0].schedule_id).toBe(s.id);
    for (const t of w.tasks) expect(t.schedule_id).toBe(s.id);
  });

  it('forbid skips a tick while the last run is active; replace cancels it', async () => {
    const before = await submittedTotal(http);
    const f = (await http.post('/schedules', { name: 'f', cron: '* * * * * *', concurrency: 'forbid', task: simTask('forbid', 3_500) })).body;
    const r = (await http.post('/schedules', { name: 'r', cron: '*/2 * * * * *', concurrency: 'replace', task: simTask('replace', 60_000) })).body;
    // The default (allow): its ticks are started together with other schedules' (one statement).
    const a = (await http.post('/schedules', { name: 'a', cron: '*/2 * * * * *', task: simTask('allow') })).body;
    await sleep(5_200);
    await http.call('PATCH', `/schedules/${f.id}`, { paused: true });
    await http.call('PATCH', `/schedules/${r.id}`, { paused: true });
    await http.call('PATCH', `/schedules/${a.id}`, { paused: true });
    await sleep(500); // a tick claimed as the pause landed has committed
    // forbid: runs never overlap, so in ~5 s of 3.5 s runs there are at most two.
    const forbid = await runsOf(http, 'forbid');
    expect(forbid.length).toBeGreaterThanOrEqual(1);
    expect(forbid.length).toBeLessThanOrEqual(2);
    // replace: every run but the last was cancelled by the next.
    const replace = (await runsOf(http, 'replace')).sort((a, b) => a.labels[TICK].localeCompare(b.labels[TICK]));
    expect(replace.length).toBeGreaterThanOrEqual(2);
    for (const t of replace.slice(0, -1)) expect((await http.waitForTask(t.id, (x) => x.status === 'cancelled', 10_000)).status).toBe('cancelled');
    expect((await http.get(`/tasks/${replace.at(-1)!.id}`)).body.status).not.toBe('cancelled');
    const allow = await runsOf(http, 'allow');
    expect(allow.length).toBeGreaterThanOrEqual(2);
    expect(await submittedTotal(http), 'every run a tick made is counted as submitted').toBe(before + forbid.length + replace.length + allow.length);
  }, 30_000);
});

describe('exactly once', () => {
  it('two control planes on one database run each tick once, across a leader change', async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const prefix = uniquePrefix();
    const a = await startJarvis({ command: 'server', databaseUrl: db.url, prefix });
    cleanups.push(() => a.stop('SIGKILL'));
    const b = await startJarvis({ command: 'server', databaseUrl: db.url, prefix });
    cleanups.push(() => b.stop());
    const http = api(b.url);
    const s = (await http.post('/schedules', { name: 'once', cron: '* * * * * *', task: { image: 'sim', labels: { sched: 'once' } } })).body;
    await sleep(4_000);
    await a.stop('SIGKILL'); // the leader dies; b takes over within the lock's TTL (3 s in tests)
    await sleep(6_000);
    await http.call('PATCH', `/schedules/${s.id}`, { paused: true });
    const runs = await runsOf(http, 'once');
    const ticks = runs.map((r) => r.labels[TICK]);
    expect(new Set(ticks).size).toBe(ticks.length); // never two runs for one tick
    // Every second ran, except those the hand-over skipped (at most one catch-up for them).
    expect(runs.length).toBeGreaterThanOrEqual(5);
    expect(runs.length).toBeLessThanOrEqual(11);
  }, 60_000);

  it('after a restart, runs one catch-up within starting_deadline_seconds, and none past it', async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const prefix = uniquePrefix();
    let server = await startJarvis({ command: 'server', databaseUrl: db.url, prefix });
    cleanups.push(() => server.stop());
    let http = api(server.url);
    // Four ticks 3 s apart, then none for the rest of the minute: the one before the stop, three
    // while down; the restarted control plane then has ~50 s to lead before the next tick, so its
    // first pass always meets the missed ones (with "every 3 s", a tick usually came between the
    // restart and that pass, and the catch-up went unchecked).
    const t0 = (Math.ceil(Date.now() / 1000) + 4) * 1000;
    const ticks = [0, 3, 6, 9].map((s) => t0 + s * 1000);
    const cron = `${[...new Set(ticks.map((t) => new Date(t).getUTCSeconds()))].sort((a, b) => a - b).join(',')} * * * * *`;
    const within = (await http.post('/schedules', { name: 'within', cron, starting_deadline_seconds: 60, task: { image: 'sim', labels: { sched: 'within' } } })).body;
    const past = (await http.post('/schedules', { name: 'past', cron, starting_deadline_seconds: 1, task: { image: 'sim', labels: { sched: 'past' } } })).body;
    expect(within.id && past.id, JSON.stringify({ within, past })).toBeTruthy();
    await sleep(ticks[0] + 500 - Date.now());
    await server.stop('SIGKILL');
    const downAt = Date.now();
    expect(downAt, 'stopped before the second tick').toBeLessThan(ticks[1]);
    await sleep(ticks[3] + 500 - Date.now()); // three ticks pass while no control plane runs
    const restartAt = Date.now();
    server = await startJarvis({ command: 'server', databaseUrl: db.url, prefix });
    cleanups.push(() => server.stop());
    http = api(server.url);
    // The new control plane's first pass runs once it leads, which on a loaded machine can take
    // more than a second after it answers: wait for its first run rather than a fixed time.
    let w: Awaited<ReturnType<typeof runsOf>> = [];
    const deadline = Date.now() + 20_000;
    while (w.length === 0 && Date.now() < deadline) {
      w = (await runsOf(http, 'within')).filter((r) => Date.parse(r.created_at) > downAt);
      if (w.length === 0) await sleep(100);
    }
    expect(w.length, 'a run after the restart').toBeGreaterThanOrEqual(1);
    expect(Date.now(), 'the check ran before the schedule\'s next tick (a minute after the first)').toBeLessThan(ticks[0] + 60_000);
    const p = (await runsOf(http, 'past')).filter((r) => Date.parse(r.created_at) > downAt);
    const wAll = await runsOf(http, 'within');
    expect(new Set(wAll.map((r) => r.labels[TICK])).size).toBe(wAll.length);
    // The first pass runs the latest tick due: the last one missed while down (the catch-up).
    const firstTick = Math.min(...w.map((r) => Date.parse(r.labels[TICK])));
    expect(firstTick, 'the first run is the catch-up of a tick missed while down').toBeLessThan(restartAt);
    expect(new Date(firstTick).toISOString(), 'the catch-up is of the latest tick missed').toBe(new Date(ticks[3]).toISOString());
    // At most one catch-up for the three ticks missed while down.
    expect(w.filter((r) => Date.parse(r.labels[TICK]) < restartAt).length).toBeLessThanOrEqual(1);
    const sw = (await http.get(`/schedules/${within.id}`)).body;
    const sp = (await http.get(`/schedules/${past.id}`)).body;
    expect(sw.missed_ticks).toBeGreaterThanOrEqual(2);
    // Three or more ticks passed while down; the last may have been within 1 s of the restart,
    // and then it is the one catch-up rather than missed.
    expect(sp.missed_ticks).toBeGreaterThanOrEqual(2);
    // Past the deadline: no run later than 1 s after its tick (no catch-up of old ticks: those
    // are 3 s or more old). The deadline is checked when the pass starts and the row is stamped
    // when it is written, a few ms to a few hundred later on a busy machine (seen: 1,021 ms).
    for (const r of p) expect(Date.parse(r.labels[TICK])).toBeGreaterThan(Date.parse(r.created_at) - 1_000 - 500);
  }, 90_000);
});
