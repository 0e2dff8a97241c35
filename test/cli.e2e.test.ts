// The `jarvis` command line as a user runs it: help, submit (with --follow exiting with the
// task's exit code), tasks, logs, and a clear message when Jarvis is not running.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { TEST_IMAGE } from './support/env.ts';
import { api, runCli, spawnJarvis, startJarvis, uniquePrefix, type JarvisProcess } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

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

/** An HTTP server on loopback answering with `handle`: a proxy's error page, another service, a stream that breaks. */
async function fakeServer(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const PROXY_502 = '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n';

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

  it('refuses a numeric flag that is not a number in range, naming the flag, what was given and a valid value', async () => {
    // Before: Number("10m") is NaN, sent as null, and the task ran with no timeout at all.
    const timeout = await runCli(['submit', '--name', 'cli-bad-timeout', '--timeout', '10m', TEST_IMAGE, 'true'], env);
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toBe('jarvis: --timeout must be a whole number of seconds from 1 to 2147483647, got "10m" (10m is 600 seconds: --timeout 600)\n');
    expect(timeout.stdout).toBe('');
    const cases = [
      [['submit', '--gpu', 'two', TEST_IMAGE], '--gpu must be a whole number from 0 to 2147483647, got "two" (e.g. --gpu 1)'],
      [['submit', '--cpu', '1.2.3', TEST_IMAGE], '--cpu must be a number of cores > 0 or a quantity such as "500m", got "1.2.3"'],
      [['submit', '--memory', 'lots', TEST_IMAGE], '--memory must be a quantity such as "256Mi" or "1Gi", got "lots"'],
      [['tasks', '--limit', 'all'], '--limit must be a whole number from 1 to 500, got "all" (e.g. --limit 50)'],
      [['schedules', 'create', '--name', 'n', '--cron', '@daily', '--image', TEST_IMAGE, '--starting-deadline-seconds', '5m'], '--starting-deadline-seconds must be a whole number of seconds from 1 to 2147483647, got "5m" (5m is 300 seconds: --starting-deadline-seconds 300)'],
      [['schedules', 'list', '--limit', '0'], '--limit must be a whole number from 1 to 500, got "0"'],
      [['tenants', 'set', 'default', '--cpu', 'many'], '--cpu must be a number > 0 and ≤ 1000000, got "many" (e.g. --cpu 16, or --cpu none for no limit)'],
      [['tenants', 'set', 'default', '--weight', 'Infinity'], '--weight must be a number > 0 and ≤ 1000000, got "Infinity"'],
      [['keys', 'create', '--name', 'k', '--rate-limit', 'fast'], '--rate-limit must be a number of requests per second > 0, got "fast" (e.g. --rate-limit 20)'],
      [['worker', '--executor', 'simulated', '--cpu', 'abc'], '--cpu must be a number of cores > 0, got "abc" (e.g. --cpu 4)'],
      [['worker', '--executor', 'simulated', '--memory-mb', '4Gi'], '--memory-mb must be a whole number of MiB from 1 to 2147483647, got "4Gi" (e.g. --memory-mb 4096)'],
      [['worker', '--executor', 'simulated', '--max-tasks', '0'], '--max-tasks must be a whole number from 1 to 2147483647, got "0" (e.g. --max-tasks 8)'],
      [['worker', '--executor', 'simulated', '--nodes', 'ten'], '--nodes must be a whole number ≥ 1, got "ten" (e.g. --nodes 100)'],
      [['server', '--processes', '2.5'], '--processes must be a whole number from 1 to 64, got "2.5" (e.g. --processes 4)'],
      // Before: reported as config key "server.port" from "default.yaml + environment".
      [['up', '--port', 'abc'], '--port must be a whole number from 0 to 65535, got "abc" (e.g. --port 8000)'],
      [['server', '--port', '70000'], '--port must be a whole number from 0 to 65535, got "70000" (e.g. --port 8000)'],
    ] as Array<[string[], string]>;
    // Four at a time: each is a CLI start of ~2 s.
    for (let i = 0; i < cases.length; i += 4) {
      const batch = cases.slice(i, i + 4);
      const results = await Promise.all(batch.map(([args]) => runCli(args, { ...env, DATABASE_URL: db.url, REDIS_URL: 'redis://127.0.0.1:1' })));
      batch.forEach(([args, message], j) => {
        const r = results[j];
        expect(r.stderr, args.join(' ')).toContain(`jarvis: ${message}`);
        expect(r.stderr, args.join(' ')).not.toContain('server.port');
        expect(r.code, args.join(' ')).toBe(2);
      });
    }
    // Nothing reached the API.
    const tasks = await api(jarvis.url).get('/tasks?limit=500');
    expect(tasks.body.items.map((t: { name: string | null }) => t.name)).not.toContain('cli-bad-timeout');
    expect((await api(jarvis.url).get('/schedules')).body.total).toBe(0);
  }, 120_000);

  it('says an answer that is not JSON is not Jarvis\'s, instead of a SyntaxError', async () => {
    const proxy = await fakeServer((req, res) => {
      if (req.method === 'POST') res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Grafana</title>');
      else res.writeHead(502, { 'content-type': 'text/html' }).end(PROXY_502);
    });
    try {
      const bad = await runCli(['tasks', '--api-url', proxy.url]);
      expect(bad.stderr).toBe(
        `jarvis: GET ${proxy.url}/tasks?limit=20: HTTP 502, not a JSON answer (is --api-url / JARVIS_API_URL pointing at Jarvis?): ` +
          '<html> <head><title>502 Bad Gateway</title></head> <body> <center><h1>502 Bad Gateway</h1></center> <hr><center>nginx/1.25.3</center> </body> </html>\n',
      );
      expect(bad.code).toBe(2);
      const ok = await runCli(['submit', '--api-url', proxy.url, TEST_IMAGE]);
      expect(ok.stderr).toBe(`jarvis: POST ${proxy.url}/tasks: HTTP 200, not a JSON answer (is --api-url / JARVIS_API_URL pointing at Jarvis?): <!doctype html><title>Grafana</title>\n`);
      expect(ok.code).toBe(2);
      const logs = await runCli(['logs', '-f', 'x', '--api-url', proxy.url]);
      expect(logs.stderr).toContain(`jarvis: GET ${proxy.url}/tasks/x/logs?follow=true: HTTP 502, not a JSON answer`);
      expect(logs.stderr).not.toContain('SyntaxError');
      expect(logs.code).toBe(2);
    } finally {
      await proxy.close();
    }
  });

  it('submit --follow exits non-zero for a task that did not succeed though its container exited 0, and when the log stream is lost', async () => {
    // A stand-in API: task "cancelled-0" ended cancelled with exit code 0; the stream of "lost" breaks off.
    const ended: Record<string, { status: string; exit_code: number | null }> = { 'cancelled-0': { status: 'cancelled', exit_code: 0 }, lost: { status: 'running', exit_code: null } };
    const fake = await fakeServer((req, res) => {
      const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const m = /^\/tasks\/([^/?]+)(\/logs\?follow=true)?$/.exec(req.url ?? '');
        if (req.method === 'POST' && req.url === '/tasks') {
          const id = (JSON.parse(body) as { name: string }).name;
          return json(201, { id, status: 'queued', exit_code: null, error: null });
        }
        if (m && m[2]) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write('data: working\n\n');
          if (m[1] === 'lost') return void setTimeout(() => res.socket?.destroy(), 100);
          return res.end('event: end\ndata: {}\n\n');
        }
        if (m) return json(200, { id: m[1], ...ended[m[1]], error: null });
        json(404, { detail: 'Not Found' });
      });
    });
    try {
      const cancelled = await runCli(['submit', '-f', '--name', 'cancelled-0', '--api-url', fake.url, TEST_IMAGE]);
      expect(cancelled.stdout).toBe('working\n');
      expect(cancelled.stderr).toContain('task cancelled-0 cancelled (exit code 0)');
      expect(cancelled.code).toBe(1); // before: 0
      const lost = await runCli(['submit', '-f', '--name', 'lost', '--api-url', fake.url, TEST_IMAGE]);
      expect(lost.stdout).toBe('working\n');
      expect(lost.stderr).toMatch(/jarvis: the log stream of task lost stopped before the task ended \(.+\); the task may still be running\. Follow it again with `jarvis logs -f lost`/);
      expect(lost.code).toBe(2); // before: 0, as if the task had ended
      const logs = await runCli(['logs', '-f', 'lost', '--api-url', fake.url]);
      expect(logs.stderr).toContain('jarvis: the log stream of task lost stopped before the task ended');
      expect(logs.code).toBe(2);
    } finally {
      await fake.close();
    }
  });

  it('jarvis worker says JARVIS_API_KEY is not used, and where the registration token goes', async () => {
    const base: Record<string, string> = { ...(process.env as Record<string, string>), JARVIS_REDIS_PREFIX: uniquePrefix(), JARVIS_WORKER_NAME: 'cli-key-warning', JARVIS_LOG_LEVEL: 'info' };
    delete base.JARVIS_REGISTRATION_TOKEN;
    // Nothing listens on port 9: the worker keeps trying to register, and never joins the test's cluster.
    const args = ['worker', '--executor', 'simulated', '--api-url', 'http://127.0.0.1:9'];
    const keyed = spawnJarvis(args, { ...base, JARVIS_API_KEY: 'jvk_not_for_workers' });
    try {
      await keyed.waitFor(/JARVIS_API_KEY is not used by `jarvis worker`; put the registration token \(or an admin key\) in JARVIS_REGISTRATION_TOKEN/, 20_000);
    } finally {
      await keyed.stop();
    }
    const withToken = spawnJarvis(args, { ...base, JARVIS_API_KEY: 'jvk_not_for_workers', JARVIS_REGISTRATION_TOKEN: 'a-registration-token' });
    try {
      await withToken.waitFor(/cannot register with the control plane/, 20_000);
      expect(withToken.output()).not.toContain('JARVIS_API_KEY is not used');
    } finally {
      await withToken.stop();
    }
  });

  it('keys list words "no keys" for the configuration: open on loopback, JARVIS_ADMIN_KEY, --insecure', async () => {
    const run = (extra: Record<string, string>) => runCli(['keys', 'list'], { DATABASE_URL: db.url, JARVIS_ADMIN_KEY: '', JARVIS_INSECURE: '', HOST: '', ...extra });
    const open = await run({});
    expect(open.stderr).toContain('no keys: the API is in open mode, no key needed, answering only on loopback');
    expect(open.code).toBe(0);
    const admin = await run({ JARVIS_ADMIN_KEY: 'an-admin-key-from-the-environment' });
    expect(admin.stderr).toContain('no keys in the database; open mode is off because JARVIS_ADMIN_KEY is set');
    expect(admin.stderr).not.toContain('loopback');
    const insecure = await run({ HOST: '0.0.0.0', JARVIS_INSECURE: 'true' });
    expect(insecure.stderr).toContain('no keys: the API is in open mode on 0.0.0.0 because of --insecure (JARVIS_INSECURE)');
    expect(insecure.stderr).not.toContain('loopback');
  });
});
