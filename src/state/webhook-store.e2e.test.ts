// WebhookStore.addDeliveries against a real PostgreSQL: a pass's deliveries become visible to the
// sender together. They were inserted 500 rows at a time, each insert its own transaction, and a
// page's rows are not in event order (a page's events, then the extra events of the same tasks
// the page boundary would have left behind): between two inserts the sender could take a line's
// later event as the head of its line and send it before the earlier one.
import pg from 'pg';
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { useTestDatabase } from '../../test/support/database.ts';
import { WebhookStore, type NewDeliveryRow } from './webhook-store.ts';

const database = useTestDatabase();

it("shows a pass's deliveries to the sender all at once, so a line's later event never goes before its earlier one", async () => {
  const store = new WebhookStore(database().db);
  const hook = await store.create({ id: randomUUID(), tenant: 'default', url: 'https://example.com/h', events: ['task.*'], sealedSecret: 'x', createdAt: new Date() });
  const now = new Date(Date.now() - 1_000);
  const row = (eventSeq: number, line: string): NewDeliveryRow => ({
    id: randomUUID(),
    webhookId: hook.id,
    tenant: 'default',
    eventId: `evt_t${eventSeq}`,
    eventType: 'task.running',
    line,
    eventSeq,
    body: '{}',
    status: 'pending',
    nextAttemptAt: now,
    createdAt: now,
  });
  // Task A's event 1,000 first (in the page), its event 999 last (an extra), 600 rows apart.
  const list = [row(1_000, 'task:a'), ...Array.from({ length: 598 }, (_, i) => row(i + 1, `task:other-${i}`)), row(999, 'task:a')];

  // Another transaction holds the unique key of the last row, so its insert waits until that
  // one ends: the moment between the first rows and the last.
  const blocker = new pg.Client({ connectionString: database().url });
  await blocker.connect();
  try {
    await blocker.query('begin');
    await blocker.query(
      `insert into webhook_deliveries (id, webhook_id, tenant, event_id, event_type, line, event_seq, body, status, next_attempt_at, created_at)
       values ($1, $2, 'default', 'evt_t999', 'task.running', 'task:a', 999, '{}', 'pending', now(), now())`,
      [randomUUID(), hook.id],
    );
    const adding = store.addDeliveries(list);
    // Until the last insert waits for the blocker's row (the first has finished by then).
    const waiting = async () =>
      Number((await blocker.query(`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`)).rows[0].n);
    for (let i = 0; i < 1200 && (await waiting()) === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(await waiting()).toBe(1);
    const seen = await store.sendable(1_000, []);
    expect(seen.filter((d) => d.eventId === 'evt_t1000')).toEqual([]);
    expect(seen).toEqual([]);
    await blocker.query('rollback');
    expect(await adding).toBe(600);
  } finally {
    await blocker.end();
  }
  const heads = (await store.sendable(1_000, [])).filter((d) => d.eventId === 'evt_t999' || d.eventId === 'evt_t1000');
  expect(heads.map((d) => d.eventId)).toEqual(['evt_t999']);
}, 30_000);
