// Observability as an operator meets it: a real Prometheus (Debian's binary) scrapes a running
// `jarvis up` under a small load and evaluates the alert rules; every query of every Grafana
// dashboard panel must return data from it. The rules pass promtool's check and unit tests, and
// /metrics keeps answering while the database or Redis is away.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { TEST_IMAGE } from './support/env.ts';
import { api, FINAL, ROOT, startJarvis } from './support/jarvis.ts';
import { cuttableTestDatabase, freePort, PrivateRedis } from './support/services.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const RULES = join(ROOT, 'config/prometheus/jarvis.rules.yml');
const RULE_TESTS = join(ROOT, 'config/prometheus/jarvis.rules.test.yml');
const DASHBOARDS = join(ROOT, 'grafana/dashboards');
const ALERTS = ['JarvisControlPlaneDown', 'JarvisNodeOffline', 'JarvisBacklogGrowing', 'JarvisFailureRatioHigh', 'JarvisStateUnreadable'];

// ---------------------------------------------------------------------------------------------
// Dashboards as Grafana sees them

interface Target {
  expr?: string;
  refId: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Array<{ name: string; type: string; query?: unknown; definition?: string }> };
}

function loadDashboards(): Array<{ file: string; dashboard: Dashboard }> {
  return readdirSync(DASHBOARDS)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, dashboard: JSON.parse(readFileSync(join(DASHBOARDS, file), 'utf8')) as Dashboard }));
}

/** Every panel, rows' children included. */
function panelsOf(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...panelsOf(p.panels ?? [])]);
}

/**
 * A panel query as Grafana would send it: its built-in interval variables become 1m (four
 * scrapes here at least), template variables become ".*" (the "All" of a regex matcher).
 */
function asPromQl(expr: string): string {
  return expr
    .replaceAll(/\$\{?__(rate_interval|interval|range)\}?/g, '1m')
    .replaceAll(/\$\{\w+(?::\w+)?\}|\[\[\w+\]\]|\$\w+/g, '.*');
}

// ---------------------------------------------------------------------------------------------
// A real Prometheus


interface PromVector {
  metric: Record<string, string>;
  value: [number, string];
}

class Prometheus {
  private output = '';
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {
    child.stdout?.on('data', (d) => (this.output += d));
    child.stderr?.on('data', (d) => (this.output += d));
  }

