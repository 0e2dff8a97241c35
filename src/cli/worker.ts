// Starts a worker node with the executor the config names.
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { NodeAgent } from '../worker/agent.ts';
import { DockerExecutor } from '../worker/docker-executor.ts';

export async function startWorker(config: Config, logger: Logger): Promise<NodeAgent> {
  const executor = new DockerExecutor({ logger });
  const agent = new NodeAgent({ config, executor, logger });
  await agent.start();
  return agent;
}
