// Takes queued tasks from the pending queue in priority order (BullMQ priorities, FIFO within
// one) and hands each to a node's own queue. The database decides: a job whose task is no
// longer queued is dropped, and a task already placed (we crashed after placing it) is handed
// over again under the same job id, which BullMQ deduplicates. A task that fits nowhere now
// is delayed and tried again; one that can never fit fails at once with the reason.
import { policyFor, type TenantPolicy } from '../auth/tenant-policy.ts';
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { NodeStore } from '../state/node-store.ts';
import type { TaskRow } from '../state/schema.ts';
import type { PlacementRequest, TaskStore } from '../state/task-store.ts';
import { Batcher, type BatchEntry, type BatchHandled } from './batcher.ts';
import { enqueuePending, wakeWaitingTasks } from './pending.ts';
import { chooseNode, reserve, type PlacementStrategy } from './placement.ts';
import { controlPlaneWorkerOptions, logQueueError, NodeJob, PendingJob, type RedisNames } from './queues.ts';
import { agedPriority } from './aging.ts';
import { closeOnce, type CloseOptions, type Part } from '../lifecycle/part.ts';

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
  /** What each tenant's tasks may ask beyond the restricted container profile (tenants.policies). */
  tenantPolicies?: Record<string, TenantPolicy>;
  /** Called when a task is placed, with the time it waited since it was accepted. */
  onPlaced?(task: TaskRow): void;
  onFailed?(task: TaskRow): void;
}

const WAIT_RETRY_MS = 500;

/**
 * A task that fits nowhere waits until capacity changes (a task ends or is cancelled, a node
 * registers or resumes: wakeWaitingTasks promotes the waiting jobs, which BullMQ then hands
 * out by priority) or, failing that, for a failsafe delay: 5 s, doubling each time the task is
 * found waiting again, up to 5 minutes. Waiting tasks barely poll, so a large backlog on a full
 * cluster costs little while nothing changes.
 */
export function waitFailsafeMs(timesTaken: number): number {
  return Math.min(300_000, 5_000 * 2 ** Math.max(0, Math.min(timesTaken - 1, 6)));
}




/** The most jobs decided together (and, with some headroom, the pending worker's concurrency). */
const MAX_BATCH = 500;

/** A pending job waiting in a batch; seq is its arrival (FIFO within a priority, as BullMQ handed it out). */
interface Taken {
  job: Job;
  token: string | undefined;
  seq: number;
}
type Pending = BatchEntry<Taken>;

export class Dispatcher implements Part {
  private worker: Worker | null = null;
  private closer?: (options?: CloseOptions) => Promise<void>;
  private readonly nodeQueues = new Map<string, Queue>();

  constructor(private readonly deps: DispatcherDeps) {}

