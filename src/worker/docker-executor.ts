// Runs one task attempt as a Docker container (dockerode).
//
// Error policy: anything caused by the task itself (missing image, bad command, bad limits, a
// non-zero exit) resolves with a RunOutcome. Only a failure to reach the Docker engine at all
// (socket missing, connection refused/reset) rejects, with a DockerEngineUnavailableError, so the
// agent can stop taking jobs. Whatever happens, a container this executor created is removed.
//
// The pieces: container-spec.ts (what the container is), image-pull.ts, container-output.ts,
// container-kill.ts and container-exit.ts (one step of a run each), docker-errors.ts.
import Dockerode from 'dockerode';
import { gpusOfLabel, LABEL_GPUS } from './gpu-slots.ts';
import { attachOutput, type AttachedOutput } from './container-output.ts';
import { readOutputs } from './container-files.ts';
import { exitOutcome, parseDockerDate, readExitRecord, waitForExit } from './container-exit.ts';
import { ContainerKiller } from './container-kill.ts';
import { DEFAULT_HARDENING, securityRefusal, type Hardening } from './container-security.ts';
import { buildCreateOptions, containerName, LABEL_ATTEMPT, LABEL_TASK_ID } from './container-spec.ts';
import { engineMessage, engineUnavailable, isEngineUnreachable, statusOf } from './docker-errors.ts';
import type { Executor, RunHooks, RunOutcome, RunSpec } from './executor.ts';
import { ensureImage } from './image-pull.ts';
import { abortReason } from './timers.ts';

export { buildCreateOptions, containerName, LABEL_ATTEMPT, LABEL_TASK_ID } from './container-spec.ts';
export { describeEngine, DockerEngineUnavailableError, isEngineUnreachable } from './docker-errors.ts';

export interface ExecutorLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

export interface DockerExecutorOptions {
  docker?: Dockerode;
  logger?: ExecutorLogger;
  /** How long an image pull may take before the attempt errors out. Default 10 minutes. */
  pullTimeoutMs?: number;
  /** How long to wait for the output stream to end after the container exited. Default 2 s. */
  outputDrainMs?: number;
  /** How containers are locked down (worker.security). Default: the restricted profile. */
  hardening?: Hardening;
}

export type RunResult = RunOutcome & { startedAt: Date | null; finishedAt: Date };

/** When the attempt's container started and stopped, as far as known. */
interface RunClock {
  startedAt: Date | null;
  finishedAt: Date | null;
}

const noopLogger: ExecutorLogger = { info() {}, warn() {}, error() {} };

const cancelledBy = (signal: AbortSignal): RunOutcome => ({ status: 'cancelled', exitCode: null, error: abortReason(signal) });

function result(outcome: RunOutcome, clock: RunClock): RunResult {
  let finishedAt = clock.finishedAt ?? new Date();
  // The engine stamps StartedAt when it is done starting and FinishedAt from the runtime's exit
  // event, so for a very short run FinishedAt can come out a few ms before StartedAt.
  if (clock.startedAt && finishedAt < clock.startedAt) finishedAt = clock.startedAt;
  return { ...outcome, startedAt: clock.startedAt, finishedAt };
}

/** The checks before any engine call: an outcome when the attempt ends there. */
function refusal(spec: RunSpec, signal: AbortSignal | undefined): RunOutcome | null {
  if (signal?.aborted) return cancelledBy(signal);
  if (!spec.image || !spec.image.trim()) return { status: 'error', exitCode: null, error: 'no image given' };
  const refused = securityRefusal(spec);
  return refused ? { status: 'error', exitCode: null, error: `refused: ${refused}` } : null;
}

export class DockerExecutor implements Executor {
  readonly docker: Dockerode;
  private readonly log: ExecutorLogger;
  private readonly pullTimeoutMs: number;
  private readonly outputDrainMs: number;
  private readonly hardening: Hardening;
  /** The engine's default log driver, asked once (json-file when it does not say). */
  private logDriver: Promise<string | null> | null = null;

