// Stopping a running container: its timeout and the attempt's cancellation both kill it, and
// whichever came first names the outcome — unless the container had already stopped by itself.
import type Dockerode from 'dockerode';
import { statusOf } from './docker-errors.ts';
import { longTimeout } from './timers.ts';

export type KillReason = 'timeout' | 'abort';

export interface KillLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export class ContainerKiller {
  private why: KillReason | null = null;
  /** Resolves false when the container had already stopped by itself (the kill came too late). */
  private killed: Promise<boolean> | null = null;
  private timer: { clear(): void } | null = null;
  private signal: AbortSignal | undefined;
  private readonly onAbort = () => this.kill('abort');

  constructor(
    private readonly container: Dockerode.Container,
    private readonly log: KillLogger,
    private readonly logCtx: object,
  ) {}

  /** Kills at the deadline (timeoutSeconds after startedAt) or when the signal aborts. */
  watch(timeoutSeconds: number | null, startedAt: Date, signal: AbortSignal | undefined): void {
    if (timeoutSeconds !== null && timeoutSeconds > 0) {
      const left = timeoutSeconds * 1000 - (Date.now() - startedAt.getTime());
      this.timer = longTimeout(() => this.kill('timeout'), Math.max(0, left));
    }
    this.signal = signal;
    signal?.addEventListener('abort', this.onAbort, { once: true });
    if (signal?.aborted) this.onAbort();
  }

  /** No more kills: the container has exited. */
  stop(): void {
    this.timer?.clear();
    this.signal?.removeEventListener('abort', this.onAbort);
  }

  kill(why: KillReason): void {
    if (this.why) return;
    this.why = why;
    this.log.info({ ...this.logCtx, why }, 'killing container');
    this.killed = this.container.kill({ signal: 'SIGKILL' }).then(
      () => true,
      (err: unknown) => {
        const code = statusOf(err);
        if (code === 409 || code === 404) return false; // not running any more / gone
        this.log.warn({ ...this.logCtx, err }, 'kill failed');
        return true;
      },
    );
  }

  /** Whether a kill was asked for (even one that came too late). */
  get requested(): boolean {
    return this.why !== null;
  }

  /** Why the container ended, if we ended it: null when it stopped by itself. */
  async reason(): Promise<KillReason | null> {
    if (!this.why || !this.killed) return null;
    return (await this.killed) ? this.why : null;
  }
}
