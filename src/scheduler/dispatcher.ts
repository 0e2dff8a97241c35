// Takes queued tasks from the pending queue in priority order (BullMQ priorities, FIFO within
// one) and hands each to a node's own queue. The database decides: a job whose task is no
// longer queued is dropped, and a task already placed (we crashed after placing it) is handed
// over again under the same job id, which BullMQ deduplicates. A task that fits nowhere now
// is delayed and tried again; one that can never fit fails at once with the reason.
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { NodeStore } from '../state/node-store.ts';
import type { TaskRow } from '../state/schema.ts';
import type { TaskStore } from '../state/task-store.ts';
import { enqueuePending } from './pending.ts';
import { chooseNode, type PlacementStrategy } from './placement.ts';
import { controlPlaneWorkerOptions, NodeJob, PendingJob, PRIORITY_RANK, type RedisNames } from './queues.ts';

export interface DispatcherDeps {
  tasks: TaskStore;
  nodes: NodeStore;
  connection: Redis;
  /** Where released workflow tasks go (a task failed here may release or skip its children). */
  pendingQueue: Queue;
  names: RedisNames;
  logger: Logger;
  logCapBytes: number;
  strategy: PlacementStrategy;
  /** A waiting task gains one priority class per this many seconds. */
  agingSeconds: number;
  /** Called when a task is placed, with the time it waited since it was accepted. */
  onPlaced?(task: TaskRow): void;
  onFailed?(task: TaskRow): void;
}

const WAIT_RETRY_MS = 500;

/**
 * A task that fits nowhere waits until capacity changes (a task ends or is cancelled, a node
 * registers or resumes: wakeWaitingTasks promotes the waiting jobs, which BullMQ then hands
 * out by priority) or, failing that, this long. Waiting tasks do not poll, so a large backlog
 * on a full cluster costs nothing while nothing changes.
 */
const WAIT_FAILSAFE_MS = 5_000;

export function agedPriority(priority: keyof typeof PRIORITY_RANK, createdAt: Date, agingSeconds: number): number {
  const classes = Math.floor((Date.now() - createdAt.getTime()) / 1000 / agingSeconds);
  return Math.max(PRIORITY_RANK.critical, PRIORITY_RANK[priority] - classes);
}



export class Dispatcher {
  private worker: Worker | null = null;
  private readonly nodeQueues = new Map<string, Queue>();

  constructor(private readonly deps: DispatcherDeps) {}

  start(): void {
    if (this.worker) return;
    const { names, connection } = this.deps;
    this.worker = new Worker(names.pendingQueue, (job, token) => this.process(job, token), controlPlaneWorkerOptions(connection, names));
    this.worker.on('error', (err) => this.deps.logger.error({ err }, 'dispatcher: queue error'));
    this.worker.on('failed', (job, err) =>
      this.deps.logger.error({ err, task_id: job?.data?.taskId }, 'dispatcher: could not place a task; it stays queued and the reconciler retries it'),
    );
  }

  /**
   * BullMQ's worker loop can end on errors it does not expect (its keys vanished when Redis was
   * flushed, say): start a new one. Called periodically by the control plane.
   */
  async ensureRunning(): Promise<void> {
    if (!this.worker || this.worker.isRunning()) return;
    this.deps.logger.warn('dispatcher: its queue loop had stopped; starting a new one');
    await this.stop().catch(() => undefined);
    this.start();
  }

  /** Stops taking jobs (when this replica stops leading); start() takes them again. */
  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    await w?.close();
  }

  async close(): Promise<void> {
    const closing = [this.stop(), ...[...this.nodeQueues.values()].map((q) => q.close())];
    for (const r of await Promise.allSettled(closing)) {
      if (r.status === 'rejected') this.deps.logger.warn({ err: r.reason }, 'dispatcher: error while closing');
    }
  }

  private nodeQueue(nodeId: string): Queue {
    let q = this.nodeQueues.get(nodeId);
    if (!q) {
      q = new Queue(this.deps.names.nodeQueue(nodeId), { connection: this.deps.connection, prefix: this.deps.names.bullPrefix });
      this.nodeQueues.set(nodeId, q);
    }
    return q;
  }

  /**
   * Placement decisions are taken one at a time, in the order BullMQ hands out jobs (priority,
   * then FIFO): with several jobs in flight, the highest-priority one must get the free room,
   * not whichever finishes its database reads first. The turn is taken before the first await.
   */
  private placing: Promise<unknown> = Promise.resolve();

  private process(job: Job, token: string | undefined): Promise<void> {
    const turn = this.placing.then(() => this.decide(job, token));
    this.placing = turn.catch(() => undefined);
    return turn.then((placed) => (placed ? this.handOver(placed) : undefined));
  }

  /** Returns the task to hand over to its node, or null when there is nothing to hand over. */
  private async decide(job: Job, token: string | undefined): Promise<TaskRow | null> {
    const { taskId } = PendingJob.parse(job.data);
    const { tasks, nodes } = this.deps;
    for (let tries = 0; tries < 3; tries++) {
      const task = await tasks.get(taskId);
      if (!task) return null; // the create was rolled back after the enqueue
      if (task.status === 'scheduled' && task.nodeId) return task;
      if (task.status !== 'queued') return null;
      const choice = chooseNode(task, await nodes.list(), this.deps.strategy);
      if (choice.kind === 'never') {
        const failed = await tasks.failQueued(taskId, choice.reason);
        if (failed) {
          this.deps.onFailed?.(failed.task);
          await enqueuePending(this.deps.pendingQueue, failed.released);
        }
        return null;
      }
      if (choice.kind === 'wait') {
        if (task.statusReason !== choice.reason) await tasks.setStatusReason(taskId, choice.reason);
        // Aging: a waiting task moves up one priority class per aging_seconds waited, so a
        // steady flow of higher-priority work cannot starve it. (On a delayed job BullMQ keeps
        // the new priority for when the job is promoted.)
        const aged = agedPriority(task.priority, task.createdAt, this.deps.agingSeconds);
        if (aged !== job.priority) await job.changePriority({ priority: aged });
        await job.moveToDelayed(Date.now() + WAIT_FAILSAFE_MS, token);
        throw new DelayedError();
      }
      const placed = await tasks.place(taskId, choice.node.id);
      if (placed) {
        this.deps.onPlaced?.(placed);
        return placed;
      }
      // Another placement took the room first; look again.
    }
    await job.moveToDelayed(Date.now() + WAIT_RETRY_MS, token);
    throw new DelayedError();
  }

  /** Gives placed tasks their node jobs again (the reconciler found them lost). */
  async restorePlaced(ids: string[]): Promise<void> {
    for (const id of ids) {
      const t = await this.deps.tasks.get(id);
      if (t && t.status === 'scheduled' && t.nodeId) await this.handOver(t);
    }
  }

  private async handOver(task: TaskRow): Promise<void> {
    const nodeId = task.nodeId as string;
    const data: NodeJob = {
      taskId: task.id,
      attempt: task.attempts,
      nodeId,
      image: task.image,
      command: task.command ?? null,
      env: task.env,
      cpu: task.cpu,
      memoryMb: task.memoryMb,
      gpu: task.gpu,
      network: task.network,
      timeoutSeconds: task.timeoutSeconds,
      logCapBytes: this.deps.logCapBytes,
      labels: task.labels,
    };
    await this.nodeQueue(nodeId).add('run', data, {
      jobId: `${task.id}-a${task.attempts}`,
      // Kept an hour after it ran: its id then still dedupes a repeated hand-over, and the
      // reconciler can tell "ran" from "lost with Redis".
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { count: 1000 },
    });
  }
}
