import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { attemptOutcome, MAX_ATTEMPTS, MAX_RETRY_SPAN_MS, nextInLine, retryDelayMs, type PendingDelivery } from './delivery-policy.ts';

describe('retryDelayMs', () => {
  it('doubles from 10 s up to 15 min, and stops after the 10th attempt', () => {
    const mid = () => 0.5; // no jitter
    expect(Array.from({ length: MAX_ATTEMPTS }, (_, i) => retryDelayMs(i + 1, mid))).toEqual([
      10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 640_000, 900_000, 900_000, null,
    ]);
    expect(retryDelayMs(0, mid)).toBeNull();
    expect(retryDelayMs(1.5, mid)).toBeNull();
  });

  it('jitters each delay by at most 20 %, and all retries end within about an hour (property)', () => {
    expect(MAX_RETRY_SPAN_MS).toBe(3_684_000); // 1.2 × (10+20+40+80+160+320+640+900+900) s
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: MAX_ATTEMPTS, maxLength: MAX_ATTEMPTS }), (randoms) => {
        let total = 0;
        for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
          const d = retryDelayMs(attempt, () => randoms[attempt]) as number;
          const nominal = retryDelayMs(attempt, () => 0.5) as number;
          expect(d).toBeGreaterThanOrEqual(Math.floor(nominal * 0.8));
          expect(d).toBeLessThanOrEqual(Math.ceil(nominal * 1.2));
          total += d;
        }
        expect(total).toBeLessThanOrEqual(MAX_RETRY_SPAN_MS);
        expect(total).toBeGreaterThan(40 * 60_000);
      }),
    );
  });
});

describe('attemptOutcome', () => {
  it('counts only a 2xx as delivered; anything else, a timeout or a network error is a failure with its reason', () => {
    expect(attemptOutcome({ status: 204 })).toEqual({ delivered: true, status: 204 });
    expect(attemptOutcome({ status: 500 })).toEqual({ delivered: false, status: 500, reason: 'the receiver answered 500' });
    expect(attemptOutcome({ status: 301 })).toEqual({ delivered: false, status: 301, reason: 'the receiver answered 301 (redirects are not followed: give the final URL)' });
    expect(attemptOutcome({ status: 404 })).toMatchObject({ delivered: false, status: 404 });
    expect(attemptOutcome({ timedOut: true })).toEqual({ delivered: false, status: null, reason: 'no answer within 10 s' });
    expect(attemptOutcome({ error: 'connect ECONNREFUSED 127.0.0.1:9' })).toEqual({ delivered: false, status: null, reason: 'could not reach the receiver: connect ECONNREFUSED 127.0.0.1:9' });
  });
});

describe('nextInLine', () => {
  const now = new Date('2026-12-02T01:00:00Z');
  const d = (id: string, webhookId: string, key: string, seq: number, dueInMs = 0): PendingDelivery => ({ id, webhookId, key, seq, dueAt: new Date(now.getTime() + dueInMs) });

  it('releases only the oldest pending delivery per webhook and task, once it is due', () => {
    const pending = [d('b', 'w1', 'task:t1', 2), d('a', 'w1', 'task:t1', 1, 5000), d('c', 'w1', 'task:t2', 3), d('e', 'w2', 'task:t1', 2), d('f', 'w2', 'task:t1', 4)];
    // a (seq 1) is backing off: b must wait behind it, whatever its own due time.
    expect(nextInLine(pending, now).map((x) => x.id)).toEqual(['e', 'c']);
    expect(nextInLine(pending, new Date(now.getTime() + 5000)).map((x) => x.id)).toEqual(['a', 'e', 'c']);
  });

  it('never releases two deliveries of one line, and always the smallest seq (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('w1', 'w2'), fc.constantFrom('task:a', 'task:b', 'workflow:c'), fc.integer({ min: -10, max: 10 })), { maxLength: 30 }), (rows) => {
        const pending = rows.map(([w, k, due], i) => d(`d${i}`, w, k, i, due * 1000));
        const released = nextInLine(pending, now);
        const lines = released.map((r) => `${r.webhookId}/${r.key}`);
        expect(new Set(lines).size).toBe(lines.length);
        for (const r of released) {
          expect(Math.min(...pending.filter((p) => p.webhookId === r.webhookId && p.key === r.key).map((p) => p.seq))).toBe(r.seq);
          expect(r.dueAt <= now).toBe(true);
        }
      }),
    );
  });
});
