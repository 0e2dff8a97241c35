// Marks nodes whose heartbeats stopped: unhealthy after a few missed beats, offline after
// offline_seconds. (Moving an offline node's tasks elsewhere belongs to the scheduler.)
import type { Logger } from 'pino';
import type { NodeStore } from '../state/node-store.ts';

export class NodeHealthMonitor {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly deps: {
      nodes: NodeStore;
      logger: Logger;
      heartbeatSeconds: number;
      unhealthyAfterMissed: number;
      offlineSeconds: number;
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), 1_000);
  }

  async check(): Promise<void> {
    const { nodes, logger, heartbeatSeconds, unhealthyAfterMissed, offlineSeconds } = this.deps;
    const now = Date.now();
    try {
      const changed = await nodes.markSilent(
        new Date(now - heartbeatSeconds * unhealthyAfterMissed * 1000),
        new Date(now - offlineSeconds * 1000),
      );
      for (const n of changed) logger.warn({ node_id: n.id, node: n.name, status: n.status }, `node ${n.name} is ${n.status}: no heartbeat`);
    } catch (err) {
      logger.warn({ err }, 'node health: check failed; will try again');
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
