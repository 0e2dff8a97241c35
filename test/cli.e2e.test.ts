// The `jarvis` command line as a user runs it: help, submit (with --follow exiting with the
// task's exit code), tasks, logs, and a clear message when Jarvis is not running.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { TEST_IMAGE } from './support/env.ts';
import { api, runCli, startJarvis, type JarvisProcess } from './support/jarvis.ts';

let jarvis: JarvisProcess;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  jarvis = await startJarvis({ databaseUrl: db.url });
  env = { JARVIS_API_URL: jarvis.url };
});
afterAll(async () => {
  await jarvis?.stop();
  await db?.drop();
});

describe('jarvis CLI', () => {
  it.each(['up', 'server', 'worker', 'submit', 'tasks', 'logs'])('explains `%s` with --help', async (cmd) => {
    const r = await runCli([cmd, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: jarvis ${cmd}`);
  });

  it('lists its commands with --help', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const cmd of ['up', 'server', 'worker', 'submit', 'tasks', 'logs']) expect(r.stdout).toMatch(new RegExp(`^  ${cmd}\\b`, 'm'));
  });

  it('submit --follow streams the output and exits with the task exit code', async () => {
    const r = await runCli(['submit', '--follow', '--name', 'cli-follow', TEST_IMAGE, 'sh', '-c', 'echo one; sleep 0.5; echo two; exit 4'], env);
    expect(r.stdout).toBe('one\ntwo\n');
    expect(r.stderr).toMatch(/task [0-9a-f-]{36} failed \(exit code 4\)/);
    expect(r.code).toBe(4);
    const ok = await runCli(['submit', '-f', TEST_IMAGE, 'echo', 'fine'], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('fine\n');
  });

  it('submit prints the id; tasks lists it; logs prints its output', async () => {
    const r = await runCli(['submit', '--label', 'via=cli', '--env', 'WHO=cli', '--cpu', '250m', '--memory', '32Mi', TEST_IMAGE, 'sh', '-c', 'echo hello $WHO'], env);
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const task = await api(jarvis.url).waitForTask(id, (t) => t.status === 'succeeded');
    expect(task).toMatchObject({ labels: { via: 'cli' }, env: { WHO: 'cli' }, resources: { cpu: 0.25, memory_mb: 32, gpu: 0 } });
    const list = await runCli(['tasks', '--status', 'succeeded'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^ID\s+STATUS\s+EXIT\s+NAME\s+IMAGE\s+CREATED$/m);
    expect(list.stdout).toMatch(new RegExp(`^${id}\\s+succeeded\\s+0\\s+${TEST_IMAGE.replace(/[/.]/g, '\\$&')}`, 'm'));
    const logs = await runCli(['logs', id], env);
    expect(logs).toMatchObject({ code: 0, stdout: 'hello cli\n' });
    const followed = await runCli(['logs', '-f', id], env);
    expect(followed).toMatchObject({ code: 0, stdout: 'hello cli\n' });
  });

  it('says what is wrong when the API refuses the input or is not running', async () => {
    const bad = await runCli(['submit', '--priority', 'urgent', TEST_IMAGE], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("POST /tasks answered 422: body.priority: Input should be 'critical', 'high', 'normal' or 'low'");
    const down = await runCli(['tasks'], { JARVIS_API_URL: 'http://127.0.0.1:9' });
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(/cannot reach Jarvis at http:\/\/127\.0\.0\.1:9.*Start it with `npx jarvis up`/);
  });
});
