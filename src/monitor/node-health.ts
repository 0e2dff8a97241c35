// Marks nodes whose heartbeats stopped: unhealthy after a few missed beats, offline after
// offline_seconds, when its tasks are put back in the pending queue to be placed again
// (attempt + 1). A crash between the two leaves queued tasks the reconciler enqueues.
import type { Redis } from 'ioredis';
import type { RedisNames } from '../scheduler/queues.ts';
import type { Logger } from 'pino';
import type { PendingQueues } from '../scheduler/pending.ts';
import type { NodeStore } from '../state/node-store.ts';
import type { TaskStore } from '../state/task-store.ts';
import type { CloseOptions, Part } from '../lifecycle/part.ts';
import { heartbeatPeriodSeconds, silenceSeconds } from '../domain/heartbeats.ts';
import type { LostReason } from './metrics.ts';

export class NodeHealthMonitor implements Part {
  private timer: NodeJS.Timeout | null = null;
  private lostCheckedAt = 0;

  constructor(
    private readonly deps: {
      nodes: NodeStore;
      tasks: TaskStore;
      pending: PendingQueues;
      redis: Redis;
      names: RedisNames;
      logger: Logger;
      heartbeatSeconds: number;
      unhealthyAfterMissed: number;
      offlineSeconds: number;
      maxHeartbeatsPerSecond: number;
      /** Attempts taken back from their node (counted by jarvis_task_attempts_lost_total). */
      onLost?: (reason: LostReason, count: number) => void;
    },
  ) {
    this.periodSeconds = deps.heartbeatSeconds;
  }

  /** The heartbeat period nodes keep now, seconds: longer in a large cluster (domain/heartbeats.ts). */
  private periodSeconds: number;

  /**
   * When this process began to watch (its election). Silence is counted from then at the
   * earliest: a control plane back from a stop longer than offline_seconds last heard from every
   * node before it stopped, and took each whose next heartbeat had not come yet for offline,
   * placing what it ran again while it still ran.
   */
  private watchingSince = Date.now();

  start(): void {
    if (this.timer) return;
    this.watchingSince = Date.now();
    this.timer = setInterval(() => void this.check(), 1_000);
  }

  async check(): Promise<void> {
    const { nodes, logger, heartbeatSeconds, unhealthyAfterMissed, offlineSeconds, maxHeartbeatsPerSecond } = this.deps;
    const now = Date.now();
    try {
      this.periodSeconds = heartbeatPeriodSeconds(await nodes.countLive(), heartbeatSeconds, maxHeartbeatsPerSecond);
      const silence = silenceSeconds(this.periodSeconds, unhealthyAfterMissed, offlineSeconds);
      // A node is silent for `seconds` when neither it nor this process's watch began since.
      const silentFor = (seconds: number) => (now - seconds * 1000 > this.watchingSince ? new Date(now - seconds * 1000) : null);
      const changed = await nodes.markSilent(silentFor(silence.unhealthy), silentFor(silence.offline));
      for (const n of changed) logger.warn({ node_id: n.id, node: n.name, status: n.status }, `node ${n.name} is ${n.status}: no heartbeat`);
      // Every offline node still holding tasks, not only those that just went offline: a crash
      // between marking a node offline and taking its tasks back must not strand them.
      for (const n of await this.deps.nodes.offlineHoldingTasks()) {
        const again = await this.deps.tasks.requeueFromNode(n.id, n.name);
        if (again.length === 0) continue;
        await this.deps.pending.add(again);
        this.deps.onLost?.('node_offline', again.length);
        logger.warn({ node_id: n.id, node: n.name, tasks: again.length }, `node ${n.name} is offline: its tasks are placed again`);
      }
      await this.requeueLostAttempts();
    } catch (err) {
      logger.warn({ err }, 'node health: check failed; will try again');
    }
  }

  /**
   * A task recorded as running on a live node that the node's heartbeats stopped listing, and
   * whose "finished" report is not waiting in the events queue, lost its report (Redis lost
   * it): it is placed again. Two heartbeats of grace cover a report on its way. A report is
   * known to wait by its attempt's record, which the worker marks `reported` once the report's
   * job is queued (worker/reports.ts: a job carries many reports), or, from an older worker, by
   * the report's own job id.
   */
  private async requeueLostAttempts(): Promise<void> {
    const { tasks, redis, names, logger } = this.deps;
    // Once per heartbeat period is often enough (heartbeats are what it compares against).
    if (Date.now() - this.lostCheckedAt < this.periodSeconds * 1000) return;
    this.lostCheckedAt = Date.now();
    for (const t of await tasks.unlistedRunning(2 * this.periodSeconds)) {
      const [reported, ownJob] = await Promise.all([
        redis.hexists(names.attemptKey(t.id, t.attempts), 'reported'),
        redis.exists(`${names.bullPrefix}:${names.eventsQueue}:finished-${t.id}-a${t.attempts}`),
      ]);
      if (reported === 1 || ownJob === 1) continue;
      const again = await tasks.requeueLost(t.id, t.attempts, `node ${t.nodeName} no longer runs attempt ${t.attempts} and its result was lost; placing it again`);
      if (!again) continue;
      await this.deps.pending.add([again]);
      this.deps.onLost?.('result_lost', 1);
      logger.warn({ task_id: t.id, attempt: t.attempts, node: t.nodeName }, 'node health: an attempt lost its result; placing the task again');
    }
  }

  /** Stops the checks (see lifecycle/part.ts); start() may begin them again (a replica elected anew). */
  async close(_options?: CloseOptions): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
