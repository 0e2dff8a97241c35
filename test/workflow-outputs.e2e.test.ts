// Outputs, `result`, templates, `when` and workflow retry (docs/workflows.md), over HTTP, in real
// containers: a value passed from one container to the next (command, env, name), a branch that
// runs and one skipped with its reason, outputs kept across a control-plane restart, the 64 KiB
// cap, submit-time 422s that point at the field, and POST /workflows/{id}/retry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { TEST_IMAGE } from './support/env.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { api, runCli, startJarvis, tempDir, type JarvisProcess } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

let jarvis: JarvisProcess & { prefix: string; dataDir: string };
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

type T = {
  id: string;
  workflow_key: string;
  name: string | null;
  status: string;
  status_reason: string | null;
  error: string | null;
  attempts: number;
  command: string | string[] | null;
  env: Record<string, string>;
  outputs: Record<string, string> | null;
  result: string | null;
};
const task = (key: string, command: string | string[], depends_on: string[] = [], extra: Record<string, unknown> = {}) => ({
  key,
  image: TEST_IMAGE,
  command,
  depends_on,
  resources: { cpu: 0.1, memory_mb: 32 },
  ...extra,
});
const byKey = (tasks: T[]) => Object.fromEntries(tasks.map((t) => [t.workflow_key, t]));
const logsOf = async (t: T) => (await http.get(`/tasks/${t.id}/logs`)).body.logs as string;

async function waitForWorkflow(id: string, ms = 60_000) {
  const until = Date.now() + ms;
  for (;;) {
    const r = await http.get(`/workflows/${id}`);
    if (r.body.status !== 'running') return r.body as { status: string; tasks: T[] };
    if (Date.now() > until) throw new Error(`workflow ${id} still running: ${JSON.stringify(r.body.tasks.map((t: T) => [t.workflow_key, t.status]))}`);
    await new Promise((res) => setTimeout(res, 150));
  }
}