  /** Scrapes `target` (host:port) every second as job "jarvis" and evaluates the rules every second. */
  static async start(target: string): Promise<Prometheus> {
    const dir = mkdtempSync(join(tmpdir(), 'jarvis-prometheus-'));
    const port = await freePort();
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: [RULES],
      scrape_configs: [{ job_name: 'jarvis', static_configs: [{ targets: [target] }] }],
    };
    writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config));
    const child = spawn(
      'prometheus',
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const p = new Prometheus(`http://127.0.0.1:${port}`, child, dir);
    try {
      await p.until('ready', async () => (await fetch(`${p.url}/-/ready`).catch(() => null))?.ok === true, 30_000);
    } catch (err) {
      // Never ready: nobody else holds it to stop it.
      await p.stop(3_000).catch(() => undefined);
      throw err;
    }
    return p;
  }

  async query(promql: string): Promise<PromVector[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: PromVector[] | [number, string] } };
    if (body.status !== 'success') throw new Error(`Prometheus refused ${promql}: ${body.error}`);
    const data = body.data!;
    // A scalar (e.g. time()) is one value.
    if (data.resultType === 'scalar') return [{ metric: {}, value: data.result as [number, string] }];
    return data.result as PromVector[];
  }

  async value(promql: string): Promise<number | undefined> {
    const [first] = await this.query(promql);
    return first ? Number(first.value[1]) : undefined;
  }

  async api<T>(path: string): Promise<T> {
    const body = (await (await fetch(`${this.url}${path}`)).json()) as { status: string; data: T };
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${JSON.stringify(body)}`);
    return body.data;
  }

  async until(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (await check().catch(() => false)) return;
      if (this.child.exitCode !== null) throw new Error(`prometheus exited (${this.child.exitCode}):\n${this.output.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`Prometheus: timed out waiting for ${what}\n${this.output.slice(-3000)}`);
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      await exited.finally(() => clearTimeout(timer));
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const finite = (v: PromVector) => Number.isFinite(Number(v.value[1]));

// ---------------------------------------------------------------------------------------------

describe('Grafana dashboards and alert rules on a real Prometheus scraping jarvis up', () => {
  let prometheus: Prometheus;
  let jarvis: Awaited<ReturnType<typeof startJarvis>>;
  let dropDb: () => Promise<void> = async () => undefined;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    const db = await createTestDatabase();
    dropDb = db.drop;
    // Prometheus scrapes from the start, so the finished tasks' figures would stay those of the
    // first scrape for metrics.final_counts_seconds (60 s): counted again every second here.
    jarvis = await startJarvis({ databaseUrl: db.url, env: { JARVIS_METRICS_FINAL_COUNTS_SECONDS: '1' } });
    prometheus = await Prometheus.start(new URL(jarvis.url).host);
    await prometheus.until('the first scrape of jarvis', async () => (await prometheus.value('up{job="jarvis"}')) === 1);

    // A small load: tasks that succeed (three priorities), one that fails, one that fits nowhere.
    const http = api(jarvis.url);
    const submit = async (name: string, body: Record<string, unknown>) => {
      const r = await http.post('/tasks', { image: TEST_IMAGE, name, ...body });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      ids[name] = r.body.id;
    };
    await submit('ok-normal', { command: ['echo', 'hello'] });
    // A series is born with its first request: let Prometheus see it before the others, so
    // rate() has a point before them (as under steady traffic).
    await prometheus.until('the first submission to be scraped', async () => (await prometheus.value('sum(jarvis_http_request_duration_seconds_count{route="/tasks"})')) === 1);
    await submit('ok-high', { command: ['echo', 'hello'], priority: 'high' });
    await submit('ok-critical', { command: 'sleep 2; echo done', priority: 'critical' });
    await submit('fails', { command: 'echo oops; exit 3' });
    for (const name of ['ok-normal', 'ok-high', 'ok-critical', 'fails']) await http.waitForTask(ids[name], (t) => FINAL.includes(t.status));
    // Alone, so it waits in a job of its own: submitted beside others that wait too, it could share
    // a group job (src/scheduler/pending.ts) and, held in the dispatcher's memory, have none.
    await submit('nowhere', { command: ['true'], node_selector: { zone: 'nowhere' } });
    await http.waitForTask(ids.nowhere, (t) => /no node fits/.test(t.status_reason ?? ''));
    // Scrapes after the load: what the control plane counted is in Prometheus, and rates have
    // points on both sides of it.
    await prometheus.until('the load to be scraped', async () => (await prometheus.value('sum(jarvis_tasks_finished_total{job="jarvis"})')) === 4);
    await new Promise((r) => setTimeout(r, 3_000));
  }, 180_000);

  afterAll(async () => {
    await prometheus?.stop();
    await jarvis?.stop();
    await dropDb();
  });

  it('has the load in what Prometheus scraped', async () => {
    const v = (q: string) => prometheus.value(q);
    expect(await v('sum(jarvis_tasks_submitted_total)')).toBe(5);
    expect(await v('jarvis_tasks_submitted_total{priority="high"}')).toBe(1);
    expect(await v('sum(jarvis_tasks_finished_total{status="succeeded"})')).toBe(3);
    expect(await v('jarvis_tasks_finished_total{status="failed", priority="normal"}')).toBe(1);
    expect(await v('jarvis_tasks{status="queued"}')).toBe(1);
    expect(await v('jarvis_tasks{status="succeeded"}')).toBe(3);
    expect(await v('jarvis_task_queue_wait_seconds_count{priority="critical"}')).toBe(1);
    expect(await v('sum(jarvis_task_run_duration_seconds_count)')).toBe(4);
    // The critical task slept two seconds in its container.
    expect(await v('jarvis_task_run_duration_seconds_sum{status="succeeded"}')).toBeGreaterThan(1.5);
    expect(await v('jarvis_http_request_duration_seconds_count{method="POST", route="/tasks", status="201"}')).toBe(5);
    expect(await v('jarvis_http_request_duration_seconds_count{method="GET", route="/tasks/:id", status="200"}')).toBeGreaterThan(0);
    // The node, from the database at scrape time.
    const node = `node-${jarvis.prefix}`;
    expect(await v(`jarvis_node_status{node="${node}", status="available"}`)).toBe(1);
    expect(await v(`jarvis_node_status{node="${node}", status="offline"}`)).toBe(0);
    expect(await v(`jarvis_node_cpu_capacity_cores{node="${node}"}`)).toBeGreaterThan(0);
    expect(await v(`jarvis_node_memory_capacity_bytes{node="${node}"}`)).toBeGreaterThan(1024 * 1024);
    expect(await v(`jarvis_node_cpu_allocated_cores{node="${node}"}`)).toBe(0);
    expect(await v(`time() - jarvis_node_last_heartbeat_timestamp_seconds{node="${node}"}`)).toBeLessThan(30);
    expect(await v('min(jarvis_metrics_source_up)')).toBe(1);
    // Fair share, per tenant: the task that fits nowhere is the default tenant's queued demand.
    expect(await v('jarvis_tenant_weight{tenant="default"}')).toBe(1);
    expect(await v('jarvis_tenant_pending_demand{tenant="default", resource="tasks"}')).toBe(1);
    expect(await v('sum(jarvis_tenant_pending_tasks{tenant="default"})')).toBe(1);
    expect(await v('jarvis_tenant_usage{tenant="default", resource="cpu"}')).toBe(0);
    expect(await v('jarvis_tenant_entitled_share{tenant="default"}')).toBe(1);
    expect(await v('process_resident_memory_bytes{job="jarvis"}')).toBeGreaterThan(0);
    // The task that fits nowhere waits in the pending queue (between tries, in the delayed set).
    expect(await v('sum(max_over_time(jarvis_queue_depth{priority="normal"}[1m])) + sum(max_over_time(jarvis_queue_jobs{queue="pending", state=~"delayed|active"}[1m]))')).toBeGreaterThan(0);
  });

  it('answers every query of every dashboard panel with data', async () => {
    const dashboards = loadDashboards();
    expect(dashboards.map((d) => d.file)).toEqual(['cluster-overview.json', 'nodes.json', 'tasks-and-queues.json', 'tenants.json']);
    const empty: string[] = [];
    let queries = 0;
    for (const { file, dashboard } of dashboards) {
      for (const panel of panelsOf(dashboard.panels)) {
        for (const target of panel.targets ?? []) {
          if (!target.expr) continue;
          const promql = asPromQl(target.expr);
          expect(promql, `${file} "${panel.title}" ${target.refId}`).not.toContain('$');
          const result = await prometheus.query(promql);
          queries++;
          if (!result.some(finite)) empty.push(`${file} "${panel.title}" ${target.refId}: ${promql} -> ${JSON.stringify(result)}`);
        }
      }
    }
    expect(queries).toBeGreaterThan(40);
    expect(empty, 'panel queries without data').toEqual([]);
  });

  it('answers every dashboard variable query with values', async () => {
    for (const { file, dashboard } of loadDashboards()) {
      for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
        const m = /^label_values\((.+),\s*(\w+)\)$/.exec(variable.definition ?? '');
        expect(m, `${file} variable ${variable.name}: ${variable.definition}`).not.toBeNull();
        const [, selector, label] = m!;
        const values = await prometheus.api<string[]>(`/api/v1/label/${label}/values?match[]=${encodeURIComponent(asPromQl(selector))}`);
        expect(values.length, `${file} variable ${variable.name}`).toBeGreaterThan(0);
      }
    }
  });

  it('evaluates every alert rule without error; only the backlog alert has noticed something', async () => {
    await prometheus.until('a rule evaluation', async () => {
      const { groups } = await prometheus.api<{ groups: Array<{ rules: Array<{ lastEvaluation: string }> }> }>('/api/v1/rules');
      return groups.flatMap((g) => g.rules).every((r) => !r.lastEvaluation.startsWith('0001'));
    });
    const { groups } = await prometheus.api<{ groups: Array<{ rules: Array<{ name: string; type: string; health: string; lastError?: string; state: string }> }> }>('/api/v1/rules');
    const rules = groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.name).sort()).toEqual([...ALERTS].sort());
    for (const r of rules) {
      expect({ name: r.name, health: r.health, lastError: r.lastError ?? '' }).toEqual({ name: r.name, health: 'ok', lastError: '' });
    }
    // The task that fits nowhere grew the backlog from 0 to 1: pending (it fires only after
    // 10 minutes of growth); nothing else is wrong.
    expect(Object.fromEntries(rules.map((r) => [r.name, r.state]))).toEqual({
      JarvisControlPlaneDown: 'inactive',
      JarvisNodeOffline: 'inactive',
      JarvisBacklogGrowing: 'pending',
      JarvisFailureRatioHigh: 'inactive',
      JarvisStateUnreadable: 'inactive',
    });
  });

  it('raises JarvisControlPlaneDown when the control plane stops answering', async () => {
    // Runs last: it stops jarvis.
    await jarvis.stop();
    await prometheus.until('up == 0', async () => (await prometheus.value('up{job="jarvis"}')) === 0);
    await prometheus.until('the alert to be pending', async () => {
      const { alerts } = await prometheus.api<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>('/api/v1/alerts');
      return alerts.some((a) => a.labels.alertname === 'JarvisControlPlaneDown' && a.state === 'pending');
    });
  });
});

