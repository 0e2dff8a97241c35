// Workflows over HTTP as a Python client would send them, run in real containers: the order
// they ran in, fan-out/fan-in, max_parallel, failure policies, retries and timeouts inside a
// workflow, cancel, malformed graphs, and the CLI.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { TEST_IMAGE } from './support/env.ts';
import { api, runCli, startJarvis, tempDir, type JarvisProcess } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

let jarvis: JarvisProcess;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let http: ReturnType<typeof api>;

beforeAll(async () => {
  db = await createTestDatabase();
  jarvis = await startJarvis({ databaseUrl: db.url });
  http = api(jarvis.url);
});
afterAll(async () => {
  await jarvis?.stop();
  await db?.drop();
});

type T = { workflow_key: string; status: string; started_at: string; finished_at: string; attempts: number; status_reason: string | null; id: string; error: string | null };
const task = (key: string, command: string, depends_on: string[] = [], extra: Record<string, unknown> = {}) => ({
  key,
  image: TEST_IMAGE,
  command,
  depends_on,
  resources: { cpu: 0.1, memory_mb: 32 },
  ...extra,
});

async function waitForWorkflow(id: string, ms = 60_000) {
  const until = Date.now() + ms;
  for (;;) {
    const r = await http.get(`/workflows/${id}`);
    if (r.body.status !== 'running') return r.body as { status: string; tasks: T[]; finished_at: string };
    if (Date.now() > until) throw new Error(`workflow ${id} still running: ${JSON.stringify(r.body.tasks.map((t: T) => [t.workflow_key, t.status]))}`);
    await new Promise((res) => setTimeout(res, 150));
  }
}
const byKey = (tasks: T[]) => Object.fromEntries(tasks.map((t) => [t.workflow_key, t]));
const logsOf = async (t: T) => (await http.get(`/tasks/${t.id}/logs`)).body.logs as string;

/** jarvis_tasks_finished_total by status, summed over priorities. */
async function finishedCounts(): Promise<Record<string, number>> {
  const text = await fetch(`${jarvis.url}/metrics`).then((r) => r.text());
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^jarvis_tasks_finished_total\{status="(\w+)",priority="\w+"\} (\d+)$/gm)) out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
  return out;
}
const grew = (before: Record<string, number>, after: Record<string, number>) =>
  Object.fromEntries(Object.keys(after).flatMap((k) => (after[k] !== (before[k] ?? 0) ? [[k, after[k] - (before[k] ?? 0)]] : [])));

