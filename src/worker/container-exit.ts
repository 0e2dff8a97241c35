// How a container's run ended: its exit code (from wait, or the engine's record when wait lost
// it), whether the OOM killer ended it, when it finished — and the attempt's outcome from that.
import type Dockerode from 'dockerode';
import type { KillReason } from './container-kill.ts';
import { engineMessage, isEngineUnreachable } from './docker-errors.ts';
import type { RunOutcome } from './executor.ts';
import { sleep } from './timers.ts';

const OOM_RECHECKS = 5;
const OOM_RECHECK_MS = 100;

export interface ContainerExit {
  exitCode: number | null;
  /** What wait() or the engine said went wrong, if anything. */
  waitError: string | null;
  oomKilled: boolean;
  /** The engine's FinishedAt, when it was read. */
  finishedAt: Date | null;
}

export function parseDockerDate(s: string | undefined | null): Date | null {
  if (!s || s.startsWith('0001-01-01')) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}

/**
 * Waits for the container to stop. Condition "not-running" (the default) is race-free after
 * start: an already exited container answers at once with its exit code.
 */
export async function waitForExit(container: Dockerode.Container): Promise<ContainerExit> {
  try {
    const res = (await container.wait()) as { StatusCode?: number; Error?: { Message?: string } | null };
    const exitCode = typeof res?.StatusCode === 'number' ? res.StatusCode : null;
    return { exitCode, waitError: res?.Error?.Message || null, oomKilled: false, finishedAt: null };
  } catch (err) {
    if (isEngineUnreachable(err)) throw err;
    return { exitCode: null, waitError: engineMessage(err), oomKilled: false, finishedAt: null };
  }
}

/**
 * Completes the exit with the engine's record. Only an exit by SIGKILL (137) can be the OOM
 * killer, and only a lost exit code needs the record: other exits skip the inspect round trip.
 */
export async function readExitRecord(
  container: Dockerode.Container,
  exit: ContainerExit,
  o: { memoryMb: number; killedByUs: boolean; log: { warn(obj: object, msg?: string): void }; logCtx: object },
): Promise<ContainerExit> {
  if (exit.exitCode !== null && exit.exitCode !== 137) return exit;
  try {
    let info = await container.inspect();
    // The engine handles containerd's OOM event apart from the exit event, and it can land a
    // moment after wait() answered: a SIGKILL exit under a memory limit that we did not cause
    // gets a short second look before we call it a plain exit 137.
    const mayBeOom = () =>
      info.State?.OOMKilled !== true && !o.killedByUs && o.memoryMb > 0 && (exit.exitCode ?? info.State?.ExitCode) === 137;
    for (let i = 0; i < OOM_RECHECKS && mayBeOom(); i++) {
      await sleep(OOM_RECHECK_MS);
      info = await container.inspect();
    }
    const recorded = typeof info.State?.ExitCode === 'number' ? info.State.ExitCode : null;
    return {
      exitCode: exit.exitCode ?? recorded,
      waitError: exit.waitError,
      oomKilled: info.State?.OOMKilled === true,
      finishedAt: parseDockerDate(info.State?.FinishedAt),
    };
  } catch (err) {
    if (isEngineUnreachable(err)) throw err;
    o.log.warn({ ...o.logCtx, err }, 'inspect after exit failed');
    return exit;
  }
}

/** The attempt's outcome: a kill we made names it; otherwise the exit code does. */
export function exitOutcome(
  exit: ContainerExit,
  killed: KillReason | null,
  o: { timeoutSeconds: number | null; memoryMb: number; cancelReason: string | null },
): RunOutcome {
  const { exitCode } = exit;
  if (killed === 'timeout') return { status: 'timed_out', exitCode, error: `timed out after ${o.timeoutSeconds} s` };
  if (killed === 'abort') return { status: 'cancelled', exitCode, error: o.cancelReason };
  if (exitCode === null) {
    return { status: 'error', exitCode: null, error: `lost track of the container: ${exit.waitError ?? 'no exit code'}` };
  }
  if (exitCode === 0) return { status: 'succeeded', exitCode, error: null };
  let error = `exited with code ${exitCode}`;
  if (exit.oomKilled) error += `; killed: out of memory (limit ${o.memoryMb} MiB)`;
  else if (exit.waitError) error += `: ${exit.waitError}`;
  return { status: 'failed', exitCode, error };
}