describe('alert rules', () => {
  it('pass promtool check rules and their promtool unit tests', () => {
    const check = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/SUCCESS: 5 rules found/);

    // The example Prometheus configuration (docker-compose.observability.yml) loads them.
    const config = spawnSync('promtool', ['check', 'config', join(ROOT, 'config/prometheus/prometheus.yml')], { encoding: 'utf8' });
    expect(config.status, config.stdout + config.stderr).toBe(0);

    const unit = spawnSync('promtool', ['test', 'rules', RULE_TESTS], { encoding: 'utf8' });
    expect(unit.status, unit.stdout + unit.stderr).toBe(0);
    expect(unit.stdout).toMatch(/SUCCESS/);
    // Every alert has a case where it fires and one where it must not.
    const tests = parseYaml(readFileSync(RULE_TESTS, 'utf8')) as {
      tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
    };
    const cases = tests.tests.flatMap((t) => t.alert_rule_test);
    for (const alert of ALERTS) {
      expect(cases.some((c) => c.alertname === alert && c.exp_alerts.length > 0), `${alert} fires in a case`).toBe(true);
      expect(cases.some((c) => c.alertname === alert && c.exp_alerts.length === 0), `${alert} stays quiet in a case`).toBe(true);
    }
  });
});

describe('Grafana provisioning', () => {
  it('gives a stock Grafana a Prometheus data source and the dashboards folder', () => {
    const ds = parseYaml(readFileSync(join(ROOT, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8'));
    expect(ds).toMatchObject({ apiVersion: 1, datasources: [{ type: 'prometheus', uid: 'prometheus', access: 'proxy' }] });
    const dashboards = parseYaml(readFileSync(join(ROOT, 'grafana/provisioning/dashboards/jarvis.yml'), 'utf8'));
    expect(dashboards).toMatchObject({ apiVersion: 1, providers: [{ type: 'file', options: { path: '/var/lib/grafana/dashboards/jarvis' } }] });
  });

  it('is what docker-compose.observability.yml mounts into stock Prometheus and Grafana images', () => {
    const compose = parseYaml(readFileSync(join(ROOT, 'docker-compose.observability.yml'), 'utf8')) as {
      services: Record<string, { image: string; volumes: string[] }>;
    };
    expect(Object.keys(compose.services).sort()).toEqual(['grafana', 'prometheus']);
    expect(compose.services.prometheus.image).toMatch(/^prom\/prometheus:/);
    expect(compose.services.grafana.image).toMatch(/^grafana\/grafana:/);
    expect(compose.services.prometheus.volumes).toContain('./config/prometheus:/etc/prometheus:ro');
    expect(compose.services.grafana.volumes).toEqual(
      expect.arrayContaining(['./grafana/provisioning:/etc/grafana/provisioning:ro', './grafana/dashboards:/var/lib/grafana/dashboards/jarvis:ro']),
    );
  });

  it('has dashboards with unique ids whose panels all query the chosen Prometheus', () => {
    const uids = new Set<string>();
    for (const { file, dashboard } of loadDashboards()) {
      expect(uids.has(dashboard.uid), file).toBe(false);
      uids.add(dashboard.uid);
      expect(dashboard.templating.list.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
      const panels = panelsOf(dashboard.panels);
      expect(new Set(panels.map((p) => p.id)).size, `${file}: panel ids`).toBe(panels.length);
      for (const p of panels.filter((x) => x.type !== 'row')) {
        expect(p.datasource, `${file} "${p.title}"`).toEqual({ type: 'prometheus', uid: '${datasource}' });
        expect(p.targets?.length, `${file} "${p.title}" has queries`).toBeGreaterThan(0);
        for (const t of p.targets ?? []) expect(t.expr, `${file} "${p.title}" ${t.refId}`).toBeTruthy();
      }
    }
  });
});

describe('jarvis_tasks as a scrape shows it', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('counts the unfinished tasks on every scrape, and the finished ones within metrics.final_counts_seconds', async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const jarvis = await startJarvis({ databaseUrl: db.url, env: { JARVIS_METRICS_FINAL_COUNTS_SECONDS: '3' } });
    cleanups.push(() => jarvis.stop());
    const http = api(jarvis.url);
    const tasks = async () => {
      const text = (await http.get('/metrics')).body as string;
      return Object.fromEntries([...text.matchAll(/^jarvis_tasks\{status="(\w+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
    };
    const none = { pending: 0, queued: 0, scheduled: 0, running: 0, succeeded: 0, failed: 0, timed_out: 0, cancelled: 0, skipped: 0 };
    expect(await tasks()).toEqual(none);

    const submit = async (body: Record<string, unknown>) => {
      const r = await http.post('/tasks', { image: TEST_IMAGE, ...body });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      return r.body.id as string;
    };
    const long = await submit({ command: ['sleep', '60'] });
    const ok = await submit({ command: ['true'] });
    const fails = await submit({ command: 'exit 3' });
    // Waits for a node selector no node has: queued for good.
    await submit({ command: ['true'], node_selector: { zone: 'nowhere' } });
    await http.waitForTask(ok, (t) => t.status === 'succeeded');
    await http.waitForTask(fails, (t) => t.status === 'failed');
    await http.waitForTask(long, (t) => t.status === 'running');

    // The unfinished figures are right at once; the finished ones within 3 s (and one scrape).
    const ended = Date.now();
    let seen = await tasks();
    expect(seen).toMatchObject({ queued: 1, scheduled: 0, running: 1 });
    while (seen.succeeded !== 1 || seen.failed !== 1) {
      // Old figures meanwhile, never more than there are.
      expect(seen.succeeded + seen.failed).toBeLessThanOrEqual(2);
      expect(Date.now() - ended, JSON.stringify(seen)).toBeLessThan(3_000 + 2_000);
      await new Promise((r) => setTimeout(r, 250));
      seen = await tasks();
      expect(seen).toMatchObject({ queued: 1, running: 1 });
    }
    expect(seen).toEqual({ ...none, queued: 1, running: 1, succeeded: 1, failed: 1 });

    // A cancel ends a running task in the database at once: it leaves `running` in the next scrape.
    expect((await http.post(`/tasks/${long}/cancel`)).status).toBe(200);
    expect(await tasks()).toMatchObject({ queued: 1, running: 0 });
    const cancelled = Date.now();
    while ((seen = await tasks()).cancelled !== 1) {
      expect(Date.now() - cancelled, JSON.stringify(seen)).toBeLessThan(3_000 + 2_000);
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(seen).toEqual({ ...none, queued: 1, succeeded: 1, failed: 1, cancelled: 1 });
  }, 120_000);
});

describe('/metrics while a dependency is away', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  const scrape = async (url: string) => {
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(8_000) });
    return { status: res.status, text: await res.text() };
  };

  it('keeps answering, leaves out what it cannot read and says which source is down', async () => {
    const { url: databaseUrl, forwarder: fwd } = await cuttableTestDatabase(cleanups);
    const redis = await PrivateRedis.start();
    cleanups.push(() => redis.stop());
    const server = await startJarvis({ command: 'server', databaseUrl, env: { REDIS_URL: redis.url } });
    cleanups.push(() => server.stop());

    let m = await scrape(server.url);
    expect(m.status).toBe(200);
    expect(m.text).toMatch(/^jarvis_tasks\{status="queued"\} 0$/m);
    expect(m.text).toMatch(/^jarvis_queue_depth\{priority="normal"\} 0$/m);
    expect(m.text).toMatch(/^jarvis_metrics_source_up\{source="tasks"\} 1$/m);

    await fwd.cut();
    m = await scrape(server.url);
    expect(m.status).toBe(200);
    expect(m.text).toMatch(/^jarvis_metrics_source_up\{source="tasks"\} 0$/m);
    expect(m.text).toMatch(/^jarvis_metrics_source_up\{source="nodes"\} 0$/m);
    expect(m.text).toMatch(/^jarvis_metrics_source_up\{source="queue_depth"\} 1$/m);
    expect(m.text).not.toMatch(/^jarvis_tasks\{/m);
    expect(m.text).toMatch(/^jarvis_queue_depth\{priority="normal"\} 0$/m);
    expect(m.text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(m.text).toMatch(/^jarvis_tasks_submitted_total\{priority="normal"\} 0$/m);

    await redis.stop();
    m = await scrape(server.url);
    expect(m.status).toBe(200);
    expect(m.text).toMatch(/^jarvis_metrics_source_up\{source="queues"\} 0$/m);
    expect(m.text).toMatch(/^jarvis_metrics_source_up\{source="queue_depth"\} 0$/m);
    expect(m.text).not.toMatch(/^jarvis_queue_depth\{/m);
    expect(m.text).not.toMatch(/^jarvis_queue_jobs\{/m);

    await fwd.open();
    await redis.start();
    const deadline = Date.now() + 30_000;
    for (;;) {
      m = await scrape(server.url);
      if (/^jarvis_metrics_source_up\{source="tasks"\} 1$/m.test(m.text) && /^jarvis_metrics_source_up\{source="queues"\} 1$/m.test(m.text)) break;
      if (Date.now() > deadline) throw new Error(`sources never came back:\n${m.text.split('\n').filter((l) => l.startsWith('jarvis_metrics_source_up')).join('\n')}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(m.text).toMatch(/^jarvis_tasks\{status="queued"\} 0$/m);
  });
});
