// The node agent (`jarvis worker`): registers with the control plane, heartbeats, and runs the
// attempts handed to its inbox (worker/node-inbox.ts) through an executor. It has no database:
// an entry carries everything needed to run, output goes to a Redis stream, and results go back
// as messages on the events queue, tagged with the attempt so the control plane can ignore
// stale ones. While the Docker engine is unreachable it takes nothing and says so.
import { hostname, cpus, totalmem } from 'node:os';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { cancelCovers, cancelOf, consumerConnection, parseCancelMessage, NodeJob, redisNames, type RedisNames, type TaskEventJob } from '../scheduler/queues.ts';
import type { Config } from '../config/index.ts';
import type { Executor, RunOutcome } from './executor.ts';
import { hostLoad } from './host-load.ts';
import { LogWriter } from './log-writer.ts';
import { resolveTaskEnv } from './task-env.ts';
import { closeOnce, type CloseOptions, type Part } from '../lifecycle/part.ts';
import { StdoutResult } from '../workflow/outputs.ts';
import type { SecretMasker } from './secret-mask.ts';
import { Reports } from './reports.ts';
import { HEARTBEAT_PERIOD_HEADER } from '../domain/heartbeats.ts';
import { NodeInbox, type InboxEntry } from './node-inbox.ts';
import { takeAttempt, type Taken } from './attempt-commands.ts';
import { Utf8Text } from './utf8-text.ts';
import { GpuSlots } from './gpu-slots.ts';
import { doublingWaitMs } from '../lifecycle/backoff.ts';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * How long past worker.kill_grace_seconds an attempt waits for GPUs a stopping container holds
 * (the SIGKILL landing, the container removed) before it shares them.
 */
const GPU_WAIT_MARGIN_MS = 15_000;

/** How often a worker says at warn that Redis refuses to take its attempts (untilTaken). */
const TAKE_REFUSAL_SAID_EVERY_MS = 60_000;

/**
 * Whose GPUs (gpu-slots.ts): an attempt's, not a task's. A newer attempt of a task handed to
 * this node while the older one's container still stops (the older was lost) waits for the
 * older's cards like any other attempt: keyed by task, it was given them at once, shared.
 */
const cardsKey = (taskId: string, attempt: number) => `${taskId}#${attempt}`;

/** The fields naming an attempt on its log lines. */
interface AttemptFields {
  task_id: string;
  attempt: number;
}

export type AgentState = 'starting' | 'running' | 'engine_unreachable' | 'stopping' | 'stopped';

export interface NodeIdentity {
  id: string;
  name: string;
  token: string;
}

export interface NodeAgentOptions {
  config: Config;
  executor: Executor;
  logger: Logger;
  /** How often the engine is checked while it is away, ms. */
  engineCheckMs?: number;
  /**
   * Connections shared by the agents of one process (many simulated nodes): the caller owns
   * and closes them. Without, the agent opens its own.
   */
  shared?: { connection: Redis; subscriber: Redis; events: Queue; reports: Reports; inbox: NodeInbox };
  /** How to reach the control plane; default the global fetch (src/tls/trusted-fetch.ts: with a CA). */
  fetch?: typeof fetch;
}

export class NodeAgent implements Part {
  state: AgentState = 'starting';
  node: NodeIdentity | null = null;
  private readonly names: RedisNames;
  private readonly connection: Redis;
  private readonly subscriber: Redis;
  private readonly inbox: NodeInbox;
  /** Entries taken from the inbox and not started yet (at most max_tasks run at once). */
  private readonly backlog: InboxEntry[] = [];
  /** Attempts being run, to wait for on close. */
  private readonly inFlight = new Set<Promise<void>>();
  private events: Queue | null = null;
  private eventsRedis: Redis | null = null;
  private reports: Reports | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private engineTimer: NodeJS.Timeout | null = null;
  /** The attempt of each task this node runs now, to stop it on a cancel. */
  private readonly running = new Map<string, { attempt: number; abort: AbortController }>();
  /**
   * Attempts taken and not yet reported (task → attempt): what heartbeats list as running on
   * this node. Both maps are keyed by task, and a task's next attempt can start here while the
   * last one is still being cleaned up (its outcome is reported before its container is removed,
   * and a retry may follow at once): an attempt removes only its own entry.
   */
  private readonly unreported = new Map<string, number>();
  private closer?: (options?: CloseOptions) => Promise<void>;
  /** When a heartbeat last failed (at first: when this agent started) and last succeeded. */
  private heartbeatFailedAt = Date.now();
  private heartbeatOkAt = 0;
  /** Whether heartbeats say when their list was drawn up (an older control plane refuses the field). */
  private sendsListedAt = true;
  /** Whether heartbeats while stopping say so (false after a control plane older than the field refused it). */
  private sendsStopping = true;
  /** Set once a clean stop's last heartbeat is under way: no heartbeat is scheduled after it. */
  private heartbeatsOver = false;
  private heartbeatPeriodMs: number;
  /** What this node offers, read once (os.cpus() reads /proc/cpuinfo each time). */
  private readonly capacity: { cpu: number; memory_mb: number; gpu: number; max_tasks: number };
  /** Which of the node's GPUs each running attempt holds. */
  private readonly gpus: GpuSlots;
  private readonly onCancelMessage = (channel: string, message: string) => {
    if (channel !== this.names.attemptCancelChannel) return;
    const { taskId, value } = parseCancelMessage(message);
    const run = this.running.get(taskId);
    // A cancel told late (Redis was away) must not stop a retry's later attempt.
    if (run && cancelCovers(value, run.attempt)) run.abort.abort();
  };

