// Wires the control plane together: database, Redis connections, the scheduler's dispatcher
// and reconciler, the result recorder, node health, metrics and the HTTP server. This is the
// one place that knows every piece; everything else receives what it needs.
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Queue } from 'bullmq';
import type { Logger } from 'pino';
import { createApp } from '../api/app.ts';
import type { ApiDeps } from '../api/deps.ts';
import { ConfigError, type Config } from '../config/index.ts';
import { ControlPlaneMetrics, jobCountsByQueue, pendingByPriority } from '../monitor/metrics.ts';
import { waitingSince } from '../scheduler/aging.ts';
import { NodeHealthMonitor } from '../monitor/node-health.ts';
import { ResultRecorder } from '../monitor/results.ts';
import { LogStreamReader } from '../monitor/log-streams.ts';
import { TaskCounts } from '../monitor/task-counts.ts';
import { Dispatcher } from '../scheduler/dispatcher.ts';
import { PendingQueues } from '../scheduler/pending.ts';
import { consumerConnection, producerConnection, redisNames } from '../scheduler/queues.ts';
import { LeaderLock } from '../scheduler/leader.ts';
import { Reconciler } from '../scheduler/reconciler.ts';
import { openDatabase } from '../state/db.ts';
import { NodeStore } from '../state/node-store.ts';
import { TaskStore } from '../state/task-store.ts';
import { WorkflowStore } from '../state/workflow-store.ts';
import { TenantStore } from '../state/tenant-store.ts';
import { TenantControl } from '../control/tenants.ts';
import { EVERYONE } from '../control/actor.ts';
import { tellNodesAgain } from '../control/queueing.ts';
import { WorkflowReleaser } from '../dag/release.ts';
import { AuditTrail } from '../auth/audit-trail.ts';
import { Authenticator } from '../auth/authenticator.ts';
import { LOOPBACK } from './advice.ts';
import { RateLimiter } from '../auth/rate-limit.ts';
import { parseSecretKey, SecretBox } from '../auth/secret-box.ts';
import { AuditStore } from '../state/audit-store.ts';
import { KeyStore } from '../state/key-store.ts';
import { SecretStore } from '../state/secret-store.ts';
import { loadServerTls } from '../tls/server-tls.ts';
import { closeOnce, type CloseOptions } from '../lifecycle/part.ts';
import { ScheduleStore } from '../state/schedule-store.ts';
import { WebhookStore } from '../state/webhook-store.ts';
import { leaderParts } from './leader-parts.ts';
import { redactUrl } from '../config/log-redaction.ts';

/** How long an idle keep-alive connection is kept open (see where the server starts). */
const KEEP_ALIVE_MS = 65_000;

export interface ControlPlane {
  url: string;
  port: number;
  deps: ApiDeps;
  /** Where the state is, as the database's log line says it (no password). */
  database: string;
  /** Closes every part in order (see lifecycle/part.ts); force: nothing waits for work in flight. */
  close(options?: CloseOptions): Promise<void>;
}