  start(): void {
    if (this.worker) return;
    const { names, connection } = this.deps;
    this.worker = new Worker(names.pendingQueue, (job, token) => this.process(job, token), {
      ...controlPlaneWorkerOptions(connection, names),
      concurrency: MAX_BATCH * 2,
    });
    this.worker.on('error', (err) => logQueueError(this.deps.logger, 'dispatcher', err));
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
  async stop(force = false): Promise<void> {
    const w = this.worker;
    this.worker = null;
    await w?.close(force);
  }

  /** Stops for good (see lifecycle/part.ts); force: placements in flight are not waited for. */
  close(options?: CloseOptions): Promise<void> {
    this.closer ??= closeOnce(async ({ force }) => {
      const closing = [this.stop(force), ...[...this.nodeQueues.values()].map((q) => q.close())];
      for (const r of await Promise.allSettled(closing)) {
        if (r.status === 'rejected') this.deps.logger.warn({ err: r.reason }, 'dispatcher: error while closing');
      }
    });
    return this.closer(options);
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
   * Jobs are decided in batches: BullMQ hands out up to `concurrency` jobs (priority, then
   * FIFO) and each waits here until the batch it joined is decided. One batch at a time, sorted
   * by priority then arrival, against one view of the nodes that each decision updates: the
   * highest-priority task gets the free room, and the whole batch costs a few statements
   * instead of a transaction per task. While one batch is stored, the next fills up, so batches
   * grow with the load and a lone task is decided at once.
   */
  private readonly batcher = new Batcher<Taken>(MAX_BATCH, (batch) => this.decideBatch(batch));
  private arrivals = 0;

  private process(job: Job, token: string | undefined): Promise<void> {
    return this.batcher.add({ job, token, seq: this.arrivals++ });
  }

  private async decideBatch(batch: Pending[]): Promise<BatchHandled> {
    const { tasks, nodes } = this.deps;
    batch.sort((a, b) => (a.value.job.priority ?? 0) - (b.value.job.priority ?? 0) || a.value.seq - b.value.seq);
    const entries = batch.map((p) => ({ p, data: PendingJob.parse(p.value.job.data) }));
    const rows = new Map((await tasks.placementRequests(entries.map((e) => e.data.taskId))).map((t) => [t.id, t]));
    const handOver: TaskRow[] = [];
    const placedBefore: string[] = [];
    let undecided = entries;
    for (let tries = 0; tries < 3 && undecided.length > 0; tries++) {
      const view = await nodes.placementView();
      const plans: Array<{ taskId: string; nodeId: string }> = [];
      const waits: Array<{ p: Pending; task: PlacementRequest; reason: string }> = [];
      const never: Array<{ p: Pending; task: PlacementRequest; reason: string }> = [];
      const byTask = new Map<string, Pending>();
      for (const { p, data } of undecided) {
        const task = rows.get(data.taskId);
        if (!task || (task.status === 'scheduled' && !task.nodeId) || (task.status !== 'queued' && task.status !== 'scheduled')) {
          p.settle(); // the create was rolled back after the enqueue, or the task moved on
          continue;
        }
        if (task.status === 'scheduled') {
          placedBefore.push(task.id); // placed before a crash: hand it over again (deduplicated)
          byTask.set(task.id, p);
          continue;
        }
        const choice = chooseNode(task, view, this.deps.strategy);
        if (choice.kind === 'node') {
          reserve(choice.node, task);
          plans.push({ taskId: task.id, nodeId: choice.node.id });
          byTask.set(task.id, p);
        } else if (choice.kind === 'wait') waits.push({ p, task, reason: choice.reason });
        else never.push({ p, task, reason: choice.reason });
      }
      for (const n of never) await this.failNever(n.p, n.task, n.reason);
      await this.wait(waits);
      const { placed, refused, gone } = await tasks.placeMany(plans);
      for (const t of placed) {
        this.deps.onPlaced?.(t);
        handOver.push(t);
      }
      for (const id of gone) byTask.get(id)!.settle();
      // Room is left after this batch: tasks that were waiting may fit now (a node that came
      // up frees room for many more than one wake brings back).
      if (placed.length > 0 && waits.length === 0) void wakeWaitingTasks(this.deps.pendingQueue).catch(() => undefined);
      // A node that changed since the choice (drained, or room taken): choose again.
      const again = new Set(refused);
      undecided = undecided.filter((e) => again.has(e.data.taskId));
    }
    for (const { p } of undecided) {
      await p.value.job.moveToDelayed(Date.now() + WAIT_RETRY_MS, p.value.token);
      p.settle(new DelayedError());
    }
    // The next batch is decided while this one's tasks are handed to their nodes; their jobs
    // end only once handed over (a crash before leaves them to be taken again, and a placed
    // task is then handed over again).
    const tail = (async () => {
      if (placedBefore.length > 0) handOver.push(...(await tasks.getMany(placedBefore)).filter((t) => t.status === 'scheduled' && t.nodeId));
      await this.handOverAll(handOver);
      for (const { p } of entries) p.settle();
    })();
    return { tail };
  }

  /** Fails a task that can never run here (it may release or skip workflow children). */
  private async failNever(p: Pending, task: PlacementRequest, reason: string): Promise<void> {
    const failed = await this.deps.tasks.failQueued(task.id, reason);
    if (failed) {
      this.deps.onFailed?.(failed.task);
      await enqueuePending(this.deps.pendingQueue, failed.released);
    }
    p.settle();
  }

  /**
   * Tasks that fit nowhere now step aside: their status_reason says why, and their job is
   * delayed until capacity changes (wakeWaitingTasks) or the failsafe delay passes.
   */
  private async wait(waits: Array<{ p: Pending; task: PlacementRequest; reason: string }>): Promise<void> {
    if (waits.length === 0) return;
    await this.deps.tasks.setStatusReasons(waits.filter((w) => w.task.statusReason !== w.reason).map((w) => ({ taskId: w.task.id, reason: w.reason })), 'queued');
    await Promise.all(
      waits.map(async ({ p, task }) => {
        // Aging: a waiting task moves up one priority class per aging_seconds waited, so a
        // steady flow of higher-priority work cannot starve it. (On a delayed job BullMQ keeps
        // the new priority for when the job is promoted.)
        const aged = agedPriority(task.priority, task.createdAt, this.deps.agingSeconds);
        if (aged !== p.value.job.priority) await p.value.job.changePriority({ priority: aged });
        await p.value.job.moveToDelayed(Date.now() + waitFailsafeMs(p.value.job.attemptsStarted), p.value.token);
        p.settle(new DelayedError());
      }),
    );
  }

  /** Gives placed tasks their node jobs again (the reconciler found them lost). */
  async restorePlaced(ids: string[]): Promise<void> {
    const rows = await this.deps.tasks.getMany(ids);
    await this.handOverAll(rows.filter((t) => t.status === 'scheduled' && t.nodeId));
  }

  /** Adds each placed task's job to its node's queue (one bulk add per node). */
  private async handOverAll(placed: TaskRow[]): Promise<void> {
    const byNode = new Map<string, TaskRow[]>();
    for (const t of placed) {
      const list = byNode.get(t.nodeId as string) ?? [];
      list.push(t);
      byNode.set(t.nodeId as string, list);
    }
    await Promise.all([...byNode].map(([nodeId, list]) => this.nodeQueue(nodeId).addBulk(list.map((t) => this.nodeJob(t)))));
  }

  private nodeJob(task: TaskRow) {
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
      outputs: Object.fromEntries(Object.entries(task.outputSpec ?? {}).map(([name, o]) => [name, o.path])),
      // The worker enforces it again on the container (submit already refused what it forbids).
      security: { allowHostNetwork: policyFor(this.deps.tenantPolicies ?? {}, task.tenant).allow_host_network, allowHostMounts: false, mounts: [] },
    };
    return {
      name: 'run',
      data,
      opts: {
        jobId: `${task.id}-a${task.attempts}`,
        // Kept an hour after it ran: its id then still dedupes a repeated hand-over, and the
        // reconciler can tell "ran" from "lost with Redis".
        removeOnComplete: { age: 3600, count: 10_000 },
        removeOnFail: { count: 1000 },
      },
    };
  }
}