  constructor(options: DockerExecutorOptions = {}) {
    this.docker = options.docker ?? new Dockerode();
    this.log = options.logger ?? noopLogger;
    this.pullTimeoutMs = options.pullTimeoutMs ?? 10 * 60_000;
    this.outputDrainMs = options.outputDrainMs ?? 2_000;
    this.hardening = options.hardening ?? DEFAULT_HARDENING;
  }

  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (err) {
      throw await engineUnavailable(this.docker, err);
    }
  }

  async run(spec: RunSpec, hooks: RunHooks = {}): Promise<RunResult> {
    const clock: RunClock = { startedAt: null, finishedAt: null };
    const refused = refusal(spec, hooks.signal);
    if (refused) {
      await this.discardLeftover(spec);
      return result(refused, clock);
    }
    return result(await this.runAttempt(spec, hooks, clock), clock);
  }

  /**
   * Creates the container and runs it, then removes it. The create is the first call to the
   * engine: the image is inspected (and pulled) only when the engine says it is missing, and a
   * container already there under this attempt's name (the name is per task and attempt) was
   * left by this node before a restart: it is adopted — its output so far, its wait, its exit
   * code. On the common path that is one engine round trip before the start instead of three.
   */
  private async runAttempt(spec: RunSpec, hooks: RunHooks, clock: RunClock): Promise<RunOutcome> {
    let container: Dockerode.Container | null = null;
    try {
      const created = await this.create(spec, hooks.signal);
      if ('outcome' in created) {
        await this.discardLeftover(spec);
        return created.outcome;
      }
      container = created.container;
      if (created.adopted) {
        const info = created.adopted;
        this.log.info({ taskId: spec.taskId, attempt: spec.attempt, containerId: info.Id, state: info.State?.Status }, 'adopting the container of this attempt');
        return await this.beforeRemoval(await this.runContainer(container, spec, hooks, clock, info), hooks, clock);
      }
      if (hooks.signal?.aborted) return cancelledBy(hooks.signal);
      return await this.beforeRemoval(await this.runContainer(container, spec, hooks, clock), hooks, clock);
    } catch (err) {
      if (isEngineUnreachable(err)) throw await engineUnavailable(this.docker, err);
      throw err;
    } finally {
      if (container) await this.removeContainer(container, spec);
    }
  }

  /** Hands the outcome to hooks.onOutcome before the container is removed (see RunHooks). */
  private async beforeRemoval(outcome: RunOutcome, hooks: RunHooks, clock: RunClock): Promise<RunOutcome> {
    try {
      await hooks.onOutcome?.(result(outcome, clock));
    } catch (err) {
      this.log.warn({ err }, 'onOutcome hook threw');
    }
    return outcome;
  }

  /**
   * This attempt's container: created; or created after ensureImage pulled its image, when the
   * engine had none; or adopted, when one of this name is there already.
   */
  private async create(spec: RunSpec, signal: AbortSignal | undefined): Promise<{ container: Dockerode.Container; adopted?: Dockerode.ContainerInspectInfo } | { outcome: RunOutcome }> {
    // Not told (docker info refused, e.g. behind a socket proxy): json-file, Docker's default,
    // rotated, rather than no rotation at all; asked once either way.
    this.logDriver ??= this.docker
      .info()
      .then((i: { LoggingDriver?: string }) => i.LoggingDriver ?? 'json-file')
      .catch(() => 'json-file');
    const options = buildCreateOptions(spec, this.hardening, await this.logDriver);
    let pulled = false;
    for (;;) {
      try {
        return { container: await this.docker.createContainer(options) };
      } catch (err) {
        if (isEngineUnreachable(err)) throw err;
        const code = statusOf(err);
        if (code === 404 && !pulled) {
          // No such image (the engine checks that before the name): pull it, then create again.
          const stop = await ensureImage(spec.image, { docker: this.docker, log: this.log, timeoutMs: this.pullTimeoutMs, signal });
          if (stop) return { outcome: stop };
          if (signal?.aborted) return { outcome: cancelledBy(signal) };
          pulled = true;
          continue;
        }
        if (code === 409) {
          const leftover = await this.findAttempt(spec);
          if (leftover) return { container: leftover.container, adopted: leftover.info };
        }
        const name = containerName(spec.taskId, spec.attempt);
        const why = code === 409 ? `container name "${name}" is already in use (a leftover of an earlier run of this attempt?): ${engineMessage(err)}` : engineMessage(err);
        return { outcome: { status: 'error', exitCode: null, error: `cannot create container from image "${spec.image}": ${why}` } };
      }
    }
  }

  private async findAttempt(spec: RunSpec): Promise<{ container: Dockerode.Container; info: Dockerode.ContainerInspectInfo } | null> {
    const container = this.docker.getContainer(containerName(spec.taskId, spec.attempt));
    try {
      return { container, info: await container.inspect() };
    } catch (err) {
      if (isEngineUnreachable(err)) throw err;
      return null; // 404: gone since the create found it
    }
  }

  async leftovers(nodeId: string): Promise<Array<{ taskId: string; attempt: number; gpus: string[] }>> {
    try {
      const mine = await this.docker.listContainers({ all: true, filters: { label: [`jarvis.node_id=${nodeId}`] } });
      return mine
        // A stopped container holds no card (its attempt may even have been reported already, so
        // no entry would come to give them back): only a running one keeps its cards.
        .map((c) => ({ taskId: c.Labels?.[LABEL_TASK_ID] ?? '', attempt: Number(c.Labels?.[LABEL_ATTEMPT]), gpus: c.State === 'running' ? gpusOfLabel(c.Labels?.[LABEL_GPUS]) : [] }))
        .filter((c) => c.taskId && c.attempt > 0);
    } catch (err) {
      if (isEngineUnreachable(err)) throw await engineUnavailable(this.docker, err);
      throw err;
    }
  }

  /**
   * Kills and removes a container of an attempt this node no longer owns, with its anonymous
   * volumes (a task with outputs has /tmp on one, holding the task's data). False when there was
   * none; a removal the engine refuses otherwise is logged.
   */
  async discard(taskId: string, attempt: number): Promise<boolean> {
    const name = containerName(taskId, attempt);
    try {
      await this.docker.getContainer(name).remove({ force: true, v: true });
      return true;
    } catch (err) {
      if (isEngineUnreachable(err)) throw await engineUnavailable(this.docker, err);
      const code = statusOf(err);
      if (code === 404) return false;
      if (code === 409 && /already in progress/i.test(engineMessage(err))) return true;
      this.log.warn({ taskId, attempt, container: name, err }, 'could not remove the container of an attempt');
      return false;
    }
  }

  /**
   * A redelivered attempt that ends without adopting its container (see RunSpec.redelivered):
   * the container it may have left running goes, or nothing would wait for it or remove it.
   */
  private async discardLeftover(spec: RunSpec): Promise<void> {
    if (!spec.redelivered) return;
    if (await this.discard(spec.taskId, spec.attempt)) {
      this.log.info({ taskId: spec.taskId, attempt: spec.attempt }, 'removed the container this attempt left before a restart: the attempt ended without adopting it');
    }
  }

  /** Output, start (unless adopted running), watch for timeout and cancel, wait, outcome. */
  private async runContainer(
    container: Dockerode.Container,
    spec: RunSpec,
    hooks: RunHooks,
    clock: RunClock,
    adopted?: Dockerode.ContainerInspectInfo,
  ): Promise<RunOutcome> {
    const alreadyStarted = !!adopted && adopted.State?.Status !== 'created';
    const logCtx = { taskId: spec.taskId, attempt: spec.attempt, containerId: container.id };
    const output = await attachOutput(this.docker, container, { replay: alreadyStarted, hooks, log: this.log, logCtx });
    if ('outcome' in output) return output.outcome;
    if (!alreadyStarted) {
      const failed = await this.start(container, output);
      if (failed) return failed;
    }
    // The time start() returned (or, adopted, the engine's StartedAt): an inspect here would
    // cost an engine round trip (tens of ms on a busy engine) on every task's path.
    clock.startedAt = (alreadyStarted && parseDockerDate(adopted?.State?.StartedAt)) || new Date();
    const killer = new ContainerKiller(container, this.log, logCtx, (spec.killGraceSeconds ?? 0) * 1000);
    killer.watch(spec.timeoutSeconds, clock.startedAt, hooks.signal);
    try {
      await this.notifyStarted(hooks, container.id, clock.startedAt, logCtx);
      const waited = await waitForExit(container);
      clock.finishedAt = new Date();
      killer.stop();
      await output.drain(this.outputDrainMs); // all output delivered before we answer
      const exit = await readExitRecord(container, waited, { memoryMb: spec.memoryMb, killedByUs: killer.requested, log: this.log, logCtx });
      clock.finishedAt = exit.finishedAt ?? clock.finishedAt;
      const outcome = exitOutcome(exit, await killer.reason(), { timeoutSeconds: spec.timeoutSeconds, memoryMb: spec.memoryMb, cancelReason: abortReason(hooks.signal) });
      return await this.withOutputs(container, spec, outcome);
    } finally {
      killer.stop();
      output.destroy();
    }
  }

  /** A success reads the declared outputs before the container goes; one that cannot be read fails the attempt. */
  private async withOutputs(container: Dockerode.Container, spec: RunSpec, outcome: RunOutcome): Promise<RunOutcome> {
    if (outcome.status !== 'succeeded' || !spec.outputs || Object.keys(spec.outputs).length === 0) return outcome;
    const read = await readOutputs(container, spec.outputs);
    if (read.ok) return { ...outcome, outputs: read.values };
    return { status: 'failed', exitCode: outcome.exitCode, error: read.error };
  }

  private async start(container: Dockerode.Container, output: AttachedOutput): Promise<RunOutcome | null> {
    try {
      await container.start();
      return null;
    } catch (err) {
      await output.drain(0);
      if (isEngineUnreachable(err)) throw err;
      return { status: 'error', exitCode: null, error: `cannot start container: ${engineMessage(err)}` };
    }
  }

  private async notifyStarted(hooks: RunHooks, containerId: string, startedAt: Date, logCtx: object): Promise<void> {
    if (!hooks.onStarted) return;
    try {
      await hooks.onStarted({ containerId, startedAt });
    } catch (err) {
      this.log.warn({ ...logCtx, err }, 'onStarted hook threw');
    }
  }

  private async removeContainer(container: Dockerode.Container, spec: RunSpec): Promise<void> {
    try {
      await container.remove({ force: true, v: true });
    } catch (err) {
      const code = statusOf(err);
      if (code === 404) return; // already gone
      if (code === 409 && /already in progress/i.test(engineMessage(err))) return;
      this.log.warn({ taskId: spec.taskId, attempt: spec.attempt, containerId: container.id, err }, 'container removal failed');
    }
  }
}

export interface JarvisContainer {
  id: string;
  taskId: string;
  attempt: number;
  /** Docker's state: created, running, exited, dead, paused, restarting, removing. */
  state: string;
}

/** Every container carrying the jarvis.task_id label, running or not (to adopt or kill after a restart). */
export async function findJarvisContainers(docker: Dockerode): Promise<JarvisContainer[]> {
  let list: Dockerode.ContainerInfo[];
  try {
    list = await docker.listContainers({ all: true, filters: { label: [LABEL_TASK_ID] } });
  } catch (err) {
    if (isEngineUnreachable(err)) throw await engineUnavailable(docker, err);
    throw err;
  }
  return list.map((c) => ({
    id: c.Id,
    taskId: c.Labels?.[LABEL_TASK_ID] ?? '',
    attempt: Number(c.Labels?.[LABEL_ATTEMPT] ?? NaN),
    state: c.State,
  }));
}
