// The reconciler against a real PostgreSQL and Redis: a queued task whose pending job is gone is
// given one again and the restore is logged, while a task caught between its commit and its
// enqueue (the accept path commits first, then adds the job) is left alone and not reported as
// lost.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/support/database.ts';
import { REDIS_URL } from '../../test/support/env.ts';
import { loadConfig } from '../config/index.ts';
import { taskRowFrom } from '../control/task-rows.ts';
import { openDatabase, type Database } from '../state/db.ts';
import { TaskStore } from '../state/task-store.ts';
import { PendingQueues } from './pending.ts';
import { consumerConnection, redisNames } from './queues.ts';
import { Reconciler } from './reconciler.ts';

const config = loadConfig({ file: null, overrides: {} });
const names = redisNames(`rec-${randomUUID().slice(0, 8)}`);
let database: Database;
let dropDatabase: () => Promise<void>;
let redis: Redis;
let pending: PendingQueues;
let store: TaskStore;
const logged: Array<{ msg: string; restored?: number }> = [];

beforeAll(async () => {
  const db = await createTestDatabase();
  database = await openDatabase({ url: db.url, dataDir: '/nonexistent' });
  dropDatabase = () => db.drop();
  redis = consumerConnection(REDIS_URL);
  pending = new PendingQueues(redis, names);
  store = new TaskStore(database.db);
}, 60_000);

afterAll(async () => {
  await pending?.close();
  const keys = await redis.keys(`${names.bullPrefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis?.quit();
  await database?.close();
  await dropDatabase?.();
});

function reconciler() {
  const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
  return new Reconciler({ tasks: store, connection: redis, names, logger, intervalMs: 3_600_000, agingSeconds: 3600, restorePlaced: async () => undefined, pending });
}

const queuedTask = async () => (await store.insertMany([taskRowFrom({ image: 'sim' } as never, config, { status: 'queued', statusReason: 'waiting', tenant: 'default' })]))[0];
const jobExists = async (id: string) => (await redis.exists(`${names.bullPrefix}:${names.pendingQueue('default')}:${id}`)) === 1;

it('gives a queued task whose job Redis lost a job again, and says so', async () => {
  const lost = await queuedTask();
  logged.length = 0;
  expect(await reconciler().reconcile()).toBe(1);
  expect(await jobExists(lost.id)).toBe(true);
  expect(logged).toContainEqual(expect.objectContaining({ msg: 'reconciler: re-enqueued queued or placed tasks whose jobs Redis had lost', restored: 1 }));
});

it('leaves a task whose job arrives just after the first look alone, and reports nothing lost', async () => {
  const arriving = await queuedTask();
  logged.length = 0;
  const pass = reconciler().reconcile();
  // The accept path's enqueue, landing while the pass runs (after its first look at Redis).
  await new Promise((r) => setTimeout(r, 100));
  await pending.add([arriving]);
  expect(await pass).toBe(0);
  expect(await jobExists(arriving.id)).toBe(true);
  expect(logged.filter((l) => l.msg.startsWith('reconciler: re-enqueued'))).toEqual([]);
});
