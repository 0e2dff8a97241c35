// The control plane's Prometheus metrics, in one registry per process (tests create several).
// Figures kept in the database or Redis (tasks by status, nodes, queue depth) are read at scrape
// time, so they are right after a restart and agree between replicas; counters and histograms
// count what this process saw happen. A source that is down leaves its series out of the scrape
// (and sets jarvis_metrics_source_up to 0) instead of failing /metrics. Every metric is
// described in docs/metrics.md; keep the two in step.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type LabelValues } from 'prom-client';
import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import { FINAL_STATUSES as FINAL, NODE_STATUSES, PRIORITIES, PRIORITY_RANK, TASK_STATUSES } from '../domain/task.ts';
import type { NodeRow } from '../state/schema.ts';
import type { PendingQueues } from '../scheduler/pending.ts';
import { ScrapeSource } from './scrape-source.ts';
import { registerTenantMetrics, type TenantFigures } from './tenant-metrics.ts';

export { NODE_STATUSES, PRIORITIES, TASK_STATUSES };
/** BullMQ job states reported for each of Jarvis's queues. */
export const QUEUE_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'failed'] as const;

/** What a node looks like to the metrics (NodeStore.snapshots: a row, its running list counted). */
export type NodeSnapshot = { runningTasks: number } & Pick<
  NodeRow,
  | 'id'
  | 'name'
  | 'hostname'
  | 'status'
  | 'cpu'
  | 'memoryMb'
  | 'gpu'
  | 'maxTasks'
  | 'allocatedCpu'
  | 'allocatedMemoryMb'
  | 'allocatedGpu'
  | 'allocatedTasks'
  | 'cpuPercent'
  | 'memoryUsedMb'
  | 'lastHeartbeatAt'
>;

export interface MetricsSources {
  /** Tasks in the database by status (monitor/task-counts.ts: the final statuses as of their last count). */
  countByStatus(): Promise<Partial<Record<string, number>>>;
  /** Jobs per BullMQ state, by queue name (e.g. `{ pending: { waiting: 1, … } }`). */
  queueJobs(): Promise<Record<string, Record<string, number>>>;
  /** Jobs in the pending queue waiting to be taken by the dispatcher, by priority name. */
  queueDepthByPriority(): Promise<Record<string, number>>;
  /** Registered nodes (NodeStore.snapshots). */
  nodes(): Promise<NodeSnapshot[]>;
  /** Tenants' usage, shares and queued demand (absent: no tenant metrics). */
  tenants?(): Promise<TenantFigures>;
}

export interface MetricsOptions extends MetricsSources {
  /** false: no metric is kept or exposed (for measuring what metrics cost); default true. */
  enabled?: boolean;
  /** Told when a scrape-time source fails and when it is back. */
  logger?: Pick<Logger, 'warn' | 'info'>;
  /** How long a scrape waits for one source; default 2 s (Prometheus' default timeout is 10 s). */
  sourceTimeoutMs?: number;
}

/** The part of a counter the rest of Jarvis uses. */
export interface CounterLike<L extends string> {
  inc(labels: LabelValues<L>, value?: number): void;
}
/** The part of a gauge the rest of Jarvis uses. */
export interface GaugeLike {
  inc(value?: number): void;
  dec(value?: number): void;
}
/** The part of a histogram the rest of Jarvis uses. */
export interface HistogramLike<L extends string> {
  observe(labels: LabelValues<L>, value: number): void;
}

const noop = { inc() {}, dec() {}, observe() {} };

const MIB = 1024 * 1024;

/** Why an attempt was taken back from its node (jarvis_task_attempts_lost_total's reason). */
export const LOST_REASONS = ['node_offline', 'node_stopped', 'engine_unreachable', 'result_lost'] as const;
export type LostReason = (typeof LOST_REASONS)[number];