export async function startControlPlane(
  config: Config,
  logger: Logger,
  options: {
    localRegistrationToken?: string | null;
    localSecretKey?: string | null;
    /**
     * 'all' (default): serves the API and may lead. With `--processes N` (cli/cluster.ts): 'api'
     * serves the API and never leads; 'scheduler' leads (when it holds the lock) and serves nothing.
     */
    role?: 'all' | 'api' | 'scheduler';
  } = {},
): Promise<ControlPlane> {
  const tls = loadServerTls(config.server.tls); // before anything starts: a bad file stops here
  const database = await openDatabase({ url: config.database.url, dataDir: config.database.data_dir });
  logger.info(
    { database: database.label },
    'database ready',
  );
  const keys = new KeyStore(database.db);
  const secrets = new SecretStore(database.db);
  const security = await securitySetup(config, keys, secrets, options.localSecretKey ?? null).catch(async (err) => {
    await database.close().catch(() => undefined);
    throw err;
  });
  const tasks = new TaskStore(database.db);
  const nodes = new NodeStore(database.db);
  const workflows = new WorkflowStore(database.db, tasks);
  const releaser = new WorkflowReleaser(workflows, logger);
  tasks.setOnFinal(releaser.onTasksFinal);
  const names = redisNames(config.redis.prefix);
  const pipelined = { pipelined: config.redis.auto_pipeline };
  const redis = producerConnection(config.redis.url, {}, pipelined);
  const consumer = consumerConnection(config.redis.url, {}, pipelined);
  let redisDown = false;
  let leader: LeaderLock | null = null;
  const onRedisError = (err: Error) => {
    if (!redisDown) logger.error({ err: { message: err.message } }, `Redis at ${redactUrl(config.redis.url)} is unavailable; retrying`);
    redisDown = true;
  };
  redis.on('error', onRedisError);
  consumer.on('error', onRedisError);
  const pending = new PendingQueues(redis, names, (err) => logger.debug({ err }, 'pending queue error'));
  const tenantStore = new TenantStore(database.db);
  const tenantControl = new TenantControl({ tenantStore, nodes });
  const eventsQueue = new Queue(names.eventsQueue, { connection: redis, prefix: names.bullPrefix });
  eventsQueue.on('error', (err) => logger.debug({ err }, 'events queue error'));

  // The finished tasks' figures are counted at most every metrics.final_counts_seconds (task-counts.ts).
  const taskCounts = new TaskCounts({ count: (statuses) => tasks.countByStatus(statuses), finalMaxAgeMs: config.metrics.final_counts_seconds * 1000 });
  const metrics = new ControlPlaneMetrics({
    enabled: config.metrics.enabled,
    logger,
    countByStatus: () => taskCounts.read(),
    queueJobs: async () => jobCountsByQueue([...(await pending.all()), eventsQueue]),
    queueDepthByPriority: () => pendingByPriority(pending),
    nodes: () => nodes.snapshots(),
    tenants: async () => {
      const [views, shapes] = await Promise.all([tenantControl.list(EVERYONE), tenantStore.demandShapes()]);
      return {
        tenants: views.map((t) => ({ name: t.name, weight: t.settings.weight, usage: t.usage, pending: t.pending, dominantShare: t.share.dominantShare, entitledShare: t.share.entitledShare })),
        shapes,
      };
    },
  });
  // Tasks the workflow rules end (skipped, failed at release, cancelled with their workflow) are
  // finished too; the other ends are counted where they happen (results, cancel, never placeable).
  workflows.setOnEnded((ended) => {
    for (const t of ended) metrics.finished.inc({ status: t.status, priority: t.priority });
  });

  const dispatcher = new Dispatcher({
    tasks,
    nodes,
    pending,
    tenants: tenantStore,
    criticalJumpsTenants: config.scheduler.critical_jumps_tenants,
    connection: consumer,
    names,
    logger,
    logCapBytes: config.tasks.log_cap_bytes,
    strategy: config.scheduler.strategy,
    tenantPolicies: config.tenants.policies,
    agingSeconds: config.scheduler.aging_seconds,
    keepRoomAfterSeconds: config.scheduler.keep_room_after_seconds,
    idleTenantMs: config.scheduler.idle_tenant_seconds * 1000,
    viewReuseMs: config.scheduler.view_reuse_ms,
    onPlaced: (t) => {
      // Placement latency of first attempts, from when the task began to wait (a workflow's
      // child: its release, not the workflow's submission, which counted its parents' run time).
      if (t.attempts === 1) metrics.queueWait.observe({ priority: t.priority }, ((t.scheduledAt?.getTime() ?? Date.now()) - waitingSince(t).getTime()) / 1000);
    },
    onFailed: (t) => metrics.finished.inc({ status: t.status, priority: t.priority }),
  });
  const results = new ResultRecorder({
    tasks,
    pending,
    offer: (rows) => dispatcher.offer(rows),
    connection: consumer,
    redis,
    names,
    logger,
    onRetry: (t) => metrics.retries.inc({ priority: t.priority }),
    onFinished: (t) => {
      void pending.wake().catch(() => undefined);
      metrics.finished.inc({ status: t.status, priority: t.priority });
      if (t.startedAt && t.finishedAt) metrics.runDuration.observe({ status: t.status }, (t.finishedAt.getTime() - t.startedAt.getTime()) / 1000);
    },
  });
  const reconciler = new Reconciler({
    tasks,
    connection: redis,
    names,
    logger,
    intervalMs: config.tasks.reconcile_seconds * 1000,
    agingSeconds: config.scheduler.aging_seconds,
    restorePlaced: (ids) => dispatcher.restorePlaced(ids),
    inHand: (id) => dispatcher.holdsWithoutJob(id),
    onRestored: (kind, count) => metrics.restored.inc({ kind }, count),
    pending,
  });
  const nodeHealth = new NodeHealthMonitor({
    nodes,
    tasks,
    pending,
    redis,
    names,
    logger,
    heartbeatSeconds: config.worker.heartbeat_seconds,
    unhealthyAfterMissed: config.nodes.unhealthy_after_missed,
    maxHeartbeatsPerSecond: config.nodes.max_heartbeats_per_second,
    offlineSeconds: config.nodes.offline_seconds,
    unheardHoldSeconds: config.nodes.unheard_hold_seconds,
    onLost: (reason, count) => metrics.lostAttempts.inc({ reason }, count),
    tellCancels: (attempts) => tellNodesAgain({ redis, names, logger }, attempts),
  });
  redis.on('ready', () => {
    if (redisDown) logger.info('Redis is back; re-enqueueing queued work it may have lost');
    redisDown = false;
    if (leader?.isLeader) {
      reconciler.catchUp();
      reconciler.reconcile().catch((err) => logger.warn({ err }, 'reconciler: pass after reconnect failed'));
    }
  });

  // Every log follower of this process reads through one blocking connection (monitor/log-streams.ts).
  const logStreams = new LogStreamReader({
    connect: () => {
      const c = consumerConnection(config.redis.url, { lazyConnect: false, connectionName: 'jarvis-log-reader' });
      c.on('error', () => undefined);
      return c;
    },
    redis,
    logger,
  });
  const auditStore = new AuditStore(database.db);
  const audit = new AuditTrail(auditStore, logger, config.auth.audit_retention_days);
  audit.start();
  const deps: ApiDeps = {
    config,
    logger,
    localRegistrationToken: options.localRegistrationToken ?? null,
    database,
    tasks,
    nodes,
    workflows,
    releaser,
    redis,
    names,
    pending,
    offerSubmitted: (rows) => dispatcher.offerSubmitted(rows),
    tenantStore,
    metrics,
    logStreams,
    queues: async () => [...(await pending.all()), eventsQueue],
    keys,
    authenticator: security.authenticator,
    rateLimiter: new RateLimiter(redis, names.bullPrefix),
    audit,
    auditStore,
    secrets,
    secretBox: security.secretBox,
    schedules: new ScheduleStore(database.db),
    webhooks: new WebhookStore(database.db),
  };
  const app = createApp(deps);
  // Schedules and webhooks: the leader's ticker, outbox and sender (cli/leader-parts.ts).
  const eventParts = leaderParts(deps, database.db);

  // Serve once Redis answers (or after a few seconds, if it is down: the API then says so).
  await waitUntilReady(redis, 5_000).catch(() =>
    logger.error(`Redis at ${redactUrl(config.redis.url)} does not answer; starting anyway: submissions get 503 until it does`),
  );

  // Every replica records results and serves the API; only the leader schedules and monitors.
  // Under `--processes N` the scheduler process records the results, beside the dispatcher that
  // its wake-ups are for; the API processes only serve.
  const role = options.role ?? 'all';
  if (role !== 'api') results.start();
  if (role !== 'api') leader = new LeaderLock({
    redis: consumer,
    key: names.leaderKey,
    logger,
    ttlMs: config.leader.ttl_seconds * 1000,
    renewMs: config.leader.renew_seconds * 1000,
    onElected: () => {
      dispatcher.start();
      reconciler.start();
      nodeHealth.start();
      eventParts.start();
    },
    onDeposed: async () => {
      await Promise.allSettled([nodeHealth.close(), dispatcher.stop(), reconciler.stop(), eventParts.stop()]);
    },
  });
  leader?.start();
  const watchdog = setInterval(() => {
    if (role !== 'api') void results.ensureRunning();
    if (leader?.isLeader) void dispatcher.ensureRunning();
  }, 2_000);

  // In order: stop answering (`http`), give up leadership (which stops the leader's parts), stop
  // the parts, then the queues, connections and database they used.
  const closeParts = async (force: boolean | undefined, http: Promise<void>) => {
    clearInterval(watchdog);
    await leader?.close({ force }).catch((err) => logger.warn({ err }, 'control plane: error giving up leadership'));
    const steps = [force ? Promise.resolve() : http, nodeHealth.close({ force }), dispatcher.close({ force }), results.close({ force }), reconciler.close({ force }), eventParts.close({ force }), logStreams.close(), pending.close(), eventsQueue.close(), audit.close()];
    for (const r of await Promise.allSettled(steps)) {
      if (r.status === 'rejected') logger.warn({ err: r.reason }, 'control plane: error while closing');
    }
    redis.disconnect();
    consumer.disconnect();
    await database.close().catch((err) => logger.warn({ err }, 'control plane: error closing the database'));
  };
  if (role === 'scheduler') return { url: '', port: 0, deps, database: database.label, close: closeOnce(({ force }) => closeParts(force, Promise.resolve())) };
  const server: ServerType = await new Promise((resolve, reject) => {
    const listen = { fetch: app.fetch, hostname: config.server.host, port: config.server.port };
    const https = tls ? { createServer: createHttpsServer, serverOptions: { cert: tls.cert, key: tls.key } } : {};
    const s = serve({ ...listen, ...https }, () => resolve(s));
    s.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`port ${config.server.port} on ${config.server.host} is in use: stop what runs there or set PORT`)
          : err,
      );
    });
  });
  // Keep-alive connections idle for up to 65 s stay open (Node's default closes them after 5 s).
  // A client that reuses a connection just as the server closes it gets no answer ("socket hang
  // up"), and a POST cannot be retried safely; Node's http.Agent ignores the server's timeout hint
  // unless it has a timeout of its own, so clients that pause ~5 s between bursts met that race
  // (bench (d) lost 22 of 48,000 POSTs so). Longer than the idle timeouts of common proxies
  // (60 s), so a proxy in front closes first, as it should. headersTimeout stays 60 s per request.
  (server as unknown as { keepAliveTimeout: number }).keepAliveTimeout = KEEP_ALIVE_MS;
  const port = (server.address() as AddressInfo).port;
  const url = `${tls ? 'https' : 'http'}://${config.server.host.includes(':') ? `[${config.server.host}]` : config.server.host}:${port}`;

  const http = new Promise<void>((resolve) => server.once('close', () => resolve()));
  const close = closeOnce(async ({ force }) => {
    server.close(() => undefined);
    (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
    await closeParts(force, http);
  });

  return { url, port, deps, database: database.label, close };
}

