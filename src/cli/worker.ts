// Starts a worker node with the executor the config names.
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { NodeAgent } from '../worker/agent.ts';
import { DockerExecutor } from '../worker/docker-executor.ts';
import { SimulatedExecutor } from '../worker/simulated-executor.ts';

export async function startWorker(config: Config, logger: Logger): Promise<NodeAgent> {
  const executor = config.worker.executor === 'simulated' ? new SimulatedExecutor() : new DockerExecutor({ logger });
  if (config.worker.executor === 'simulated') logger.warn('worker: simulated executor: tasks are not run, only waited for (jarvis.sim/duration_ms)');
  const agent = new NodeAgent({ config, executor, logger });
  await agent.start();
  return agent;
}
