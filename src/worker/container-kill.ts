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

/** The first wait before a refused kill is sent again (ms); each next one doubles, up to KILL_RETRY_MAX_MS. */
const KILL_RETRY_MS = 250;
const KILL_RETRY_MAX_MS = 5_000;

export class ContainerKiller {
  private why: KillReason | null = null;
  /**
   * Resolves true once a kill reached the container, false when it had already stopped by itself
   * (the kill came too late) or the container ended while every kill was refused.
   */
  private killed: Promise<boolean> | null = null;
  private settleKilled: ((delivered: boolean) => void) | null = null;
  private timer: { clear(): void } | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** A kill request is on its way: its answer settles `killed`, even after stop(). */
  private sending = false;
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

  /** No more kills: the container has exited. A kill still being tried again is given up. */
  stop(): void {
    this.stopped = true;
    this.timer?.clear();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.signal?.removeEventListener('abort', this.onAbort);
    // Waiting to try again: no kill reached the container. One on its way may have (the exit
    // can be seen before the kill's answer): its answer decides.
    if (!this.sending) this.settleKilled?.(false);
  }

  /**
   * Sends SIGKILL; one the engine refuses (an error other than "not running" or "gone": the
   * engine busy, containerd timing out) is sent again, 250 ms doubling to 5 s apart, until it is
   * delivered or the container has exited (stop()). A refused kill taken for done left the
   * container running to its end, however long, with the attempt waiting for it.
   */
  kill(why: KillReason): void {
    if (this.why || this.stopped) return;
    this.why = why;
    this.log.info({ ...this.logCtx, why }, 'killing container');
    this.killed = new Promise<boolean>((resolve) => {
      this.settleKilled = (delivered) => {
        this.settleKilled = null;
        resolve(delivered);
      };
    });
    this.send(1);
  }

  private send(tries: number): void {
    if (this.stopped || !this.settleKilled) return;
    this.sending = true;
    this.container.kill({ signal: 'SIGKILL' }).then(
      () => {
        this.sending = false;
        this.settleKilled?.(true);
      },
      (err: unknown) => {
        this.sending = false;
        const code = statusOf(err);
        if (code === 409 || code === 404) return this.settleKilled?.(false); // not running any more / gone
        if (this.stopped) {
          this.log.warn({ ...this.logCtx, err }, 'kill failed; the container has exited meanwhile');
          return this.settleKilled?.(false);
        }
        const waitMs = Math.min(KILL_RETRY_MAX_MS, KILL_RETRY_MS * 2 ** Math.min(tries - 1, 10));
        this.log.warn({ ...this.logCtx, err, tries, wait_ms: waitMs }, 'kill failed; trying again');
        this.retryTimer = setTimeout(() => this.send(tries + 1), waitMs);
      },
    );
  }

  /** Whether a kill was asked for (even one that came too late). */
  get requested(): boolean {
    return this.why !== null;
  }

  /** Why the container ended, if we ended it: null when it stopped by itself (no kill reached it). */
  async reason(): Promise<KillReason | null> {
    if (!this.why || !this.killed) return null;
    return (await this.killed) ? this.why : null;
  }
}
