// The leader's parts for schedules, webhooks and retention, built from the API's dependencies:
// the schedule ticker, the webhook outbox, the webhook sender and, with tasks.retention_days set,
// the deletion of what ended long ago (monitor/retention.ts). They start and stop together with
// leadership (cli/control-plane.ts), beside the dispatcher.
import type { ControlDeps } from '../control/index.ts';
import { ScheduleTicker } from '../control/schedule-ticker.ts';
import { destinationRules, webhookSecretContext } from '../control/webhooks.ts';
import { closeOnce, type CloseOptions, type Part } from '../lifecycle/part.ts';
import { retention } from '../monitor/retention.ts';
import type { Db } from '../state/db.ts';
import { WebhookOutbox } from '../webhook/outbox.ts';
import { WebhookSender } from '../webhook/sender.ts';

export function leaderParts(deps: ControlDeps, db: Db) {
  const ticker = new ScheduleTicker({
    ...deps,
    onRun: (s, runId, lagMs) => deps.logger.debug({ schedule_id: s.id, run: runId, lag_ms: lagMs }, 'schedules: run started'),
  });
  // The outbox wakes the sender when it writes deliveries (the sender looks only each second while none is pending).
  const outbox = new WebhookOutbox({ webhooks: deps.webhooks, logger: deps.logger, onDeliveries: () => sender.wake() });
  const sender = new WebhookSender({
    webhooks: deps.webhooks,
    secretBox: deps.secretBox,
    logger: deps.logger,
    rules: destinationRules(deps.config),
    retryBaseMs: deps.config.webhooks.retry_base_seconds * 1000,
    timeoutMs: deps.config.webhooks.timeout_seconds * 1000,
    secretContext: (d) => webhookSecretContext({ id: d.webhookId, tenant: d.tenant }),
  });
  const days = deps.config.tasks.retention_days;
  const parts: Array<Part & { stop(force?: boolean): Promise<void> }> = [ticker, outbox, sender, ...(days === null ? [] : [retention({ db, days, logger: deps.logger })])];
  return {
    start() {
      for (const p of parts) p.start();
    },
    async stop() {
      await Promise.allSettled(parts.map((p) => p.stop()));
    },
    close: closeOnce(async ({ force }: CloseOptions) => {
      await Promise.allSettled(parts.map((p) => p.close({ force })));
    }),
  };
}