describe('outputs, templates and when', () => {
  it('passes a value to the next container, branches on it, and keeps it across a restart', async () => {
    const r = await http.post('/workflows', {
      name: 'etl',
      tasks: [
        task('extract', "echo 7 > /tmp/rows; echo counted; echo done; echo", [], { outputs: { rows: { path: '/tmp/rows' } } }),
        task('load', 'echo "rows={{ tasks.extract.outputs.rows }} env=$ROWS last={{ tasks.extract.result }}"', ['extract'], {
          name: 'load {{ tasks.extract.outputs.rows }} rows',
          env: { ROWS: '{{ tasks.extract.outputs.rows }}' },
        }),
        task('list-form', ['echo', '{{ tasks.extract.status }}:{{ tasks.extract.outputs.rows }}'], ['extract']),
        task('many', 'echo many', ['extract'], { when: '{{ tasks.extract.outputs.rows }} > 5 and {{ tasks.extract.status }} == "succeeded"' }),
        task('none', 'echo none', ['extract'], { when: "'{{ tasks.extract.outputs.rows }}' == '0'" }),
        task('after-none', 'echo after', ['none']),
      ],
    });
    expect(r.status).toBe(201);
    // Before release the submitted templates are shown as they are.
    expect(byKey(r.body.tasks).load).toMatchObject({ name: 'load {{ tasks.extract.outputs.rows }} rows', outputs: null, result: null });
    const done = await waitForWorkflow(r.body.id);
    const t = byKey(done.tasks);
    // Skipped by a `when` is not a failure: the workflow succeeds.
    expect(done.status).toBe('succeeded');
    expect(t.extract).toMatchObject({ status: 'succeeded', outputs: { rows: '7' }, result: 'done', declared_outputs: { rows: { path: '/tmp/rows' } } });
    expect(t.load).toMatchObject({ status: 'succeeded', name: 'load 7 rows', env: { ROWS: '7' }, result: 'rows=7 env=7 last=done' });
    expect(await logsOf(t.load)).toBe('rows=7 env=7 last=done\n');
    expect(t.load.command).toBe('echo "rows=7 env=$ROWS last=done"');
    expect(await logsOf(t['list-form'])).toBe('succeeded:7\n');
    expect(t.many.status).toBe('succeeded');
    expect(t.none).toMatchObject({
      status: 'skipped',
      status_reason: `when "'{{ tasks.extract.outputs.rows }}' == '0'" was false (tasks.extract.outputs.rows = "7")`,
    });
    // on_failure skip_downstream (the default): a task skipped by its `when` skips its descendants.
    expect(t['after-none']).toMatchObject({ status: 'skipped', status_reason: 'skipped: upstream task none skipped' });

    // A control-plane restart (killed) keeps the values.
    const before = (await http.get(`/workflows/${r.body.id}`)).body;
    await jarvis.stop('SIGKILL');
    jarvis = await startJarvis({ databaseUrl: db.url, prefix: jarvis.prefix, dataDir: jarvis.dataDir });
    http = api(jarvis.url);
    const after = (await http.get(`/workflows/${r.body.id}`)).body;
    expect(after).toEqual(before);
    expect((await http.get(`/tasks/${t.extract.id}`)).body).toMatchObject({ outputs: { rows: '7' }, result: 'done' });
    const listed = (await http.get(`/tasks?workflow_id=${r.body.id}`)).body.items as T[];
    expect(byKey(listed).extract).toMatchObject({ outputs: { rows: '7' }, result: 'done' });
  });

  it('with on_failure continue, a task skipped by its when counts as done for its children', async () => {
    const r = await http.post('/workflows', {
      on_failure: 'continue',
      tasks: [
        task('check', 'echo no'),
        task('gate', 'echo gated', ['check'], { when: "{{ tasks.check.result }} == 'yes'" }),
        task('next', 'echo "gate {{ tasks.gate.status }}"', ['gate']),
        task('reads-gate', 'echo "{{ tasks.gate.result }}"', ['gate']),
      ],
    });
    const done = await waitForWorkflow(r.body.id);
    const t = byKey(done.tasks);
    expect(t.gate).toMatchObject({ status: 'skipped', status_reason: `when "{{ tasks.check.result }} == 'yes'" was false (tasks.check.result = "no")` });
    expect(t.next.status).toBe('succeeded');
    expect(await logsOf(t.next)).toBe('gate skipped\n');
    // A value the skipped task never produced fails the task that needs it, at release, saying so.
    expect(t['reads-gate']).toMatchObject({ status: 'failed', attempts: 0, error: 'cannot fill command: tasks.gate.result has no value (task "gate" ended skipped)' });
    expect(done.status).toBe('failed');
    // Retried alone it would run with its templates unfilled: the answer points at the workflow.
    const alone = await http.post(`/tasks/${t['reads-gate'].id}/retry`);
    expect(alone.status).toBe(409);
    expect(alone.body.detail).toBe(`This task failed before it ran, when its templates were filled from its workflow; retry the workflow instead (POST /workflows/${r.body.id}/retry)`);
  });

  it('fills the escaped braces of a first task, as of every other: the container gets {{ as written out', async () => {
    // A root's templates were never filled: its container ran {{ '{{' }} as it stood in the request.
    const r = await http.post('/workflows', {
      tasks: [
        task('root', `echo "{{ '{{' }}.State.Running}}"`, [], { name: `inspect-{{ '{{' }}x}}`, env: { FORMAT: `{{ '{{' }}json .}}` } }),
        task('child', `echo "$FORMAT"`, ['root'], { env: { FORMAT: `{{ '{{' }}json .}}` } }),
      ],
    });
    expect(r.status).toBe(201);
    const done = await waitForWorkflow(r.body.id);
    const t = byKey(done.tasks);
    expect(done.status).toBe('succeeded');
    expect(t.root).toMatchObject({ name: 'inspect-{{x}}', command: 'echo "{{.State.Running}}"', env: { FORMAT: '{{json .}}' } });
    expect(await logsOf(t.root)).toBe('{{.State.Running}}\n');
    expect(await logsOf(t.child)).toBe('{{json .}}\n');
  });

  it('fails a task whose output is over 64 KiB, missing, or not a file, saying which', async () => {
    const big = await http.post('/tasks', {
      image: TEST_IMAGE,
      command: "head -c 70000 /dev/zero | tr '\\0' a > /tmp/big; echo wrote",
      outputs: { big: { path: '/tmp/big' } },
    });
    expect(big.status).toBe(201);
    const missing = await http.post('/tasks', { image: TEST_IMAGE, command: 'mkdir /tmp/dir', outputs: { gone: { path: '/tmp/nothing' }, dir: { path: '/tmp/dir' } } });
    const fits = await http.post('/tasks', {
      image: TEST_IMAGE,
      command: "head -c 65536 /dev/zero | tr '\\0' b > /tmp/max; echo >> /tmp/max; printf 'x\\n\\n' > /tmp/two",
      outputs: { max: { path: '/tmp/max' }, two: { path: '/tmp/two' } },
    });
    const final = (x: { status: string }) => ['succeeded', 'failed'].includes(x.status);
    const b = await http.waitForTask(big.body.id, final);
    expect(b).toMatchObject({ status: 'failed', exit_code: 0, outputs: null, result: 'wrote' });
    expect(b.error).toBe('output "big" is 70000 bytes; the limit is 65536 bytes (64 KiB): write a smaller value, or store large data elsewhere and pass its location');
    const m = await http.waitForTask(missing.body.id, final);
    expect(m.status).toBe('failed');
    expect(m.error).toContain('output "gone": no file at /tmp/nothing when the container exited');
    expect(m.error).toContain('output "dir": /tmp/dir is a directory');
    const f = await http.waitForTask(fits.body.id, final);
    expect(f.status).toBe('succeeded');
    expect(f.outputs.max).toBe('b'.repeat(65536));
    expect(f.outputs.two).toBe('x\n');
    expect(f.result).toBeNull();
  });

  it('refuses at submit a template or when that cannot work, pointing at the field', async () => {
    const r = await http.post('/workflows', {
      tasks: [
        task('a', 'echo 1 > /tmp/n', [], { outputs: { n: { path: '/tmp/n' } } }),
        task('b', 'echo {{ tasks.c.result }}', ['a']),
        task('c', ['echo', '{{ tasks.a.outputs.m }}'], ['a'], { env: { X: '{{ tasks.a.outputs.n }}', Y: '{{ oops }}' } }),
        task('d', 'true', ['a'], { when: '{{ tasks.a.outputs.n }} > yes' }),
      ],
    });
    expect(r.status).toBe(422);
    const locs = r.body.detail.map((d: { loc: unknown[] }) => d.loc);
    expect(locs).toEqual([
      ['body', 'tasks', 1, 'command'],
      ['body', 'tasks', 2, 'command', 1],
      ['body', 'tasks', 2, 'env', 'Y'],
      ['body', 'tasks', 3, 'when'],
    ]);
    expect(r.body.detail[0].msg).toContain('task "c" is not an ancestor of "b"');
    expect(r.body.detail[1].msg).toContain('task "a" declares no output "m" (it declares "n")');
    expect(r.body.detail[3].msg).toContain("quote text ('yes')");
    expect(r.body.detail[0]).toMatchObject({ type: 'value_error', input: 'echo {{ tasks.c.result }}' });
    const alone = await http.post('/tasks', { image: TEST_IMAGE, command: 'echo {{ tasks.a.result }}' });
    expect(alone.status).toBe(422);
    expect(alone.body.detail[0]).toMatchObject({ loc: ['body', 'command'] });
    expect(alone.body.detail[0].msg).toContain('submit this task inside a workflow');
    // Braces that are no reference are left alone in a task outside a workflow.
    expect((await http.post('/tasks', { image: TEST_IMAGE, command: "echo '{{.State}}'" })).status).toBe(201);
    const badName = await http.post('/tasks', { image: TEST_IMAGE, outputs: { '9x': { path: 'rel' } } });
    expect(badName.status).toBe(422);
  });
});

