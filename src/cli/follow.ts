// `jarvis submit --follow` and `jarvis logs -f`: a task's output streamed to its `end` event, and
// the exit code that follows from how the task ended.
import { CliError, type ApiClient } from './client.ts';
import { redactUrl } from '../config/log-redaction.ts';

/**
 * Streams a task's output until the stream's `end` event. A stream that stops before it (the
 * connection dropped, a proxy timed it out, the control plane restarted) is an error saying so,
 * and how to look at the task, rather than an end that looks like the task's.
 */
export async function followLogs(api: ApiClient, id: string): Promise<void> {
  const path = `/tasks/${encodeURIComponent(id)}`;
  let why = 'the connection closed';
  try {
    for await (const ev of api.events(`${path}/logs?follow=true`)) {
      if (ev.event === 'end') return;
      // The server ended the stream (the key was revoked): its words, not a line of output.
      if (ev.event === 'refused') throw new CliError(`the log stream of task ${id} was ended by the server: ${refusedDetail(ev.data)}`);
      if (ev.event !== 'message') continue;
      process.stdout.write(ev.data + '\n');
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    const cause = (err as Error).cause;
    why = `${(err as Error).message}${cause instanceof Error ? `: ${cause.message}` : ''}`;
  }
  throw new CliError(
    `the log stream of task ${id} stopped before the task ended (${why}); the task may still be running. ` +
      `Follow it again with \`jarvis logs -f ${id}\`, or see its state with GET ${redactUrl(new URL(path, api.baseUrl).href)} (or \`jarvis tasks\`)`,
  );
}

function refusedDetail(data: string): string {
  try {
    const d = (JSON.parse(data) as { detail?: unknown } | null)?.detail;
    if (typeof d === 'string') return d;
  } catch {
    // not JSON: the text as it is
  }
  return data || 'no reason given';
}

/**
 * `submit --follow`'s exit code: 0 for a succeeded task. Any other end (failed, timed out,
 * cancelled, or not ended at all) is the task's exit code when it is one a process can exit
 * with (1-255), else 1: never 0, even when the container itself exited 0.
 */
export function followExitCode(task: { status: string; exit_code: number | null }): number {
  if (task.status === 'succeeded') return 0;
  const code = task.exit_code;
  return typeof code === 'number' && Number.isInteger(code) && code >= 1 && code <= 255 ? code : 1;
}
