// Reading nodes' inboxes (scheduler/hand-over.ts writes them): one Redis stream per node, read
// through a consumer group, so an entry a worker took stays in the group's pending list until
// the worker says the attempt is done. A worker that restarts reads its pending entries back at
// once (and adopts their containers); a running task holds nothing in Redis meanwhile.
//
// One reader per process: the simulated nodes of `jarvis worker --nodes N` share it. It does
// not block on the inboxes themselves: a blocking XREADGROUP over 1,000 streams cost Redis ~3 ms
// a call, 37 % of its time in bench (e)'s drain. Each node names its reader (names.nodeReader),
// and a hand-over rings that reader's bell (a list of node ids) once it has added entries; the
// reader blocks on its bell alone and reads, without blocking, only the inboxes that rang. A
// slow sweep over every inbox catches what a lost ring would leave (Redis emptied, a reader key
// taken over by another process), and names this reader again for each of its nodes.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RECORD_AFTER_DONE_S, type RedisNames } from '../scheduler/queues.ts';
import { attemptDone } from './attempt-commands.ts';

/** The consumer group every inbox has, and its one consumer (a node is served by one process). */
const GROUP = 'node';
const CONSUMER = 'worker';
/** How long a wait on the bell lasts before the loop looks again (seconds). */
const BELL_WAIT_S = 1;
/** How often every inbox is read regardless of rings. */
const SWEEP_MS = 15_000;
/** Entries taken from one inbox per read, and inboxes read per command. */
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
  /** This process's reader: hand-overs ring its bell with the node's id. */
  private readonly readerId = randomUUID();
  private blocking: Redis | null = null;
  private closed = false;
  private loop: Promise<void> | null = null;
  private lastSweep = Date.now();
  private warnedAt = 0;

  /** sweepMs: how often every inbox is read regardless of rings (default SWEEP_MS). */
  constructor(private readonly deps: { connection: Redis; names: RedisNames; logger: Logger; sweepMs?: number }) {}

  /**
   * Starts reading a node's inbox. Entries it took in a previous process and never finished are
   * delivered first (redelivered), then what waits. `paused`: nothing is taken until resumed.
   */
  async join(nodeId: string, deliver: (entries: InboxEntry[]) => void, paused = false): Promise<void> {
    const { connection, names } = this.deps;
    const key = names.nodeInbox(nodeId);
    await this.ensureGroup(key);
    // Rings from now on reach this reader; what was handed over before is read just below.
    await connection.set(names.nodeReader(nodeId), this.readerId);
    const pending = await this.pendingOf(key);
    this.subs.set(key, { nodeId, deliver, paused });
    if (pending.length > 0) deliver(pending);
    if (!paused) await this.read([key]);
    this.loop ??= this.run();
  }

  /** Stops or resumes taking a node's entries (its engine is away, or back). */
  pause(nodeId: string, paused: boolean): void {
    const key = this.deps.names.nodeInbox(nodeId);
    const sub = this.subs.get(key);
    if (!sub || sub.paused === paused) return;
    sub.paused = paused;
    // What was handed over while paused rang no one who listened: read it now.
    if (!paused) void this.read([key]).catch((err) => this.warn(err));
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
    if (attempt) {
      await attemptDone(connection, { inbox: key, group: GROUP, entryId, attemptKey: names.attemptKey(attempt.taskId, attempt.attempt), ttlSeconds: RECORD_AFTER_DONE_S });
    } else {
      // An entry that named no attempt (unreadable): nothing to expire.
      await Promise.all([connection.xack(key, GROUP, entryId), connection.xdel(key, entryId)]);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subs.clear();
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

  /** Takes what waits in these inboxes (without blocking) and delivers it to their nodes. */
  private async read(keys: string[]): Promise<void> {
    let todo = keys;
    while (todo.length > 0 && !this.closed) {
      const chunk = todo.slice(0, COUNT);
      todo = todo.slice(COUNT);
      let reply: StreamReply;
      try {
        reply = (await xreadgroup(this.deps.connection, 'GROUP', GROUP, CONSUMER, 'COUNT', COUNT, 'STREAMS', ...chunk, ...chunk.map(() => '>'))) as StreamReply;
      } catch (err) {
        if (!/NOGROUP/.test((err as Error).message)) throw err;
        // An inbox or its group vanished (Redis emptied): make them again; the next read takes them.
        await Promise.all(chunk.map((key) => this.ensureGroup(key).catch(() => undefined)));
        continue;
      }
      for (const [key, entries] of reply ?? []) {
        const sub = this.subs.get(key);
        // A node that left meanwhile: its entries stay pending, for its next start.
        if (sub) sub.deliver(entries.filter(([, f]) => f !== null).map(([id, fields]) => entry(id, fields as string[], false)));
        if (entries.length === COUNT) todo.push(key); // more waits there
      }
    }
  }

  private async run(): Promise<void> {
    const { connection, names, logger } = this.deps;
    this.blocking = connection.duplicate();
    this.blocking.on('error', (err) => logger.debug({ err }, 'worker: inbox connection error'));
    const bell = names.readerBell(this.readerId);
    while (!this.closed) {
      try {
        const rang = (await this.blocking.blmpop(BELL_WAIT_S, 1, bell, 'LEFT', 'COUNT', COUNT)) as [string, string[]] | null;
        const keys = new Set<string>();
        for (const nodeId of rang?.[1] ?? []) keys.add(names.nodeInbox(nodeId));
        if (Date.now() - this.lastSweep >= (this.deps.sweepMs ?? SWEEP_MS)) {
          this.lastSweep = Date.now();
          for (const key of this.subs.keys()) keys.add(key);
          // And each node names this reader again: Redis emptied (restarted without its data)
          // would otherwise leave every later hand-over to wait for a sweep.
          await Promise.all([...this.subs.values()].map((sub) => connection.set(names.nodeReader(sub.nodeId), this.readerId)));
        }
        await this.read([...keys].filter((key) => this.subs.get(key)?.paused === false));
      } catch (err) {
        if (this.closed) break;
        this.warn(err);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    this.blocking.disconnect();
  }

  /** Reading failed (Redis away?): said once a minute at most; the loop retries. */
  private warn(err: unknown): void {
    if (Date.now() - this.warnedAt < 60_000) return;
    this.warnedAt = Date.now();
    this.deps.logger.warn({ err: { message: (err as Error).message } }, "worker: could not read the nodes' inboxes in Redis; retrying");
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