describe('POST /workflows/{id}/retry', () => {
  it('re-runs what did not succeed (new attempts, same ids), keeps what did, and refuses while running', async () => {
    const r = await http.post('/workflows', {
      tasks: [
        task('ok', 'echo kept > /tmp/v; echo ok-ran', [], { outputs: { v: { path: '/tmp/v' } } }),
        task('bad', 'exit 3', ['ok']),
        task('slow', 'sleep 2; echo "got {{ tasks.ok.outputs.v }}"', ['ok']),
        task('after', 'echo "after {{ tasks.slow.result }}"', ['slow']),
      ],
    });
    const ids = byKey(r.body.tasks);
    await http.waitForTask(ids.slow.id, (x) => x.status === 'running');
    const busy = await http.post(`/workflows/${r.body.id}/retry`);
    expect(busy.status).toBe(409);
    expect(busy.body).toEqual({ detail: 'Workflow is still running; retry it once it has ended (or cancel it first)' });
    await http.waitForTask(ids.bad.id, (x) => x.status === 'failed');
    expect((await http.post(`/workflows/${r.body.id}/cancel`)).status).toBe(200);
    const first = byKey((await waitForWorkflow(r.body.id)).tasks);
    expect([first.ok.status, first.bad.status, first.slow.status, first.after.status]).toEqual(['succeeded', 'failed', 'cancelled', 'skipped']);

    const again = await http.post(`/workflows/${r.body.id}/retry`);
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('running');
    const reset = byKey(again.body.tasks);
    expect(reset.ok).toMatchObject({ status: 'succeeded', attempts: 1, outputs: { v: 'kept' } });
    expect(reset.after).toMatchObject({ status: 'pending', command: 'echo "after {{ tasks.slow.result }}"' });
    expect((await http.post(`/workflows/${r.body.id}/retry`)).status).toBe(409);

    const done = await waitForWorkflow(r.body.id);
    const t = byKey(done.tasks);
    expect(done.status).toBe('failed'); // bad fails again
    expect(Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.id]))).toEqual(Object.fromEntries(Object.entries(ids).map(([k, v]) => [k, (v as T).id])));
    expect(t.ok).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(t.bad).toMatchObject({ status: 'failed', attempts: 2 });
    expect(t.slow).toMatchObject({ status: 'succeeded', attempts: 2, result: 'got kept' });
    expect(t.after).toMatchObject({ status: 'succeeded', attempts: 1, command: 'echo "after got kept"' });
    const events = (await http.get(`/tasks/${t.slow.id}/events`)).body.items.map((e: { status: string; attempt: number }) => `${e.status}@${e.attempt}`);
    expect(events).toContain('cancelled@1');
    expect(events.at(-1)).toBe('succeeded@2');
    expect((await http.post('/workflows/00000000-0000-0000-0000-000000000000/retry')).status).toBe(404);
  });

  it("gives each task it re-runs its max_retries afresh, as a task's own retry does", async () => {
    const flaky = { max_retries: 1, retry_backoff_seconds: 0.1 };
    const reasons = async (id: string) => (await http.get(`/tasks/${id}/events`)).body.items.map((e: { reason: string | null }) => e.reason ?? '');
    const wf = await http.post('/workflows', { tasks: [task('bad', 'exit 3', [], flaky)] });
    expect(byKey((await waitForWorkflow(wf.body.id)).tasks).bad).toMatchObject({ status: 'failed', attempts: 2 });
    expect((await http.post(`/workflows/${wf.body.id}/retry`)).status).toBe(200);
    const bad = byKey((await waitForWorkflow(wf.body.id)).tasks).bad;
    expect(bad).toMatchObject({ status: 'failed', attempts: 4 }); // before: 3, the retry's first failure was final
    expect(await reasons(bad.id)).toContain('attempt 3 failed (exited with code 3); retrying in 0.1 s (attempt 4 of 4)');

    const alone = await http.post('/tasks', { image: TEST_IMAGE, command: 'echo partial; exit 3', resources: { cpu: 0.1, memory_mb: 32 }, ...flaky });
    expect(await http.waitForTask(alone.body.id, (x) => x.status === 'failed')).toMatchObject({ result: 'partial' });
    const retried = await http.post(`/tasks/${alone.body.id}/retry`);
    expect(retried.status).toBe(200);
    // What the last attempt left is not the new attempt's.
    expect(retried.body).toMatchObject({ status: 'queued', result: null, outputs: null, exit_code: null });
    expect(await http.waitForTask(alone.body.id, (x) => x.status === 'failed' && x.attempts > 2)).toMatchObject({ attempts: 4 });
  });

  it('refuses to retry a workflow whose every task succeeded: there is nothing to run again', async () => {
    const wf = await http.post('/workflows', { tasks: [task('fine', 'true')] });
    expect((await waitForWorkflow(wf.body.id)).status).toBe('succeeded');
    const r = await http.post(`/workflows/${wf.body.id}/retry`);
    expect(r.status).toBe(409);
    expect(r.body).toEqual({ detail: 'Every task of this workflow succeeded; there is nothing to retry (submit it again to run it all again)' });
    expect((await http.get(`/workflows/${wf.body.id}`)).body.status).toBe('succeeded');
  });
});

