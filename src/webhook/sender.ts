// The leader's webhook sender: POSTs the pending deliveries that are first in their line (per
// webhook and task or workflow: an event waits while an earlier one of the same task is retried)
// with the signature headers, a timeout and no redirects, and records each attempt on its row:
// delivered on a 2xx, otherwise retried with backoff (delivery-policy.ts) until it is given up.
// At least once: a crash between the answer and the record sends the delivery again.
// The request connects only to an address checked against the destination rules (the check runs
// in the connection's own DNS lookup, so a name cannot resolve to a public address for the check
// and to a private one for the request).
import http from 'node:http';
import https from 'node:https';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { Logger } from 'pino';
import type { SecretBox } from '../auth/secret-box.ts';
import { closeOnce, type CloseOptions, type Part } from '../lifecycle/part.ts';
import type { SendableDelivery, WebhookStore } from '../state/webhook-store.ts';
import { attemptOutcome, retryDelayMs, type AttemptResponse } from './delivery-policy.ts';
import { isPrivateAddress, type DestinationRules } from './destination.ts';
import { deliveryHeaders } from './signature.ts';

export interface WebhookSenderDeps {
  webhooks: WebhookStore;
  secretBox: SecretBox | null;
  logger: Logger;
  rules: DestinationRules;
  retryBaseMs: number;
  timeoutMs: number;
  /** The context the secret was sealed with (control/webhooks.ts). */
  secretContext(d: Pick<SendableDelivery, 'webhookId' | 'tenant'>): string;
  /** Deliveries in flight at once. */
  concurrency?: number;
  onAttempt?(d: SendableDelivery, delivered: boolean): void;
}

/** The longest wait between looks while deliveries are pending. */
const BUSY_MS = 200;
/**
 * The wait while none is pending: the outbox wakes the sender when it writes deliveries
 * (leader-parts.ts), so only a re-send by hand through another process waits up to this long.
 */
const IDLE_MS = 1_000;

export class WebhookSender implements Part {
  private timer: NodeJS.Timeout | null = null;
  private generation = 0;
  private readonly inFlight = new Map<string, Promise<void>>();
  /** The one fill under way: fills never overlap, or two could pick the same delivery. */
  private filling: Promise<void> | null = null;
  private fillAgain = false;
  private closer?: (options?: CloseOptions) => Promise<void>;
  private readonly agents = { http: new http.Agent({ keepAlive: true, maxSockets: 64 }), https: new https.Agent({ keepAlive: true, maxSockets: 64 }) };

  constructor(private readonly deps: WebhookSenderDeps) {}

  /** The loop of start(): one look, then the next one scheduled (this.timer). */
  private loop: (() => Promise<void>) | null = null;
  /** Whether a look is under way (wake() then asks for the next one at once, not for a second loop). */
  private looking = false;
  private lookAgain = false;

  start(): void {
    if (this.timer) return;
    const generation = ++this.generation;
    const loop = async () => {
      this.looking = true;
      this.lookAgain = false;
      let sleep = BUSY_MS;
      try {
        await this.kick();
        const next = await this.deps.webhooks.nextDue();
        sleep = next ? Math.max(10, Math.min(sleep, next.getTime() - Date.now())) : IDLE_MS;
      } catch (err) {
        this.deps.logger.warn({ err }, 'webhooks: sender pass failed; will try again');
      }
      this.looking = false;
      if (generation === this.generation) this.timer = setTimeout(() => void loop(), this.lookAgain ? 0 : sleep);
    };
    this.loop = loop;
    this.timer = setTimeout(() => void loop(), 0);
  }

  /** New deliveries were written (the outbox, in this process): look at once, not at the next tick. */
  wake(): void {
    if (!this.timer || !this.loop) return;
    if (this.looking) {
      this.lookAgain = true; // the look under way schedules the next one at once
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.loop?.(), 0);
  }

