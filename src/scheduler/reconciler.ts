// Puts accepted work back into Redis when Redis lost it (restarted without persistence,
// flushed, or down while a task was accepted before the crash of a previous process). The
// database is the truth: every queued task must have a pending job. Runs at start, on each
// Redis reconnect and every few seconds; adding an existing job id is a no-op in BullMQ.
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { TaskStore } from '../state/task-store.ts';
import { enqueuePending } from './pending.ts';
import type { RedisNames } from './queues.ts';

export class Reconciler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  private generation = 0;
  private readonly pending: Queue;

  constructor(
    private readonly deps: { tasks: TaskStore; connection: Redis; names: RedisNames; logger: Logger; intervalMs: number },
  ) {
    this.pending = new Queue(deps.names.pendingQueue, { connection: deps.connection, prefix: deps.names.bullPrefix });
  }

  start(): void {
    if (this.timer) return;
    const generation = ++this.generation;
    const tick = () => {
      this.reconcile()
        .catch((err) => this.deps.logger.warn({ err }, 'reconciler: pass failed; will try again'))
        .finally(() => {
          if (this.timer && generation === this.generation) this.timer = setTimeout(tick, this.deps.intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  /** Stops the periodic passes (when this replica stops leading). */
  async stop(): Promise<void> {
    this.generation++;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  /** One pass; returns how many jobs it had to put back. */
  reconcile(): Promise<number> {
    this.running ??= this.pass().finally(() => (this.running = null));
    return this.running;
  }

  private async pass(): Promise<number> {
    // Queued tasks need a pending job; placed tasks not yet started need their node job (or a
    // pending job, which the dispatcher turns back into the node job: placing is idempotent).
    const queued = await this.deps.tasks.idsInStatus(['queued', 'scheduled']);
    if (queued.length === 0) return 0;
    const { connection, names } = this.deps;
    let restored = 0;
    for (let i = 0; i < queued.length; i += 500) {
      const batch = queued.slice(i, i + 500);
      const pipe = connection.pipeline();
      for (const t of batch) {
        pipe.exists(
          t.status === 'queued' || !t.nodeId
            ? `${names.bullPrefix}:${names.pendingQueue}:${t.id}`
            : `${names.bullPrefix}:${names.nodeQueue(t.nodeId)}:${t.id}-a${t.attempts}`,
        );
      }
      const exists = (await pipe.exec()) ?? [];
      const missing = batch.filter((_, j) => exists[j]?.[1] !== 1);
      if (missing.length === 0) continue;
      await enqueuePending(this.pending, missing);
      restored += missing.length;
    }
    if (restored > 0) this.deps.logger.warn({ restored }, 'reconciler: re-enqueued queued or placed tasks whose jobs Redis had lost');
    return restored;
  }

  async close(): Promise<void> {
    await this.stop();
    await this.pending.close();
  }
}
