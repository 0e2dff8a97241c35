// What one benchmark run shares: its id (every Redis prefix, database and container of the run
// carries it), its log, and its clean-up list (everything started or created registers how to
// undo it; the list runs in reverse order at the end, on failure and on SIGINT/SIGTERM).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ROOT } from './jarvis.ts';

export const RUN_ID = `jb-${randomBytes(3).toString('hex')}`;
export const RESULTS_DIR = join(ROOT, 'bench/results');

export const log = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

const cleanups: Array<{ what: string; fn: () => Promise<unknown> | unknown }> = [];

/** Registers an undo step; the function returned runs it now (and only once). */
export const onCleanup = (what: string, fn: () => Promise<unknown> | unknown) => {
  const entry = { what, fn };
  cleanups.push(entry);
  return async () => {
    const i = cleanups.indexOf(entry);
    if (i >= 0) cleanups.splice(i, 1);
    await fn();
  };
};

let cleaning: Promise<void> | null = null;
export function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length) {
      const c = cleanups.pop()!;
      try {
        await c.fn();
      } catch (err) {
        log(`clean-up: ${c.what} failed: ${(err as Error).message}`);
      }
    }
  })();
  return cleaning;
}

let interrupted = false;
/** Whether SIGINT/SIGTERM stopped the run (its failures are then not news). */
export const wasInterrupted = () => interrupted;

export function cleanUpOnSignals(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      interrupted = true;
      log(`${sig}: cleaning up…`);
      void cleanup().finally(() => process.exit(130));
    });
  }
}