describe('workflows', () => {
  it('runs a diamond in dependency order; children wait, saying on whom', async () => {
    const r = await http.post('/workflows', {
      name: 'etl',
      tasks: [
        task('extract', 'sleep 0.5; echo extracted'),
        task('clean', 'echo cleaned', ['extract']),
        task('enrich', 'echo enriched', ['extract']),
        task('load', 'echo loaded', ['clean', 'enrich']),
      ],
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ name: 'etl', status: 'running', on_failure: 'skip_downstream', max_parallel: null, finished_at: null });
    const created = byKey(r.body.tasks);
    expect(created.extract.status).toBe('queued');
    expect(created.load).toMatchObject({ status: 'pending', status_reason: 'waiting on clean, enrich' });
    expect(r.body.tasks.every((t: { workflow_id: string }) => t.workflow_id === r.body.id)).toBe(true);

    const done = await waitForWorkflow(r.body.id);
    expect(done.status).toBe('succeeded');
    const t = byKey(done.tasks);
    for (const k of ['extract', 'clean', 'enrich', 'load']) expect(t[k]).toMatchObject({ status: 'succeeded', attempts: 1 });
    const at = (k: string, f: 'started_at' | 'finished_at') => Date.parse(t[k][f]);
    expect(at('clean', 'started_at')).toBeGreaterThanOrEqual(at('extract', 'finished_at'));
    expect(at('enrich', 'started_at')).toBeGreaterThanOrEqual(at('extract', 'finished_at'));
    expect(at('load', 'started_at')).toBeGreaterThanOrEqual(Math.max(at('clean', 'finished_at'), at('enrich', 'finished_at')));
    expect(await logsOf(t.extract)).toBe('extracted\n');
    expect(await logsOf(t.load)).toBe('loaded\n');
    const listed = await http.get('/workflows?status=succeeded&limit=500');
    const mine = listed.body.items.find((w: { id: string }) => w.id === r.body.id);
    expect(mine.task_counts).toEqual({ succeeded: 4 });
  });

  it('stores every field of each task as given, in the order given', async () => {
    const full = {
      key: 'full',
      name: 'all fields',
      image: TEST_IMAGE,
      command: ['sh', '-c', 'echo "$GREETING"'],
      env: { GREETING: 'hi' },
      priority: 'high',
      resources: { cpu: 0.5, memory_mb: 64, gpu: 0 },
      timeout_seconds: 30,
      max_retries: 2,
      retry_backoff_seconds: 0.5,
      node_selector: { nowhere: 'true' }, // no node matches: it stays queued, so nothing changes it
      labels: { team: 'data' },
      network: 'none',
    };
    const r = await http.post('/workflows', { tasks: [full, { key: 'plain', image: TEST_IMAGE, command: 'true', depends_on: ['full'] }, { key: 'bare', image: TEST_IMAGE, node_selector: { nowhere: 'true' } }] });
    expect(r.status).toBe(201);
    const got = (await http.get(`/workflows/${r.body.id}`)).body.tasks;
    expect(got.map((t: T) => t.workflow_key)).toEqual(['full', 'plain', 'bare']);
    expect(got[0]).toMatchObject({
      name: 'all fields', image: TEST_IMAGE, command: ['sh', '-c', 'echo "$GREETING"'], env: { GREETING: 'hi' }, priority: 'high',
      resources: { cpu: 0.5, memory_mb: 64, gpu: 0 }, timeout_seconds: 30, max_retries: 2, retry_backoff_seconds: 0.5,
      node_selector: { nowhere: 'true' }, labels: { team: 'data' }, network: 'none', depends_on: [], attempts: 0,
    });
    expect(got[1]).toMatchObject({ command: 'true', depends_on: ['full'], status: 'pending', name: null, env: {}, labels: {} });
    expect(got[2]).toMatchObject({ command: null, depends_on: [] });
    await http.post(`/workflows/${r.body.id}/cancel`);
  });

  it('fans out and in at width 12 with at most max_parallel tasks running at once', async () => {
    const width = 12;
    const mids = Array.from({ length: width }, (_, i) => task(`m${i}`, 'sleep 0.3', ['root']));
    const r = await http.post('/workflows', {
      tasks: [task('root', 'true'), ...mids, task('sink', 'echo done', mids.map((m) => m.key))],
      max_parallel: 3,
    });
    expect(r.status).toBe(201);
    // While some parents have succeeded, the sink says how many it still waits on, and which.
    let seen = false;
    let waitingForSlot = false;
    for (let i = 0; i < 300 && !seen; i++) {
      const t = byKey((await http.get(`/workflows/${r.body.id}`)).body.tasks);
      // Released by the root but over max_parallel: pending, saying so.
      waitingForSlot ||= mids.some((m) => t[m.key].status === 'pending' && t[m.key].status_reason === 'ready; waiting for a free slot (max_parallel 3)');
      const left = mids.filter((m) => t[m.key].status !== 'succeeded').map((m) => m.key);
      if (left.length < width && t.sink.status === 'pending') {
        const expected = left.length > 5 ? `waiting on ${left.length} of ${width} parents: ${left.slice(0, 3).join(', ')}, …` : `waiting on ${left.join(', ')}`;
        expect(t.sink.status_reason).toBe(expected);
        seen = true;
      } else await new Promise((res) => setTimeout(res, 50));
    }
    expect(seen).toBe(true);
    expect(waitingForSlot, 'tasks over max_parallel said they wait for a slot').toBe(true);
    const done = await waitForWorkflow(r.body.id, 90_000);
    expect(done.status).toBe('succeeded');
    // Never more than 3 containers of this workflow alive at the same moment.
    const spans = done.tasks.map((t) => [Date.parse(t.started_at), Date.parse(t.finished_at)] as const);
    let peak = 0;
    for (const [s] of spans) peak = Math.max(peak, spans.filter(([a, b]) => a <= s && s < b).length);
    expect(peak).toBeGreaterThan(1);
    expect(peak).toBeLessThanOrEqual(3);
    const t = byKey(done.tasks);
    for (let i = 0; i < width; i++) expect(Date.parse(t.sink.started_at)).toBeGreaterThanOrEqual(Date.parse(t[`m${i}`].finished_at));
  });

  it('skip_downstream: skips what depends on a failed task, runs the rest, and fails the workflow', async () => {
    const counted = await finishedCounts();
    const r = await http.post('/workflows', {
      tasks: [task('a', 'exit 2'), task('b', 'echo b', ['a']), task('c', 'echo c', ['b']), task('solo', 'echo solo')],
    });
    const done = await waitForWorkflow(r.body.id);
    expect(done.status).toBe('failed');
    const t = byKey(done.tasks);
    expect(t.a).toMatchObject({ status: 'failed' });
    expect(t.b).toMatchObject({ status: 'skipped', status_reason: 'skipped: upstream task a failed' });
    expect(t.c).toMatchObject({ status: 'skipped', status_reason: 'skipped: upstream task a failed' });
    expect(t.solo.status).toBe('succeeded');
    // Every task that ended is counted as finished, the skipped ones too.
    expect(grew(counted, await finishedCounts())).toEqual({ failed: 1, skipped: 2, succeeded: 1 });
  });

  it('refuses to retry one task while its workflow runs, and allows it once the workflow has ended', async () => {
    // Retried alone in a running workflow, a's success would have let the workflow end
    // `succeeded` with b, which its failure skipped, never run.
    const r = await http.post('/workflows', { tasks: [task('a', 'exit 2'), task('b', 'echo b', ['a']), task('slow', 'sleep 3')] });
    const id = r.body.id as string;
    const a = byKey(r.body.tasks).a;
    await http.waitForTask(a.id, (t) => t.status === 'failed', 30_000);
    expect((await http.get(`/workflows/${id}`)).body.status).toBe('running');
    const refused = await http.post(`/tasks/${a.id}/retry`);
    expect(refused.status).toBe(409);
    expect(refused.body.detail).toBe(
      `This task's workflow ${id} is still running: retried alone, the tasks its failure skipped would not run. Retry the workflow once it has ended (POST /workflows/${id}/retry): it runs this task again and what it skipped`,
    );
    expect((await http.get(`/tasks/${a.id}`)).body).toMatchObject({ status: 'failed', attempts: 1 });
    expect((await waitForWorkflow(id)).status).toBe('failed');
    // Ended, the workflow keeps its outcome; the task alone may run again, as documented.
    const again = await http.post(`/tasks/${a.id}/retry`);
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('queued');
    await http.waitForTask(a.id, (t) => t.status === 'failed' && t.attempts === 2, 30_000);
    expect((await http.get(`/workflows/${id}`)).body.status).toBe('failed');
  });

  it('continue: runs every task whose own parents succeeded', async () => {
    const r = await http.post('/workflows', {
      on_failure: 'continue',
      tasks: [task('root', 'true'), task('bad', 'exit 1', ['root']), task('good', 'echo good', ['root']), task('after-good', 'echo ok', ['good']), task('after-bad', 'echo no', ['bad'])],
    });
    const done = await waitForWorkflow(r.body.id);
    expect(done.status).toBe('failed');
    const t = byKey(done.tasks);
    expect([t.root.status, t.bad.status, t.good.status, t['after-good'].status, t['after-bad'].status]).toEqual(['succeeded', 'failed', 'succeeded', 'succeeded', 'skipped']);
  });

  it('applies retries and timeouts inside a workflow', async () => {
    const r = await http.post('/workflows', {
      tasks: [
        task('flaky', 'exit 3', [], { max_retries: 2, retry_backoff_seconds: 0.2 }),
        task('slow', 'sleep 30', [], { timeout_seconds: 1 }),
        task('after-slow', 'true', ['slow']),
      ],
    });
    const done = await waitForWorkflow(r.body.id);
    const t = byKey(done.tasks);
    expect(t.flaky).toMatchObject({ status: 'failed', attempts: 3 });
    expect(t.slow).toMatchObject({ status: 'timed_out' });
    expect(t['after-slow']).toMatchObject({ status: 'skipped', status_reason: 'skipped: upstream task slow timed out' });
    const events = (await http.get(`/tasks/${t.flaky.id}/events`)).body.items.map((e: { status: string; attempt: number }) => `${e.status}@${e.attempt}`);
    expect(events.filter((e: string) => e.startsWith('running'))).toEqual(['running@1', 'running@2', 'running@3']);
    expect(events.at(-1)).toBe('failed@3');
  });

  it('cancels: running tasks are cancelled, the rest skipped; a second cancel is a 409', async () => {
    const counted = await finishedCounts();
    const r = await http.post('/workflows', { tasks: [task('long', 'sleep 60'), task('next', 'true', ['long'])] });
    const id = r.body.id;
    await http.waitForTask(byKey(r.body.tasks).long.id, (x) => x.status === 'running');
    const c = await http.post(`/workflows/${id}/cancel`);
    expect(c.status).toBe(200);
    expect(c.body.status).toBe('cancelled');
    const t = byKey(c.body.tasks);
    expect(t.long.status).toBe('cancelled');
    expect(t.next).toMatchObject({ status: 'skipped', status_reason: 'skipped: workflow cancelled' });
    expect((await http.post(`/workflows/${id}/cancel`)).status).toBe(409);
    expect((await http.get(`/workflows/${id}`)).body.status).toBe('cancelled');
    expect(grew(counted, await finishedCounts())).toEqual({ cancelled: 1, skipped: 1 });
  });

  it('answers If-None-Match with 304 and no body while nothing changed; a task that ends gives a new ETag', async () => {
    const r = await http.post('/workflows', { tasks: [task('ran', 'true'), task('held', 'true', [], { node_selector: { zone: 'nowhere' } })] });
    expect(r.status).toBe(201);
    const id = r.body.id;
    await http.waitForTask(byKey(r.body.tasks).ran.id, (x) => x.status === 'succeeded');
    const ask = (tag: string) => http.call('GET', `/workflows/${id}`, undefined, { 'if-none-match': tag });
    let read = await http.get(`/workflows/${id}`);
    expect(read.status).toBe(200);
    let tag = read.headers.get('etag')!;
    expect(tag).toMatch(/^W\/"[^"]+"$/);
    // The scheduler may still write the held task's waiting reason once: then the body (and tag) differ.
    let again = await ask(tag);
    for (let i = 0; again.status === 200 && i < 5; i++) [tag, again] = [again.headers.get('etag')!, await ask(again.headers.get('etag')!)];
    expect(again.status).toBe(304);
    expect(again.body).toBeNull();
    expect(again.headers.get('etag')).toBe(tag);
    // Compared weakly, among others, and * for any.
    for (const sent of [tag.slice(2), `W/"other", ${tag}`, '*']) expect((await ask(sent)).status).toBe(304);
    expect((await ask('W/"other"')).status).toBe(200);
    expect((await http.call('GET', '/workflows/0190a4b2-0000-7000-8000-000000000009', undefined, { 'if-none-match': '*' })).status).toBe(404);

    expect((await http.post(`/tasks/${byKey(r.body.tasks).held.id}/cancel`)).status).toBe(200);
    read = await ask(tag);
    expect(read.status).toBe(200);
    expect(byKey(read.body.tasks).held.status).toBe('cancelled');
    expect(read.headers.get('etag')).not.toBe(tag);
    expect((await ask(read.headers.get('etag')!)).status).toBe(304);
  });

  it.each([
    [
      'a cycle, named',
      [task('a', 'true', ['c']), task('b', 'true', ['a']), task('c', 'true', ['b'])],
      [{ type: 'value_error', loc: ['body', 'tasks', 1, 'depends_on', 0], msg: 'Value error, cycle: a -> c -> b -> a', input: 'a', ctx: { error: {} } }],
    ],
    [
      'a task depending on itself',
      [task('a', 'true', ['a'])],
      [{ type: 'value_error', loc: ['body', 'tasks', 0, 'depends_on', 0], msg: 'Value error, cycle: a -> a', input: 'a', ctx: { error: {} } }],
    ],
    [
      'an unknown dependency',
      [task('a', 'true'), task('b', 'true', ['a', 'nope'])],
      [{ type: 'value_error', loc: ['body', 'tasks', 1, 'depends_on', 1], msg: 'Value error, unknown dependency "nope": no task in this workflow has that key', input: 'nope', ctx: { error: {} } }],
    ],
    [
      'a duplicate key',
      [task('a', 'true'), task('a', 'true')],
      [{ type: 'value_error', loc: ['body', 'tasks', 1, 'key'], msg: 'Value error, duplicate key "a" (also tasks[0])', input: 'a', ctx: { error: {} } }],
    ],
  ])('refuses %s with a 422 pointing at it', async (_name, tasks, detail) => {
    const before = (await http.get('/workflows?limit=1')).body.total;
    const r = await http.post('/workflows', { tasks });
    expect(r.status).toBe(422);
    expect(r.body.detail).toEqual(detail);
    expect((await http.get('/workflows?limit=1')).body.total).toBe(before);
  });

  it('refuses a bad key and an empty task list in the FastAPI shape', async () => {
    const bad = await http.post('/workflows', { tasks: [task('has space', 'true')] });
    expect(bad.status).toBe(422);
    expect(bad.body.detail[0]).toMatchObject({ loc: ['body', 'tasks', 0, 'key'], input: 'has space' });
    const empty = await http.post('/workflows', { tasks: [] });
    expect(empty.status).toBe(422);
    expect(empty.body.detail).toEqual([
      { type: 'too_short', loc: ['body', 'tasks'], msg: 'List should have at least 1 item after validation, not 0', input: [], ctx: { field_type: 'List', min_length: 1, actual_length: 0 } },
    ]);
    expect((await http.get('/workflows/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });

  it('jarvis workflow run FILE --follow shows progress and exits non-zero when the workflow fails', async () => {
    const dir = tempDir();
    const ok = join(dir, 'ok.yaml');
    writeFileSync(
      ok,
      [
        'name: from-yaml',
        'tasks:',
        `  - {key: first, image: ${TEST_IMAGE}, command: "echo 1"}`,
        `  - {key: second, image: ${TEST_IMAGE}, command: "echo 2", depends_on: [first]}`,
      ].join('\n'),
    );
    const r = await runCli(['workflow', 'run', '--follow', ok], { JARVIS_API_URL: jarvis.url });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\[\d\/2\] first succeeded\n/);
    expect(r.stdout).toMatch(/\[2\/2\] second succeeded\n/);
    expect(r.stdout).toMatch(/workflow [0-9a-f-]{36} succeeded\n$/);
    const id = /workflow ([0-9a-f-]{36}) succeeded/.exec(r.stdout)![1];
    const got = await runCli(['workflow', 'get', id], { JARVIS_API_URL: jarvis.url });
    expect(got.stdout).toMatch(/^workflow .* \(from-yaml\): succeeded\n {2}first +succeeded/);

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, ['tasks:', `  - {key: x, image: ${TEST_IMAGE}, command: "exit 5"}`, `  - {key: y, image: ${TEST_IMAGE}, depends_on: [x]}`].join('\n'));
    const f = await runCli(['workflow', 'run', '-f', bad], { JARVIS_API_URL: jarvis.url });
    expect(f.code).toBe(1);
    expect(f.stdout).toContain('x failed (exited with code 5)');
    expect(f.stdout).toContain('y skipped (skipped: upstream task x failed)');
    const cyc = join(dir, 'cycle.yaml');
    writeFileSync(cyc, ['tasks:', `  - {key: x, image: ${TEST_IMAGE}, depends_on: [x]}`].join('\n'));
    const c = await runCli(['workflow', 'run', cyc], { JARVIS_API_URL: jarvis.url });
    expect(c.code).toBe(2);
    expect(c.stderr).toContain('body.tasks.0.depends_on.0: Value error, cycle: x -> x');
  });
});
