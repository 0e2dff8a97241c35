// The one lifecycle contract of Jarvis's long-lived parts (dispatcher, reconciler, result
// recorder, node health monitor, leader lock, worker agent, the control plane and worker as a
// whole): start() begins the work and does nothing when already started; close() stops it and
// releases what it holds, may be called any number of times (every call gets the same promise),
// and with { force: true } does not wait for work in flight (running jobs, a pass under way).

export interface CloseOptions {
  /** Do not wait for work in flight: abandon it (BullMQ hands unfinished jobs out again). */
  force?: boolean;
}

export interface Part {
  start(): void | Promise<void>;
  close(options?: CloseOptions): Promise<void>;
}

/**
 * Makes a close function idempotent: the first call runs it, later calls get its promise. A later
 * forced call while a graceful close runs starts the forced close too and answers when either ends.
 */
export function closeOnce(run: (options: CloseOptions) => Promise<void>): (options?: CloseOptions) => Promise<void> {
  let graceful: Promise<void> | null = null;
  let forced: Promise<void> | null = null;
  return (options = {}) => {
    if (options.force) {
      forced ??= run({ force: true });
      return graceful ? Promise.race([graceful, forced]) : forced;
    }
    graceful ??= forced ?? run({});
    return graceful;
  };
}
