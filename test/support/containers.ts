// A task's Docker containers, found by the label the worker gives them, for tests that look at
// them or clean them up.
import { execFileSync } from 'node:child_process';

/** The task's containers, one line each in `format` (docker ps's Go template); '' when none. */
export function taskContainers(taskId: string, format = '{{.Names}}'): string {
  return execFileSync('docker', ['ps', '-a', '--format', format, '--filter', `label=jarvis.task_id=${taskId}`]).toString().trim();
}

/** The ids of the task's running containers; '' when none runs. */
export function runningTaskContainers(taskId: string): string {
  return execFileSync('docker', ['ps', '-q', '--filter', `label=jarvis.task_id=${taskId}`]).toString().trim();
}

/**
 * The task's containers once they had time to go ('' when they went): the worker reports an
 * outcome before it removes the container, which on the vfs storage driver of a busy machine can
 * take a few seconds.
 */
export async function taskContainersAfter(taskId: string, ms = 15_000, format = '{{.Names}}'): Promise<string> {
  const until = Date.now() + ms;
  let left = taskContainers(taskId, format);
  while (left !== '' && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 200));
    left = taskContainers(taskId, format);
  }
  return left;
}

/** Removes the task's containers (and their volumes), whatever state they are in. */
export function removeTaskContainers(taskId: string): void {
  const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=jarvis.task_id=${taskId}`]).toString().trim().split('\n').filter(Boolean);
  if (ids.length) execFileSync('docker', ['rm', '-f', '-v', ...ids]);
}
