// Closing a process's parts in order within a grace period: each part in turn is closed
// gracefully; once the grace period is over, the part being closed and every one after it are
// closed with { force: true } instead, so shutdown ends even when some work does not.
import type { Logger } from 'pino';
import type { CloseOptions } from './part.ts';

export interface Closable {
  name: string;
  close(options?: CloseOptions): Promise<void>;
}

export async function closeInOrder(parts: Closable[], graceMs: number, logger: Pick<Logger, 'warn'>): Promise<void> {
  let force = false;
  let current = '';
  let timer: NodeJS.Timeout | undefined;
  let overdue!: () => void;
  const graceOver = new Promise<void>((resolve) => {
    overdue = resolve;
    timer = setTimeout(() => {
      force = true;
      logger.warn(`shutdown: the grace period of ${graceMs} ms is over while closing ${current}; closing what is left without waiting for work in flight`);
      resolve();
    }, graceMs);
    timer.unref?.();
  });
  try {
    for (const part of parts) {
      current = part.name;
      const closing = part.close({ force }).catch((err) => logger.warn({ err }, `shutdown: error closing ${part.name}`));
      if (!force) {
        await Promise.race([closing, graceOver]);
        if (force) await part.close({ force: true }).catch((err) => logger.warn({ err }, `shutdown: error closing ${part.name}`));
      } else {
        await closing;
      }
    }
  } finally {
    clearTimeout(timer);
    overdue();
  }
}
