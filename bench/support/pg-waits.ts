// What PostgreSQL's slow statements wait on while a loop runs: pg_stat_activity sampled every
// 5 ms for the database's backends, counting each statement that had been running for more than
// SLOW_MS by its wait event ("IO:WALSync" is the commit's flush of the write-ahead log;
// "CPU:-" is running). It tells a tail that the disk set (a stalled flush) from one the code did.
import pg from 'pg';
import { ADMIN_DATABASE_URL } from './services.ts';
import { sleep } from './stats.ts';

const EVERY_MS = 5;
const SLOW_MS = 20;

export interface SlowWaits {
  what: string;
  samples: number;
  /** Samples of a statement running for more than SLOW_MS, by "statement | wait", most first (top 8). */
  slow: Array<{ statement: string; wait: string; samples: number }>;
}

/** Starts sampling the database `dbName`; the function returned stops and summarizes. */
export async function watchSlowWaits(dbName: string): Promise<() => Promise<SlowWaits>> {
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await client.connect();
  const counts = new Map<string, number>();
  let samples = 0;
  let going = true;
  const loop = (async () => {
    while (going) {
      const r = await client
        .query<{ wait: string; statement: string }>(
          `select coalesce(wait_event_type, 'CPU') || ':' || coalesce(wait_event, '-') as wait,
                  left(regexp_replace(query, '\\s+', ' ', 'g'), 40) as statement
           from pg_stat_activity
           where datname = $1 and state = 'active' and pid <> pg_backend_pid() and now() - query_start > make_interval(secs => $2)`,
          [dbName, SLOW_MS / 1000],
        )
        .catch(() => null);
      samples++;
      for (const x of r?.rows ?? []) {
        const key = `${x.statement}\u0000${x.wait}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      await sleep(EVERY_MS);
    }
  })();
  return async () => {
    going = false;
    await loop;
    await client.end().catch(() => undefined);
    const slow = [...counts]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([k, n]) => {
        const [statement, wait] = k.split('\u0000');
        return { statement, wait, samples: n };
      });
    return { what: `pg_stat_activity every ${EVERY_MS} ms: statements running for more than ${SLOW_MS} ms, by wait event`, samples, slow };
  };
}
