// Appends one attempt's output to its live Redis stream, bounded by the log cap: past the cap
// the rest is dropped and the stream says "truncated". Writes are pipelined in order; close()
// waits for them and then writes the end marker that log followers stop at.
import { StringDecoder } from 'node:string_decoder';
import type { Redis } from 'ioredis';

export class LogWriter {
  private readonly decoder = new StringDecoder('utf8');
  private written = 0;
  private pending: Promise<unknown> = Promise.resolve();
  private failed: Error | null = null;
  truncated = false;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly attempt: number,
    private readonly capBytes: number,
  ) {}

  write(chunk: Buffer): void {
    if (this.truncated) return;
    let part = chunk;
    if (this.written + part.length > this.capBytes) {
      part = part.subarray(0, this.capBytes - this.written);
      this.truncated = true;
    }
    this.written += part.length;
    const text = this.decoder.write(part);
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
    const rest = this.decoder.end();
    if (rest && !this.truncated) this.append(['d', rest]);
    this.append(['end', '1']);
    await this.pending;
    if (this.failed) throw this.failed;
  }
}
