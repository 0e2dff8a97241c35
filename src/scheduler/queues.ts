// Names of everything Jarvis keeps in Redis, and the messages that cross it. Every key starts
// with the hash tag "{prefix}", so one Redis Cluster slot holds all of a deployment's queues
// and BullMQ's multi-key scripts stay valid. Messages are parsed with zod when read.
import { Redis, type RedisOptions } from 'ioredis';
import { z } from 'zod';
import type { Logger } from 'pino';
import { ContainerSecurity } from '../domain/container.ts';
import { NETWORKS, PRIORITIES } from '../domain/task.ts';

export interface RedisNames {
  /** BullMQ's prefix option. */
  bullPrefix: string;
  /** A tenant's pending queue ("pending" for the default tenant, as before tenants had queues). */
  pendingQueue(tenant: string): string;
  /** The set of tenants that have a pending queue. */
  pendingTenantsKey: string;
  /** A tenant's tasks queued in a group job (pending.ts): task id → the group's job id (a hash). */
  groupedTasks(tenant: string): string;
  /** A tenant's group jobs: job id → "rank:tasks" (a hash), for the queue depth in tasks. */
  groupSizes(tenant: string): string;
  eventsQueue: string;
  /** A node's inbox: a Redis stream of the attempts handed to it (worker/node-inbox.ts). */
  nodeInbox(nodeId: string): string;
  /** The record of one attempt handed to a node: when, and when the node took it (a hash). */
  attemptKey(taskId: string, attempt: number): string;
  /** Which reader (a worker process) reads a node's inbox now. */
  nodeReader(nodeId: string): string;
  /** A reader's bell: the ids of its nodes whose inboxes got entries (a list). */
  readerBell(readerId: string): string;
  /** Set once the reconciler has checked every queued task against Redis; gone when Redis lost its data. */
  reconciledKey: string;
  logStream(taskId: string): string;
  /** "Cancel this task", any attempt (`1`): read by workers before session 30; deleted by a retry. */
  cancelKey(taskId: string): string;
  /** The attempt a cancel stopped (`a<N>`, cancelValue): read by current workers; only ever raised. */
  attemptCancelKey(taskId: string): string;
  /** A bare task id per cancel, for workers before session 30. */
  cancelChannel: string;
  /** `<task id> a<N>` per cancel (cancelMessage), for current workers. */
  attemptCancelChannel: string;
  leaderKey: string;
  /** A dashboard sign-in's session record, by the SHA-256 of its session id (ui/session-store.ts). */
  uiSession(idHash: string): string;
}

export function redisNames(prefix: string): RedisNames {
  const tag = `{${prefix}}`;
  return {
    bullPrefix: tag,
    pendingQueue: (tenant) => (tenant === 'default' ? 'pending' : `pending-${tenant}`),
    pendingTenantsKey: `${tag}:pending-tenants`,
    groupedTasks: (tenant) => `${tag}:grouped:${tenant}`,
    groupSizes: (tenant) => `${tag}:group-sizes:${tenant}`,
    eventsQueue: 'task-events',
    nodeInbox: (nodeId) => `${tag}:inbox:${nodeId}`,
    attemptKey: (taskId, attempt) => `${tag}:attempt:${taskId}-a${attempt}`,
    nodeReader: (nodeId) => `${tag}:reader:${nodeId}`,
    readerBell: (readerId) => `${tag}:bell:${readerId}`,
    reconciledKey: `${tag}:reconciled`,
    logStream: (taskId) => `${tag}:logs:${taskId}`,
    cancelKey: (taskId) => `${tag}:cancel:${taskId}`,
    attemptCancelKey: (taskId) => `${tag}:cancel-attempt:${taskId}`,
    cancelChannel: `${tag}:cancel`,
    attemptCancelChannel: `${tag}:cancel-attempt`,
    leaderKey: `${tag}:leader`,
    uiSession: (idHash) => `${tag}:ui-session:${idHash}`,
  };
}

/**
 * The value of a task's attemptCancelKey: the attempt a cancel stopped, `a<N>` (the task's attempts
 * when it was cancelled; 0 before it was first placed). It stops that attempt and earlier ones,
 * never a later one a retry made, whenever it is written or read. Workers from before session 30
 * read cancelKey instead ("any attempt"), which a retry deletes; a current worker reads it only
 * when a task has no attemptCancelKey (a cancel by an older control plane).
 */
export const cancelValue = (attempt: number) => `a${attempt}`;

/** The message on attemptCancelChannel. */
export const cancelMessage = (taskId: string, attempt: number) => `${taskId} ${cancelValue(attempt)}`;
export function parseCancelMessage(message: string): { taskId: string; value: string } {
  const [taskId, value] = message.split(' ');
  return { taskId, value: value ?? '1' };
}

