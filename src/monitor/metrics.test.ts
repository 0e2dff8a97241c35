// The metrics registry without a running control plane: scrape-time sources that fail or hang
// never fail /metrics, one scrape reads each source once, switching metrics off leaves nothing,
// and docs/metrics.md names every metric.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ControlPlaneMetrics, type MetricsSources, type NodeSnapshot } from './metrics.ts';

const node: NodeSnapshot = {
  id: '00000000-0000-4000-8000-000000000001',
  name: 'n1',
  hostname: 'host-1',
  status: 'available',
  cpu: 4,
  memoryMb: 2048,
  gpu: 1,
  maxTasks: 8,
  allocatedCpu: 1.5,
  allocatedMemoryMb: 512,
  allocatedGpu: 0,
  allocatedTasks: 2,
  cpuPercent: 37.5,
  memoryUsedMb: 1024,
  runningTasks: 2,
  lastHeartbeatAt: new Date(1_700_000_000_000),
};

function sources(over: Partial<MetricsSources> = {}): MetricsSources {
  return {
    countByStatus: async () => ({ queued: 3, running: 1 }),
    queueJobs: async () => ({ pending: { prioritized: 2, delayed: 1 }, 'task-events': {} }),
    queueDepthByPriority: async () => ({ high: 2 }),
    nodes: async () => [node],
    tenants: async () => ({
      tenants: [{ name: 'ml', weight: 2, usage: { cpu: 1.5, memoryMb: 512, gpu: 1, running: 1 }, pending: { tasks: 3, cpu: 3, memoryMb: 768, gpu: 3 }, dominantShare: 0.25, entitledShare: 0.5 }],
      shapes: [{ tenant: 'ml', cpu: 'le_1', memory: 'le_256', gpu: 'le_1', tasks: 3 }],
    }),
    ...over,
  };
}

const line = (text: string, series: string) => text.split('\n').find((l) => l.startsWith(`${series} `));