  async stop(force = false): Promise<void> {
    this.generation++;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!force) {
      await this.filling?.catch(() => undefined);
      await Promise.allSettled([...this.inFlight.values()]);
    }
  }

  close(options?: CloseOptions): Promise<void> {
    this.closer ??= closeOnce(async ({ force }) => {
      await this.stop(force);
      this.agents.http.destroy();
      this.agents.https.destroy();
    });
    return this.closer(options);
  }

  /** Runs a fill now, or once more after the one under way. */
  private kick(): Promise<void> {
    if (this.filling) {
      this.fillAgain = true;
      return this.filling;
    }
    const generation = this.generation;
    this.filling = (async () => {
      try {
        do {
          this.fillAgain = false;
          await this.fill();
        } while (this.fillAgain && generation === this.generation);
      } finally {
        this.filling = null;
      }
    })();
    return this.filling;
  }

  /** Starts attempts for sendable deliveries up to the concurrency limit. */
  private async fill(): Promise<void> {
    const room = (this.deps.concurrency ?? 64) - this.inFlight.size;
    if (room <= 0) return;
    const batch = await this.deps.webhooks.sendable(room, [...this.inFlight.keys()]);
    const generation = this.generation;
    for (const d of batch) {
      const p = this.attempt(d)
        .catch((err) => this.deps.logger.warn({ err, delivery_id: d.id }, 'webhooks: could not record an attempt; it will be sent again'))
        .finally(() => {
          this.inFlight.delete(d.id);
          // A free slot: look for more at once rather than at the next tick.
          if (generation === this.generation) this.kick().catch((err) => this.deps.logger.warn({ err }, 'webhooks: sender pass failed; will try again'));
        });
      this.inFlight.set(d.id, p);
    }
  }

  private async attempt(d: SendableDelivery): Promise<void> {
    const { deps } = this;
    let response: AttemptResponse;
    if (!deps.secretBox) response = { error: 'JARVIS_SECRET_KEY is not set, so the secret cannot be read to sign the delivery' };
    else {
      let secret: string | null = null;
      try {
        secret = deps.secretBox.open(d.sealedSecret, deps.secretContext(d));
      } catch {
        response = { error: 'the secret does not open with this JARVIS_SECRET_KEY' };
      }
      if (secret !== null) {
        const headers = deliveryHeaders({ secret, body: d.body, type: d.eventType, eventId: d.eventId, deliveryId: d.id });
        response = await this.post(d.url, headers, d.body);
      }
    }
    const outcome = attemptOutcome(response!, deps.timeoutMs);
    const attempt = d.attempts + 1;
    const delay = outcome.delivered ? null : retryDelayMs(attempt, Math.random, deps.retryBaseMs);
    await deps.webhooks.recordAttempt(d.id, {
      delivered: outcome.delivered,
      status: outcome.status,
      error: outcome.delivered ? null : outcome.reason,
      retryAt: delay === null ? null : new Date(Date.now() + delay),
    });
    if (!outcome.delivered && delay === null) deps.logger.warn({ delivery_id: d.id, webhook_id: d.webhookId, attempts: attempt, reason: outcome.reason }, 'webhooks: delivery given up');
    deps.onAttempt?.(d, outcome.delivered);
  }

  private post(raw: string, headers: Record<string, string>, body: string): Promise<AttemptResponse> {
    const { rules, timeoutMs } = this.deps;
    return new Promise((resolve) => {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        return resolve({ error: 'the URL is not valid' });
      }
      const secure = url.protocol === 'https:';
      let refused: string | null = null;
      const privateMessage = (address: string) =>
        `address ${address} is not a public address (private, loopback, link-local or another special-purpose range), which webhooks may not reach on this server (webhooks.allow_private_addresses)`;
      // Node does not call lookup for an address written in the URL: that one is checked here
      // (a webhook made while private addresses were allowed, sent after they no longer are).
      const literal = url.hostname.replace(/^\[(.*)\]$/, '$1');
      if (!rules.allowPrivate && isPrivateAddress(literal)) return resolve({ error: privateMessage(literal) });
      const lookup = (host: string, options: object, cb: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
        dnsLookup(host, { ...options, all: true }, (err, addresses) => {
          if (err) return cb(err, '');
          const list = addresses as LookupAddress[];
          const bad = rules.allowPrivate ? undefined : list.find((a) => isPrivateAddress(a.address));
          if (bad) {
            refused = privateMessage(bad.address);
            return cb(Object.assign(new Error(refused), { code: 'EJARVISPRIVATE' }), '');
          }
          if ((options as { all?: boolean }).all) return cb(null, list);
          cb(null, list[0].address, list[0].family);
        });
      };
      const req = (secure ? https : http).request(
        url,
        {
          method: 'POST',
          headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) },
          agent: secure ? this.agents.https : this.agents.http,
          lookup: lookup as never,
          timeout: timeoutMs,
        },
        (res) => {
          res.resume(); // the answer's body is not kept
          res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
          res.on('error', () => resolve({ status: res.statusCode ?? 0 }));
        },
      );
      const timer = setTimeout(() => {
        req.destroy();
        resolve({ timedOut: true });
      }, timeoutMs);
      req.on('close', () => clearTimeout(timer));
      req.on('timeout', () => {
        req.destroy();
        resolve({ timedOut: true });
      });
      req.on('error', (err) => resolve({ error: refused ?? err.message }));
      req.end(body);
    });
  }
}
