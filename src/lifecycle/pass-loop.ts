// A part that works in passes, one at a time, on a timer: the schedule ticker, the webhook
// outbox, retention. `pass` answers how long to wait before the next one; a pass that throws is
// reported and the next comes after `retryMs`. stop() ends the loop (a later start() begins a new
// one) and, unless forced, waits for a pass under way; close() is stop() once, as a Part's is.
import { closeOnce, type CloseOptions, type Part } from './part.ts';

export class PassLoop implements Part {
  private closer?: (options?: CloseOptions) => Promise<void>;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private generation = 0;

  constructor(
    private readonly pass: () => Promise<number>,
    private readonly onError: (err: unknown) => void,
    private readonly retryMs: number,
  ) {}

  get started(): boolean {
    return this.timer !== null;
  }

  start(): void {
    if (this.timer) return;
    const generation = ++this.generation;
    const loop = async () => {
      let sleep = this.retryMs;
      try {
        const p = this.pass();
        this.running = p;
        sleep = await p;
      } catch (err) {
        this.onError(err);
      } finally {
        this.running = null;
      }
      if (generation === this.generation) this.timer = setTimeout(() => void loop(), sleep);
    };
    this.timer = setTimeout(() => void loop(), 0);
  }

  close(options?: CloseOptions): Promise<void> {
    this.closer ??= closeOnce(({ force }) => this.stop(force));
    return this.closer(options);
  }

  async stop(force = false): Promise<void> {
    this.generation++;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!force) await this.running?.catch(() => undefined);
  }
}
