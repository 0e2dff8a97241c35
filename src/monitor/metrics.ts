// The control plane's Prometheus metrics, in one registry per process (tests create several).
// Counts by status are read from the database at scrape time, so they are right after a
// restart and agree between replicas; counters count what this process saw happen.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface MetricsSources {
  countByStatus(): Promise<Record<string, number>>;
  queueDepth(): Promise<Record<string, number>>;
}

export class ControlPlaneMetrics {
  readonly registry = new Registry();
  readonly submitted: Counter<'priority'>;
  readonly finished: Counter<'status' | 'priority'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly queueWait: Histogram<'priority'>;
  readonly runDuration: Histogram<'status'>;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.submitted = new Counter({
      name: 'jarvis_tasks_submitted_total',
      help: 'Tasks accepted by POST /tasks, by priority.',
      labelNames: ['priority'],
      registers,
    });
    this.finished = new Counter({
      name: 'jarvis_tasks_finished_total',
      help: 'Tasks that reached a final state, by status and priority.',
      labelNames: ['status', 'priority'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'jarvis_http_request_duration_seconds',
      help: 'HTTP request duration, by method, route template and status code.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.queueWait = new Histogram({
      name: 'jarvis_task_queue_wait_seconds',
      help: 'Time from acceptance to placement on a node, by priority.',
      labelNames: ['priority'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600],
      registers,
    });
    this.runDuration = new Histogram({
      name: 'jarvis_task_run_duration_seconds',
      help: 'Time from container start to end, by final status.',
      labelNames: ['status'],
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600],
      registers,
    });
    new Gauge({
      name: 'jarvis_tasks',
      help: 'Tasks in the database, by status (read at scrape time).',
      labelNames: ['status'],
      registers,
      async collect() {
        const counts = await sources.countByStatus();
        this.reset();
        for (const status of ['pending', 'queued', 'scheduled', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'skipped']) {
          this.set({ status }, counts[status] ?? 0);
        }
      },
    });
    new Gauge({
      name: 'jarvis_queue_jobs',
      help: 'Jobs in the pending queue, by BullMQ state (read at scrape time).',
      labelNames: ['state'],
      registers,
      async collect() {
        const depth = await sources.queueDepth();
        this.reset();
        for (const [state, n] of Object.entries(depth)) this.set({ state }, n);
      },
    });
  }
}
