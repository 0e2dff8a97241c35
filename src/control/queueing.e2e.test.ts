// Telling the nodes of a cancel, against a real Redis: both keys and both messages (the
// attempt's for current workers, the task's for older ones), and an attempt's key is only ever
// raised, so a cancel told late (Redis was away) never lowers one a later cancel wrote.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, expect, it } from 'vitest';
import { REDIS_URL } from '../../test/support/env.ts';
import { forgetPrefix } from '../../test/support/leftovers.ts';
import { redisNames } from '../scheduler/queues.ts';
import { forgetTaskCancels, tellNodesToCancel } from './queueing.ts';

const prefix = `cancel-${randomUUID().slice(0, 8)}`;
const names = redisNames(prefix);
const redis = new Redis(REDIS_URL);
const subscriber = new Redis(REDIS_URL);
afterAll(async () => {
  await forgetPrefix(prefix);
  redis.disconnect();
  subscriber.disconnect();
});
const deps = { redis, names, logger: pino({ level: 'silent' }) };

it('sets both keys and sends both messages; an attempt key is raised, never lowered; a retry leaves it', async () => {
  const heard: Array<[string, string]> = [];
  await subscriber.subscribe(names.cancelChannel, names.attemptCancelChannel);
  subscriber.on('message', (channel: string, message: string) => heard.push([channel, message]));
  const id = randomUUID();
  await tellNodesToCancel(deps, [{ id, attempt: 2 }]);
  expect(await redis.mget(names.attemptCancelKey(id), names.cancelKey(id))).toEqual(['a2', '1']);
  // Attempt 1's cancel told late (after attempt 2's): the key still names attempt 2.
  await tellNodesToCancel(deps, [{ id, attempt: 1 }]);
  expect(await redis.get(names.attemptCancelKey(id))).toBe('a2');
  await tellNodesToCancel(deps, [{ id, attempt: 3 }]);
  expect(await redis.get(names.attemptCancelKey(id))).toBe('a3');
  for (let i = 0; i < 600 && heard.length < 6; i++) await new Promise((r) => setTimeout(r, 50));
  expect(heard).toEqual([
    [names.attemptCancelChannel, `${id} a2`],
    [names.cancelChannel, id],
    [names.attemptCancelChannel, `${id} a1`],
    [names.cancelChannel, id],
    [names.attemptCancelChannel, `${id} a3`],
    [names.cancelChannel, id],
  ]);
  await forgetTaskCancels(deps, [id]);
  expect(await redis.mget(names.attemptCancelKey(id), names.cancelKey(id))).toEqual(['a3', null]);
});
