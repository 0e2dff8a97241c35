// One blocking Redis connection per control plane reads the live log streams of every followed
// task: each follower asks for the entries after its position, and one XREAD BLOCK over all the
// streams asked for answers them all. Before session 32 each follower opened a connection of its
// own, so one read-only key could hold thousands of Redis's connections (maxclients, 10,000 by
// default) by opening follows (docs/decisions.md, "Log follows share one reader").
//
// A follower that asks while the read is blocked is added to it at once: the reader unblocks its
// own read (CLIENT UNBLOCK from the shared connection), which answers as a timeout, and reads
// again with the new stream. Where CLIENT UNBLOCK or CLIENT ID is refused (an ACL, a managed Redis,
// a renamed command), reads block at most 100 ms instead, so a new follower waits that long for its
// first lines (a warning says so, once).
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Part } from '../lifecycle/part.ts';

/** A stream entry as XREAD gives it: its id and its fields, name and value in turn. */
export type StreamEntry = [id: string, fields: string[]];

/** Reading a log stream from a position on, as a follower does. */
export interface LogStreams {
  /**
   * The entries of stream `key` after id `after` (at most `count`), as soon as there are some;
   * null once none came for about a second (1 to 1.25 s), or at once when `signal` is aborted.
   * Rejects when Redis refuses the read.
   */
  read(key: string, after: string, signal?: AbortSignal): Promise<StreamEntry[] | null>;
}

export interface LogStreamReaderOptions {
  /** Makes the blocking connection, when the first follower asks (the reader disconnects it at close). */
  connect(): Redis;
  /** A connection for the CLIENT UNBLOCK of the reader's own read (not blocking). */
  redis: Pick<Redis, 'client'>;
  logger?: Pick<Logger, 'warn'>;
  /** After this long with no entry a read answers null, ms; default 1000. */
  waitMs?: number;
  /** Entries per stream per read; default 500. */
  count?: number;
}

interface Waiter {
  key: string;
  after: string;
  since: number;
  done(entries: StreamEntry[] | null): void;
  fail(err: Error): void;
}

/** The streams and positions of the read now blocking, and whether it was asked to return. */
interface Round {
  asked: Map<string, string>;
  unblocked: boolean;
}

/** Reads block at most this long where CLIENT UNBLOCK is refused, ms. */
const SHORT_BLOCK_MS = 100;

export class LogStreamReader implements LogStreams, Part {
  private readonly waiting = new Set<Waiter>();
  private readonly waitMs: number;
  private readonly count: number;
  private conn: Redis | null = null;
  private clientId: number | null = null;
  private canUnblock = true;
  private looping = false;
  private round: Round | null = null;
  private closed = false;
  /** Reads issued (XREAD calls), for tests. */
  reads = 0;

  constructor(private readonly opts: LogStreamReaderOptions) {
    this.waitMs = opts.waitMs ?? 1_000;
    this.count = opts.count ?? 500;
  }

  start(): void {}

  /** Followers waiting for entries now. */
  get waiters(): number {
    return this.waiting.size;
  }

  read(key: string, after: string, signal?: AbortSignal): Promise<StreamEntry[] | null> {
    if (this.closed) return Promise.reject(new Error('the log stream reader is closed'));
    if (signal?.aborted) return Promise.resolve(null);
    return new Promise<StreamEntry[] | null>((resolve, reject) => {
      const onAbort = () => {
        if (this.waiting.delete(w)) resolve(null);
      };
      const w: Waiter = {
        key,
        after,
        since: Date.now(),
        done: (entries) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(entries);
        },
        fail: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.add(w);
      this.wake(w);
    });
  }

  readonly close = async (): Promise<void> => {
    if (this.closed) return;
    this.closed = true;
    const err = new Error('the log stream reader is closed (the server is stopping)');
    for (const w of this.waiting) w.fail(err);
    this.waiting.clear();
    this.conn?.disconnect();
    this.conn = null;
  };

  private wake(w: Waiter): void {
    if (!this.looping) {
      this.looping = true;
      void this.loop();
      return;
    }
    const round = this.round;
    // Between reads: the next one takes this follower in.
    if (!round || round.unblocked) return;
    // The read in flight already waits for what this follower needs next (nothing after its
    // position exists yet, or the read would not be blocked).
    const asked = round.asked.get(w.key);
    if (asked !== undefined && compareIds(asked, w.after) <= 0) return;
    if (!this.canUnblock || this.clientId === null) return;
    round.unblocked = true;
    this.opts.redis.client('UNBLOCK', this.clientId).catch((err: Error) => {
      // Refused by an ACL, or a Redis without it: block briefly from now on instead.
      if (refused(err)) this.cannotUnblock('CLIENT UNBLOCK', err);
    });
  }

