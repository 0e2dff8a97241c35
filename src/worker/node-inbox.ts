// Reading nodes' inboxes (scheduler/hand-over.ts writes them): one Redis stream per node, read
// through a consumer group, so an entry a worker took stays in the group's pending list until
// the worker says the attempt is done. A worker that restarts reads its pending entries back at
// once (and adopts their containers); a running task holds nothing in Redis meanwhile.
//
// One reader per process: the simulated nodes of `jarvis worker --nodes N` share one blocking
// XREADGROUP over all their inboxes (one connection, not one each), and a real worker has one.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RECORD_AFTER_DONE_S, type RedisNames } from '../scheduler/queues.ts';

/** The consumer group every inbox has, and its one consumer (a node is served by one process). */
const GROUP = 'node';
const CONSUMER = 'worker';
/** The longest a read blocks: what a node joining may wait to be read if its wake-up is missed. */
const BLOCK_MS = 1_000;
/** Entries taken from one inbox per read. The control plane never places more than a node holds. */
const COUNT = 1_000;

export interface InboxEntry {
  /** The stream entry's id (its first part is when it was handed over, in ms). */
  id: string;
  /** When it was handed over (ms). */
  at: number;
  /** The attempt as handed over (JSON), unchecked. */
  job: unknown;
  /** Taken before, by this node's previous process, and never done: it may have run already. */
  redelivered: boolean;
}

interface Subscriber {
  nodeId: string;
  deliver(entries: InboxEntry[]): void;
  paused: boolean;
}

type StreamReply = Array<[string, Array<[string, string[] | null]>]> | null;

export class NodeInbox {
  private readonly subs = new Map<string, Subscriber>();
  private blocking: Redis | null = null;
  private blockingId: number | null = null;
  private blocked = false;
  private unblockSent = false;
  private closed = false;
  private loop: Promise<void> | null = null;
  private woken: (() => void) | null = null;
  private noGroupWarned = false;

  constructor(private readonly deps: { connection: Redis; names: RedisNames; logger: Logger }) {}

  /**
   * Starts reading a node's inbox. Entries it took in a previous process and never finished are
   * delivered first (redelivered). `paused`: none is taken until resume().
   */
  async join(nodeId: string, deliver: (entries: InboxEntry[]) => void, paused = false): Promise<void> {
    const key = this.deps.names.nodeInbox(nodeId);
    await this.ensureGroup(key);
    const pending = await this.pendingOf(key);
    this.subs.set(key, { nodeId, deliver, paused });
    if (pending.length > 0) deliver(pending);
    this.loop ??= this.run();
    this.wake();
  }

  /** Stops or resumes taking a node's entries (its engine is away, or back). */
  pause(nodeId: string, paused: boolean): void {
    const sub = this.subs.get(this.deps.names.nodeInbox(nodeId));
    if (!sub || sub.paused === paused) return;
    sub.paused = paused;
    this.wake();
  }

  /** Stops reading a node's inbox; what it took and did not finish stays pending for its next start. */
  leave(nodeId: string): void {
    this.subs.delete(this.deps.names.nodeInbox(nodeId));
  }

  /**
   * An entry's attempt is over (reported, or not this node's any more): it leaves the pending
   * list and the stream, and the attempt's record expires in an hour.
   */
  async done(nodeId: string, entryId: string, attempt: { taskId: string; attempt: number } | null): Promise<void> {
    const { connection, names } = this.deps;
    const key = names.nodeInbox(nodeId);
    await Promise.all([
      connection.xack(key, GROUP, entryId),
      connection.xdel(key, entryId),
      attempt ? connection.expire(names.attemptKey(attempt.taskId, attempt.attempt), RECORD_AFTER_DONE_S) : undefined,
    ]);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subs.clear();
    this.woken?.();
    this.blocking?.disconnect();
    await this.loop;
  }

