// The measured closed loop of sections (a) and (d): warm-up, then the loop with CPU, PostgreSQL and
// Redis observers around it, summarised as one throughput row.
import type { Redis } from 'ioredis';
import type { ProfileSummary } from './cpuprofile.ts';
import { log } from './harness.ts';
import { closedLoop, loopFigures, type LoopResult } from './load.ts';
import { commandStatsDelta, cpuDelta, cpuSnapshot, pgCounters, redisCommandStats, type PgCounters } from './services.ts';
import { S } from './settings.ts';
import { round, sleep, type Summary } from './stats.ts';
import type { SlowWaits } from './pg-waits.ts';

export interface ThroughputResult {
  label: string;
  what: string;
  requests: number;
  warmup: number;
  concurrency: number;
  elapsed_s: number;
  per_second: number;
  latency_ms: Summary;
  errors: number;
  first_error: string | null;
  cpu?: ReturnType<typeof cpuDelta>;
  jarvis_cpu_ms_per_request?: number | null;
  postgres_per_request?: Record<string, number> | null;
  redis_calls_per_request?: { total: number; top: Array<[string, number]>; note: string };
  check?: Record<string, unknown>;
  profile?: ProfileSummary | null;
  /** CLOCK_MONOTONIC µs around the measured loop (for the profile). */
  window_us?: [number, number];
  /** Open loops: what PostgreSQL's slow statements waited on (pg-waits.ts). */
  postgres_slow_waits?: SlowWaits | null;
}

export function throughputOf(label: string, what: string, r: LoopResult): ThroughputResult {
  const { requests, ...rest } = loopFigures(r);
  return { label, what, requests, warmup: S.warmup, concurrency: r.concurrency, ...rest };
}

export function assertFewErrors(what: string, r: LoopResult) {
  if (r.errors > Math.max(1, r.count * 0.01)) throw new Error(`${what}: ${r.errors} of ${r.count} operations failed; first: ${r.firstError}`);
}

/** Runs warm-up then the measured loop, with CPU / PostgreSQL / Redis observers around the latter. */
export async function measured(
  label: string,
  what: string,
  op: () => Promise<void>,
  obs: { redis: Redis; serverPid?: number; dbName?: string; tag?: string; requests?: number; warmupOverride?: number; concurrency?: number },
): Promise<ThroughputResult> {
  const tag = obs.tag ?? '(a)';
  const requests = obs.requests ?? S.requests;
  const warmup = obs.warmupOverride ?? S.warmup;
  const concurrency = obs.concurrency ?? S.concurrency;
  log(`${tag} ${what}: ${warmup} warm-up, then ${requests} with ${concurrency} in flight…`);
  const warm = await closedLoop(warmup, concurrency, op);
  assertFewErrors(`${what} (warm-up)`, warm);
  const pg0: PgCounters | null = obs.dbName ? await pgCounters(obs.dbName) : null;
  const rs0 = await redisCommandStats(obs.redis);
  const cpu0 = cpuSnapshot(obs.serverPid ?? null);
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const r = await closedLoop(requests, concurrency, op);
  const toUs = Number(process.hrtime.bigint() / 1000n);
  const cpu1 = cpuSnapshot(obs.serverPid ?? null);
  const rs1 = await redisCommandStats(obs.redis);
  assertFewErrors(what, r);
  const out = throughputOf(label, what, r);
  out.window_us = [fromUs, toUs];
  out.cpu = cpuDelta(cpu0, cpu1);
  if (out.cpu.jarvis_cpu_ms !== null) out.jarvis_cpu_ms_per_request = round(out.cpu.jarvis_cpu_ms / requests, 3);
  const delta = commandStatsDelta(rs0, rs1);
  const total = delta.reduce((a, [, n]) => a + n, 0);
  out.redis_calls_per_request = {
    total: round(total / requests, 2),
    top: delta.slice(0, 6).map(([k, n]) => [k, round(n / requests, 2)]),
    note: 'INFO commandstats of the whole (shared) Redis server during the measured loop, per request; EVALSHA = one BullMQ script',
  };
  if (obs.dbName && pg0) {
    await sleep(1_100); // PostgreSQL flushes its statistics about once a second
    const pg1 = await pgCounters(obs.dbName);
    if (pg1) {
      out.postgres_per_request = Object.fromEntries(
        Object.entries(pg1).map(([k, v]) => [k, round((v - pg0[k as keyof PgCounters]) / requests, 2)]),
      );
    }
  }
  log(`${tag} ${what}: ${out.per_second} /s, p50 ${out.latency_ms.p50} ms, p99 ${out.latency_ms.p99} ms`);
  return out;
}