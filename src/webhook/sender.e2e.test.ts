// The webhook sender's look loop against a real PostgreSQL: the outbox's wake-ups bring the next
// look forward, and however many arrive, and whenever, one loop keeps looking (a wake during a
// look used to start a second loop, and every such wake another one, each polling for ever).
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase } from '../../test/support/database.ts';
import { openDatabase, type Database } from '../state/db.ts';
import { WebhookStore } from '../state/webhook-store.ts';
import { WebhookSender } from './sender.ts';

let database: Database;
let dropDatabase: () => Promise<void>;

beforeAll(async () => {
  const db = await createTestDatabase();
  database = await openDatabase({ url: db.url, dataDir: '/nonexistent' });
  dropDatabase = () => db.drop();
}, 60_000);

afterAll(async () => {
  await database?.close();
  await dropDatabase?.();
});

it('keeps one look loop however many wake-ups come, during a look or between', async () => {
  const webhooks = new WebhookStore(database.db);
  let looks = 0;
  const nextDue = webhooks.nextDue.bind(webhooks);
  webhooks.nextDue = () => {
    looks++;
    return nextDue();
  };
  const sender = new WebhookSender({
    webhooks,
    secretBox: null,
    logger: pino({ level: 'silent' }),
    rules: { allowedHosts: [], allowPrivate: false },
    retryBaseMs: 1_000,
    timeoutMs: 1_000,
    secretContext: () => '',
  });
  sender.start();
  try {
    // Wake-ups every few milliseconds for a while: many land while a look runs.
    for (let i = 0; i < 40; i++) {
      sender.wake();
      await new Promise((r) => setTimeout(r, 3));
    }
    await new Promise((r) => setTimeout(r, 300));
    // Nothing is pending, so one loop looks once a second.
    looks = 0;
    await new Promise((r) => setTimeout(r, 2_500));
    expect(looks).toBeGreaterThanOrEqual(2);
    expect(looks).toBeLessThanOrEqual(3);
  } finally {
    await sender.close();
  }
}, 30_000);
