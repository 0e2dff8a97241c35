// The audit trail's folding of refused requests (the records it hands its store). Through HTTP
// and a real PostgreSQL: test/auth.e2e.test.ts.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { AuditTrail, REFUSAL_WINDOW_MS } from './audit-trail.ts';
import type { AuditEntry, AuditStore } from '../state/audit-store.ts';

const entry = (over: Partial<AuditEntry>): AuditEntry => ({
  at: new Date(),
  keyId: null,
  keyName: null,
  tenant: null,
  role: null,
  action: 'task.submit',
  target: null,
  status: 201,
  client: '10.0.0.1',
  requestId: 'r',
  ...over,
});

describe('AuditTrail', () => {
  let stored: AuditEntry[];
  let trail: AuditTrail;

  beforeEach(() => {
    vi.useFakeTimers();
    stored = [];
    const store = { insertMany: async (rows: AuditEntry[]) => void stored.push(...rows), purgeBefore: async () => 0 } as unknown as AuditStore;
    trail = new AuditTrail(store, pino({ level: 'silent' }), 90);
  });
  afterEach(() => vi.useRealTimers());

  it('folds refusals of one key, action and status within a second into one record with their count, the first request’s id kept', async () => {
    for (let i = 0; i < 900; i++) trail.record(entry({ status: 429, keyId: 'k1', requestId: `r${i}` }));
    for (let i = 0; i < 5; i++) trail.record(entry({ status: 429, keyId: 'k2' }));
    trail.record(entry({ status: 403, keyId: 'k1' }));
    trail.record(entry({ status: 429, keyId: 'k1', action: 'task.read' }));
    await vi.advanceTimersByTimeAsync(REFUSAL_WINDOW_MS - 10);
    await trail.flush().catch(() => undefined);
    expect(stored).toHaveLength(4);
    expect(stored.find((r) => r.keyId === 'k1' && r.status === 429 && r.action === 'task.submit')).toMatchObject({ count: 900, requestId: 'r0' });
    expect(stored.find((r) => r.keyId === 'k2')).toMatchObject({ count: 5 });
    expect(stored.filter((r) => r.keyId === 'k1' && r.count === 1).map((r) => `${r.status} ${r.action}`).sort()).toEqual(['403 task.submit', '429 task.read']);
  });

  it('holds a refusal for at most a second, then starts a new record; changes are never folded', async () => {
    trail.record(entry({ status: 401, client: '10.0.0.9' }));
    trail.record(entry({ status: 401, client: '10.0.0.9' }));
    trail.record(entry({ status: 401, client: '10.0.0.8' }));
    trail.record(entry({ status: 201, keyId: 'k1' }));
    trail.record(entry({ status: 201, keyId: 'k1' }));
    await vi.advanceTimersByTimeAsync(300);
    expect(stored.map((r) => `${r.status}×${r.count}`)).toEqual(['201×1', '201×1']); // changes leave within 200 ms
    await vi.advanceTimersByTimeAsync(REFUSAL_WINDOW_MS);
    expect(stored.filter((r) => r.status === 401).map((r) => `${r.client}×${r.count}`).sort()).toEqual(['10.0.0.8×1', '10.0.0.9×2']);
    trail.record(entry({ status: 401, client: '10.0.0.9' }));
    await vi.advanceTimersByTimeAsync(REFUSAL_WINDOW_MS + 300);
    expect(stored.filter((r) => r.client === '10.0.0.9').map((r) => r.count)).toEqual([2, 1]);
  });

  it('writes folded refusals at once when flushed (GET /audit) or closed', async () => {
    trail.record(entry({ status: 429, keyId: 'k1' }));
    trail.record(entry({ status: 429, keyId: 'k1' }));
    await trail.flush();
    expect(stored.map((r) => r.count)).toEqual([2]);
    trail.record(entry({ status: 429, keyId: 'k1' }));
    await trail.close();
    expect(stored.map((r) => r.count)).toEqual([2, 1]);
    trail.record(entry({ status: 429, keyId: 'k1' })); // after close: dropped, as every record
    await vi.advanceTimersByTimeAsync(REFUSAL_WINDOW_MS * 2);
    expect(stored).toHaveLength(2);
  });

  it('releases folded refusals early when 10,000 differ (many client addresses at once), so memory stays bounded', async () => {
    for (let i = 0; i < 10_000; i++) trail.record(entry({ status: 401, client: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}` }));
    await vi.advanceTimersByTimeAsync(0); // no window has passed
    expect(stored).toHaveLength(10_000);
    expect(stored.every((r) => r.count === 1)).toBe(true);
  });
});
