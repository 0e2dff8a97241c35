// Shared by several sections: the task body every submit uses, and fresh databases, paused
// queues and BullMQ event times for the sections that start their own `jarvis server`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { onCleanup } from './harness.ts';
import { createDatabase, IMAGE } from './services.ts';
import { DEFAULT_PRIORITY, FINAL_STATUSES, PRIORITY_RANK } from '../../src/domain/task.ts';

export const TASK_BODY = JSON.stringify({ image: IMAGE, command: ['true'] });
export const PRIORITY_NORMAL = PRIORITY_RANK[DEFAULT_PRIORITY]; // the priority POST /tasks gives by default
export const FINAL: readonly string[] = FINAL_STATUSES;

/** First Redis-stamped time (ms) of each event of each job, from a BullMQ queue's event stream. */
export async function bullEventTimes(redis: Redis, prefix: string, queue: string): Promise<Map<string, Record<string, number>>> {
  const entries = await redis.xrange(`{${prefix}}:${queue}:events`, '-', '+');
  const byJob = new Map<string, Record<string, number>>();
  for (const [id, fields] of entries) {
    const f: Record<string, string> = {};
    for (let k = 0; k + 1 < fields.length; k += 2) f[fields[k]] = fields[k + 1];
    if (!f.jobId || !f.event) continue;
    const rec = byJob.get(f.jobId) ?? {};
    rec[f.event] ??= Number(id.split('-')[0]);
    byJob.set(f.jobId, rec);
  }
  return byJob;
}

/** A fresh PostgreSQL database and temp dir, registered for clean-up. */
export async function freshDatabase(tag: string) {
  const tmp = mkdtempSync(join(tmpdir(), 'jarvis-bench-'));
  onCleanup(`remove ${tmp}`, () => rmSync(tmp, { recursive: true, force: true }));
  const db = await createDatabase(tag);
  onCleanup(`drop database ${db.name}`, () => db.drop());
  return { db, tmp };
}

export async function pausePendingQueue(redis: Redis, prefix: string): Promise<void> {
  const q = new Queue('pending', { connection: redis, prefix: `{${prefix}}` });
  await q.pause();
  await q.close();
}

export const epochNow = () => performance.timeOrigin + performance.now();