export class ControlPlaneMetrics {
  readonly registry = new Registry();
  /**
   * The text GET /metrics answers: this registry's, or with `--processes N` every API process's
   * merged by the primary (cli/cluster.ts sets it).
   */
  exposition: () => Promise<string> = () => this.registry.metrics();
  readonly enabled: boolean;
  /** Tasks accepted: by POST /tasks and /tasks/batch, a workflow's tasks, a schedule's runs. */
  readonly submitted: CounterLike<'priority'>;
  /** Tasks that reached a final state. */
  readonly finished: CounterLike<'status' | 'priority'>;
  /** Attempts that failed or timed out and were put back in the queue for another attempt. */
  readonly retries: CounterLike<'priority'>;
  /** Tasks whose jobs Redis had lost, restored by the reconciler (queued again, or handed to their node again). */
  readonly restored: CounterLike<'kind'>;
  /** Attempts taken back from their node and placed again, by why (LOST_REASONS). */
  readonly lostAttempts: CounterLike<'reason'>;
  readonly httpDuration: HistogramLike<'method' | 'route' | 'status'>;
  /** Log streams (follow=true, and the dashboard's) open in this process. */
  readonly logFollows: GaugeLike;
  /** Log streams refused for a limit: `key` (server.max_log_follows_per_key) or `process` (server.max_log_follows). */
  readonly logFollowsRefused: CounterLike<'limit'>;
  /** Placement latency: acceptance to placement on a node (see docs/metrics.md). */
  readonly queueWait: HistogramLike<'priority'>;
  readonly runDuration: HistogramLike<'status'>;

