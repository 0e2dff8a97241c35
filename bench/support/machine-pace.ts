// The machine's pace when a section starts: a fixed piece of work timed, so two runs can be told
// apart by the machine as well as by the code. This machine is a shared VM: the same commit placed
// 3,277–3,483 tasks/s at 1,000 nodes one night and 1,295/s the next afternoon (session 18), and raw
// BullMQ `Queue.add` went from ~33,000/s to ~8,000/s between those hours. `--compare` prints the
// two runs' paces above the figures (compare.ts, machinePace).
import type { Redis } from 'ioredis';
import { round } from './stats.ts';

export interface Pace {
  /** Median ms of 5 runs of a fixed CPU-bound task in this process (JSON of a task, 20,000 times). */
  cpu_ms: number;
  /** Redis PINGs answered per second, 32 in flight, 4,000 in all: Redis, the loopback and the scheduler. */
  redis_pings_per_second: number;
}

const BODY = {
  image: 'jarvis-test/busybox:latest',
  command: ['sh', '-c', 'echo hello; sleep 1'],
  env: { A: '1', B: 'two', C: 'three' },
  cpu: 0.5,
  memory_mb: 256,
  priority: 'normal',
  labels: { team: 'bench', 'jarvis.sim/duration_ms': '10' },
};

function cpuOnce(): number {
  const t0 = performance.now();
  let n = 0;
  for (let i = 0; i < 20_000; i++) n += (JSON.parse(JSON.stringify({ ...BODY, i })) as { i: number }).i;
  if (n < 0) throw new Error('unreachable'); // keeps the loop's result alive
  return performance.now() - t0;
}

async function pings(redis: Redis, total = 4_000, inFlight = 32): Promise<number> {
  let sent = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (sent < total) {
        sent++;
        await redis.ping();
      }
    }),
  );
  return total / ((performance.now() - t0) / 1000);
}

export async function measurePace(redis: Redis): Promise<Pace> {
  cpuOnce(); // warm the optimiser
  const runs = Array.from({ length: 5 }, cpuOnce).sort((a, b) => a - b);
  return { cpu_ms: round(runs[2]), redis_pings_per_second: Math.round(await pings(redis)) };
}
