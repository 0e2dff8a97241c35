// How many log streams (GET /tasks/{id}/logs?follow=true, and the dashboard's live log, which
// calls it) one API process serves at once: per key (server.max_log_follows_per_key) and in all
// (server.max_log_follows). A key's request rate limits how fast streams open, not how many stay
// open: before session 32 one viewer key could hold any number, each with a Redis connection and
// a database read a second. Counted in this process (no I/O): with `--processes N` each API
// process counts its own.

/** Which limit refused a stream. */
export type FollowLimit = 'key' | 'process';

/** Seconds a refused client is told to wait (Retry-After): a stream ends when its task does, or its reader leaves. */
export const FOLLOW_RETRY_AFTER_S = 5;

export class FollowLimits {
  private readonly byHolder = new Map<string, number>();
  private total = 0;

  constructor(
    readonly perKey: number,
    readonly inAll: number,
  ) {}

  /** Streams open now, in all. */
  get open(): number {
    return this.total;
  }

  /**
   * Takes a place for one more stream of `holder` (a key's id), answering the function that gives
   * it back (once, however often it is called), or the limit that refuses it.
   */
  take(holder: string): { release: () => void } | { refused: FollowLimit } {
    if (this.total >= this.inAll) return { refused: 'process' };
    const held = this.byHolder.get(holder) ?? 0;
    if (held >= this.perKey) return { refused: 'key' };
    this.byHolder.set(holder, held + 1);
    this.total++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.total--;
        const left = (this.byHolder.get(holder) ?? 1) - 1;
        if (left > 0) this.byHolder.set(holder, left);
        else this.byHolder.delete(holder);
      },
    };
  }

  /** The 429's detail for a refusal: the limit, where it is set, and what to do. */
  refusal(limit: FollowLimit): string {
    return limit === 'key'
      ? `Too many log streams: this key has ${this.perKey} open on this server process, the most one key may ` +
          `(server.max_log_follows_per_key, env JARVIS_MAX_LOG_FOLLOWS_PER_KEY). Close one, or raise the limit; retry in ${FOLLOW_RETRY_AFTER_S} s`
      : `Too many log streams: this server process has ${this.inAll} open, the most it serves ` +
          `(server.max_log_follows, env JARVIS_MAX_LOG_FOLLOWS). Retry in ${FOLLOW_RETRY_AFTER_S} s, or raise the limit`;
  }
}
