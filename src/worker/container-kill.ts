// Stopping a running container: its timeout and the attempt's cancellation both kill it, and
// whichever came first names the outcome — unless the container had already stopped by itself.
import type Dockerode from 'dockerode';
import { statusOf } from './docker-errors.ts';
import { longTimeout } from './timers.ts';
import { doublingWaitMs } from '../lifecycle/backoff.ts';

export type KillReason = 'timeout' | 'abort';

export interface KillLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

/** The first wait before a refused signal is sent again (ms); each next one doubles, up to SIGNAL_RETRY_MAX_MS. */
const SIGNAL_RETRY_MS = 250;
const SIGNAL_RETRY_MAX_MS = 5_000;

type StopSignal = 'SIGTERM' | 'SIGKILL';

/**
 * Stops a container: SIGTERM, then SIGKILL once `graceMs` have passed (at once without a grace).
 * A signal the engine refuses (an error other than "not running" or "gone": the engine busy,
 * containerd timing out) is sent again, 250 ms doubling to 5 s apart, until it lands or the
 * container has exited (stop()). A refused kill taken for done left the container running to its
 * end, however long, with the attempt waiting for it.
 */
export class ContainerKiller {
  private why: KillReason | null = null;
  /**
   * Resolves true once a signal reached the container, false when it had already stopped by
   * itself (the kill came too late) or it ended while every signal was refused.
   */
  private killed: Promise<boolean> | null = null;
  private settleKilled: ((delivered: boolean) => void) | null = null;
  private delivered = false;
  /** The signal being sent now: SIGTERM until the grace is over, then SIGKILL. */
  private phase: StopSignal = 'SIGKILL';
  private timer: { clear(): void } | null = null;
  private graceTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Signal requests on their way: their answers settle `killed`, even after stop(). */
  private sending = 0;
  private signal: AbortSignal | undefined;
  private readonly onAbort = () => this.kill('abort');

  constructor(
    private readonly container: Dockerode.Container,
    private readonly log: KillLogger,
    private readonly logCtx: object,
    private readonly graceMs = 0,
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

  /** No more signals: the container has exited. One still being tried again is given up. */
  stop(): void {
    this.stopped = true;
    this.timer?.clear();
    for (const t of [this.graceTimer, this.retryTimer]) if (t) clearTimeout(t);
    this.graceTimer = this.retryTimer = null;
    this.signal?.removeEventListener('abort', this.onAbort);
    // A signal on its way may have landed (the exit can be seen before its answer): it decides.
    if (this.sending === 0) this.settle(this.delivered);
  }

  kill(why: KillReason): void {
    if (this.why || this.stopped) return;
    this.why = why;
    this.killed = new Promise<boolean>((resolve) => (this.settleKilled = resolve));
    if (this.graceMs > 0) {
      this.log.info({ ...this.logCtx, why, grace_ms: this.graceMs }, 'stopping container: SIGTERM, SIGKILL after the grace');
      this.phase = 'SIGTERM';
      this.graceTimer = setTimeout(() => this.escalate(), this.graceMs);
    } else this.log.info({ ...this.logCtx, why }, 'killing container');
    this.send(this.phase, 1);
  }

  /** The grace is over: SIGKILL, whether or not SIGTERM landed. */
  private escalate(): void {
    this.graceTimer = null;
    if (this.stopped) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.phase = 'SIGKILL';
    this.log.info({ ...this.logCtx, why: this.why }, 'killing container: still running after the grace');
    this.send('SIGKILL', 1);
  }

  private settle(delivered: boolean): void {
    const settle = this.settleKilled;
    this.settleKilled = null;
    settle?.(delivered);
  }

  private send(signal: StopSignal, tries: number): void {
    if (this.stopped) return;
    this.sending++;
    this.container.kill({ signal }).then(
      () => {
        this.sending--;
        this.delivered = true;
        this.settle(true);
      },
      (err: unknown) => {
        this.sending--;
        const code = statusOf(err);
        // Not running any more / gone, or exited meanwhile: settled only once no other signal's
        // answer is on its way (a SIGKILL that landed, answered after a refused SIGTERM, decides).
        if (code === 409 || code === 404) return void (this.sending === 0 && this.settle(this.delivered));
        if (this.stopped) {
          this.log.warn({ ...this.logCtx, err, signal }, 'kill failed; the container has exited meanwhile');
          return void (this.sending === 0 && this.settle(this.delivered));
        }
        if (signal !== this.phase) return; // a SIGTERM answered after the grace: SIGKILL is under way
        const waitMs = doublingWaitMs(tries, SIGNAL_RETRY_MS, SIGNAL_RETRY_MAX_MS);
        // Said at the first refusal of each signal and every tenth after: refused until the
        // container exits, it would be a line every 5 s, for as long as the task runs.
        const level = tries === 1 || tries % 10 === 0 ? 'warn' : 'debug';
        this.log[level]?.({ ...this.logCtx, err, signal, tries, wait_ms: waitMs }, 'kill failed; trying again');
        this.retryTimer = setTimeout(() => this.send(signal, tries + 1), waitMs);
      },
    );
  }

  /** Whether a kill was asked for (even one that came too late). */
  get requested(): boolean {
    return this.why !== null;
  }

  /** Why the container ended, if we ended it: null when it stopped by itself (no signal reached it). */
  async reason(): Promise<KillReason | null> {
    if (!this.why || !this.killed) return null;
    return (await this.killed) ? this.why : null;
  }
}
