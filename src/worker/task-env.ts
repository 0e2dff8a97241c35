// The env a task's container gets: plain values as they are, and `{secret: NAME}` values asked of
// the control plane for this attempt with the node's own token (POST /nodes/{id}/secrets), held
// in memory for the run only. With them comes the masker that replaces those values with `***`
// in the task's output before it leaves the node.
import type { NodeJob } from '../scheduler/queues.ts';
import { SecretMasker } from './secret-mask.ts';

type Post = (path: string, body: unknown, token: string) => Promise<Response>;

export interface TaskEnv {
  env: Record<string, string>;
  masker: SecretMasker | null;
  /** Set when the secrets could not be had: the attempt ends in error with this, unrun. */
  problem: string | null;
}

export async function resolveTaskEnv(spec: Pick<NodeJob, 'env' | 'taskId' | 'attempt'>, node: { id: string; token: string }, post: Post): Promise<TaskEnv> {
  const env: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [k, v] of Object.entries(spec.env)) {
    if (typeof v === 'string') env[k] = v;
    else secretKeys.push(k);
  }
  if (secretKeys.length === 0) return { env, masker: null, problem: null };
  try {
    const res = await post(`/nodes/${node.id}/secrets`, { task_id: spec.taskId, attempt: spec.attempt }, node.token);
    const body = (await res.json().catch(() => null)) as { env?: Record<string, string>; detail?: unknown } | null;
    if (res.status !== 200 || !body?.env) throw new Error(`${res.status}: ${typeof body?.detail === 'string' ? body.detail : 'no answer'}`);
    Object.assign(env, body.env);
    return { env, masker: new SecretMasker(secretKeys.map((k) => body.env![k] ?? '')), problem: null };
  } catch (err) {
    return { env, masker: null, problem: `could not get the task's secrets from the control plane: ${(err as Error).message}` };
  }
}