  constructor(private readonly opts: NodeAgentOptions) {
    this.names = redisNames(opts.config.redis.prefix);
    this.heartbeatPeriodMs = opts.config.worker.heartbeat_seconds * 1000;
    const c = opts.config.worker.capacity;
    const cores = cpus().length;
    this.capacity = { cpu: c.cpu ?? cores, memory_mb: c.memory_mb ?? Math.floor(totalmem() / 1024 / 1024), gpu: c.gpu, max_tasks: c.max_tasks ?? cores * 4 };
    this.gpus = new GpuSlots(this.capacity.gpu);
    this.connection = opts.shared?.connection ?? consumerConnection(opts.config.redis.url, {}, { pipelined: opts.config.redis.auto_pipeline });
    this.subscriber = opts.shared?.subscriber ?? consumerConnection(opts.config.redis.url);
    this.inbox = opts.shared?.inbox ?? new NodeInbox({ connection: this.connection, names: this.names, logger: opts.logger });
    if (!opts.shared) {
      this.connection.on('error', (err) => opts.logger.debug({ err }, 'worker: redis connection error'));
      this.subscriber.on('error', (err) => opts.logger.debug({ err }, 'worker: redis subscriber error'));
    }
  }

  async start(): Promise<void> {
    const { logger } = this.opts;
    const engineOk = await this.engineAnswers();
    if (!engineOk) this.state = 'engine_unreachable';
    this.node = await this.register();
    logger.info({ node_id: this.node.id, node: this.node.name, capacity: this.capacity }, 'worker: registered');
    this.events = this.opts.shared?.events ?? new Queue(this.names.eventsQueue, { connection: this.openEventsConnection(), prefix: this.names.bullPrefix });
    this.reports = this.opts.shared?.reports ?? new Reports(this.events, { connection: this.connection, names: this.names }, logger);
    await this.subscriber.subscribe(this.names.attemptCancelChannel);
    this.subscriber.on('message', this.onCancelMessage);
    if (engineOk) {
      await this.sweepLeftovers();
      this.state = 'running';
    }
    // A worker killed mid-task gets back, at once, what it took and did not finish (and adopts
    // the containers); while the engine is away nothing is taken.
    await this.inbox.join(this.node.id, (entries) => this.take(entries), !engineOk);
    this.scheduleEngineCheck();
    await this.heartbeat();
    this.scheduleHeartbeat();
  }

  /**
   * The events queue's own connection. BullMQ defines its ~50 scripts on the connection it is
   * given, and ioredis copies them onto every pipeline of that connection, the auto-pipeline of
   * each turn of the event loop included: the node's own commands (inbox, logs, attempt records)
   * stay on a connection without them.
   */
  private openEventsConnection(): Redis {
    const { config, logger } = this.opts;
    this.eventsRedis = consumerConnection(config.redis.url, {}, { pipelined: config.redis.auto_pipeline });
    this.eventsRedis.on('error', (err) => logger.debug({ err }, 'worker: redis connection error (events)'));
    return this.eventsRedis;
  }

  private async engineAnswers(): Promise<boolean> {
    try {
      await this.opts.executor.ping();
      return true;
    } catch (err) {
      if (this.state !== 'engine_unreachable') {
        this.opts.logger.error(
          { err: { message: (err as Error).message } },
          `worker: ${(err as Error).message} — taking no jobs until it answers again`,
        );
      }
      return false;
    }
  }

  private scheduleEngineCheck(): void {
    if (this.opts.executor.alwaysAnswers) return;
    const every = this.opts.engineCheckMs ?? 2_000;
    const tick = async () => {
      if (this.state === 'stopping' || this.state === 'stopped') return;
      const ok = await this.engineAnswers();
      if (!ok && this.state === 'running') {
        this.state = 'engine_unreachable';
        if (this.node) this.inbox.pause(this.node.id, true);
        void this.heartbeat();
      } else if (ok && this.state === 'engine_unreachable') {
        this.state = 'running';
        this.opts.logger.info('worker: Docker engine answers again; taking jobs');
        if (this.node) this.inbox.pause(this.node.id, false);
        this.pump();
        void this.heartbeat();
      }
      this.engineTimer = setTimeout(tick, every);
    };
    this.engineTimer = setTimeout(tick, every);
  }

