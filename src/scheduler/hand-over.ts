// Handing placed tasks to their nodes. Each node has an inbox, a Redis stream its worker reads
// through a consumer group (worker/node-inbox.ts); a placed attempt becomes one entry carrying
// everything the worker needs (it has no database), and a small record of the attempt
// (names.attemptKey) says it was handed over. Handing the same attempt over twice (after a
// crash, or by the reconciler) adds nothing while that record exists.
//
// This replaced a BullMQ queue per node (session 11): a job there cost Redis two of BullMQ's
// scripts (add, then take on the node, each with its event-stream entries) and the node a lock
// renewed for as long as the task ran. An entry costs an XADD here and an XREADGROUP share there;
// a running task holds nothing.
import type { Redis } from 'ioredis';
import { policyFor, type TenantPolicy } from '../auth/tenant-policy.ts';
import type { TaskRow } from '../state/schema.ts';
import { RECORD_TTL_S, type NodeJob, type RedisNames } from './queues.ts';

export interface HandOverDeps {
  connection: Redis;
  names: RedisNames;
  logCapBytes: number;
  /** What each tenant's tasks may ask beyond the restricted container profile (tenants.policies). */
  tenantPolicies?: Record<string, TenantPolicy>;
}

/**
 * KEYS: the node's inbox, the node's reader key, then one attempt record per entry. ARGV: now
 * (ms), the node's id, the record's TTL, the bells' key prefix, then each entry's job (JSON).
 * Adds an entry for each attempt not handed over yet, then rings the node's reader (its bell
 * lives an hour past its last ring, so a reader that died leaves no list for long). The bell's
 * key is built here from the reader key's value; it shares the deployment's hash tag.
 */
const HAND_OVER = `
local added = 0
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then
    redis.call('HSET', KEYS[i], 'at', ARGV[1], 'node', ARGV[2])
    redis.call('EXPIRE', KEYS[i], ARGV[3])
    redis.call('XADD', KEYS[1], '*', 'job', ARGV[i + 2])
    added = added + 1
  end
end
if added > 0 then
  local reader = redis.call('GET', KEYS[2])
  if reader then
    local bell = ARGV[4] .. reader
    redis.call('RPUSH', bell, ARGV[2])
    redis.call('EXPIRE', bell, 3600)
  end
end
return added
`;

type HandOverCommand = (numKeys: number, ...args: Array<string | number>) => Promise<number>;

/**
 * KEYS: attempt records. ARGV: the record's TTL. Withdraws each attempt its node has not taken
 * (worker/attempt-commands.ts sets `taken`; its take refuses a withdrawn attempt): marks the
 * record, or makes one (an attempt not handed over yet is then never handed over). Answers the
 * 1-based positions of the attempts withdrawn. One script, so a take cannot fall in between.
 */
const WITHDRAW = `
local out = {}
for i = 1, #KEYS do
  if redis.call('HEXISTS', KEYS[i], 'taken') == 0 then
    local fresh = redis.call('EXISTS', KEYS[i]) == 0
    redis.call('HSET', KEYS[i], 'withdrawn', '1')
    if fresh then redis.call('EXPIRE', KEYS[i], ARGV[1]) end
    out[#out + 1] = i
  end
end
return out
`;

type WithdrawCommand = (numKeys: number, ...args: Array<string | number>) => Promise<number[]>;

/**
 * Of these attempts, those their node had not taken, now withdrawn: the node will not run them,
 * so they may be placed again (a stopping worker's inbox, control/nodes.ts).
 */
export async function withdrawUntaken<T extends { id: string; attempts: number }>(connection: Redis, names: RedisNames, attempts: T[]): Promise<T[]> {
  if (attempts.length === 0) return [];
  const c = connection as Redis & { jarvisWithdraw?: WithdrawCommand };
  if (!c.jarvisWithdraw) c.defineCommand('jarvisWithdraw', { lua: WITHDRAW });
  const keys = attempts.map((t) => names.attemptKey(t.id, t.attempts));
  const positions = await (c as Redis & { jarvisWithdraw: WithdrawCommand }).jarvisWithdraw(keys.length, ...keys, RECORD_TTL_S);
  return positions.map((i) => attempts[i - 1]);
}

export class NodeHandOver {
  private readonly command: HandOverCommand;

  constructor(private readonly deps: HandOverDeps) {
    const c = deps.connection as Redis & { jarvisHandOver?: HandOverCommand };
    // ioredis sends the script by its SHA and loads it on NOSCRIPT; defined once per connection.
    if (!c.jarvisHandOver) c.defineCommand('jarvisHandOver', { lua: HAND_OVER });
    this.command = (c as Redis & { jarvisHandOver: HandOverCommand }).jarvisHandOver.bind(c);
  }

  /** Adds each placed task's entry to its node's inbox (one script call per node). */
  async handOver(placed: TaskRow[]): Promise<void> {
    const byNode = new Map<string, TaskRow[]>();
    for (const t of placed) {
      const list = byNode.get(t.nodeId as string) ?? [];
      list.push(t);
      byNode.set(t.nodeId as string, list);
    }
    const { names } = this.deps;
    const now = Date.now();
    await Promise.all(
      [...byNode].map(([nodeId, list]) => {
        const keys = [names.nodeInbox(nodeId), names.nodeReader(nodeId), ...list.map((t) => names.attemptKey(t.id, t.attempts))];
        return this.command(keys.length, ...keys, now, nodeId, RECORD_TTL_S, names.readerBell(''), ...list.map((t) => JSON.stringify(this.job(t))));
      }),
    );
  }

  private job(task: TaskRow): NodeJob {
    const nodeId = task.nodeId as string;
    return {
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
  }
}
