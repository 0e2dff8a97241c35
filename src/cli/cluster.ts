// Several API processes on one port (`jarvis server --processes N`, JARVIS_API_PROCESSES):
// node:cluster. The primary process serves nothing itself: it prepares the database once (the
// embedded PostgreSQL is started here, and migrations run here, so the children never race
// over them), forks N API children that each run a control plane on the shared port (the
// primary hands each new connection to one of them in turn) and never lead, and one scheduler
// child that serves no HTTP and is the only one that takes the leader lock (scheduler/
// leader.ts): it runs the dispatcher, the reconciler and node health, so their bursts of work
// never hold up a request. Every child records results. A child that dies is started again
// (a scheduler's lock expires first, as in any fail-over); one that dies before it was ever
// ready stops the lot (the same fault would recur). A child stops by itself when the primary
// is gone.
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { ClusterMetrics, RESPONSE as METRICS_ANSWER } from './cluster-metrics.ts';

const LISTENING = 'jarvis:listening';
const STOP = 'jarvis:stop';
const METRICS_ASK = 'jarvis:metrics?';
const METRICS = 'jarvis:metrics';
const METRICS_TIMEOUT_MS = 10_000;

/** Set by the primary for its children: the local worker's registration token (`jarvis up`). */
export const LOCAL_TOKEN_ENV = 'JARVIS_LOCAL_REGISTRATION_TOKEN';

export const isClusterChild = (): boolean => cluster.isWorker;

/** In a child: 'api' (serves the port, never leads) or 'scheduler' (leads, serves nothing). */
export const childRole = (): 'api' | 'scheduler' => (process.env.JARVIS_CLUSTER_ROLE === 'scheduler' ? 'scheduler' : 'api');

/** In a child: tells the primary the control plane is ready (an API child: serving at `url`). */
export function reportListening(url: string): void {
  process.send?.({ type: LISTENING, url, pid: process.pid });
}

/** In a child: `stop` is called when the primary asks (its signal) or when the primary is gone. */
export function onPrimaryStop(stop: (why: string) => void): void {
  process.on('message', (m: { type?: string } | null) => {
    if (m?.type === STOP) stop('asked by the primary process');
  });
  process.on('disconnect', () => stop('the primary process is gone'));
}

/**
 * In a child: GET /metrics answers for the whole cluster. This process's registry is the one it
 * reports when the primary collects (prom-client's AggregatorRegistry: counters and histograms
 * summed over the processes, scrape-time gauges taken once), and `exposition` asks the primary.
 */
export async function clusterMetrics(metrics: { registry: import('prom-client').Registry; exposition: () => Promise<string> }): Promise<void> {
  const { AggregatorRegistry } = await import('prom-client');
  AggregatorRegistry.setRegistries([metrics.registry]);
  new AggregatorRegistry(); // installs prom-client's answer to the primary's requests (in a child)
  let next = 0;
  const waiting = new Map<number, { resolve(text: string): void; reject(err: Error): void }>();
  process.on('message', (m: { type?: string; id?: number; text?: string; error?: string } | null) => {
    if (m?.type !== METRICS || m.id === undefined) return;
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.error !== undefined) w?.reject(new Error(`metrics of the API processes: ${m.error}`));
    else w?.resolve(m.text ?? '');
  });
  metrics.exposition = () =>
    new Promise<string>((resolve, reject) => {
      const id = next++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error('the primary process did not merge the metrics in time'));
      }, METRICS_TIMEOUT_MS);
      waiting.set(id, {
        resolve: (t) => (clearTimeout(timer), resolve(t)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      process.send?.({ type: METRICS_ASK, id });
    });
}

export interface Children {
  /** The URL the API children serve at (the same port for all). */
  url: string;
  /** The API children's pids. */
  pids(): number[];
  schedulerPid(): number | null;
  /** Asks every child to stop (each closes its parts within its grace period); then kills what is left. */
  close(options?: { force?: boolean }): Promise<void>;
}