  /** POSTs to the control plane; gives up after 30 s unless told otherwise (an answer never comes from one that stalled). */
  private async api(path: string, body: unknown, token?: string, signal: AbortSignal = AbortSignal.timeout(30_000)): Promise<Response> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    return (this.opts.fetch ?? fetch)(new URL(path, this.opts.config.worker.api_url), { method: 'POST', headers, body: JSON.stringify(body), signal });
  }

  private async register(): Promise<NodeIdentity> {
    const { config, logger } = this.opts;
    const name = config.worker.name ?? hostname();
    const body = { name, hostname: hostname(), capacity: this.capacity, labels: config.worker.labels };
    for (let attempt = 1; ; attempt++) {
      if (this.state === 'stopping') throw new Error('worker stopped before it could register');
      try {
        const res = await this.api('/nodes/register', body, config.nodes.registration_token ?? undefined);
        const json = (await res.json()) as { id: string; token: string; detail?: unknown };
        if (res.status === 201) return { id: json.id, name, token: json.token };
        if (res.status === 401) throw new FatalAgentError(`registration refused: ${JSON.stringify(json.detail)}`);
        throw new Error(`registration answered ${res.status}: ${JSON.stringify(json.detail ?? json)}`);
      } catch (err) {
        if (err instanceof FatalAgentError) throw err;
        if (attempt === 1 || attempt % 10 === 0) {
          logger.warn({ err: { message: (err as Error).message } }, `worker: cannot register with the control plane at ${config.worker.api_url} yet; retrying`);
        }
        await new Promise((r) => setTimeout(r, Math.min(200 * attempt, 2_000)));
      }
    }
  }

  /**
   * Whether an attempt must be checked with the control plane before it runs. Not when it was
   * handed over after the last heartbeat that failed (or this agent's start) and heartbeats have
   * been answered since, the last one recently: a node's attempts are taken from it only after
   * offline_seconds without heartbeats, so that attempt is still this node's. This spares the
   * control plane a request per task, which at thousands of tasks a second is most of its work.
   */
  private mayHaveLost(entry: InboxEntry): boolean {
    const answered = entry.at > this.heartbeatFailedAt && Date.now() - this.heartbeatOkAt < 2 * this.heartbeatPeriodMs;
    return !answered || entry.redelivered;
  }

  /**
   * Does the control plane still give this attempt to this node? null when it cannot be asked
   * (then the attempt goes ahead: a result for an attempt it lost is ignored there anyway).
   */
  private async owns(taskId: string, attempt: number): Promise<boolean | null> {
    try {
      if (!this.node) return null;
      // The node's own route, with its own token: works whether or not the API needs keys.
      const url = new URL(`/nodes/${this.node.id}/attempts/${taskId}?attempt=${attempt}`, this.opts.config.worker.api_url);
      const res = await (this.opts.fetch ?? fetch)(url, { headers: { authorization: `Bearer ${this.node.token}` }, signal: AbortSignal.timeout(5_000) });
      if (!res.ok) return null;
      return ((await res.json()) as { owned: boolean }).owned;
    } catch {
      return null;
    }
  }

  /**
   * Heard again after failed heartbeats: attempts still running here that the control plane
   * placed again meanwhile (this node went offline for it) are stopped, so a task does not go on
   * running twice (hours, for a long one) with this node's result ignored.
   */
  private async stopLostAttempts(): Promise<void> {
    for (const [taskId, run] of [...this.running]) {
      if ((await this.owns(taskId, run.attempt)) !== false || run.abort.signal.aborted) continue;
      run.abort.abort();
      this.opts.logger.warn({ task_id: taskId, attempt: run.attempt }, 'worker: stopped an attempt this node no longer owns: it was placed again while this node could not reach the control plane');
    }
  }

  /**
   * After a restart: containers of attempts this node no longer owns are killed; those it still
   * owns are left for their inbox entries, which come back as redelivered, and which then adopt them.
   */
  private async sweepLeftovers(): Promise<void> {
    const executor = this.opts.executor;
    if (!executor.leftovers || !executor.discard || !this.node) return;
    try {
      for (const c of await executor.leftovers(this.node.id)) {
        const owned = await this.owns(c.taskId, c.attempt);
        if (owned === false) {
          await executor.discard(c.taskId, c.attempt);
          this.opts.logger.warn({ task_id: c.taskId, attempt: c.attempt }, 'worker: killed the container of an attempt this node no longer owns');
        } else {
          this.opts.logger.info({ task_id: c.taskId, attempt: c.attempt }, 'worker: found the container of an attempt it still owns; its inbox entry will adopt it');
          this.gpus.reserve(cardsKey(c.taskId, c.attempt), c.gpus ?? []);
          // Listed as running in heartbeats until its entry is taken again (at once, unless the
          // attempt was reported and only its container was left), so the control plane does
          // not think it lost.
          this.unreported.set(c.taskId, c.attempt);
          setTimeout(() => {
            if (!this.running.has(c.taskId) && this.unreported.get(c.taskId) === c.attempt) this.unreported.delete(c.taskId);
          }, 120_000).unref();
        }
      }
    } catch (err) {
      this.opts.logger.warn({ err: { message: (err as Error).message } }, 'worker: could not look for leftover containers');
    }
  }

  /**
   * The next heartbeat, one period from now. The period is worker.heartbeat_seconds until the
   * control plane answers with its own (takePeriod); a longer one than worker.heartbeat_seconds
   * (a large cluster: domain/heartbeats.ts) is varied by up to a tenth, so nodes that started
   * together do not beat together.
   */
  private scheduleHeartbeat(): void {
    const base = this.opts.config.worker.heartbeat_seconds * 1000;
    const wait = this.heartbeatPeriodMs > base ? this.heartbeatPeriodMs * (0.9 + Math.random() * 0.1) : this.heartbeatPeriodMs;
    this.heartbeatTimer = setTimeout(() => {
      void this.heartbeat().finally(() => {
        if (this.state !== 'stopped' && !this.heartbeatsOver) this.scheduleHeartbeat();
      });
    }, wait);
  }

  /**
   * The period the control plane asked for (HEARTBEAT_PERIOD_HEADER): it judges this node's
   * silence by it. The worker's own worker.heartbeat_seconds holds only until the first answer;
   * a longer one kept afterwards had the node taken for offline, and its tasks run again, by a
   * control plane on the default period.
   */
  private takePeriod(res: Response): void {
    const asked = Number(res.headers.get(HEARTBEAT_PERIOD_HEADER));
    if (!Number.isFinite(asked) || asked <= 0) return;
    const own = this.opts.config.worker.heartbeat_seconds;
    if (own > asked && !this.saidPeriod) {
      this.saidPeriod = true;
      this.opts.logger.warn(
        { heartbeat_seconds: own, control_plane_seconds: asked },
        `worker: heartbeating every ${asked} s as the control plane asks, not every ${own} s (worker.heartbeat_seconds): it takes a node silent for longer for offline; set the period on the control plane`,
      );
    }
    this.heartbeatPeriodMs = Math.min(600_000, Math.max(100, asked * 1000));
  }
  private saidPeriod = false;

  /** The heartbeat under way, if any: a clean stop's last one goes after it (else it could land second). */
  private beating: Promise<void> | null = null;

  private heartbeat(): Promise<void> {
    const beat = this.beat();
    this.beating = beat;
    void this.sweepCancels();
    return beat;
  }

  /**
   * Cancels whose message this node missed (its subscriber was reconnecting, or Redis was away
   * when the control plane published): the key the control plane sets with each cancel is read
   * for the attempts running here, once a heartbeat, so a missed cancel is applied within a
   * period instead of never (until the timeout, or for ever without one).
   */
  private async sweepCancels(): Promise<void> {
    const ids = [...this.running.keys()];
    if (ids.length === 0) return;
    try {
      const flags = await this.connection.mget(...ids.flatMap((id) => [this.names.attemptCancelKey(id), this.names.cancelKey(id)]));
      ids.forEach((id, i) => {
        const run = this.running.get(id);
        if (!run || run.abort.signal.aborted || !cancelCovers(cancelOf(flags[2 * i], flags[2 * i + 1]), run.attempt)) return;
        this.opts.logger.warn({ task_id: id }, 'worker: a cancel this node had not heard of (its message was lost); stopping the task');
        run.abort.abort();
      });
    } catch {
      // Redis away: the next heartbeat reads them again.
    }
  }

  /**
   * One heartbeat. Without a signal it gives up after a period (10 s at least), so a control
   * plane that accepts the connection and never answers does not hold back the heartbeats after
   * it, nor a clean stop.
   */
  private async beat(signal: AbortSignal = AbortSignal.timeout(Math.max(10_000, this.heartbeatPeriodMs))): Promise<void> {
    if (!this.node) return;
    try {
      const { cpuPercent, mem } = await hostLoad();
      const path = `/nodes/${this.node.id}/heartbeat`;
      const stopping = this.state === 'stopping';
      const body = () => ({
        cpu_percent: Math.round(cpuPercent * 10) / 10,
        memory_used_mb: Math.round(mem.active / 1024 / 1024),
        running_task_ids: [...this.unreported.keys()],
        engine: this.state === 'engine_unreachable' ? 'unreachable' : 'ok',
        // By this process's clock, as its tasks' started reports: the control plane judges a
        // task this list leaves out by when the list was drawn up, not by when it arrived.
        ...(this.sendsListedAt ? { listed_at: listedAt } : {}),
        ...(stopping && this.sendsStopping ? { stopping: true } : {}),
      });
      const listedAt = new Date().toISOString();
      let res = await this.api(path, body(), this.node.token, signal);
      if (res.status === 422 && (this.sendsListedAt || this.sendsStopping)) {
        // A control plane older than this worker (a rolling upgrade that began with the workers).
        const refused = await refusedFields(res);
        if (refused.includes('listed_at') && this.sendsListedAt) {
          this.sendsListedAt = false;
          this.opts.logger.warn(
            'worker: the control plane does not take listed_at (it is older than this worker); heartbeats go without it until this worker restarts. Upgrade the control plane: until then, one that stalls for two heartbeat periods may place a running task again',
          );
        }
        if (refused.includes('stopping') && this.sendsStopping) {
          this.sendsStopping = false;
          this.opts.logger.warn('worker: the control plane does not take stopping (it is older than this worker); it may place tasks on this node until the node goes offline. Upgrade the control plane');
        }
        if (refused.length > 0) res = await this.api(path, body(), this.node.token, signal);
      }
      if (res.ok) {
        // Away long enough to have been taken for offline: silent for at least three periods
        // (domain/heartbeats.ts); two here, as this clock is not the control plane's.
        const wasAway = this.heartbeatFailedAt > this.heartbeatOkAt && Date.now() - this.heartbeatOkAt >= 2 * this.heartbeatPeriodMs;
        this.heartbeatOkAt = Date.now();
        this.takePeriod(res);
        if (wasAway) void this.stopLostAttempts();
      } else this.heartbeatFailedAt = Date.now();
      if (res.status === 404) {
        // Deleted: its inbox is gone from Redis, and reading on would make it again, for ever.
        this.inbox.leave(this.node.id);
        this.opts.logger.error({ node_id: this.node.id }, 'worker: the control plane no longer knows this node (deleted?); restart the worker to register it again');
      } else if (!res.ok) this.opts.logger.warn({ status: res.status }, 'worker: heartbeat refused');
      if (!res.bodyUsed) await res.body?.cancel(); // a 422 read for its fields was consumed
    } catch (err) {
      this.heartbeatFailedAt = Date.now();
      if (this.state === 'stopping') this.opts.logger.debug({ err: { message: (err as Error).message } }, 'worker: a heartbeat while stopping failed');
      else this.opts.logger.warn({ err: { message: (err as Error).message } }, 'worker: heartbeat failed; will retry');
    }
  }

  /** Retried by BullMQ if recording fails (database briefly away, a lock conflict); see reports.ts. */
  private report(event: Extract<TaskEventJob, { type: 'finished' }>): Promise<void> {
    return this.reports!.finished(event);
  }

  /** Entries from the inbox: run at once while there is a free slot, else when one frees. */
  private take(entries: InboxEntry[]): void {
    this.backlog.push(...entries);
    this.pump();
  }

  private pump(): void {
    const node = this.node;
    while (node && this.state === 'running' && this.inFlight.size < this.capacity.max_tasks && this.backlog.length > 0) {
      const entry = this.backlog.shift() as InboxEntry;
      // The entry is done only once the attempt's report is queued. One whose attempt failed
      // unexpectedly or whose report could not be queued (Redis refused it for minutes, or the
      // worker was forced to stop) stays pending and this node stops listing the attempt; the
      // next start of this worker finds the entry and asks whether the attempt is still its own
      // (owns): dropped if not, run again if the control plane has not taken it back yet or cannot
      // be asked. (Taking the attempt is tried again in place: untilTaken.)
      const run: Promise<void> = this.process(entry)
        .then(
          () =>
            this.inbox
              .done(node.id, entry.id, attemptOf(entry.job))
              .catch((err) => this.opts.logger.warn({ err: { message: (err as Error).message } }, 'worker: could not mark an attempt done in Redis; it is taken again at the next start')),
          (err) =>
            this.opts.logger.error(
              { task_id: attemptOf(entry.job)?.taskId, attempt: attemptOf(entry.job)?.attempt, err },
              'worker: an attempt failed unexpectedly or its report could not reach Redis; its inbox entry stays pending until this worker starts again, which asks the control plane whether the attempt is still its own and runs it again if so',
            ),
        )
        .finally(() => {
          this.inFlight.delete(run);
          this.pump();
        });
      this.inFlight.add(run);
    }
  }

  private async process(entry: InboxEntry): Promise<void> {
    const parsed = NodeJob.safeParse(entry.job);
    if (!parsed.success) {
      // An entry this worker cannot read (a newer control plane?): report it, so the task fails
      // visibly instead of staying "scheduled" for ever.
      const which = attemptOf(entry.job);
      const problem = `worker could not read its job: ${parsed.error.message}`;
      this.opts.logger.error({ task_id: which?.taskId, attempt: which?.attempt }, problem);
      if (which && Number.isInteger(which.attempt) && this.node) {
        const now = new Date().toISOString();
        await this.report({
          type: 'finished', taskId: which.taskId, attempt: which.attempt, nodeId: this.node.id, status: 'error', exitCode: null,
          error: problem, startedAt: null, finishedAt: now, truncated: false, outputs: null, result: null,
        });
      }
      return;
    }
    const spec = parsed.data;
    // The attempt's fields on each of its log lines (a child logger per attempt was ~0.4 kB held
    // for the whole run: many simulated nodes hold 100,000 runs).
    const at: AttemptFields = { task_id: spec.taskId, attempt: spec.attempt };
    if (this.mayHaveLost(entry) && (await this.owns(spec.taskId, spec.attempt)) === false) {
      // Placed elsewhere since (this node was offline), or cancelled: nothing to run or report.
      // The cards sweepLeftovers reserved for its container (while ownership was unknown) go back.
      await this.opts.executor.discard?.(spec.taskId, spec.attempt).catch(() => false);
      this.gpus.release(cardsKey(spec.taskId, spec.attempt));
      this.opts.logger.info(at, 'worker: skipping a job for an attempt this node no longer owns');
      return;
    }
    const older = this.running.get(spec.taskId);
    if (older && older.attempt < spec.attempt) {
      // The control plane hands over a newer attempt only once it took the older one back (this
      // node was offline for it): the older one is lost, its result would be ignored.
      older.abort.abort();
      this.opts.logger.warn({ ...at, lost_attempt: older.attempt }, 'worker: stopped an attempt this node no longer owns: it was handed a newer attempt of the same task');
    }
    const abort = new AbortController();
    this.running.set(spec.taskId, { attempt: spec.attempt, abort });
    this.unreported.set(spec.taskId, spec.attempt);
    try {
      await this.runAndReport(spec, abort, at, entry.redelivered);
    } finally {
      if (this.unreported.get(spec.taskId) === spec.attempt) this.unreported.delete(spec.taskId);
      // An attempt that ended without running (withdrawn, reported) leaves the running ones here,
      // and gives back the GPUs a container it left before a restart held (sweepLeftovers): kept,
      // they went to no later attempt, and each heartbeat read the task's cancel keys for ever.
      if (this.running.get(spec.taskId)?.abort === abort) this.running.delete(spec.taskId);
      this.gpus.release(cardsKey(spec.taskId, spec.attempt));
    }
  }

  /**
   * `redelivered`: the entry came back after a restart, and the attempt's container may still be
   * running here (sweepLeftovers kept it for this entry to adopt). An attempt that ends without
   * the executor running it must then remove that container: nothing else would wait for it,
   * enforce its timeout or remove it, and its GPUs go to other attempts once this one reports.
   */
  private async runAndReport(spec: NodeJob, abort: AbortController, at: AttemptFields, redelivered: boolean): Promise<void> {
    const { config } = this.opts;
    const node = this.node as NodeIdentity;
    // A fresh live log for this attempt, whether the task was cancelled before it started, and
    // when the node took it (the attempt's record, beside when it was handed over): one script.
    const keys = {
      logStream: this.names.logStream(spec.taskId),
      cancelKey: this.names.cancelKey(spec.taskId),
      attemptKey: this.names.attemptKey(spec.taskId, spec.attempt),
      attemptCancelKey: this.names.attemptCancelKey(spec.taskId),
    };
    const taken = await this.untilTaken(() => takeAttempt(this.connection, keys, spec.attempt), abort.signal, at);
    if (taken === 'withdrawn') {
      // Given back while this node was stopping (control/nodes.ts): placed again elsewhere.
      if (redelivered) await this.discardLeftover(spec, at, 'withdrawn');
      this.opts.logger.info(at, 'worker: skipping an attempt the control plane withdrew when this node stopped');
      return;
    }
    if (taken === 'reported') {
      // Its report was queued, and this worker stopped before the entry was done: the entry is
      // done now (by the caller), and the task is not run a second time.
      if (redelivered) await this.discardLeftover(spec, at, 'reported');
      this.opts.logger.info(at, 'worker: skipping an attempt already reported (this worker stopped before marking its inbox entry done)');
      return;
    }
    const cancelled = taken === 'cancelled';
    // A control plane that cannot answer is asked again until it does, or the attempt is stopped
    // (cancelled, lost): its heartbeats list the attempt meanwhile. A cancelled one needs nothing.
    const { env, masker, problem: secretsProblem } = cancelled
      ? { env: {}, masker: null, problem: null }
      : await resolveTaskEnv(spec, node, (path, body, token, signal) => this.api(path, body, token, signal), {
          signal: abort.signal,
          onRetry: ({ tries, waitMs, error }) => {
            const level = tries === 1 || tries % 10 === 0 ? 'warn' : 'debug';
            this.opts.logger[level]({ ...at, tries, wait_ms: waitMs, error }, "worker: cannot get the task's secrets from the control plane yet; asking again");
          },
        });
    const logCapBytes = spec.logCapBytes || config.tasks.log_cap_bytes;
    const writer = new LogWriter(this.connection, this.names.logStream(spec.taskId), spec.attempt, logCapBytes, masker);
    const stdout = new StdoutLastLine(masker?.fork() ?? null);
    let outcome: RunOutcome & { startedAt: Date | null; finishedAt: Date };
    // Reported once: as soon as the executor knows the outcome (before it removes the
    // container), or after run() for outcomes it does not hand over early.
    let reported: Promise<void> | null = null;
    const finish = (o: RunOutcome & { startedAt: Date | null; finishedAt: Date }) => (reported ??= this.reportFinished(spec, o, writer, stdout, at, masker));
    try {
      if (cancelled || abort.signal.aborted) {
        outcome = { status: 'cancelled', exitCode: null, error: 'cancelled before it started', startedAt: null, finishedAt: new Date() };
        if (redelivered) await this.discardLeftover(spec, at, 'cancelled');
      } else if (secretsProblem) {
        outcome = { status: 'error', exitCode: null, error: secretsProblem, startedAt: null, finishedAt: new Date() };
        if (redelivered) await this.discardLeftover(spec, at, 'its secrets could not be had');
      } else {
        const gpuDevices = spec.gpu > 0 ? await this.takeGpus(spec, abort.signal, at) : null;
        // Cancelled in its grace, or its outcome known and its container being removed: an
        // attempt placed meanwhile waits for its cards (takeGpus).
        const ending = () => {
          this.gpus.ending(cardsKey(spec.taskId, spec.attempt));
        };
        abort.signal.addEventListener('abort', ending, { once: true });
        outcome = await this.opts.executor.run(
          {
            taskId: spec.taskId,
            attempt: spec.attempt,
            image: spec.image,
            command: spec.command,
            env,
            cpu: spec.cpu,
            memoryMb: spec.memoryMb,
            gpu: spec.gpu,
            ...(gpuDevices ? { gpuDevices } : {}),
            network: spec.network,
            timeoutSeconds: spec.timeoutSeconds,
            killGraceSeconds: config.worker.kill_grace_seconds,
            labels: { 'jarvis.node_id': node.id },
            taskLabels: spec.labels,
            security: spec.security,
            outputs: spec.outputs,
            logCapBytes,
            // The executor removes the container left here if it ends the attempt without adopting it.
            redelivered,
          },
          {
            signal: abort.signal,
            onOutput: (chunk, stream) => {
              writer.write(chunk, stream);
              if (stream === 'stdout') stdout.push(chunk);
            },
            onOutcome: (o) => {
              ending();
              return finish(o);
            },
            onStarted: async ({ startedAt }) => {
              await this.reports!.started({ type: 'started', taskId: spec.taskId, attempt: spec.attempt, nodeId: node.id, at: startedAt.toISOString() });
            },
          },
        );
      }
    } catch (err) {
      // The engine went away mid-run (the executor rejects only for that): report it in words.
      this.opts.logger.error({ ...at, err }, 'worker: the attempt could not run');
      outcome = { status: 'error', exitCode: null, error: (err as Error).message, startedAt: null, finishedAt: new Date() };
    } finally {
      if (this.running.get(spec.taskId)?.abort === abort) this.running.delete(spec.taskId);
      // Its container is gone (removed, or never made): its cards go back, and an attempt
      // waiting for them (takeGpus) starts.
      this.gpus.release(cardsKey(spec.taskId, spec.attempt));
    }
    await finish(outcome);
  }

  /**
   * The cards this attempt gets (null: none, Docker picks the first ones, shared). The control
   * plane frees a task's GPUs when it cancels it, while its container still runs its kill grace,
   * and may place this attempt here meanwhile: cards held by such an ending attempt (cancelled,
   * lost, or its outcome known and its container being removed) are waited for, up to the grace
   * and GPU_WAIT_MARGIN_MS (a kill the engine refuses may take longer), then shared.
   */
  private async takeGpus(spec: NodeJob, signal: AbortSignal, at: AttemptFields): Promise<string[] | null> {
    const { logger, config } = this.opts;
    const maxWaitMs = config.worker.kill_grace_seconds * 1000 + GPU_WAIT_MARGIN_MS;
    const since = Date.now();
    const cards = await this.gpus.takeWhenFree(cardsKey(spec.taskId, spec.attempt), spec.gpu, {
      signal,
      maxWaitMs,
      onWait: (held) =>
        logger.info({ ...at, gpu: spec.gpu, waits_for: held, max_wait_ms: maxWaitMs }, 'worker: waiting for GPUs a stopping container holds (its task was cancelled or has ended); this attempt starts once they are free'),
    });
    if (!cards && !signal.aborted) {
      logger.warn(
        { ...at, gpu: spec.gpu, gpus: this.capacity.gpu, waited_ms: Date.now() - since },
        'worker: not enough free GPUs for this attempt (more were placed here than the node has, or a stopping container holds them still); Docker picks the first ones, shared',
      );
    }
    return cards;
  }

  /**
   * Takes the attempt, asking Redis again while it refuses (an error reply: OOM, READONLY during
   * a failover, LOADING; or the connection away), 250 ms doubling to 10 s apart, for as long as it
   * refuses: the heartbeats list the attempt meanwhile, so nothing takes it for lost, and it runs
   * once Redis accepts. A take that gave up left the entry pending until the worker's next start,
   * unlisted, and the task waited in `scheduled` until then; ending the attempt instead would need
   * a report through the same Redis. Stopped (cancelled, lost): the attempt is taken for
   * cancelled. While the worker stops, the error is thrown: the entry stays pending for the next
   * start (a graceful stop would otherwise wait for Redis for ever). Redis refuses every attempt
   * of the node at once: the refusal is said at warn once a minute for the node (how many
   * attempts wait, since when), each try at debug, and at info when Redis takes the last one.
   */
  private async untilTaken(take: () => Promise<Taken>, signal: AbortSignal, at: AttemptFields): Promise<Taken> {
    const { logger } = this.opts;
    let refusedAt = 0;
    try {
      for (let tries = 1; ; tries++) {
        try {
          const taken = await take();
          if (refusedAt) {
            const level = this.takesRefused === 1 ? 'info' : 'debug';
            logger[level]({ ...at, tries, refused_for_ms: Date.now() - refusedAt }, 'worker: Redis took the attempt it had refused; it goes on');
          }
          return taken;
        } catch (err) {
          if (signal.aborted) return 'cancelled';
          if (this.state === 'stopping' || this.state === 'stopped') throw err;
          if (!refusedAt) {
            refusedAt = Date.now();
            this.takesRefused++;
          }
          const waitMs = doublingWaitMs(tries, 250, 10_000);
          const say = Date.now() - this.takeRefusalSaidAt >= TAKE_REFUSAL_SAID_EVERY_MS;
          if (say) this.takeRefusalSaidAt = Date.now();
          logger[say ? 'warn' : 'debug'](
            { ...at, tries, wait_ms: waitMs, refused_for_ms: Date.now() - refusedAt, attempts_waiting: this.takesRefused, err: { message: (err as Error).message } },
            'worker: Redis refused to take an attempt; trying again (the attempts it refuses wait, listed as running on this node)',
          );
          await sleep(waitMs, undefined, { signal }).catch(() => undefined);
          if (signal.aborted) return 'cancelled';
        }
      }
    } finally {
      if (refusedAt) this.takesRefused--;
    }
  }
  /** Attempts whose take Redis refuses now, and when that was last said at warn (untilTaken). */
  private takesRefused = 0;
  private takeRefusalSaidAt = 0;

  /**
   * Removes the container this attempt may have left running before a restart, when the attempt
   * ends without running (see runAndReport). Its outcome is reported whatever happens here: an
   * engine that cannot be reached is said, and the container is then killed as a leftover at the
   * next start (the control plane no longer gives this node the attempt).
   */
  private async discardLeftover(spec: NodeJob, at: AttemptFields, why: string): Promise<void> {
    try {
      if (await this.opts.executor.discard?.(spec.taskId, spec.attempt)) {
        this.opts.logger.info({ ...at, why }, 'worker: removed the container this attempt left before the restart: the attempt ended without running it');
      }
    } catch (err) {
      this.opts.logger.error({ ...at, why, err: { message: (err as Error).message } }, 'worker: could not remove the container this attempt left before the restart');
    }
  }

  /** Flushes the attempt's output and reports how it ended. */
  private async reportFinished(
    spec: NodeJob,
    outcome: RunOutcome & { startedAt: Date | null; finishedAt: Date },
    writer: LogWriter,
    stdout: StdoutLastLine,
    at: AttemptFields,
    masker: SecretMasker | null,
  ): Promise<void> {
    const node = this.node as NodeIdentity;
    await writer.close().catch((err) => this.opts.logger.error({ ...at, err }, 'worker: some output could not be written to Redis'));
    await this.report({
      type: 'finished',
      taskId: spec.taskId,
      attempt: spec.attempt,
      nodeId: node.id,
      status: outcome.status,
      exitCode: outcome.exitCode,
      error: outcome.error,
      startedAt: outcome.startedAt ? outcome.startedAt.toISOString() : null,
      finishedAt: outcome.finishedAt.toISOString(),
      truncated: writer.truncated,
      // Masked as the logs and result are: outputs reach the API, webhooks and later tasks' commands.
      outputs: outcome.status === 'succeeded' && outcome.outputs ? maskedOutputs(outcome.outputs, masker) : null,
      result: stdout.result(),
    });
    this.opts.logger.info({ ...at, status: outcome.status, exit_code: outcome.exitCode }, 'worker: attempt finished');
  }

  /**
   * Stops taking attempts, waits for running ones, closes connections (see lifecycle/part.ts);
   * force: running attempts are not waited for. What was taken and not started stays pending in
   * the inbox, for the next start.
   */
  close(options?: CloseOptions): Promise<void> {
    this.closer ??= closeOnce(async ({ force }) => {
      this.state = 'stopping';
      // Forced: a report Redis refuses is not tried again (the process would not wait for it).
      if (force && !this.opts.shared) this.reports?.stop();
      if (this.engineTimer) clearTimeout(this.engineTimer);
      if (this.node) this.inbox.leave(this.node.id);
      this.backlog.length = 0;
      if (!force) {
        // Heartbeats go on while running attempts end, each saying the node is stopping: the
        // control plane places nothing more here and gives back what this node had not taken,
        // and the attempts still running are not taken for lost (without heartbeats the node
        // went offline after nodes.offline_seconds, and a longer task ran a second time).
        await this.beating;
        await this.heartbeat();
        await Promise.allSettled([...this.inFlight]);
      }
      this.heartbeatsOver = true;
      if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
      if (!force && this.node) {
        // The last one, once what ran here has ended (after any under way, else it could land second).
        await this.beating;
        await this.beat(AbortSignal.timeout(2_000));
      }
      const steps = this.opts.shared ? [] : [this.inbox.close(), this.events?.close()];
      for (const r of await Promise.allSettled(steps)) {
        if (r.status === 'rejected') this.opts.logger.warn({ err: r.reason }, 'worker: error while closing');
      }
      this.subscriber.off('message', this.onCancelMessage);
      if (!this.opts.shared) {
        this.subscriber.disconnect();
        await this.connection.quit().catch(() => this.connection.disconnect());
        const events = this.eventsRedis;
        await events?.quit().catch(() => events.disconnect());
      }
      this.state = 'stopped';
    });
    return this.closer(options);
  }
}