  private async ensureGroup(key: string): Promise<void> {
    try {
      // From the stream's start: entries handed over before this node first read are taken too.
      await this.deps.connection.xgroup('CREATE', key, GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err;
    }
  }

  /** The entries this node's consumer took and never acknowledged, oldest first. */
  private async pendingOf(key: string): Promise<InboxEntry[]> {
    const out: InboxEntry[] = [];
    let after = '0';
    for (;;) {
      const reply = (await xreadgroup(this.deps.connection, 'GROUP', GROUP, CONSUMER, 'COUNT', COUNT, 'STREAMS', key, after)) as StreamReply;
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length === 0) return out;
      for (const [id, fields] of entries) {
        after = id;
        // Deleted from the stream while still pending (cannot happen through done()): drop it.
        if (!fields) await this.deps.connection.xack(key, GROUP, id);
        else out.push(entry(id, fields, true));
      }
    }
  }

  /** Makes a blocked read return, so the next one reads the inboxes as they are now. */
  private wake(): void {
    if (this.woken) {
      const w = this.woken;
      this.woken = null;
      w();
    }
    if (!this.blocked || this.unblockSent || this.blockingId === null) return;
    this.unblockSent = true;
    this.deps.connection.client('UNBLOCK', this.blockingId).catch(() => undefined);
  }

  private async run(): Promise<void> {
    const { connection, logger } = this.deps;
    this.blocking = connection.duplicate();
    this.blocking.on('error', (err) => logger.debug({ err }, 'worker: inbox connection error'));
    this.blocking.on('close', () => {
      this.blockingId = null;
    });
    while (!this.closed) {
      const subs = [...this.subs.entries()].filter(([, s]) => !s.paused);
      if (subs.length === 0) {
        await new Promise<void>((resolve) => {
          this.woken = resolve;
        });
        continue;
      }
      try {
        this.blockingId ??= (await this.blocking.client('ID')) as number;
        if (this.closed) break;
        const keys = subs.map(([key]) => key);
        this.blocked = true;
        this.unblockSent = false;
        const reply = (await xreadgroup(this.blocking, 'GROUP', GROUP, CONSUMER, 'COUNT', COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', ...keys, ...keys.map(() => '>'))) as StreamReply;
        this.blocked = false;
        for (const [key, entries] of reply ?? []) {
          const sub = this.subs.get(key);
          // A node that left meanwhile: its entries stay pending, for its next start.
          if (sub) sub.deliver(entries.filter(([, f]) => f !== null).map(([id, fields]) => entry(id, fields as string[], false)));
        }
      } catch (err) {
        this.blocked = false;
        if (this.closed) break;
        if (/NOGROUP/.test((err as Error).message)) {
          // The inbox or its group vanished (Redis flushed or restarted empty): make them again.
          if (!this.noGroupWarned) logger.warn('worker: a node inbox had vanished from Redis (flushed?); making it again');
          this.noGroupWarned = true;
          await Promise.all([...this.subs.keys()].map((key) => this.ensureGroup(key).catch(() => undefined)));
        } else {
          logger.debug({ err: { message: (err as Error).message } }, 'worker: reading node inboxes failed; retrying');
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    }
    this.blocking.disconnect();
  }
}

/** ioredis's XREADGROUP (its generic `call` flattens the reply's pairs), with loose argument types. */
function xreadgroup(redis: Redis, ...args: Array<string | number>): Promise<unknown> {
  return (redis.xreadgroup as unknown as (...a: Array<string | number>) => Promise<unknown>).apply(redis, args);
}

function entry(id: string, fields: string[], redelivered: boolean): InboxEntry {
  const at = fields.indexOf('job');
  const raw = at >= 0 ? fields[at + 1] : undefined;
  let job: unknown = null;
  try {
    job = raw === undefined ? null : JSON.parse(raw);
  } catch {
    job = raw;
  }
  return { id, at: Number(id.split('-')[0]), job, redelivered };
}
