// Use cases for webhooks: create (URL checked, secret sealed with the secret box and never shown
// again), read, list, delete, the delivery log and a re-send by hand. A webhook belongs to the
// key's tenant and hears only that tenant's events; another tenant's webhook is not found.
import { randomUUID } from 'node:crypto';
import { Conflict, InvalidInput, NotFound, Unavailable } from '../domain/errors.ts';
import type { DeliveryRow, WebhookRow } from '../state/schema.ts';
import { urlProblem, type DestinationRules } from '../webhook/destination.ts';
import { canSee, type Actor } from './actor.ts';
import type { ControlDeps } from './deps.ts';
import { redactUrl } from '../config/log-redaction.ts';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/;

/** The destination rules of this server's configuration (null allow_private: only on loopback). */
export function destinationRules(config: ControlDeps['config']): DestinationRules {
  const allowPrivate = config.webhooks.allow_private_addresses ?? LOOPBACK.test(config.server.host);
  return { allowedHosts: config.webhooks.allowed_hosts, allowPrivate };
}

/** The secret box's context for a webhook's secret: a sealed secret copied to another row does not open. */
export const webhookSecretContext = (w: Pick<WebhookRow, 'id' | 'tenant'>) => `webhook/${w.tenant}/${w.id}`;

export class WebhookControl {
  constructor(private readonly deps: ControlDeps) {}

  async create(spec: { url: string; events: string[]; secret: string }, actor: Actor): Promise<WebhookRow> {
    const problem = urlProblem(spec.url, destinationRules(this.deps.config));
    if (problem) throw new InvalidInput([{ type: 'value_error', loc: ['body', 'url'], msg: `Value error, the URL ${problem}`, input: withoutPassword(spec.url), ctx: { error: {} } }]);
    const box = this.deps.secretBox;
    if (!box) throw new Unavailable('Webhooks need JARVIS_SECRET_KEY to keep their secrets encrypted: start the control plane with it (32 random bytes, e.g. openssl rand -base64 32)');
    // At most webhooks.max_per_tenant, counted and stored in one turn of the tenant's creates.
    const max = this.deps.config.webhooks.max_per_tenant;
    const row = { id: randomUUID(), tenant: actor.tenant, url: spec.url, events: [...new Set(spec.events)], createdAt: new Date() };
    const made = await this.deps.webhooks.createWithin({ ...row, sealedSecret: box.seal(spec.secret, webhookSecretContext(row)) }, max);
    if ('has' in made) {
      throw new Conflict(
        `Tenant "${actor.tenant}" has ${made.has} webhooks, the most webhooks.max_per_tenant (JARVIS_WEBHOOK_MAX_PER_TENANT) allows (${max}): delete one it no longer needs, or ask an operator of the control plane to raise the setting`,
      );
    }
    return made.created;
  }

  async get(id: string, actor: Actor): Promise<WebhookRow> {
    const w = await this.deps.webhooks.get(id);
    if (!w || !canSee(actor, w.tenant)) throw new NotFound('Webhook not found');
    return w;
  }

  list(q: { limit: number; offset: number }, actor: Actor) {
    return this.deps.webhooks.list({ ...q, tenant: actor.sees ?? undefined });
  }

  /** Deletes the webhook and its delivery log; pending deliveries are not sent. */
  async delete(id: string, actor: Actor): Promise<void> {
    await this.get(id, actor);
    if (!(await this.deps.webhooks.delete(id))) throw new NotFound('Webhook not found');
  }

  async deliveries(id: string, q: { status?: DeliveryRow['status']; limit: number; offset: number }, actor: Actor) {
    await this.get(id, actor);
    return this.deps.webhooks.deliveries(id, q);
  }

  /** Sends a delivered or failed event again as a new delivery (same event id, new delivery id), soon. */
  async redeliver(id: string, deliveryId: string, actor: Actor): Promise<DeliveryRow> {
    await this.get(id, actor);
    const d = await this.deps.webhooks.delivery(id, deliveryId);
    if (!d) throw new NotFound('Delivery not found');
    // Sent again beside a pending one, the event would arrive twice, and out of its line's order.
    if (d.status === 'pending') {
      throw new Conflict(`This delivery is still pending (${d.attempts} attempt${d.attempts === 1 ? '' : 's'} so far); it is sent or retried by itself. Redeliver it once it has been delivered or has failed`);
    }
    const again = await this.deps.webhooks.redeliver(d);
    if (!again) throw new NotFound('Webhook not found');
    return again;
  }
}

/** The URL as given, or with its password hidden when it has one (a 422 echoes it). */
function withoutPassword(url: string): string {
  try {
    return new URL(url).password ? redactUrl(url) : url;
  } catch {
    return url;
  }
}