/** Whether a cancel value (null: none) stops this attempt; a value without the a<N> form stops any. */
export function cancelCovers(value: string | null, attempt: number): boolean {
  if (value === null) return false;
  const m = /^a(\d+)$/.exec(value);
  return !m || attempt <= Number(m[1]);
}

/** What stops an attempt: the task's attemptCancelKey when it has one, else its cancelKey (any attempt). */
export const cancelOf = (attemptValue: string | null, anyValue: string | null): string | null => attemptValue ?? (anyValue === null ? null : '1');

/**
 * `pipelined` (config redis.auto_pipeline): the commands a connection is given in one turn of the
 * event loop reach Redis in one write (ioredis's auto-pipelining) instead of one write each. On
 * the shared connections of the control plane and the worker that is what placing a batch does:
 * hundreds of BullMQ scripts at once (node jobs added, pending jobs finished, node jobs taken),
 * and each write is a system call on both sides. The connections BullMQ derives from one for its
 * blocking reads (duplicate()) are left unpipelined: they carry one blocking command at a time,
 * and an auto-pipeline waits for the one before it.
 */
export interface ConnectionOptions {
  pipelined?: boolean;
}

function connection(url: string, options: RedisOptions, { pipelined = false }: ConnectionOptions): Redis {
  const redis = new Redis(url, { ...options, enableAutoPipelining: pipelined });
  if (pipelined) {
    const duplicate = redis.duplicate.bind(redis);
    redis.duplicate = ((override?: Partial<RedisOptions>) => duplicate({ enableAutoPipelining: false, ...override })) as Redis['duplicate'];
  }
  return redis;
}

/**
 * A connection for long-lived consumers (BullMQ workers, subscribers): it retries forever.
 * BullMQ requires maxRetriesPerRequest null on blocking connections.
 */
export function consumerConnection(url: string, extra: RedisOptions = {}, options: ConnectionOptions = {}): Redis {
  return connection(url, { maxRetriesPerRequest: null, ...extra }, options);
}

/**
 * A connection for request paths (the API): with no offline queue, a command fails at once
 * while Redis is down instead of hanging the HTTP request.
 */
export function producerConnection(url: string, extra: RedisOptions = {}, options: ConnectionOptions = {}): Redis {
  return connection(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2_000, ...extra }, options);
}

/**
 * How long an attempt's record (RedisNames.attemptKey) lives at most; the worker shortens it to
 * RECORD_AFTER_DONE_S once the attempt is reported. The reconciler reads it only while the task
 * is `scheduled`, and a repeated hand-over adds nothing while it exists.
 */
export const RECORD_TTL_S = 86_400;
/**
 * A reported attempt's record, with its `reported` mark, lives this long after its report is
 * queued: node health does not take the attempt for lost while it does. A report job's tries all
 * end within it (worker/reports.ts derives their number from it), so a longer outage of
 * PostgreSQL than it allows fails the report. Kept short: there is one record per attempt
 * ended in this time, in Redis.
 */
export const RECORD_AFTER_DONE_S = 3_600;

/** A pending job: one task (its id is the task's), or a group of a tenant's tasks of one priority added together (pending.ts). */
export const PendingJob = z.union([
  z.object({ taskId: z.string().uuid(), notBefore: z.number().optional() }),
  z.object({ taskIds: z.array(z.string().uuid()).min(1), priority: z.enum(PRIORITIES) }),
]);
export type PendingJob = z.infer<typeof PendingJob>;

/** What a node needs to run one attempt; the worker has no database, so it travels whole. */
export const NodeJob = z.object({
  taskId: z.string().uuid(),
  attempt: z.number().int().positive(),
  nodeId: z.string().uuid(),
  image: z.string(),
  command: z.union([z.array(z.string()), z.string()]).nullable(),
  // A value is a string, or {secret: NAME}: the worker asks its control plane for it at run time.
  env: z.record(z.string(), z.union([z.string(), z.object({ secret: z.string() })])),
  cpu: z.number(),
  memoryMb: z.number().int(),
  gpu: z.number().int(),
  network: z.enum(NETWORKS),
  timeoutSeconds: z.number().int().nullable(),
  logCapBytes: z.number().int().positive(),
  labels: z.record(z.string(), z.string()).default({}),
  /** What the task's tenant allows beyond the restricted container profile; absent: nothing. */
  security: ContainerSecurity.optional(),
  /** Declared outputs, name → path in the container, read after it exits. */
  outputs: z.record(z.string(), z.string()).default({}),
});
export type NodeJob = z.infer<typeof NodeJob>;

const StartedReport = z.object({
  type: z.literal('started'),
  taskId: z.string().uuid(),
  attempt: z.number().int(),
  nodeId: z.string().uuid(),
  at: z.string(),
});

