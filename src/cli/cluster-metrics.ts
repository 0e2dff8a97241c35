// In the primary of `jarvis server --processes N`: every child's metrics, merged for GET /metrics
// (prom-client's AggregatorRegistry.aggregate: counters and histograms summed over the processes,
// scrape-time gauges taken once).
//
// A child that dies takes its counts with it, and the one started in its place counts from 0:
// the cluster's counters went down, which Prometheus reads as a counter reset, so rate() and
// increase() took the whole remaining count for one interval's increase (a spike on every
// dashboard). The counters and histograms each child had at the last merge are kept when it
// ends and added to every later merge: a cluster counter never goes down (what a child counted
// after the last scrape and before it died is lost, as with any process's crash).
//
// The children answer prom-client's own request (its AggregatorRegistry, set up in each child by
// clusterMetrics in cluster.ts); the primary asks and gathers itself, so that it knows which
// answer is whose. (prom-client's clusterMetrics() gathers the answers anonymously.)
import type { Worker } from 'node:cluster';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';

const REQUEST = 'prom-client:getMetricsReq';
export const RESPONSE = 'prom-client:getMetricsRes';
const TIMEOUT_MS = 5_000;

type Metrics = Array<MetricObjectWithValues<MetricValue<string>>>;
type Response = { type: string; requestId: number; metrics?: Metrics[]; error?: string };

/** Metrics that only add up (counters, histograms, summed): what a child that ended keeps adding. */
const kept = (m: Metrics): Metrics =>
  m.filter((x) => {
    const { type, aggregator } = x as unknown as { type: string; aggregator?: string }; // strings at run time (the typings say an enum)
    return (type === 'counter' || type === 'histogram') && (aggregator ?? 'sum') === 'sum';
  });

export class ClusterMetrics {
  private next = 0;
  private readonly asked = new Map<number, { waiting: Set<number>; answers: Map<number, Metrics>; done(err: Error | null): void }>();
  /** Each child's counters and histograms at the last merge (by cluster worker id). */
  private readonly last = new Map<number, Metrics>();
  /** The counters and histograms of children that ended, each child's at its last merge (summed now and then). */
  private readonly gone: Metrics[] = [];

  /** The children's metrics, merged with those of children that ended, as Prometheus text. */
  merge(workers: Worker[]): Promise<string> {
    const requestId = this.next++;
    const answers = new Map<number, Metrics>();
    const waiting = new Set<number>();
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error('an API process did not answer in time')), TIMEOUT_MS);
      const done = (err: Error | null) => {
        if (!this.asked.delete(requestId)) return;
        clearTimeout(timer);
        if (err) return reject(err);
        for (const [id, m] of answers) this.last.set(id, kept(m));
        resolve(AggregatorRegistry.aggregate([...answers.values(), ...this.gone]).metrics());
      };
      this.asked.set(requestId, { waiting, answers, done });
      for (const w of workers) {
        if (!w.isConnected()) continue;
        waiting.add(w.id);
        w.send({ type: REQUEST, requestId });
      }
      if (waiting.size === 0) done(null);
    });
  }

  /** A child's answer (its message of type RESPONSE). */
  answer(worker: Worker, m: Response): void {
    const request = this.asked.get(m.requestId);
    if (!request || !request.waiting.delete(worker.id)) return;
    if (m.error !== undefined) return request.done(new Error(m.error));
    request.answers.set(worker.id, (m.metrics ?? []).flat());
    if (request.waiting.size === 0) request.done(null);
  }

  /**
   * A child ended: its counts at the last merge (or in a merge under way) stay in every later
   * one, and a merge waiting for it goes on without it.
   */
  async ended(worker: Worker): Promise<void> {
    let latest = this.last.get(worker.id);
    this.last.delete(worker.id);
    for (const request of this.asked.values()) {
      const answered = request.answers.get(worker.id);
      if (answered) latest = kept(answered);
      request.answers.delete(worker.id);
    }
    if (latest && latest.length > 0) this.gone.push(latest);
    for (const request of [...this.asked.values()]) {
      if (request.waiting.delete(worker.id) && request.waiting.size === 0) request.done(null);
    }
    if (this.gone.length > 16) {
      // Summed into one, so that a child that keeps dying does not grow the list (a merge
      // meanwhile reads the entries as they were).
      const n = this.gone.length;
      const summed = (await AggregatorRegistry.aggregate(this.gone.slice(0, n)).getMetricsAsJSON()) as Metrics;
      this.gone.splice(0, n, summed);
    }
  }
}