/** In the primary: every child's metrics, merged (cluster-metrics.ts), sent to the child that asked. */
async function sendMetrics(merger: ClusterMetrics, workers: Worker[], to: Worker, id: number | undefined): Promise<void> {
  try {
    const merged = await merger.merge(workers);
    if (to.isConnected()) to.send({ type: METRICS, id, text: merged });
  } catch (err) {
    if (to.isConnected()) to.send({ type: METRICS, id, error: (err as Error).message });
  }
}

/**
 * Forks `n` API children and the scheduler child, and resolves once every one is ready.
 * `killAfterMs`: how long a child may take to stop when asked before it is killed.
 */
export function startChildren(n: number, env: Record<string, string>, logger: Logger, killAfterMs: number): Promise<Children> {
  let stopping = false;
  let url: string | null = null;
  const live = new Map<number, { worker: Worker; listening: boolean; role: 'api' | 'scheduler' }>();
  const merger = new ClusterMetrics();
  return new Promise<Children>((resolve, reject) => {
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      stopping = true;
      for (const { worker } of live.values()) worker.process.kill('SIGKILL');
      reject(err);
    };
    const fork = (index: number) => {
      const role: 'api' | 'scheduler' = index === n ? 'scheduler' : 'api';
      const worker = cluster.fork({ ...env, JARVIS_CLUSTER_INDEX: String(index), JARVIS_CLUSTER_ROLE: role });
      const entry = { worker, listening: false, role };
      live.set(worker.id, entry);
      worker.on('message', (m: { type?: string; url?: string; pid?: number; id?: number; requestId?: number }) => {
        // Only children that are ready: one forked and still starting has no answer to give yet,
        // and waiting for it failed every scrape while a child was started again.
        if (m?.type === METRICS_ASK) return void sendMetrics(merger, [...live.values()].filter((e) => e.listening).map((e) => e.worker), worker, m.id);
        if (m?.type === METRICS_ANSWER) return merger.answer(worker, m as Parameters<ClusterMetrics['answer']>[1]);
        if (m?.type !== LISTENING) return;
        entry.listening = true;
        if (role === 'api') url ??= m.url ?? null;
        logger.info({ child: m.pid, index }, role === 'api' ? 'API process listening' : 'scheduler process ready');
        if ([...live.values()].filter((e) => e.listening).length === n + 1 && !failed) resolve(children);
      });
      worker.on('exit', (code, signal) => {
        live.delete(worker.id);
        void merger.ended(worker);
        // Exit code 0: it stopped on purpose (a signal sent to the whole process group, say).
        if (stopping || (code === 0 && entry.listening)) return;
        const what = role === 'api' ? `API process ${index}` : 'the scheduler process';
        if (!entry.listening) return fail(new Error(`${what} (pid ${worker.process.pid}) ended before it was ready (exit code ${code ?? signal}); its output above says why`));
        logger.error({ child: worker.process.pid, index, code, signal }, `${what} ended unexpectedly; starting another`);
        setTimeout(() => !stopping && fork(index), 1_000).unref();
      });
    };
    const children: Children = {
      get url() {
        return url as string;
      },
      pids: () => [...live.values()].filter((e) => e.role === 'api').map((e) => e.worker.process.pid as number),
      schedulerPid: () => [...live.values()].find((e) => e.role === 'scheduler')?.worker.process.pid ?? null,
      close: async ({ force = false } = {}) => {
        stopping = true;
        const left = [...live.values()].map((e) => e.worker);
        const exited = left.map((w) => (w.isDead() ? Promise.resolve() : new Promise<void>((r) => w.once('exit', () => r()))));
        for (const w of left) {
          if (force) w.process.kill('SIGKILL');
          else if (w.isConnected()) w.send({ type: STOP });
          else w.process.kill('SIGTERM');
        }
        const timer = setTimeout(() => {
          for (const w of left) if (!w.isDead()) w.process.kill('SIGKILL');
        }, killAfterMs);
        await Promise.all(exited);
        clearTimeout(timer);
      },
    };
    for (let i = 0; i <= n; i++) fork(i);
  });
}
