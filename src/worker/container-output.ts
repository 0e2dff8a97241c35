// A container's output, from attach to the last byte: stdout and stderr demultiplexed and handed
// to the attempt's onOutput hook as they arrive, then drained before the attempt answers.
import { PassThrough } from 'node:stream';
import type Dockerode from 'dockerode';
import { engineMessage, isEngineUnreachable } from './docker-errors.ts';
import type { RunHooks, RunOutcome } from './executor.ts';
import { sleep } from './timers.ts';

export interface OutputLogger {
  warn(obj: object, msg?: string): void;
}

export interface AttachedOutput {
  /** Waits up to capMs for the stream to end (then closes it) and until every chunk was handed on. */
  drain(capMs: number): Promise<void>;
  /** Closes the stream at once. */
  destroy(): void;
}

type AttachStream = NodeJS.ReadableStream & { destroy?: () => void };

/** Calls the hook for each chunk; a hook that throws is logged once and output keeps flowing. */
function forwarder(hooks: RunHooks, log: OutputLogger, logCtx: object) {
  let hookFailed = false;
  return (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    if (!hooks.onOutput) return;
    try {
      hooks.onOutput(chunk, stream);
    } catch (err) {
      if (!hookFailed) log.warn({ ...logCtx, err }, 'onOutput hook threw; output keeps flowing');
      hookFailed = true;
    }
  };
}

/** Resolves when the attach stream is over, however it ends. */
function ended(attach: AttachStream, log: OutputLogger, logCtx: object): Promise<void> {
  return new Promise<void>((resolve) => {
    attach.once('end', () => resolve());
    attach.once('close', () => resolve());
    attach.on('error', (err: unknown) => {
      log.warn({ ...logCtx, err }, 'output stream error');
      resolve();
    });
  });
}

/**
 * Attaches before start so nothing printed early is lost. `replay`: an adopted container's
 * earlier output comes first (logs: true). An attach the engine refuses is the attempt's outcome.
 */
export async function attachOutput(
  docker: Dockerode,
  container: Dockerode.Container,
  o: { replay: boolean; hooks: RunHooks; log: OutputLogger; logCtx: object },
): Promise<AttachedOutput | { outcome: RunOutcome }> {
  const forward = forwarder(o.hooks, o.log, o.logCtx);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  stdout.on('data', forward('stdout'));
  stderr.on('data', forward('stderr'));
  const outEnded = Promise.all([new Promise<void>((r) => stdout.once('end', r)), new Promise<void>((r) => stderr.once('end', r))]);

  let attach: AttachStream;
  try {
    attach = await container.attach({ stream: true, stdout: true, stderr: true, logs: o.replay });
  } catch (err) {
    if (isEngineUnreachable(err)) throw err;
    return { outcome: { status: 'error', exitCode: null, error: `cannot attach to the container output: ${engineMessage(err)}` } };
  }
  const attachEnded = ended(attach, o.log, o.logCtx);
  docker.modem.demuxStream(attach, stdout, stderr);

  return {
    async drain(capMs: number) {
      const done = await Promise.race([attachEnded.then(() => true), sleep(capMs).then(() => false)]);
      if (!done) {
        if (capMs > 0) o.log.warn({ ...o.logCtx, capMs }, 'output stream did not end in time; closing it');
        attach.destroy?.();
      }
      stdout.end();
      stderr.end();
      await outEnded;
    },
    destroy: () => attach.destroy?.(),
  };
}