  /** Redis refuses a command the unblocking needs: reads block briefly from now on (said once). */
  private cannotUnblock(command: string, err: Error): void {
    if (!this.canUnblock) return;
    this.canUnblock = false;
    this.opts.logger?.warn({ err: { message: err.message } }, `log follows: Redis refuses ${command}; a new follower may wait up to ${SHORT_BLOCK_MS} ms for its first lines`);
  }

  private connection(): Redis {
    if (!this.conn) {
      const conn = this.opts.connect();
      // A new connection (or the same one after a reconnect) has a new client id.
      conn.on('ready', () => {
        if (this.conn === conn) this.clientId = null;
      });
      this.conn = conn;
    }
    return this.conn;
  }

  private async loop(): Promise<void> {
    try {
      while (this.waiting.size > 0 && !this.closed) {
        const conn = this.connection();
        if (this.clientId === null && this.canUnblock) {
          this.clientId = await conn.client('ID').catch((err: Error) => {
            // CLIENT refused as a whole (renamed away, an ACL without @connection): no id, so no
            // unblocking; otherwise (the connection) asked again next round.
            if (refused(err)) this.cannotUnblock('CLIENT ID', err);
            return null;
          });
          if (this.closed) return;
        }
        // One position per stream: the earliest any of its followers asks for.
        const asked = new Map<string, string>();
        let oldest = Infinity;
        for (const w of this.waiting) {
          const at = asked.get(w.key);
          if (at === undefined || compareIds(w.after, at) < 0) asked.set(w.key, w.after);
          oldest = Math.min(oldest, w.since);
        }
        // Until the longest-waiting follower is due its null, but at least a quarter of the wait,
        // so that followers who asked at different moments share reads rather than each timing
        // one out.
        let block = Math.max(Math.ceil(this.waitMs / 4), Math.ceil(this.waitMs - (Date.now() - oldest)));
        if (!this.canUnblock) block = Math.min(block, SHORT_BLOCK_MS);
        const round: Round = { asked, unblocked: false };
        this.round = round;
        this.reads++;
        let res: Array<[string, StreamEntry[]]> | null;
        try {
          res = (await conn.xread('COUNT', this.count, 'BLOCK', block, 'STREAMS', ...asked.keys(), ...asked.values())) as Array<[string, StreamEntry[]]> | null;
        } finally {
          this.round = null;
        }
        if (this.closed) return;
        this.deliver(res ?? []);
        const now = Date.now();
        for (const w of this.waiting) {
          if (now - w.since >= this.waitMs) {
            this.waiting.delete(w);
            w.done(null);
          }
        }
        // Followers just answered send their lines and ask again: let them, so that the next read
        // takes them in rather than being unblocked for them one by one.
        await new Promise((r) => setImmediate(r));
      }
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      for (const w of this.waiting) w.fail(error);
      this.waiting.clear();
    } finally {
      this.looping = false;
      // A follower asked just as the loop ended.
      if (this.waiting.size > 0 && !this.closed) {
        this.looping = true;
        void this.loop();
      }
    }
  }

  private deliver(res: Array<[string, StreamEntry[]]>): void {
    if (res.length === 0) return;
    const byKey = new Map(res);
    for (const w of this.waiting) {
      const entries = byKey.get(w.key);
      if (!entries) continue;
      const after = entries.filter(([id]) => compareIds(id, w.after) > 0);
      if (after.length === 0) continue;
      this.waiting.delete(w);
      w.done(after);
    }
  }
}

/** Orders two stream ids (`ms-seq`, or `0`): negative, zero or positive. */
export function compareIds(a: string, b: string): number {
  const [am, as = '0'] = a.split('-');
  const [bm, bs = '0'] = b.split('-');
  return Number(am) - Number(bm) || Number(as) - Number(bs);
}

/** Whether Redis refused a command itself (an ACL, a renamed or unknown command), not the connection. */
function refused(err: Error): boolean {
  return err.name === 'ReplyError' && /^(NOPERM|ERR)/.test(err.message);
}