class FatalAgentError extends Error {}

/** `result` (workflow/outputs.ts) from the stdout stream alone, secrets masked as in the logs. */
class StdoutLastLine {
  private readonly decoder = new Utf8Text();
  private readonly last = new StdoutResult();
  constructor(private readonly masker: SecretMasker | null) {}

  push(chunk: Buffer): void {
    const text = this.decoder.write(chunk);
    this.last.push(this.masker ? this.masker.push(text) : text);
  }

  /** At the end: the value (PostgreSQL text holds no NUL), or null. */
  result(): string | null {
    const tail = this.decoder.end();
    this.last.push(this.masker ? this.masker.push(tail) + this.masker.end() : tail);
    const r = this.last.result();
    return r.ok && r.value !== null ? r.value.replaceAll('\u0000', '\uFFFD') : null;
  }
}

/** Each output value with the task's secret values masked (none: as they are). */
function maskedOutputs(outputs: Record<string, string>, masker: SecretMasker | null): Record<string, string> {
  if (!masker?.active) return outputs;
  return Object.fromEntries(Object.entries(outputs).map(([name, value]) => [name, masker.mask(value)]));
}

/** The task and attempt an inbox entry is for, when it says (to expire the attempt's record). */
function attemptOf(job: unknown): { taskId: string; attempt: number } | null {
  const j = job as { taskId?: unknown; attempt?: unknown } | null;
  return typeof j?.taskId === 'string' && typeof j.attempt === 'number' ? { taskId: j.taskId, attempt: j.attempt } : null;
}

/** The fields a 422 answer to a heartbeat refuses as unknown (FastAPI's extra_forbidden, from a control plane that predates them). Reads the body. */
async function refusedFields(res: Response): Promise<string[]> {
  const body = (await res.json().catch(() => null)) as { detail?: unknown } | null;
  if (!Array.isArray(body?.detail)) return [];
  return body.detail
    .filter((d: { type?: unknown; loc?: unknown }) => d?.type === 'extra_forbidden' && Array.isArray(d.loc))
    .map((d: { loc: unknown[] }) => String(d.loc[d.loc.length - 1]));
}
