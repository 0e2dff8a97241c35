// Secrets a task's env takes values from ({"secret": NAME}) must exist in its tenant when it is
// submitted; a missing one is a 422 pointing at the env key. The values are read (and opened)
// only when a node runs the task (NodeControl.secretsFor).
import { InvalidInput, type InputProblem } from '../domain/errors.ts';
import { isSecretRef, type TaskEnv } from '../domain/task.ts';
import type { ControlDeps } from './deps.ts';

/** `envs`: each task's env with the loc prefix of that task (["body"] or ["body","tasks",3]). */
export async function checkSecretRefs(deps: Pick<ControlDeps, 'secrets'>, tenant: string, envs: Array<{ loc: Array<string | number>; env: TaskEnv | undefined }>): Promise<void> {
  const wanted = new Set<string>();
  for (const { env } of envs) for (const v of Object.values(env ?? {})) if (isSecretRef(v)) wanted.add(v.secret);
  if (wanted.size === 0) return;
  const found = await deps.secrets.sealedMany(tenant, [...wanted]);
  const problems: InputProblem[] = [];
  for (const { loc, env } of envs) {
    for (const [key, v] of Object.entries(env ?? {})) {
      if (!isSecretRef(v) || found.has(v.secret)) continue;
      problems.push({
        type: 'value_error',
        loc: [...loc, 'env', key],
        msg: `Value error, secret "${v.secret}" does not exist in tenant ${tenant}: create it first with POST /secrets`,
        input: v,
        ctx: { error: {} },
      });
    }
  }
  if (problems.length > 0) throw new InvalidInput(problems);
}
