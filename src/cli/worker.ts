// Starts a worker node with the executor the config names; with the simulated executor, one
// process can host many nodes (named NAME-1 … NAME-N) sharing its Redis connections.
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { Queue } from 'bullmq';
import { consumerConnection, redisNames } from '../scheduler/queues.ts';
import { Reports } from '../worker/reports.ts';
import { NodeAgent } from '../worker/agent.ts';
import { NodeInbox } from '../worker/node-inbox.ts';
import { loadCa, trustingFetch } from '../tls/trusted-fetch.ts';
import { hardeningFromConfig } from '../worker/container-security.ts';
import { DockerExecutor } from '../worker/docker-executor.ts';
import { SimulatedExecutor } from '../worker/simulated-executor.ts';
import { closeOnce, type CloseOptions } from '../lifecycle/part.ts';

export interface RunningWorkers {
  agents: NodeAgent[];
  /** Closes every agent (see lifecycle/part.ts); force: running attempts are not waited for. */
  close(options?: CloseOptions): Promise<void>;
}

export async function startWorker(config: Config, logger: Logger, nodes = 1): Promise<RunningWorkers> {
  const simulated = config.worker.executor === 'simulated';
  if (simulated) logger.warn('worker: simulated executor: tasks are not run, only waited for (jarvis.sim/duration_ms)');
  if (config.worker.job_lock_seconds !== undefined) {
    logger.warn('worker.job_lock_seconds (JARVIS_JOB_LOCK_SECONDS) is no longer used: a restarted worker takes back its unfinished attempts at once. Remove it from your config.');
  }
  if (nodes > 1 && !simulated) throw new Error('--nodes > 1 needs --executor simulated: real nodes are one per process');
  // Over HTTPS with a private CA: JARVIS_CA_FILE (worker.ca_file), read once here.
  const fetch = trustingFetch(loadCa(config.worker.ca_file));
  if (nodes === 1) {
    const agent = new NodeAgent({ config, executor: simulated ? new SimulatedExecutor() : dockerExecutor(config, logger), logger, fetch });
    await agent.start();
    return { agents: [agent], close: (options) => agent.close(options) };
  }
  const connection = consumerConnection(config.redis.url, {}, { pipelined: config.redis.auto_pipeline });
  const names = redisNames(config.redis.prefix);
  // Its own connection, so the nodes' commands go on one without BullMQ's scripts (NodeAgent.openEventsConnection).
  const eventsConnection = consumerConnection(config.redis.url, {}, { pipelined: config.redis.auto_pipeline });
  eventsConnection.on('error', (err) => logger.debug({ err }, 'worker: redis connection error (events)'));
  const events = new Queue(names.eventsQueue, { connection: eventsConnection, prefix: names.bullPrefix });
  // One events queue for every agent, and so one batch of "started" reports for the process; one
  // reader of all the nodes' inboxes.
  const inbox = new NodeInbox({ connection, names, logger });
  const shared = { connection, subscriber: consumerConnection(config.redis.url), events, reports: new Reports(events, { connection, names }, logger), inbox };
  shared.connection.on('error', (err) => logger.debug({ err }, 'worker: redis connection error'));
  shared.subscriber.on('error', (err) => logger.debug({ err }, 'worker: redis subscriber error'));
  // Every agent listens for cancel messages on the one shared subscriber.
  shared.subscriber.setMaxListeners(nodes + 10);
  const base = config.worker.name ?? hostname();
  const agents: NodeAgent[] = [];
  for (let i = 1; i <= nodes; i++) {
    const c = { ...config, worker: { ...config.worker, name: `${base}-${i}` } };
    agents.push(new NodeAgent({ config: c, executor: new SimulatedExecutor(), logger: logger.child({ node: c.worker.name }), shared, fetch }));
  }
  // Registered a few dozen at a time: a thousand nodes one after another take many seconds.
  for (let i = 0; i < agents.length; i += 25) await Promise.all(agents.slice(i, i + 25).map((a) => a.start()));
  logger.info({ nodes }, 'worker: simulated nodes registered');
  return {
    agents,
    close: closeOnce(async ({ force }) => {
      if (force) shared.reports.stop();
      await Promise.allSettled(agents.map((a) => a.close({ force })));
      await inbox.close().catch(() => undefined);
      await events.close().catch(() => undefined);
      await eventsConnection.quit().catch(() => eventsConnection.disconnect());
      shared.subscriber.disconnect();
      await shared.connection.quit().catch(() => shared.connection.disconnect());
    }),
  };
}

function dockerExecutor(config: Config, logger: Logger): DockerExecutor {
  return new DockerExecutor({ logger, hardening: hardeningFromConfig(config.worker.security) });
}