describe('ControlPlaneMetrics', () => {
  it('exposes what the sources say, in base units', async () => {
    const text = await new ControlPlaneMetrics(sources()).registry.metrics();
    expect(line(text, 'jarvis_tenant_usage{tenant="ml",resource="gpu"}')).toBe('jarvis_tenant_usage{tenant="ml",resource="gpu"} 1');
    expect(line(text, 'jarvis_tenant_pending_tasks{tenant="ml",cpu="le_1",memory_mb="le_256",gpu="le_1"}')).toMatch(/ 3$/);
    expect(line(text, 'jarvis_tenant_entitled_share{tenant="ml"}')).toMatch(/ 0\.5$/);
    expect(line(text, 'jarvis_tasks{status="queued"}')).toBe('jarvis_tasks{status="queued"} 3');
    expect(line(text, 'jarvis_tasks{status="failed"}')).toBe('jarvis_tasks{status="failed"} 0');
    expect(line(text, 'jarvis_queue_jobs{queue="pending",state="delayed"}')).toBe('jarvis_queue_jobs{queue="pending",state="delayed"} 1');
    expect(line(text, 'jarvis_queue_jobs{queue="task-events",state="waiting"}')).toBe('jarvis_queue_jobs{queue="task-events",state="waiting"} 0');
    expect(line(text, 'jarvis_queue_depth{priority="high"}')).toBe('jarvis_queue_depth{priority="high"} 2');
    expect(line(text, 'jarvis_queue_depth{priority="low"}')).toBe('jarvis_queue_depth{priority="low"} 0');
    expect(line(text, 'jarvis_node_status{node="n1",status="available"}')).toMatch(/ 1$/);
    expect(line(text, 'jarvis_node_status{node="n1",status="offline"}')).toMatch(/ 0$/);
    expect(line(text, 'jarvis_node_cpu_usage_ratio{node="n1"}')).toMatch(/ 0\.375$/);
    expect(line(text, 'jarvis_node_memory_capacity_bytes{node="n1"}')).toBe(`jarvis_node_memory_capacity_bytes{node="n1"} ${2048 * 1024 * 1024}`);
    expect(line(text, 'jarvis_node_tasks_running{node="n1"}')).toMatch(/ 2$/);
    expect(line(text, 'jarvis_node_last_heartbeat_timestamp_seconds{node="n1"}')).toMatch(/ 1700000000$/);
    expect(line(text, 'jarvis_node_info{node="n1",node_id="00000000-0000-4000-8000-000000000001",hostname="host-1"}')).toMatch(/ 1$/);
    // Known labels start at zero.
    expect(line(text, 'jarvis_tasks_finished_total{status="timed_out",priority="low"}')).toMatch(/ 0$/);
    expect(line(text, 'jarvis_task_retries_total{priority="critical"}')).toMatch(/ 0$/);
    expect(line(text, 'jarvis_tasks_restored_total{kind="queued"}')).toMatch(/ 0$/);
    expect(line(text, 'jarvis_tasks_restored_total{kind="placed"}')).toMatch(/ 0$/);
    for (const reason of ['node_offline', 'node_stopped', 'engine_unreachable', 'result_lost']) expect(line(text, `jarvis_task_attempts_lost_total{reason="${reason}"}`)).toMatch(/ 0$/);
  });

  it('leaves out what a failing source would give and says so, without failing the scrape', async () => {
    const changes: string[] = [];
    const logger = { warn: (_: unknown, msg: string) => changes.push(`warn ${msg}`), info: (_: unknown, msg: string) => changes.push(`info ${msg}`) };
    let dbDown = true;
    const m = new ControlPlaneMetrics({
      ...sources({
        countByStatus: async () => {
          if (dbDown) throw new Error('connection refused');
          return { queued: 1 };
        },
        nodes: () => Promise.reject(new Error('connection refused')),
      }),
      logger: logger as never,
    });
    let text = await m.registry.metrics();
    expect(text).not.toMatch(/^jarvis_tasks\{/m);
    expect(text).not.toMatch(/^jarvis_node_/m);
    expect(line(text, 'jarvis_metrics_source_up{source="tasks"}')).toMatch(/ 0$/);
    expect(line(text, 'jarvis_metrics_source_up{source="nodes"}')).toMatch(/ 0$/);
    expect(line(text, 'jarvis_metrics_source_up{source="queues"}')).toMatch(/ 1$/);
    expect(line(text, 'jarvis_queue_depth{priority="high"}')).toMatch(/ 2$/);
    expect(text).toMatch(/^process_resident_memory_bytes /m);

    dbDown = false;
    text = await m.registry.metrics();
    expect(line(text, 'jarvis_tasks{status="queued"}')).toMatch(/ 1$/);
    expect(line(text, 'jarvis_metrics_source_up{source="tasks"}')).toMatch(/ 1$/);
    // Told once when it failed and once when it came back, not on every scrape.
    expect(changes.filter((c) => c.includes('tasks'))).toEqual([
      'warn metrics: cannot read tasks; its series are left out of scrapes until it answers',
      'info metrics: tasks answers again',
    ]);
  });

  it('answers within the deadline while a source hangs, and does not pile reads onto it', async () => {
    let reads = 0;
    let release: (v: Record<string, number>) => void = () => undefined;
    const m = new ControlPlaneMetrics({
      ...sources({
        // The first read hangs until released; later ones answer.
        countByStatus: () => {
          reads++;
          return reads === 1 ? new Promise((resolve) => (release = resolve)) : Promise.resolve({ running: 5 });
        },
      }),
      sourceTimeoutMs: 100,
    });
    const t0 = Date.now();
    let text = await m.registry.metrics();
    expect(Date.now() - t0).toBeLessThan(1_000);
    expect(text).not.toMatch(/^jarvis_tasks\{/m);
    expect(line(text, 'jarvis_metrics_source_up{source="tasks"}')).toMatch(/ 0$/);
    text = await m.registry.metrics();
    expect(reads).toBe(1);
    release({ running: 4 });
    await new Promise((r) => setTimeout(r, 10));
    text = await m.registry.metrics();
    expect(reads).toBe(2);
    expect(line(text, 'jarvis_metrics_source_up{source="tasks"}')).toMatch(/ 1$/);
    expect(line(text, 'jarvis_tasks{status="running"}')).toMatch(/ 5$/);
  });

  it('reads each source once per scrape, however many gauges it feeds', async () => {
    let nodeReads = 0;
    const m = new ControlPlaneMetrics(
      sources({
        nodes: async () => {
          nodeReads++;
          return [node];
        },
      }),
    );
    await m.registry.metrics();
    expect(nodeReads).toBe(1);
    await m.registry.metrics();
    expect(nodeReads).toBe(2);
  });

  it('keeps and exposes nothing when switched off', async () => {
    let reads = 0;
    const m = new ControlPlaneMetrics({
      ...sources({
        countByStatus: async () => {
          reads++;
          return {};
        },
      }),
      enabled: false,
    });
    m.submitted.inc({ priority: 'normal' });
    m.httpDuration.observe({ method: 'GET', route: '/tasks', status: '200' }, 0.01);
    expect(await m.registry.metrics()).toBe('\n');
    expect(reads).toBe(0);
  });

  it('is documented: docs/metrics.md names every metric it exposes', async () => {
    const docs = readFileSync(join(import.meta.dirname, '../../docs/metrics.md'), 'utf8');
    const documented = new Set([...docs.matchAll(/`(jarvis_\w+)`/g)].map((m) => m[1]));
    const exposed = (await new ControlPlaneMetrics(sources()).registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('jarvis_'));
    expect(exposed.filter((n) => !documented.has(n))).toEqual([]);
    expect([...documented].filter((n) => !exposed.includes(n))).toEqual([]);
  });
});
