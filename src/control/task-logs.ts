// Reading a task's output: the stored log of a finished attempt, the live Redis stream of a
// running one, and following that stream line by line until the worker's end marker.
import { fieldsOf } from '../monitor/results.ts';
import { isFinal, isOnNode } from '../domain/task.ts';
import type { ControlDeps } from './deps.ts';
import { NotFound, Unauthorized } from '../domain/errors.ts';
import { canSee, type Actor } from './actor.ts';
import type { TaskRow } from '../state/schema.ts';
import { TaskStatusReads } from './task-status-reads.ts';

export interface TaskOutput {
  logs: string;
  truncated: boolean;
}

/** How the end of a followed task waits for its recorded result (see recordedEnd). */
export interface EndWait {
  /** Between reads at first, ms. */
  quickMs: number;
  /** For how long reads are quick, ms. */
  quickForMs: number;
  /** Between reads after that, ms. */
  slowMs: number;
  /** After this long the end says the status as it is, ms. */
  giveUpMs: number;
}

const END_WAIT: EndWait = { quickMs: 5, quickForMs: 100, slowMs: 50, giveUpMs: 5_000 };

export interface FollowOptions {
  /** Aborted when the reader leaves: the wait for the next line ends at once. */
  signal?: AbortSignal;
  /**
   * Whether the follower may still read (its key not revoked): asked after each read of the
   * stream, before its lines are sent, and at each quiet second. false ends the follow with
   * Unauthorized (FOLLOWER_REFUSED).
   */
  allowed?: () => Promise<boolean>;
}

/** Why a follow ended early: its key was refused while it ran. */
export const FOLLOWER_REFUSED =
  'This log stream was ended: its API key is no longer accepted (revoked). Follow the task again with a valid key';

export class TaskLogs {
  /** What every quiet follower of this process asks each second, read for them all together. */
  private readonly statuses: TaskStatusReads;

  constructor(
    private readonly deps: Pick<ControlDeps, 'tasks' | 'redis' | 'names' | 'logStreams'>,
    private readonly endWait: EndWait = END_WAIT,
  ) {
    this.statuses = new TaskStatusReads(deps.tasks);
  }

  /**
   * The output so far: stored when the attempt has ended, else what the live stream holds. A
   * later attempt on a node (a retry) shows its own output, not the stored one of the attempt
   * before it (which it showed until session 28, for as long as the retry ran).
   */
  async read(id: string, actor: Actor): Promise<TaskOutput> {
    const t = await this.deps.tasks.get(id);
    if (!t || !canSee(actor, t.tenant)) throw new NotFound('Task not found');
    const stored = await this.deps.tasks.logs(id);
    if (stored && !(isOnNode(t.status) && stored.attempt < t.attempts)) return { logs: stored.logs, truncated: stored.truncated };
    return this.readLive(id, t.attempts);
  }

  /** Throws NotFound for an unknown task (or another tenant's); for a known one, nothing. */
  async mustExist(id: string, actor: Actor): Promise<void> {
    const t = await this.deps.tasks.get(id);
    if (!t || !canSee(actor, t.tenant)) throw new NotFound('Task not found');
  }

  /**
   * Emits the task's output line by line until it ends (or `isClosed` says the reader left), then
   * answers how it ended. An attempt that ends in a retry does not end the stream: the next
   * attempt's output follows on it, until an attempt's end is the task's. Throws Unauthorized
   * when `options.allowed` says the follower may no longer read.
   */
  async follow(id: string, isClosed: () => boolean, emit: (line: string) => Promise<void>, options: FollowOptions = {}) {
    const at: StreamPosition = { lastId: '0', partial: '', sentAny: false };
    for (;;) {
      const attempt = await this.followStream(id, isClosed, emit, at, options);
      const { task, recorded } = await this.recordedEnd(id, attempt, isClosed);
      // Another attempt comes (a retry was recorded): its worker starts the stream afresh.
      const again = recorded && attempt !== null && task !== null && !isFinal(task.status) && !isClosed();
      if (!again) return { status: task?.status, exit_code: task?.exitCode ?? null };
    }
  }

