// One leader among control-plane replicas, by a Redis key with expiry (SET NX PX, renewed by a
// compare-and-extend script). The leader runs the dispatcher, the reconciler and the node
// monitor; every replica serves the API and records results (those are safe to run anywhere).
// A leader that dies stops renewing; another takes over once the key expires (ttlMs), so the
// hand-over takes at most ttlMs + renewMs. A leader that cannot renew in time steps down first.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { closeOnce, type CloseOptions, type Part } from '../lifecycle/part.ts';

const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export interface LeaderCallbacks {
  onElected(): Promise<void> | void;
  onDeposed(): Promise<void> | void;
}

export class LeaderLock implements Part {
  private closer?: (options?: CloseOptions) => Promise<void>;
  private started = false;
  readonly id = randomUUID();
  private leader = false;
  private timer: NodeJS.Timeout | null = null;
  private lastRenewed = 0;
  private stopped = false;
  private transition: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: { redis: Redis; key: string; logger: Logger; ttlMs: number; renewMs: number } & LeaderCallbacks,
  ) {}

  get isLeader(): boolean {
    return this.leader;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const tick = async () => {
      await this.step().catch((err) => this.deps.logger.warn({ err: { message: (err as Error).message } }, 'leader: lock check failed'));
      if (!this.stopped) this.timer = setTimeout(tick, this.deps.renewMs);
    };
    void tick();
  }

  private async step(): Promise<void> {
    const { redis, key, ttlMs } = this.deps;
    if (this.leader) {
      // Unable to renew before the key could have expired: someone else may lead now.
      const left = this.lastRenewed + ttlMs * 0.8 - Date.now();
      if (left <= 0) return this.depose('could not renew the leader lock in time');
      // A Redis that stops answering (cut off, stalled) holds the command, it does not fail it:
      // the answer is waited for only until the lock could have expired.
      const ok = await answeredWithin(redis.eval(EXTEND, 1, key, this.id, String(ttlMs)), left);
      if (ok === LATE) {
        // The renewal may still reach Redis: the release queued behind it lets another replica
        // take the lock at once rather than a ttl later.
        redis.eval(RELEASE, 1, key, this.id).catch(() => undefined);
        return this.depose('Redis did not answer the renewal of the leader lock in time');
      }
      if (ok === 1) {
        this.lastRenewed = Date.now();
        return;
      }
      // The key is gone (Redis flushed or restarted) rather than taken: take it back and go on.
      const again = await answeredWithin(redis.set(key, this.id, 'PX', ttlMs, 'NX'), this.lastRenewed + ttlMs * 0.8 - Date.now());
      if (again === LATE) return this.depose('Redis did not answer in time while the leader lock was taken again');
      if (again === 'OK') {
        this.lastRenewed = Date.now();
        this.deps.logger.warn({ replica: this.id }, 'leader: the leader lock had vanished from Redis; took it again');
        return;
      }
      await this.depose('the leader lock was taken by another replica');
      return;
    }
    const got = await redis.set(key, this.id, 'PX', ttlMs, 'NX');
    if (got === 'OK') {
      this.leader = true;
      this.lastRenewed = Date.now();
      this.deps.logger.info({ replica: this.id }, 'leader: this control plane now schedules and monitors');
      this.transition = this.transition.then(() => this.deps.onElected());
      await this.transition;
    }
  }

  private async depose(why: string): Promise<void> {
    if (!this.leader) return;
    this.leader = false;
    this.deps.logger.warn({ replica: this.id }, `leader: stepping down: ${why}`);
    this.transition = this.transition.then(() => withDeadline(Promise.resolve(this.deps.onDeposed()), 15_000, this.deps.logger));
    await this.transition;
  }

  /**
   * Stops electing and, when leading, steps down and releases the lock (see lifecycle/part.ts);
   * force: releases the lock without waiting for the parts it led to stop.
   */
  close(options?: CloseOptions): Promise<void> {
    this.closer ??= closeOnce(async ({ force }) => {
      this.stopped = true;
      if (this.timer) clearTimeout(this.timer);
      if (!force) await this.transition.catch(() => undefined);
      if (force) {
        // The release script deletes the key only while it holds this replica's id.
        this.leader = false;
        await this.deps.redis.eval(RELEASE, 1, this.deps.key, this.id).catch(() => undefined);
      } else if (this.leader) {
        this.leader = false;
        await this.deps.onDeposed();
        await this.deps.redis.eval(RELEASE, 1, this.deps.key, this.id).catch(() => undefined);
      }
    });
    return this.closer(options);
  }
}

const LATE = Symbol('late');

/** p's value, or LATE once ms have passed first (a later failure of p is dropped). */
async function answeredWithin<T>(p: Promise<T>, ms: number): Promise<T | typeof LATE> {
  let timer: NodeJS.Timeout | undefined;
  p.catch(() => undefined);
  try {
    return await Promise.race([p, new Promise<typeof LATE>((resolve) => (timer = setTimeout(() => resolve(LATE), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Stopping must not wedge the election loop: after the deadline it goes on regardless. */
async function withDeadline(p: Promise<void>, ms: number, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p.catch((err) => logger.warn({ err }, 'leader: error while stepping down')),
    new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        logger.warn(`leader: stepping down took over ${ms} ms; going on`);
        resolve();
      }, ms);
    }),
  ]);
  clearTimeout(timer);
}
