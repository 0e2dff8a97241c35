// The load side: a lean keep-alive HTTP client (node:http, one socket per in-flight request, so
// the client spends as little CPU as possible on this 2-core-class machine) and a closed-loop
// driver that keeps exactly `concurrency` operations in flight until `count` are done.
import http from 'node:http';
import { round, summarize } from './stats.ts';

export interface HttpResponse {
  status: number;
  body: string;
}

export class HttpClient {
  readonly agent: http.Agent;
  private readonly host: string;
  private readonly port: number;

  /** `headers`: sent with every request (e.g. `authorization`). */
  constructor(
    baseUrl: string,
    maxSockets: number,
    private readonly headers: Record<string, string> = {},
  ) {
    const u = new URL(baseUrl);
    this.host = u.hostname;
    this.port = Number(u.port || 80);
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  request(method: string, path: string, body?: string, timeoutMs = 30_000): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { ...this.headers };
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(body);
      }
      const req = http.request({ host: this.host, port: this.port, method, path, agent: this.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)));
      req.end(body);
    });
  }

  async json<T>(method: string, path: string, body?: unknown, expect?: number): Promise<T> {
    const r = await this.request(method, path, body === undefined ? undefined : JSON.stringify(body));
    if (expect !== undefined && r.status !== expect) throw new Error(`${method} ${path} answered ${r.status}: ${r.body.slice(0, 300)}`);
    return JSON.parse(r.body) as T;
  }

  close(): void {
    this.agent.destroy();
  }
}

export interface LoopResult {
  count: number;
  concurrency: number;
  elapsedMs: number;
  latenciesMs: number[];
  errors: number;
  firstError: string | null;
}

/** What a loop did, for the results JSON: rate over the successful ops, latency summary, errors. */
export function loopFigures(r: LoopResult) {
  return {
    requests: r.count,
    elapsed_s: round(r.elapsedMs / 1000, 3),
    per_second: round((r.count - r.errors) / (r.elapsedMs / 1000), 1),
    latency_ms: summarize(r.latenciesMs),
    errors: r.errors,
    first_error: r.firstError,
  };
}

/** Runs op(0..count-1) with `concurrency` in flight; latency of each op in ms. */
export async function closedLoop(count: number, concurrency: number, op: (i: number) => Promise<void>): Promise<LoopResult> {
  let next = 0;
  let errors = 0;
  let firstError: string | null = null;
  const latencies = new Array<number>(count).fill(NaN);
  const t0 = performance.now();
  const lane = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const s = performance.now();
      try {
        await op(i);
        latencies[i] = performance.now() - s;
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return { count, concurrency, elapsedMs: performance.now() - t0, latenciesMs: latencies, errors, firstError };
}

export interface OpenLoopResult extends LoopResult {
  /** Operations per second asked for. */
  ratePerSecond: number;
  /** How late each operation was started against its schedule (ms): the driver's own slip. */
  startLagMs: number[];
}

/**
 * Open loop: starts op(i) at t0 + i / ratePerSecond whether or not earlier ones have answered
 * (a steady arrival rate, as independent clients make), and waits for all of them.
 */
export async function openLoop(count: number, ratePerSecond: number, op: (i: number) => Promise<void>): Promise<OpenLoopResult> {
  let errors = 0;
  let firstError: string | null = null;
  const latencies = new Array<number>(count).fill(NaN);
  const lags = new Array<number>(count).fill(NaN);
  const inFlight: Array<Promise<void>> = [];
  const t0 = performance.now();
  let maxInFlight = 0;
  let open = 0;
  for (let i = 0; i < count; i++) {
    const due = t0 + (i * 1000) / ratePerSecond;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const s = performance.now();
    lags[i] = s - due;
    open++;
    maxInFlight = Math.max(maxInFlight, open);
    inFlight.push(
      op(i).then(
        () => {
          latencies[i] = performance.now() - s;
          open--;
        },
        (err: unknown) => {
          errors++;
          firstError ??= (err as Error).message;
          open--;
        },
      ),
    );
  }
  await Promise.all(inFlight);
  return { count, concurrency: maxInFlight, elapsedMs: performance.now() - t0, latenciesMs: latencies, errors, firstError, ratePerSecond, startLagMs: lags };
}