const FinishedReport = z.object({
  type: z.literal('finished'),
  taskId: z.string().uuid(),
  attempt: z.number().int(),
  nodeId: z.string().uuid(),
  status: z.enum(['succeeded', 'failed', 'timed_out', 'cancelled', 'error']),
  exitCode: z.number().int().nullable(),
  error: z.string().nullable(),
  startedAt: z.string().nullable(),
  finishedAt: z.string(),
  truncated: z.boolean(),
  /** The declared outputs' values, when the attempt succeeded. */
  outputs: z.record(z.string(), z.string()).nullable().default(null),
  /** The last non-blank line of stdout, secrets masked; null when none (or over 64 KiB). */
  result: z.string().nullable().default(null),
});

export const TaskEventJob = z.discriminatedUnion('type', [StartedReport, FinishedReport]);
export type TaskEventJob = z.infer<typeof TaskEventJob>;

/**
 * Several reports of one kind in one job: the attempts a worker process started (or ended) while
 * its last such job was being added (worker/reports.ts). One job instead of one each saves the
 * events queue three Redis scripts per attempt (added, taken, finished) and the control plane a
 * job fetch. Single reports (older workers) still count.
 */
export const StartedReports = z.object({ type: z.literal('started-many'), reports: z.array(StartedReport).min(1).max(1000) });
export type StartedReports = z.infer<typeof StartedReports>;
export const FinishedReports = z.object({ type: z.literal('finished-many'), reports: z.array(FinishedReport).min(1).max(1000) });
export type FinishedReports = z.infer<typeof FinishedReports>;
export const EventsQueueJob = z.union([TaskEventJob, StartedReports, FinishedReports]);

/**
 * Options of the control plane's BullMQ workers. Short locks: jobs of a control plane killed
 * mid-job are handed to another (or to it, restarted) within seconds.
 */
export function controlPlaneWorkerOptions(connection: Redis, names: RedisNames) {
  return {
    connection,
    prefix: names.bullPrefix,
    concurrency: 16,
    lockDuration: 10_000,
    stalledInterval: 5_000,
    removeOnComplete: { count: 0 },
    removeOnFail: { count: 1000 },
  };
}

/**
 * How long closing BullMQ workers is waited for. BullMQ 6.7's Worker.close awaits its blocking
 * connection's 'end' event, which never comes while that connection is reconnecting (after Redis
 * was away and back: taskforcesh/bullmq#4656, #4065), and a server stopped then sat out its whole
 * 15 s grace period. Past this the wait is given up: the jobs they held were decided or are
 * handed out again after their lock, and their connections end with the process's.
 */
const CLOSE_WAIT_MS = 3_000;

/** Closes BullMQ workers, waiting CLOSE_WAIT_MS at most (see above); says so when it gave up. */
export async function closeWorkers(workers: Array<{ close(force?: boolean): Promise<void> }>, force: boolean, logger: Logger, who: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const closed = Promise.all(workers.map((w) => w.close(force).catch(() => undefined))).then(() => true);
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), CLOSE_WAIT_MS);
  });
  if (!(await Promise.race([closed, late]))) {
    logger.warn({ readers: workers.length }, `${who}: queue readers did not close within ${CLOSE_WAIT_MS} ms (a Redis connection still reconnecting); going on without them`);
  }
  clearTimeout(timer);
}

const LOST_LOCK = /Missing lock for job|Lock mismatch for job|could not renew lock for job|Missing key for job \S+\. moveToFinished/;
const lapsed = new Map<string, { since: number; count: number }>();

/**
 * Logs an error a BullMQ worker emits. A job whose lock lapsed (the process or Redis was too
 * busy to renew it in time) is not a failure here: BullMQ hands the job out again and applying
 * it twice changes nothing (jobs are fenced by the database), so that is a warning, and one a
 * minute at most per worker kind, with a count (under overload there can be thousands). "Missing
 * key … moveToFinished" is the same event seen from the other side: the job was handed out again
 * and its new taker finished it first, which removed it (the control plane's jobs are removed on
 * completion).
 */
export function logQueueError(logger: Logger, who: string, err: Error): void {
  if (!LOST_LOCK.test(err.message)) {
    logger.error({ err }, `${who}: queue error`);
    return;
  }
  const now = Date.now();
  const seen = lapsed.get(who);
  if (seen && now - seen.since < 60_000) {
    seen.count++;
    return;
  }
  const more = seen ? seen.count : 0;
  lapsed.set(who, { since: now, count: 0 });
  logger.warn(
    { err: { message: err.message }, lapsed_since_last_warning: more },
    `${who}: a job's lock lapsed before it was done (too busy to renew it in time); it is handed out again, harmlessly`,
  );
}