/**
 * Checks the security settings before anything listens: open mode (no key) only on loopback
 * unless --insecure; secrets need JARVIS_SECRET_KEY once any exist. Both say what to do.
 */
async function securitySetup(config: Config, keys: KeyStore, secrets: SecretStore, localSecretKey: string | null) {
  const adminKey = process.env.JARVIS_ADMIN_KEY?.trim() || null;
  const openModeAllowed = LOOPBACK.test(config.server.host) || config.server.insecure;
  if (!openModeAllowed && !adminKey && (await keys.countActive()) === 0) {
    throw new ConfigError(
      `refusing to listen on ${config.server.host} with no API key: anyone who can reach it could run any container.\n` +
        '  Create an admin key first:  npx jarvis keys create --name admin --role admin   (uses DATABASE_URL directly)\n' +
        '  or set JARVIS_ADMIN_KEY to a long random value (e.g. openssl rand -base64 32),\n' +
        '  or listen on 127.0.0.1, or pass --insecure (JARVIS_INSECURE=true) if you really mean it.',
    );
  }
  const rawSecretKey = process.env.JARVIS_SECRET_KEY?.trim() || localSecretKey;
  const secretBox = rawSecretKey ? new SecretBox(parseSecretKey(rawSecretKey)) : null;
  if (!secretBox && (await secrets.count()) > 0) {
    throw new ConfigError(
      'secrets are stored but JARVIS_SECRET_KEY is not set, so tasks that use them could not run. ' +
        'Start with the same JARVIS_SECRET_KEY they were stored with.',
    );
  }
  return { authenticator: new Authenticator(keys, { adminKey, openModeAllowed }), secretBox };
}

function waitUntilReady(redis: import('ioredis').Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new Error('timeout'));
    }, ms);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    redis.once('ready', onReady);
  });
}