  constructor(options: MetricsOptions) {
    this.enabled = options.enabled ?? true;
    if (!this.enabled) {
      this.submitted = this.finished = this.retries = this.restored = this.lostAttempts = noop;
      this.httpDuration = this.queueWait = this.runDuration = noop;
      this.logFollows = this.logFollowsRefused = noop;
      return;
    }
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });

    const submitted = new Counter({
      name: 'jarvis_tasks_submitted_total',
      help: 'Tasks accepted (POST /tasks and /tasks/batch, the tasks of workflows and of schedule runs), by priority.',
      labelNames: ['priority'],
      registers,
    });
    const finished = new Counter({
      name: 'jarvis_tasks_finished_total',
      help: 'Tasks that reached a final state, by status and priority.',
      labelNames: ['status', 'priority'],
      registers,
    });
    const retries = new Counter({
      name: 'jarvis_task_retries_total',
      help: 'Attempts that failed or timed out and were queued again for another attempt, by priority.',
      labelNames: ['priority'],
      registers,
    });
    const restored = new Counter({
      name: 'jarvis_tasks_restored_total',
      help: "Tasks whose jobs Redis had lost, restored by the reconciler: queued again (kind=queued) or handed to their node again (kind=placed).",
      labelNames: ['kind'],
      registers,
    });
    const lostAttempts = new Counter({
      name: 'jarvis_task_attempts_lost_total',
      help: 'Attempts taken back from their node and placed again (not counted against max_retries), by why: the node went offline (node_offline), stopped before taking it (node_stopped), could not reach its container engine before taking it (engine_unreachable), or lost its result (result_lost).',
      labelNames: ['reason'],
      registers,
    });
    const queueWait = new Histogram({
      name: 'jarvis_task_queue_wait_seconds',
      help: 'Placement latency: time from acceptance to placement on a node (first attempts), by priority.',
      labelNames: ['priority'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
      registers,
    });
    const runDuration = new Histogram({
      name: 'jarvis_task_run_duration_seconds',
      help: 'Time from container start to end of the final attempt, by final status.',
      labelNames: ['status'],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 4 * 3600],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'jarvis_http_request_duration_seconds',
      help: 'HTTP request duration, by method, route template and status code.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.logFollows = new Gauge({
      name: 'jarvis_log_follows',
      help: 'Log streams (GET /tasks/{id}/logs?follow=true, and the dashboard live logs) open now.',
      registers,
    });
    const logFollowsRefused = new Counter({
      name: 'jarvis_log_follows_refused_total',
      help: 'Log streams refused with 429 for a limit: one key has server.max_log_follows_per_key open (limit=key), or the process server.max_log_follows (limit=process).',
      labelNames: ['limit'],
      registers,
    });
    for (const limit of ['key', 'process']) logFollowsRefused.inc({ limit }, 0);
    this.logFollowsRefused = logFollowsRefused;
    // Known label values start at zero, so rate() and increase() see the first event and a
    // dashboard shows 0 rather than "no data" before anything happened.
    for (const priority of PRIORITIES) {
      submitted.inc({ priority }, 0);
      retries.inc({ priority }, 0);
      queueWait.zero({ priority });
      for (const status of FINAL) finished.inc({ status, priority }, 0);
    }
    for (const status of FINAL) runDuration.zero({ status });
    for (const kind of ['queued', 'placed']) restored.inc({ kind }, 0);
    for (const reason of LOST_REASONS) lostAttempts.inc({ reason }, 0);
    this.lostAttempts = lostAttempts;
    this.submitted = submitted;
    this.restored = restored;
    this.finished = finished;
    this.retries = retries;
    this.queueWait = queueWait;
    this.runDuration = runDuration;

    this.registerScrapeTimeMetrics(options, registers);
  }

  // Figures read at scrape time (from the database, Redis) are the same in every API process of
  // `--processes N`: `aggregator: 'first'` makes the cluster's /metrics show one copy, not the sum.
  private registerScrapeTimeMetrics(options: MetricsOptions, registers: Registry[]): void {
    const timeoutMs = options.sourceTimeoutMs ?? 2_000;
    const logger = options.logger;
    const onStatusChange = (source: string, error: Error | null) => {
      if (error) logger?.warn({ source, err: { message: error.message } }, `metrics: cannot read ${source}; its series are left out of scrapes until it answers`);
      else logger?.info({ source }, `metrics: ${source} answers again`);
    };
    const source = <T>(name: string, read: () => Promise<T>) => new ScrapeSource(name, read, timeoutMs, onStatusChange);
    const taskCounts = source('tasks', () => options.countByStatus());
    const queueJobs = source('queues', () => options.queueJobs());
    const queueDepth = source('queue_depth', () => options.queueDepthByPriority());
    const nodes = source('nodes', () => options.nodes());
    const tenantFigures = options.tenants ? source('tenants', () => options.tenants!()) : null;
    const sources = [taskCounts, queueJobs, queueDepth, nodes, ...(tenantFigures ? [tenantFigures] : [])];
    if (tenantFigures) registerTenantMetrics(registers, tenantFigures);

    new Gauge({
      name: 'jarvis_metrics_source_up',
      help: 'Whether the last scrape could read a source of scrape-time metrics (1) or not (0), by source.',
      labelNames: ['source'],
      registers,
      aggregator: 'first',
      async collect() {
        await Promise.all(sources.map((s) => s.get()));
        for (const s of sources) this.set({ source: s.name }, s.down ? 0 : 1);
      },
    });

    new Gauge({
      name: 'jarvis_tasks',
      help: 'Tasks in the database, by status (read at scrape time).',
      labelNames: ['status'],
      registers,
      // Each process counts the final statuses at its own times (task-counts.ts): under
      // `--processes N` 'first' showed whichever answered first, so a count could go back and
      // forth between scrapes; the largest is the freshest (they only grow between retention passes).
      aggregator: 'max',
      async collect() {
        const counts = await taskCounts.get();
        this.reset();
        if (!counts) return;
        for (const status of TASK_STATUSES) this.set({ status }, counts[status] ?? 0);
      },
    });

    new Gauge({
      name: 'jarvis_queue_jobs',
      help: "Jobs in Jarvis's BullMQ queues, by queue and state (read at scrape time).",
      labelNames: ['queue', 'state'],
      registers,
      aggregator: 'first',
      async collect() {
        const byQueue = await queueJobs.get();
        this.reset();
        if (!byQueue) return;
        for (const [queue, counts] of Object.entries(byQueue)) {
          for (const state of QUEUE_STATES) this.set({ queue, state }, counts[state] ?? 0);
        }
      },
    });

    new Gauge({
      name: 'jarvis_queue_depth',
      help: 'Tasks waiting in the pending queue for the dispatcher, by priority (read at scrape time).',
      labelNames: ['priority'],
      registers,
      aggregator: 'first',
      async collect() {
        const depth = await queueDepth.get();
        this.reset();
        if (!depth) return;
        for (const priority of PRIORITIES) this.set({ priority }, depth[priority] ?? 0);
      },
    });

    const nodeGauge = (name: string, help: string, value: (n: NodeSnapshot) => number | null, extraLabels: string[] = []) =>
      new Gauge({
        name,
        help: `${help} (read at scrape time).`,
        labelNames: ['node', ...extraLabels],
        registers,
        aggregator: 'first',
        async collect() {
          const list = await nodes.get();
          this.reset();
          for (const n of list ?? []) {
            const v = value(n);
            if (v !== null && Number.isFinite(v)) this.set({ node: n.name }, v);
          }
        },
      });
    nodeGauge('jarvis_node_cpu_capacity_cores', 'CPU cores a node offers to tasks, by node', (n) => n.cpu);
    nodeGauge('jarvis_node_cpu_allocated_cores', 'CPU cores reserved by the tasks placed on a node, by node', (n) => n.allocatedCpu);
    nodeGauge('jarvis_node_cpu_usage_ratio', "A node's CPU use (0–1) as of its last heartbeat, by node", (n) => (n.cpuPercent === null ? null : n.cpuPercent / 100));
    nodeGauge('jarvis_node_memory_capacity_bytes', 'Memory a node offers to tasks, by node', (n) => n.memoryMb * MIB);
    nodeGauge('jarvis_node_memory_allocated_bytes', 'Memory reserved by the tasks placed on a node, by node', (n) => n.allocatedMemoryMb * MIB);
    nodeGauge('jarvis_node_memory_used_bytes', "Memory in use on a node's host as of its last heartbeat, by node", (n) => (n.memoryUsedMb === null ? null : n.memoryUsedMb * MIB));
    nodeGauge('jarvis_node_gpu_capacity', 'GPUs a node offers to tasks, by node', (n) => n.gpu);
    nodeGauge('jarvis_node_gpu_allocated', 'GPUs reserved by the tasks placed on a node, by node', (n) => n.allocatedGpu);
    nodeGauge('jarvis_node_task_slots', 'Tasks a node runs at once (max_tasks), by node', (n) => n.maxTasks);
    nodeGauge('jarvis_node_task_slots_allocated', 'Task slots taken by the tasks placed on a node, by node', (n) => n.allocatedTasks);
    nodeGauge('jarvis_node_tasks_running', 'Tasks a node said it runs in its last heartbeat, by node', (n) => n.runningTasks);
    nodeGauge('jarvis_node_last_heartbeat_timestamp_seconds', "When a node's last heartbeat arrived (Unix time), by node", (n) =>
      n.lastHeartbeatAt ? n.lastHeartbeatAt.getTime() / 1000 : null,
    );

    new Gauge({
      name: 'jarvis_node_status',
      help: 'A node\'s status: 1 for the status it is in, 0 for the others, by node and status (read at scrape time).',
      labelNames: ['node', 'status'],
      registers,
      aggregator: 'first',
      async collect() {
        const list = await nodes.get();
        this.reset();
        for (const n of list ?? []) {
          for (const status of NODE_STATUSES) this.set({ node: n.name, status }, n.status === status ? 1 : 0);
        }
      },
    });

    new Gauge({
      name: 'jarvis_node_info',
      help: 'Always 1; labels give each node\'s id and host name, by node (read at scrape time).',
      labelNames: ['node', 'node_id', 'hostname'],
      registers,
      aggregator: 'first',
      async collect() {
        const list = await nodes.get();
        this.reset();
        for (const n of list ?? []) this.set({ node: n.name, node_id: n.id, hostname: n.hostname }, 1);
      },
    });
  }
}

/** Jobs per state of each queue, for MetricsSources.queueJobs. */
export async function jobCountsByQueue(queues: Queue[]): Promise<Record<string, Record<string, number>>> {
  const counts = await Promise.all(queues.map((q) => q.getJobCounts(...QUEUE_STATES)));
  return Object.fromEntries(queues.map((q, i) => [q.name, counts[i]]));
}

/**
 * Tasks waiting in the pending queues (prioritized, not taken) by priority name, for
 * MetricsSources.queueDepthByPriority: per tenant one ZCOUNT per priority in one script (BullMQ's
 * getCountsPerPriority) plus the tasks group jobs hold (PendingQueues.depthByRank), cheap at any
 * depth. Jobs added without a priority (BullMQ priority 0, the plain wait list) are not Jarvis's.
 */
export async function pendingByPriority(pending: Pick<PendingQueues, 'depthByRank'>): Promise<Record<string, number>> {
  const byRank = await pending.depthByRank(PRIORITIES.map((p) => PRIORITY_RANK[p]));
  return Object.fromEntries(PRIORITIES.map((p) => [p, byRank[String(PRIORITY_RANK[p])] ?? 0]));
}