  /**
   * The task once the result of `attempt` is recorded (null: the task's end), so the end carries
   * the recorded status. The worker writes its end marker just before it reports the result, and
   * the control plane records it some milliseconds later (bench (b): ~10 ms from the container's
   * exit). So the task is read again every 5 ms at first, then every 50 ms, and as it is after 5 s
   * at most (`recorded` false). A result is recorded once the task has ended, or has gone back to
   * wait for another attempt, or is on a later attempt already.
   */
  private async recordedEnd(id: string, attempt: number | null, isClosed: () => boolean) {
    const isRecorded = (t: TaskRow | null) => !t || isFinal(t.status) || (attempt !== null && (t.attempts > attempt || t.status === 'queued' || t.status === 'pending'));
    const since = Date.now();
    let task = await this.deps.tasks.get(id);
    while (!isRecorded(task) && !isClosed()) {
      const waited = Date.now() - since;
      if (waited >= this.endWait.giveUpMs) break;
      await new Promise((r) => setTimeout(r, waited < this.endWait.quickForMs ? this.endWait.quickMs : this.endWait.slowMs));
      task = await this.deps.tasks.get(id);
    }
    return { task, recorded: isRecorded(task) };
  }

  private async readLive(id: string, attempt: number): Promise<TaskOutput> {
    const entries = await this.deps.redis.xrange(this.deps.names.logStream(id), '-', '+').catch(() => []);
    let logs = '';
    let truncated = false;
    for (const [, raw] of entries) {
      const f = fieldsOf(raw);
      if (f.a !== String(attempt)) continue;
      if (f.d !== undefined) logs += f.d;
      if (f.truncated === '1') truncated = true;
    }
    return { logs, truncated };
  }

  /**
   * Streams the task's output line by line from its live Redis stream, from `at` on, until an
   * attempt's end marker, and answers that attempt; for a task that ended with no live stream (it
   * ended long ago) it sends the stored log once and answers null, as it does when the reader left.
   */
  private async followStream(id: string, isClosed: () => boolean, emit: (line: string) => Promise<void>, at: StreamPosition, options: FollowOptions): Promise<number | null> {
    const key = this.deps.names.logStream(id);
    const flushLines = async (text: string) => {
      at.partial += text;
      const lines = at.partial.split('\n');
      at.partial = lines.pop() ?? '';
      for (const line of lines) {
        await emit(line);
        at.sentAny = true;
      }
    };
    const mayRead = async () => {
      if (options.allowed && !(await options.allowed())) throw new Unauthorized(FOLLOWER_REFUSED);
    };
    while (!isClosed()) {
      // One reader for every follower of this process (monitor/log-streams.ts).
      const entries = await this.deps.logStreams.read(key, at.lastId, options.signal).catch((err) => {
        if (isClosed()) return null;
        throw err;
      });
      if (isClosed()) return null;
      // Checked after the read, before its lines go out: none read after a revocation is sent.
      await mayRead();
      if (entries) {
        for (const [entryId, raw] of entries) {
          at.lastId = entryId;
          const f = fieldsOf(raw);
          if (f.d !== undefined) await flushLines(f.d);
          if (f.end === '1') {
            if (at.partial) await emit(at.partial);
            at.partial = '';
            const attempt = Number(f.a);
            return Number.isInteger(attempt) && attempt > 0 ? attempt : null;
          }
        }
        continue;
      }
      // A quiet second: has the task ended (or gone)? Its status only, read with those of the
      // other quiet followers (before, each read its whole row: a statement per follow a second).
      const status = await this.statuses.status(id);
      if (status === null || isFinal(status)) {
        // Ended with no (more) live stream: fall back to the stored log once.
        if (!at.sentAny && at.lastId === '0') {
          const stored = await this.deps.tasks.logs(id);
          if (stored) await flushLines(stored.logs.endsWith('\n') || stored.logs === '' ? stored.logs : stored.logs + '\n');
        } else if (at.partial) {
          await emit(at.partial);
          at.partial = '';
        }
        return null;
      }
    }
    return null;
  }
}

/** Where a follower is in a task's stream, kept from one attempt to the next. */
interface StreamPosition {
  lastId: string;
  /** The last line so far, not yet ended by a newline. */
  partial: string;
  sentAny: boolean;
}
