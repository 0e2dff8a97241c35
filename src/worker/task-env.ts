// The env a task's container gets: plain values as they are, and `{secret: NAME}` values asked of
// the control plane for this attempt with the node's own token (POST /nodes/{id}/secrets), held
// in memory for the run only. With them comes the masker that replaces those values with `***`
// in the task's output before it leaves the node.
//
// A control plane that cannot answer (restarting: connection refused, a 5xx from it, its database
// or a proxy in front, no answer within the request's deadline, 408, 429) is asked again, 0.5 s
// then doubling to 30 s apart, for up to 15 minutes while the attempt is not stopped: the node's
// heartbeats list the attempt meanwhile, so the control plane does not take it for lost. Any
// other answer (404: a secret deleted; 409: the attempt no longer this node's, or a
// JARVIS_SECRET_KEY that cannot open the secret) ends the attempt in error, saying why.
import type { NodeJob } from '../scheduler/queues.ts';
import { SecretMasker } from './secret-mask.ts';
import { doublingWaitMs } from '../lifecycle/backoff.ts';
import { setTimeout as sleep } from 'node:timers/promises';

type Post = (path: string, body: unknown, token: string, signal: AbortSignal) => Promise<Response>;

export interface TaskEnv {
  env: Record<string, string>;
  masker: SecretMasker | null;
  /** Set when the secrets could not be had: the attempt ends in error with this, unrun. */
  problem: string | null;
  /** True when `signal` stopped the attempt before the secrets came (env then lacks them). */
  stopped?: boolean;
}

export interface TaskEnvOptions {
  /** Stops the retries (the attempt was cancelled or lost). */
  signal?: AbortSignal;
  /** How long one request may take, ms. Default 30 s. */
  requestMs?: number;
  /** The first wait between tries and the longest, ms. Default 500 and 30,000. */
  firstWaitMs?: number;
  maxWaitMs?: number;
  /** How long to keep asking before the attempt ends in error, ms. Default SECRETS_GIVE_UP_MS (15 min). */
  giveUpMs?: number;
  /** Told of each failed try that will be tried again. */
  onRetry?: (info: { tries: number; waitMs: number; error: string }) => void;
}

/**
 * Whether an HTTP status from the secrets route may be worth asking again: a control plane, its
 * database or a proxy in front of it that is away or busy (a 500 is what a database that
 * failed over or a full connection pool gives). A key that cannot open the secret is a 409.
 */
export function retryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** How long the secrets are asked for at most before the attempt ends in error. */
export const SECRETS_GIVE_UP_MS = 15 * 60_000;

export async function resolveTaskEnv(
  spec: Pick<NodeJob, 'env' | 'taskId' | 'attempt'>,
  node: { id: string; token: string },
  post: Post,
  options: TaskEnvOptions = {},
): Promise<TaskEnv> {
  const env: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [k, v] of Object.entries(spec.env)) {
    if (typeof v === 'string') env[k] = v;
    else secretKeys.push(k);
  }
  if (secretKeys.length === 0) return { env, masker: null, problem: null };
  const { signal, requestMs = 30_000, firstWaitMs = 500, maxWaitMs = 30_000, giveUpMs = SECRETS_GIVE_UP_MS } = options;
  const since = Date.now();
  const problem = (why: string) => `could not get the task's secrets from the control plane: ${why}`;
  for (let tries = 1; ; tries++) {
    if (signal?.aborted) return { env, masker: null, problem: null, stopped: true };
    let why: string;
    try {
      const deadline = AbortSignal.timeout(requestMs);
      const res = await post(`/nodes/${node.id}/secrets`, { task_id: spec.taskId, attempt: spec.attempt }, node.token, signal ? AbortSignal.any([signal, deadline]) : deadline);
      const body = (await res.json().catch(() => null)) as { env?: Record<string, string>; detail?: unknown } | null;
      if (res.status === 200 && body?.env) {
        Object.assign(env, body.env);
        return { env, masker: new SecretMasker(secretKeys.map((k) => body.env![k] ?? '')), problem: null };
      }
      why = `${res.status}: ${typeof body?.detail === 'string' ? body.detail : 'no answer'}`;
      if (!retryableStatus(res.status)) return { env, masker: null, problem: problem(why) };
    } catch (err) {
      if (signal?.aborted) return { env, masker: null, problem: null, stopped: true };
      // Not reached, or no answer in time: fetch's "fetch failed" names its cause.
      const e = err as Error & { cause?: { code?: string; message?: string } };
      why = e.cause?.code ?? e.cause?.message ?? e.message;
    }
    if (Date.now() - since >= giveUpMs) return { env, masker: null, problem: problem(`${why} (asked for ${Math.round((Date.now() - since) / 1000)} s)`) };
    const waitMs = doublingWaitMs(tries, firstWaitMs, maxWaitMs);
    options.onRetry?.({ tries, waitMs, error: why });
    await sleep(waitMs, undefined, { signal }).catch(() => undefined);
  }
}
