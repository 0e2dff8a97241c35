// Appends one attempt's output to its live Redis stream, bounded by the log cap: past the cap
// the rest is dropped and the stream says "truncated". Writes are pipelined in order; close()
// waits for them and then writes the end marker that log followers stop at.
import type { Redis } from 'ioredis';
import type { SecretMasker } from './secret-mask.ts';
import { Utf8Text } from './utf8-text.ts';

export class LogWriter {
  private readonly decoder = new Utf8Text();
  private written = 0;
  private pending: Promise<unknown> = Promise.resolve();
  private failed: Error | null = null;
  truncated = false;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly attempt: number,
    private readonly capBytes: number,
    /** Masks the task's secret values (`***`) before anything leaves the node. */
    private readonly masker: SecretMasker | null = null,
  ) {}

  write(chunk: Buffer): void {
    if (this.truncated) return;
    let part = chunk;
    if (this.written + part.length > this.capBytes) {
      part = part.subarray(0, this.capBytes - this.written);
      this.truncated = true;
    }
    this.written += part.length;
    const decoded = this.decoder.write(part);
    const text = this.masker ? this.masker.push(decoded) : decoded;
    if (text) this.append(['d', text]);
    if (this.truncated) this.append(['truncated', '1']);
  }

  private append(fields: string[]): void {
    this.pending = this.redis.xadd(this.key, '*', 'a', String(this.attempt), ...fields).catch((err: Error) => {
      this.failed ??= err;
    });
  }

  /** Flushes and writes the end marker. Rejects if any write was lost. */
  async close(): Promise<void> {
    const tail = this.truncated ? '' : this.decoder.end();
    // What the masker held back was within the cap: it goes out (masked) even when truncated.
    const rest = this.masker ? this.masker.push(tail) + this.masker.end() : tail;
    if (rest) this.append(['d', rest]);
    this.append(['end', '1']);
    await this.pending;
    if (this.failed) throw this.failed;
  }
}
