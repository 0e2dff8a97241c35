// Marks nodes whose heartbeats stopped: unhealthy after a few missed beats, offline after
// offline_seconds, when its tasks are put back in the pending queue to be placed again
// (attempt + 1). A crash between the two leaves queued tasks the reconciler enqueues.
// Silence the control plane could not hear is no node's fault: it is counted only while the
// database answers this check and some node is heard. And a cancel a node still runs (its
// telling lost with the control plane that recorded it) is told again.
import type { Redis } from 'ioredis';
import type { RedisNames } from '../scheduler/queues.ts';
import type { Logger } from 'pino';
import type { PendingQueues } from '../scheduler/pending.ts';
import type { ListedAttempt, NodeStore } from '../state/node-store.ts';
import type { TaskStore } from '../state/task-store.ts';
import type { CloseOptions, Part } from '../lifecycle/part.ts';
import { heartbeatPeriodSeconds, silenceSeconds } from '../domain/heartbeats.ts';
import type { LostReason } from './metrics.ts';

export class NodeHealthMonitor implements Part {
  private timer: NodeJS.Timeout | null = null;
  /** When the nodes' lists were last compared with the tasks (compareLists). */
  private listsCheckedAt = 0;
  /** Cancelled attempts told again, and still listed at the last look (each is logged once). */
  private toldAgain = new Map<string, number>();
  /** Since when this check has not been able to read the nodes (the database away); null: it can. */
  private unansweredSince: number | null = null;
  /** Whether the last check heard none of several live nodes (see check()). */
  private hearsNone = false;
  /** Since when no node has been heard (while hearsNone). */
  private hearsNoneSince = 0;

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
      /** nodes.unheard_hold_seconds: while no node at all is heard, how long none goes offline. */
      unheardHoldSeconds: number;
      maxHeartbeatsPerSecond: number;
      /** Attempts taken back from their node (counted by jarvis_task_attempts_lost_total). */
      onLost?: (reason: LostReason, count: number) => void;
      /**
       * Tells the nodes again to stop these cancelled attempts (control/queueing.ts,
       * tellNodesAgain: the attempt's key, only ever raised, and message); false when Redis refused.
       */
      tellCancels?: (attempts: Array<{ id: string; attempt: number }>) => Promise<boolean>;
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
      let hearing: Awaited<ReturnType<NodeStore['hearing']>>;
      try {
        hearing = await nodes.hearing();
      } catch (err) {
        this.unansweredSince ??= now;
        throw err;
      }
      if (this.unansweredSince !== null) {
        // The database was away: heartbeats could not be recorded meanwhile (nor, maybe, for a
        // while after: a node's next one comes up to a period later). As after an election,
        // silence counts from now, or every node whose next heartbeat had not landed yet went
        // offline and what it ran was placed again while it still ran.
        logger.warn({ unanswered_ms: now - this.unansweredSince }, 'node health: the database answers again; silence is counted from now');
        this.unansweredSince = null;
        this.watchingSince = Math.max(this.watchingSince, now);
      }
      this.periodSeconds = heartbeatPeriodSeconds(hearing.live, heartbeatSeconds, maxHeartbeatsPerSecond);
      const silence = silenceSeconds(this.periodSeconds, unhealthyAfterMissed, offlineSeconds);
      // Several live nodes and none heard for `unhealthy` periods: more likely the control plane
      // cannot hear (every API process down, or unable to write heartbeats) than all of them
      // dead at once. None is taken for offline until one is heard again, and silence then counts
      // from that moment. At the last check that heard one, every node still heartbeating had
      // been heard within `unhealthy` plus about a period, short of `offline` (two periods more),
      // so none went offline for this silence before it was seen. A lone node's silence is its
      // own (nothing tells the two apart): it goes offline as before.
      const hearsNone = hearing.live >= 2 && (hearing.lastHeardAt === null || now - hearing.lastHeardAt.getTime() > silence.unhealthy * 1000);
      if (hearsNone !== this.hearsNone) {
        if (hearsNone) {
          this.hearsNoneSince = now;
          logger.warn(
            { live: hearing.live, last_heard_at: hearing.lastHeardAt },
            `node health: no node heard lately; none is taken for offline until one is, or for ${this.deps.unheardHoldSeconds} s (nodes.unheard_hold_seconds)`,
          );
        } else if (hearing.live >= 2) {
          logger.warn('node health: a node is heard again; silence is counted from now');
          this.watchingSince = Math.max(this.watchingSince, now);
        } else {
          // Not heard: the hold ended and the silent nodes went offline (fewer than two live).
          logger.warn({ live: hearing.live }, 'node health: no node was heard for nodes.unheard_hold_seconds; the silent nodes are offline');
        }
        this.hearsNone = hearsNone;
      }
      // A node is silent for `seconds` when neither it nor this process's watch began since.
      const silentFor = (seconds: number) => (now - seconds * 1000 > this.watchingSince ? new Date(now - seconds * 1000) : null);
      // Held for at most nodes.unheard_hold_seconds: the whole cluster may really have died (a
      // host running every worker), and then its nodes must still go offline (the alert, the
      // delete, the tasks placed again once a node is back).
      const hold = hearsNone && now - this.hearsNoneSince < this.deps.unheardHoldSeconds * 1000;
      const changed = await nodes.markSilent(silentFor(silence.unhealthy), hold ? null : silentFor(silence.offline));
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
      await this.compareLists();
    } catch (err) {
      logger.warn({ err }, 'node health: check failed; will try again');
    }
  }

  /**
   * The nodes' latest lists against the tasks, once per heartbeat period (heartbeats are what
   * they are compared with): one read (NodeStore.compareLists) serves both checks below.
   */
  private async compareLists(): Promise<void> {
    if (Date.now() - this.listsCheckedAt < this.periodSeconds * 1000) return;
    this.listsCheckedAt = Date.now();
    const graceSeconds = 2 * this.periodSeconds;
    const { unlistedRunning, listedCancelled } = await this.deps.nodes.compareLists(graceSeconds, new Date(Date.now() - graceSeconds * 1000));
    // The cancels are told again even when Redis fails the first check.
    let failed: { err: unknown } | null = null;
    try {
      await this.requeueLostAttempts(unlistedRunning);
    } catch (err) {
      failed = { err };
    }
    await this.tellCancelsAgain(listedCancelled);
    if (failed) throw failed.err;
  }

  /**
   * A task recorded as running on a live node that the node's heartbeats stopped listing, and
   * whose "finished" report is not waiting in the events queue, lost its report (Redis lost
   * it): it is placed again. Two heartbeats of grace cover a report on its way. A report is
   * known to wait by its attempt's record, which the worker marks `reported` once the report's
   * job is queued (worker/reports.ts: a job carries many reports), or, from an older worker, by
   * the report's own job id.
   */
  private async requeueLostAttempts(unlisted: ListedAttempt[]): Promise<void> {
    const { tasks, redis, names, logger } = this.deps;
    for (const t of unlisted) {
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

  /**
   * A task cancelled more than two heartbeat periods ago that a live node still lists as running
   * may never have been told (the control plane stopped between recording the cancel and telling
   * the nodes; it tells in memory only): the nodes are told again, once a period while it stays
   * listed. Telling is idempotent (the attempt's key is only ever raised) and names the attempt
   * the task had when cancelled, so it never stops a retry's later one. A node that took the cancel
   * and stops the container lists it for a moment more: told again, it changes nothing.
   */
  private async tellCancelsAgain(listed: ListedAttempt[]): Promise<void> {
    const { logger, tellCancels } = this.deps;
    if (!tellCancels) return;
    const found = new Map<string, { attempt: number; node: string }>();
    for (const t of listed) found.set(t.id, { attempt: t.attempts, node: t.nodeName });
    for (const id of this.toldAgain.keys()) if (!found.has(id)) this.toldAgain.delete(id);
    if (found.size === 0) return;
    if (!(await tellCancels([...found].map(([id, t]) => ({ id, attempt: t.attempt }))))) {
      logger.warn({ task_ids: [...found.keys()] }, 'node health: nodes still run cancelled tasks and Redis refused the cancel; telling them again in a heartbeat period');
      return;
    }
    for (const [id, t] of found) {
      if (this.toldAgain.get(id) === t.attempt) continue;
      this.toldAgain.set(id, t.attempt);
      logger.warn({ task_id: id, attempt: t.attempt, node: t.node }, `node health: node ${t.node} still runs a task cancelled earlier; telling it again to stop attempt ${t.attempt}`);
    }
  }

  /** Stops the checks (see lifecycle/part.ts); start() may begin them again (a replica elected anew). */
  async close(_options?: CloseOptions): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