describe('the CLI', () => {
  it('jarvis workflow run takes outputs and when from YAML; get shows the values; retry re-runs', async () => {
    const file = join(tempDir(), 'etl.yaml');
    writeFileSync(
      file,
      [
        'name: etl-yaml',
        'tasks:',
        '  - key: extract',
        `    image: ${TEST_IMAGE}`,
        '    command: "echo 3 > /tmp/rows; echo extracted"',
        '    outputs: {rows: {path: /tmp/rows}}',
        '  - key: load',
        `    image: ${TEST_IMAGE}`,
        '    depends_on: [extract]',
        '    when: "{{ tasks.extract.outputs.rows }} > 0"',
        '    command: "echo loading {{ tasks.extract.outputs.rows }}"',
        '  - key: empty',
        `    image: ${TEST_IMAGE}`,
        '    depends_on: [extract]',
        '    when: "{{ tasks.extract.outputs.rows }} == 0"',
        '    command: "echo nothing"',
      ].join('\n'),
    );
    const env = { JARVIS_API_URL: jarvis.url };
    const r = await runCli(['workflow', 'run', '--follow', file], env);
    expect(r.stdout).toContain(`empty skipped (when "{{ tasks.extract.outputs.rows }} == 0" was false (tasks.extract.outputs.rows = "3"))`);
    expect(r.stdout).toMatch(/workflow [0-9a-f-]{36} succeeded\n$/);
    expect(r.code).toBe(0);
    const id = /workflow ([0-9a-f-]{36}) succeeded/.exec(r.stdout)![1];
    const got = await runCli(['workflow', 'get', id], env);
    expect(got.stdout).toMatch(/extract +succeeded +exit code 0 {2}outputs: \{"rows":"3"\} {2}result: "extracted"\n/);
    expect(got.stdout).toMatch(/load +succeeded +exit code 0 {2}result: "loading 3"\n/);
    const again = await runCli(['workflow', 'retry', '--follow', id], env);
    expect(again.stdout).toContain('empty skipped');
    expect(again.code).toBe(0);
    expect(byKey((await http.get(`/workflows/${id}`)).body.tasks).extract.attempts).toBe(1);
  });
});
