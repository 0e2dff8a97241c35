// When a webhook delivery counts as failed, and when it is tried again.
//   attemptOutcome(response)         after each attempt: delivered, or failed with the reason to log;
//   retryDelayMs(attempt, random)    after failed attempt n (1-based): wait this long, or null: give up;
//   nextInLine(pending)              which stored deliveries may be attempted now (order per key).
// Nominal delays 10 s, 20 s, 40 s … capped at 15 min, each jittered by ±20 % so receivers that came
// back are not hit by every sender at once; 10 attempts in all, the last about an hour after the
// first (at most MAX_RETRY_SPAN_MS). Only a 2xx answer within the timeout is a delivery: a 3xx is
// not followed, a 4xx may be a receiver deploying, so every failure is retried alike.

export const MAX_ATTEMPTS = 10;
export const ATTEMPT_TIMEOUT_MS = 10_000;
export const BASE_MS = 10_000;
const CAP_MS = 15 * 60_000;
const JITTER = 0.2;

const nominal = (attempt: number, baseMs = BASE_MS) => Math.min(CAP_MS, baseMs * 2 ** (attempt - 1));

/** The longest time from the first attempt to the last (61 min 24 s). */
export const MAX_RETRY_SPAN_MS = Array.from({ length: MAX_ATTEMPTS - 1 }, (_, i) => nominal(i + 1) * (1 + JITTER)).reduce((a, b) => a + b, 0);

/** `random` in [0, 1), injectable for tests; `baseMs` the first delay (webhooks.retry_base_seconds). */
export function retryDelayMs(attempt: number, random: () => number = Math.random, baseMs = BASE_MS): number | null {
  if (!Number.isInteger(attempt) || attempt < 1 || attempt >= MAX_ATTEMPTS) return null;
  return Math.round(nominal(attempt, baseMs) * (1 - JITTER + 2 * JITTER * random()));
}

export type AttemptResponse = { status: number } | { timedOut: true } | { error: string };
export type AttemptOutcome = { delivered: true; status: number } | { delivered: false; status: number | null; reason: string };

export function attemptOutcome(r: AttemptResponse, timeoutMs = ATTEMPT_TIMEOUT_MS): AttemptOutcome {
  if ('status' in r) {
    if (r.status >= 200 && r.status < 300) return { delivered: true, status: r.status };
    const kind = r.status >= 300 && r.status < 400 ? ' (redirects are not followed: give the final URL)' : '';
    return { delivered: false, status: r.status, reason: `the receiver answered ${r.status}${kind}` };
  }
  if ('timedOut' in r) return { delivered: false, status: null, reason: `no answer within ${timeoutMs / 1000} s` };
  return { delivered: false, status: null, reason: `could not reach the receiver: ${r.error}` };
}

export interface PendingDelivery {
  id: string;
  webhookId: string;
  /** orderingKey() of its event. */
  key: string;
  /** Position of its event in the event log (increasing). */
  seq: number;
  /** When it may be attempted (after a backoff). */
  dueAt: Date;
}

/**
 * The deliveries to attempt now: per (webhook, key), only the oldest undelivered one, and only
 * once it is due. A later event of the same task waits while an earlier one is being retried;
 * once that one is delivered or given up, the line moves on.
 */
export function nextInLine<T extends PendingDelivery>(pending: T[], now: Date): T[] {
  const heads = new Map<string, T>();
  for (const d of pending) {
    const line = `${d.webhookId}\u0000${d.key}`;
    const head = heads.get(line);
    if (!head || d.seq < head.seq) heads.set(line, d);
  }
  return [...heads.values()].filter((d) => d.dueAt <= now).sort((a, b) => a.seq - b.seq);
}
