// What a test file leaves behind outside its processes, removed at the end of the file:
//
//   afterAll(removeLeftovers); // the file's first hook: in vitest's "stack" order it runs last
//
// - Redis keys. Every key of a Jarvis deployment starts with the hash tag of its prefix,
//   "{prefix}" (redisNames in src/scheduler/queues.ts; BullMQ's prefix option is that tag, and
//   so is the rate limiter's). uniquePrefix() and startJarvis register the prefixes a file uses.
// - Task containers. Every container a worker starts carries its node's id (label
//   jarvis.node_id); the ids are read from what this file's Jarvis processes printed.
//
// Only what this file registered is touched: files running at the same time keep theirs.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { REDIS_URL } from './env.ts';

const used = new Set<string>();
const nodeIds = new Set<string>();
const outputs = new Set<() => string>();

/** Registers a prefix this file's processes use; returns it. */
export function usePrefix(prefix: string): string {
  used.add(prefix);
  return prefix;
}

const globEscape = (s: string) => s.replace(/[*?[\]\\]/g, '\\$&');

/** Removes every key whose name matches a SCAN pattern, 1,000 at a time. Returns how many. */
export async function unlinkMatching(redis: Redis, pattern: string): Promise<number> {
  let removed = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) removed += await redis.unlink(...keys);
  } while (cursor !== '0');
  return removed;
}

/** Removes every key of one prefix (SCAN MATCH "{prefix}*", then UNLINK). Returns how many. */
export async function forgetPrefix(prefix: string, url = REDIS_URL): Promise<number> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await unlinkMatching(redis, `${globEscape(`{${prefix}}`)}*`);
  } finally {
    redis.disconnect();
  }
}

/** Removes the keys of every prefix registered in this file so far. */
export async function forgetUsedPrefixes(): Promise<void> {
  const prefixes = [...used];
  used.clear();
  for (const p of prefixes) await forgetPrefix(p);
}

const NODE_ID = /"node_id":"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"/g;

/** Registers a process's output, whose node ids (its "node_id" fields) name containers of this file. */
export function watchNodeIds(output: () => string, exited: Promise<unknown>): void {
  outputs.add(output);
  // Once it has ended, only its ids are kept, not its output.
  void exited.then(() => {
    for (const m of output().matchAll(NODE_ID)) nodeIds.add(m[1]);
    outputs.delete(output);
  });
}

/** Force-removes the containers (running or not) of the nodes of this file's processes. */
export async function removeTaskContainers(): Promise<void> {
  for (const output of outputs) for (const m of output().matchAll(NODE_ID)) nodeIds.add(m[1]);
  if (nodeIds.size === 0) return;
  const run = promisify(execFile);
  const { stdout } = await run('docker', ['ps', '-a', '--filter', 'label=jarvis.node_id', '--format', '{{.ID}} {{.Label "jarvis.node_id"}}']);
  const ids = stdout
    .split('\n')
    .map((l) => l.trim().split(' '))
    .filter(([id, node]) => id && nodeIds.has(node))
    .map(([id]) => id);
  nodeIds.clear();
  // -v: a task with outputs has an anonymous /tmp volume, with its data, which would outlive the container.
  if (ids.length) await run('docker', ['rm', '-f', '-v', ...ids]);
}

/** Both of the above: for `afterAll(removeLeftovers)` at the top of a file. */
export async function removeLeftovers(): Promise<void> {
  const results = await Promise.allSettled([forgetUsedPrefixes(), removeTaskContainers()]);
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length) throw new Error(`removing the leftovers of this file: ${failed.map((f) => String(f.reason)).join('; ')}`);
}
