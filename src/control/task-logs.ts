// Reading a task's output: the stored log of a finished attempt, the live Redis stream of a
// running one, and following that stream line by line until the worker's end marker.
import type { Redis } from 'ioredis';
import { fieldsOf } from '../monitor/results.ts';
import { isFinal } from '../domain/task.ts';
import type { ControlDeps } from './deps.ts';
import { NotFound } from '../domain/errors.ts';
import { canSee, type Actor } from './actor.ts';

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

export class TaskLogs {
  constructor(
    private readonly deps: Pick<ControlDeps, 'tasks' | 'redis' | 'names' | 'newBlockingConnection'>,
    private readonly endWait: EndWait = END_WAIT,
  ) {}

  /** The output so far: stored when the attempt has ended, else what the live stream holds. */
  async read(id: string, actor: Actor): Promise<TaskOutput> {
    const t = await this.deps.tasks.get(id);
    if (!t || !canSee(actor, t.tenant)) throw new NotFound('Task not found');
    const stored = await this.deps.tasks.logs(id);
    if (stored) return stored;
    return this.readLive(id, t.attempts);
  }

  /** Throws NotFound for an unknown task (or another tenant's); for a known one, nothing. */
  async mustExist(id: string, actor: Actor): Promise<void> {
    const t = await this.deps.tasks.get(id);
    if (!t || !canSee(actor, t.tenant)) throw new NotFound('Task not found');
  }

  /**
   * Emits the task's output line by line until it ends (or `isClosed` says the reader left), then
   * answers how it ended.
   */
  async follow(id: string, isClosed: () => boolean, emit: (line: string) => Promise<void>, onReader: (reader: Redis) => void = () => undefined) {
    const reader = this.deps.newBlockingConnection();
    onReader(reader);
    try {
      await this.followStream(id, reader, isClosed, emit);
      const end = await this.recordedEnd(id, isClosed);
      return { status: end?.status, exit_code: end?.exitCode ?? null };
    } finally {
      reader.disconnect();
    }
  }

  /**
   * The task once its result is recorded, so the end carries the final status. The worker writes
   * its end marker just before it reports the result, and the control plane records it some
   * milliseconds later (bench (b): ~10 ms from the container's exit). So the task is read again
   * every 5 ms at first, then every 50 ms, and as it is after 5 s at most.
   */
  private async recordedEnd(id: string, isClosed: () => boolean) {
    const since = Date.now();
    let end = await this.deps.tasks.get(id);
    while (end && !isFinal(end.status) && !isClosed()) {
      const waited = Date.now() - since;
      if (waited >= this.endWait.giveUpMs) break;
      await new Promise((r) => setTimeout(r, waited < this.endWait.quickForMs ? this.endWait.quickMs : this.endWait.slowMs));
      end = await this.deps.tasks.get(id);
    }
    return end;
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
   * Streams the task's output line by line from its live Redis stream until the worker's end
   * marker; for a task that ended before (its stream gone) it sends the stored log.
   */
  private async followStream(id: string, reader: Redis, isClosed: () => boolean, emit: (line: string) => Promise<void>): Promise<void> {
    const key = this.deps.names.logStream(id);
    let lastId = '0';
    let partial = '';
    let sentAny = false;
    const flushLines = async (text: string) => {
      partial += text;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        await emit(line);
        sentAny = true;
      }
    };
    while (!isClosed()) {
      const res = (await reader.xread('COUNT', 500, 'BLOCK', 1000, 'STREAMS', key, lastId).catch((err) => {
        if (isClosed()) return null;
        throw err;
      })) as Array<[string, Array<[string, string[]]>]> | null;
      if (res) {
        for (const [, entries] of res) {
          for (const [entryId, raw] of entries) {
            lastId = entryId;
            const f = fieldsOf(raw);
            if (f.d !== undefined) await flushLines(f.d);
            if (f.end === '1') {
              if (partial) await emit(partial);
              return;
            }
          }
        }
        continue;
      }
      const t = await this.deps.tasks.get(id);
      if (!t || isFinal(t.status)) {
        // Ended with no (more) live stream: fall back to the stored log once.
        if (!sentAny && lastId === '0') {
          const stored = await this.deps.tasks.logs(id);
          if (stored) await flushLines(stored.logs.endsWith('\n') || stored.logs === '' ? stored.logs : stored.logs + '\n');
        } else if (partial) {
          await emit(partial);
        }
        return;
      }
    }
  }
}
