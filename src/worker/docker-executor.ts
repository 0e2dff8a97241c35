// Runs one task attempt as a Docker container (dockerode).
//
// Error policy: anything caused by the task itself (missing image, bad command, bad limits, a
// non-zero exit) resolves with a RunOutcome. Only a failure to reach the Docker engine at all
// (socket missing, connection refused/reset) rejects, with a DockerEngineUnavailableError, so the
// agent can stop taking jobs. Whatever happens, a container this executor created is removed.

import Dockerode from 'dockerode';
import { PassThrough } from 'node:stream';
import { DEFAULT_HARDENING, RESTRICTED, securityRefusal, type Hardening } from './container-security.ts';
import type { Executor, RunHooks, RunOutcome, RunSpec } from './executor.ts';

export interface ExecutorLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
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

export const LABEL_TASK_ID = 'jarvis.task_id';
export const LABEL_ATTEMPT = 'jarvis.attempt';

/** The Docker engine could not be reached; the message says where it was looked for and what to do. */
export class DockerEngineUnavailableError extends Error {
  readonly endpoint: string;
  constructor(endpoint: string, cause: unknown) {
    const code = asDockerError(cause).code;
    const advice =
      code === 'EACCES' || code === 'EPERM'
        ? 'Permission denied on the socket: run the worker as root or as a member of the `docker` group.'
        : process.env.DOCKER_HOST
          ? 'Start the Docker daemon there, or fix DOCKER_HOST (unset it to use the local socket /var/run/docker.sock).'
          : 'Start the Docker daemon (e.g. `systemctl start docker` or run `dockerd`), ' +
            'or set DOCKER_HOST to the address of a running engine (e.g. unix:///path/docker.sock or tcp://host:2375).';
    super(`Docker engine at ${endpoint} cannot be reached (${errorText(cause)}). ${advice}`, { cause });
    this.name = 'DockerEngineUnavailableError';
    this.endpoint = endpoint;
  }
}

const noopLogger: ExecutorLogger = { info() {}, warn() {}, error() {} };

/** Node socket-level error codes that mean "no engine to talk to" rather than "the engine said no". */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'EACCES',
  'EPERM',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

interface DockerError {
  statusCode?: number;
  code?: string;
  message?: string;
  json?: { message?: string } | null;
}

function asDockerError(err: unknown): DockerError {
  return (err && typeof err === 'object' ? err : {}) as DockerError;
}

export function isEngineUnreachable(err: unknown): boolean {
  if (err instanceof DockerEngineUnavailableError) return true;
  const e = asDockerError(err);
  if (typeof e.statusCode === 'number') return false; // the engine answered
  if (e.code && UNREACHABLE_CODES.has(e.code)) return true;
  return /socket hang up/i.test(e.message ?? '');
}

function statusOf(err: unknown): number | undefined {
  return asDockerError(err).statusCode;
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The engine's own words, without dockerode's "(HTTP code 404) no such image - " prefix. */
function engineMessage(err: unknown): string {
  const e = asDockerError(err);
  const fromJson = e.json && typeof e.json === 'object' ? e.json.message : undefined;
  const raw = (fromJson ?? e.message ?? String(err)).trim();
  return raw.replace(/^\(HTTP code \d+\) [^-]*- /, '').trim();
}

function parseDockerDate(s: string | undefined | null): Date | null {
  if (!s || s.startsWith('0001-01-01')) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}

/** setTimeout for delays past its 2^31-1 ms (~24.8 days) limit, which would otherwise fire at once. */
function longTimeout(fn: () => void, ms: number): { clear(): void } {
  const MAX = 2 ** 31 - 1;
  const due = Date.now() + ms;
  let handle: NodeJS.Timeout;
  const arm = () => {
    const left = due - Date.now();
    handle = left > MAX ? setTimeout(arm, MAX) : setTimeout(fn, Math.max(0, left));
  };
  arm();
  return { clear: () => clearTimeout(handle) };
}

/** Where this client talks to the engine, in words: unix:///var/run/docker.sock, tcp://h:2375… */
export async function describeEngine(docker: Dockerode): Promise<string> {
  const modem = docker.modem as {
    socketPath?: string | (() => unknown);
    getSocketPath?: () => Promise<string | undefined> | undefined;
    host?: string;
    port?: string | number;
    protocol?: string;
  };
  const fromEnv = process.env.DOCKER_HOST ? ` (DOCKER_HOST=${process.env.DOCKER_HOST})` : '';
  if (modem.socketPath) {
    let p: unknown = modem.socketPath;
    try {
      if (typeof modem.getSocketPath === 'function') p = await modem.getSocketPath();
    } catch {
      /* keep what we have */
    }
    if (typeof p === 'string') return `unix://${p}${fromEnv}`;
  }
  if (modem.host) {
    const port = modem.port ? `:${modem.port}` : '';
    return `${modem.protocol ?? 'http'}://${modem.host}${port}${fromEnv}`;
  }
  return process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
}

/** A container name Docker accepts: [a-zA-Z0-9][a-zA-Z0-9_.-]* */
export function containerName(taskId: string, attempt: number): string {
  return `jarvis-${taskId}-${attempt}`.replace(/[^a-zA-Z0-9_.-]/g, '_');
}

export function buildCreateOptions(spec: RunSpec, hardening: Hardening = DEFAULT_HARDENING): Dockerode.ContainerCreateOptions {
  const cmd =
    spec.command === null ? undefined : typeof spec.command === 'string' ? ['sh', '-c', spec.command] : spec.command;
  const security = spec.security ?? RESTRICTED;
  const hostConfig: Dockerode.HostConfig = {
    NetworkMode: spec.network,
    Privileged: false,
    SecurityOpt: ['no-new-privileges'],
    CapDrop: ['ALL'],
    ...(hardening.capAdd.length ? { CapAdd: [...hardening.capAdd] } : {}),
    PidsLimit: hardening.pidsLimit,
    ReadonlyRootfs: hardening.readOnlyRootFs,
    Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${hardening.tmpSizeMb}m,mode=1777` },
  };
  if (security.allowHostMounts && security.mounts.length) {
    hostConfig.Mounts = security.mounts.map((m) => ({ Type: 'bind' as const, Source: m.source, Target: m.target, ReadOnly: m.readOnly }));
  }
  if (spec.cpu > 0) hostConfig.NanoCpus = Math.round(spec.cpu * 1e9);
  if (spec.memoryMb > 0) {
    hostConfig.Memory = Math.round(spec.memoryMb * 1024 * 1024);
    // No swap on top: memoryMb is the hard limit, so an over-limit task is OOM-killed, not slowed.
    hostConfig.MemorySwap = hostConfig.Memory;
  }
  if (spec.gpu > 0) {
    hostConfig.DeviceRequests = [{ Driver: 'nvidia', Count: spec.gpu, Capabilities: [['gpu']] }];
  }
  return {
    name: containerName(spec.taskId, spec.attempt),
    Image: spec.image,
    ...(cmd ? { Cmd: cmd } : {}),
    ...(hardening.user ? { User: hardening.user } : {}),
    Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
    // Our labels last: a task cannot spoof the ones the worker uses to find its containers.
    Labels: { ...(spec.labels ?? {}), [LABEL_TASK_ID]: spec.taskId, [LABEL_ATTEMPT]: String(spec.attempt) },
    Tty: false,
    OpenStdin: false,
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: hostConfig,
  };
}

const OOM_RECHECKS = 5;
const OOM_RECHECK_MS = 100;

type Early = { outcome: RunOutcome } | null;

export class DockerExecutor implements Executor {
  readonly docker: Dockerode;
  private readonly log: ExecutorLogger;
  private readonly pullTimeoutMs: number;
  private readonly outputDrainMs: number;
  private readonly hardening: Hardening;

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
      throw new DockerEngineUnavailableError(await describeEngine(this.docker), err);
    }
  }

  private async unavailable(err: unknown): Promise<DockerEngineUnavailableError> {
    if (err instanceof DockerEngineUnavailableError) return err;
    return new DockerEngineUnavailableError(await describeEngine(this.docker), err);
  }

  async run(spec: RunSpec, hooks: RunHooks = {}): Promise<RunResult> {
    const ctx = { startedAt: null as Date | null, finishedAt: null as Date | null };
    const done = (outcome: RunOutcome): RunResult => {
      let finishedAt = ctx.finishedAt ?? new Date();
      // The engine stamps StartedAt when it is done starting and FinishedAt from the runtime's
      // exit event, so for a very short run FinishedAt can come out a few ms before StartedAt.
      if (ctx.startedAt && finishedAt < ctx.startedAt) finishedAt = ctx.startedAt;
      return { ...outcome, startedAt: ctx.startedAt, finishedAt };
    };
    const signal = hooks.signal;
    const cancelled = (): RunResult => done({ status: 'cancelled', exitCode: null, error: abortReason(signal) });

    if (signal?.aborted) return cancelled();
    if (!spec.image || !spec.image.trim()) {
      return done({ status: 'error', exitCode: null, error: 'no image given' });
    }
    const refused = securityRefusal(spec);
    if (refused) return done({ status: 'error', exitCode: null, error: `refused: ${refused}` });

    // 1. Image.
    const early = await this.ensureImage(spec.image, signal);
    if (early) return done(early.outcome);
    if (signal?.aborted) return cancelled();

    // 2. Container. One already there for this attempt was left by this node before a restart
    // (the name is per task and attempt): adopt it — its output so far, its wait, its exit code.
    let container: Dockerode.Container | null = null;
    try {
      const leftover = await this.findAttempt(spec);
      if (leftover) {
        container = leftover.container;
        this.log.info({ taskId: spec.taskId, attempt: spec.attempt, containerId: leftover.info.Id, state: leftover.info.State?.Status }, 'adopting the container of this attempt');
        return await this.runContainer(container, spec, hooks, ctx, done, leftover.info);
      }
      try {
        container = await this.docker.createContainer(buildCreateOptions(spec, this.hardening));
      } catch (err) {
        if (isEngineUnreachable(err)) throw await this.unavailable(err);
        const name = containerName(spec.taskId, spec.attempt);
        const why =
          statusOf(err) === 409
            ? `container name "${name}" is already in use (a leftover of an earlier run of this attempt?): ${engineMessage(err)}`
            : engineMessage(err);
        return done({ status: 'error', exitCode: null, error: `cannot create container from image "${spec.image}": ${why}` });
      }
      if (signal?.aborted) return cancelled();
      return await this.runContainer(container, spec, hooks, ctx, done);
    } catch (err) {
      if (isEngineUnreachable(err)) throw await this.unavailable(err);
      throw err;
    } finally {
      if (container) await this.removeContainer(container, spec);
    }
  }

  private async findAttempt(spec: RunSpec): Promise<{ container: Dockerode.Container; info: Dockerode.ContainerInspectInfo } | null> {
    const container = this.docker.getContainer(containerName(spec.taskId, spec.attempt));
    try {
      return { container, info: await container.inspect() };
    } catch (err) {
      if (isEngineUnreachable(err)) throw await this.unavailable(err);
      return null; // 404: none
    }
  }

  async leftovers(nodeId: string): Promise<Array<{ taskId: string; attempt: number }>> {
    try {
      const mine = await this.docker.listContainers({ all: true, filters: { label: [`jarvis.node_id=${nodeId}`] } });
      return mine.map((c) => ({ taskId: c.Labels?.[LABEL_TASK_ID] ?? '', attempt: Number(c.Labels?.[LABEL_ATTEMPT]) })).filter((c) => c.taskId && c.attempt > 0);
    } catch (err) {
      if (isEngineUnreachable(err)) throw await this.unavailable(err);
      throw err;
    }
  }

  /** Kills and removes a container of an attempt this node no longer owns. */
  async discard(taskId: string, attempt: number): Promise<boolean> {
    try {
      await this.docker.getContainer(containerName(taskId, attempt)).remove({ force: true });
      return true;
    } catch (err) {
      if (isEngineUnreachable(err)) throw await this.unavailable(err);
      return false;
    }
  }

  /** Inspect, pull when missing. Returns an outcome when the run must stop here. */
  private async ensureImage(ref: string, signal: AbortSignal | undefined): Promise<Early> {
    try {
      await this.docker.getImage(ref).inspect();
      return null;
    } catch (err) {
      if (isEngineUnreachable(err)) throw await this.unavailable(err);
      // 404: not here, pull it. Anything else (e.g. an invalid reference): let the pull say why.
    }

    const t0 = Date.now();
    this.log.info({ image: ref }, 'pulling image');
    // One abort for the whole pull (request and progress stream): the time limit or the caller.
    const pullAbort = new AbortController();
    let stopped: 'timeout' | 'aborted' | null = null;
    const timer = setTimeout(() => {
      stopped ??= 'timeout';
      pullAbort.abort();
    }, this.pullTimeoutMs);
    const onAbort = () => {
      stopped ??= 'aborted';
      pullAbort.abort();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();

    let failure: string | null = null;
    try {
      const stream: NodeJS.ReadableStream = await this.docker.pull(ref, { abortSignal: pullAbort.signal });
      failure = await new Promise<string | null>((resolve, reject) => {
        let lastError: string | null = null;
        const onStopped = () => resolve('stopped');
        pullAbort.signal.addEventListener('abort', onStopped, { once: true });
        this.docker.modem.followProgress(
          stream,
          (err: unknown) => {
            pullAbort.signal.removeEventListener('abort', onStopped);
            if (err) reject(err);
            else resolve(lastError);
          },
          (event: { error?: string; errorDetail?: { message?: string } }) => {
            // Registry-side failures arrive as a progress event, not as an HTTP error.
            if (event && (event.error || event.errorDetail)) {
              lastError = event.errorDetail?.message ?? event.error ?? 'pull failed';
            }
          },
        );
      });
    } catch (err) {
      if (!stopped && isEngineUnreachable(err)) throw await this.unavailable(err);
      failure = engineMessage(err);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }

    const why = stopped as 'timeout' | 'aborted' | null;
    if (why === 'aborted') return { outcome: { status: 'cancelled', exitCode: null, error: abortReason(signal) } };
    if (why === 'timeout') {
      const s = Math.round(this.pullTimeoutMs / 1000);
      return { outcome: { status: 'error', exitCode: null, error: `image "${ref}" could not be pulled within ${s} s` } };
    }
    if (failure) return { outcome: { status: 'error', exitCode: null, error: `image "${ref}" not found: ${failure}` } };

    // The pull ended without an error event; make sure the image is really here.
    try {
      await this.docker.getImage(ref).inspect();
    } catch (err) {
      if (isEngineUnreachable(err)) throw await this.unavailable(err);
      return { outcome: { status: 'error', exitCode: null, error: `image "${ref}" not found after pull: ${engineMessage(err)}` } };
    }
    this.log.info({ image: ref, ms: Date.now() - t0 }, 'image pulled');
    return null;
  }

  private async runContainer(
    container: Dockerode.Container,
    spec: RunSpec,
    hooks: RunHooks,
    ctx: { startedAt: Date | null; finishedAt: Date | null },
    done: (o: RunOutcome) => RunResult,
    adopted?: Dockerode.ContainerInspectInfo,
  ): Promise<RunResult> {
    const signal = hooks.signal;
    const alreadyStarted = !!adopted && adopted.State?.Status !== 'created';
    const logCtx = { taskId: spec.taskId, attempt: spec.attempt, containerId: container.id };

    // 3. Output: attach before start so nothing printed early is lost.
    let hookFailed = false;
    const forward = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      if (!hooks.onOutput) return;
      try {
        hooks.onOutput(chunk, stream);
      } catch (err) {
        if (!hookFailed) this.log.warn({ ...logCtx, err }, 'onOutput hook threw; output keeps flowing');
        hookFailed = true;
      }
    };
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    stdout.on('data', forward('stdout'));
    stderr.on('data', forward('stderr'));
    const outEnded = Promise.all([
      new Promise<void>((r) => stdout.once('end', r)),
      new Promise<void>((r) => stderr.once('end', r)),
    ]);

    let attach: NodeJS.ReadableStream & { destroy?: () => void };
    try {
      // An adopted container's earlier output is replayed (logs: true) before the live output.
      attach = await container.attach({ stream: true, stdout: true, stderr: true, logs: alreadyStarted });
    } catch (err) {
      if (isEngineUnreachable(err)) throw err;
      return done({ status: 'error', exitCode: null, error: `cannot attach to the container output: ${engineMessage(err)}` });
    }
    const attachEnded = new Promise<void>((resolve) => {
      attach.once('end', () => resolve());
      attach.once('close', () => resolve());
      attach.on('error', (err: unknown) => {
        this.log.warn({ ...logCtx, err }, 'output stream error');
        resolve();
      });
    });
    this.docker.modem.demuxStream(attach, stdout, stderr);

    const drainOutput = async (capMs: number) => {
      const ended = await Promise.race([attachEnded.then(() => true), sleep(capMs).then(() => false)]);
      if (!ended) {
        if (capMs > 0) this.log.warn({ ...logCtx, capMs }, 'output stream did not end in time; closing it');
        attach.destroy?.();
      }
      stdout.end();
      stderr.end();
      await outEnded;
    };

    if (!alreadyStarted) {
      try {
        await container.start();
      } catch (err) {
        await drainOutput(0);
        if (isEngineUnreachable(err)) throw err;
        return done({ status: 'error', exitCode: null, error: `cannot start container: ${engineMessage(err)}` });
      }
    }
    const startedLocal = (alreadyStarted && parseDockerDate(adopted?.State?.StartedAt)) || new Date();

    // 4. Timeout and cancellation both kill; whichever came first names the outcome.
    let killReason: 'timeout' | 'abort' | null = null;
    /** Resolves false when the container had already stopped by itself (the kill came too late). */
    let killed: Promise<boolean> | null = null;
    const kill = (why: 'timeout' | 'abort') => {
      if (killReason) return;
      killReason = why;
      this.log.info({ ...logCtx, why }, 'killing container');
      killed = container.kill({ signal: 'SIGKILL' }).then(
        () => true,
        (err: unknown) => {
          const code = statusOf(err);
          if (code === 409 || code === 404) return false; // not running any more / gone
          this.log.warn({ ...logCtx, err }, 'kill failed');
          return true;
        },
      );
    };
    const timer =
      spec.timeoutSeconds !== null && spec.timeoutSeconds > 0
        ? longTimeout(() => kill('timeout'), Math.max(0, spec.timeoutSeconds * 1000 - (Date.now() - startedLocal.getTime())))
        : null;
    const onAbort = () => kill('abort');
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();

    try {
      // The time start() returned (or, adopted, the engine's StartedAt): an inspect here would
      // cost an engine round trip (tens of ms on a busy engine) on every task's path.
      ctx.startedAt = startedLocal;
      if (hooks.onStarted) {
        try {
          await hooks.onStarted({ containerId: container.id, startedAt: ctx.startedAt });
        } catch (err) {
          this.log.warn({ ...logCtx, err }, 'onStarted hook threw');
        }
      }

      // condition "not-running" (the default) is race-free after start: an already exited
      // container answers at once with its exit code.
      let exitCode: number | null = null;
      let waitError: string | null = null;
      try {
        const res = (await container.wait()) as { StatusCode?: number; Error?: { Message?: string } | null };
        exitCode = typeof res?.StatusCode === 'number' ? res.StatusCode : null;
        waitError = res?.Error?.Message || null;
      } catch (err) {
        if (isEngineUnreachable(err)) throw err;
        waitError = engineMessage(err);
      }
      ctx.finishedAt = new Date();
      timer?.clear();
      signal?.removeEventListener('abort', onAbort);

      // 5. All output delivered before we answer.
      await drainOutput(this.outputDrainMs);

      let oomKilled = false;
      // Only an exit by SIGKILL (137) can be the OOM killer, and only a lost exit code needs the
      // engine's record: other exits skip the inspect round trip.
      if (exitCode === null || exitCode === 137) {
        try {
          let info = await container.inspect();
          // The engine handles containerd's OOM event apart from the exit event, and it can land
          // a moment after wait() answered: a SIGKILL exit under a memory limit that we did not
          // cause gets a short second look before we call it a plain exit 137.
          const mayBeOom = () =>
            info.State?.OOMKilled !== true && killReason === null && spec.memoryMb > 0 && (exitCode ?? info.State?.ExitCode) === 137;
          for (let i = 0; i < OOM_RECHECKS && mayBeOom(); i++) {
            await sleep(OOM_RECHECK_MS);
            info = await container.inspect();
          }
          oomKilled = info.State?.OOMKilled === true;
          ctx.finishedAt = parseDockerDate(info.State?.FinishedAt) ?? ctx.finishedAt;
          if (exitCode === null && typeof info.State?.ExitCode === 'number') exitCode = info.State.ExitCode;
        } catch (err) {
          if (isEngineUnreachable(err)) throw err;
          this.log.warn({ ...logCtx, err }, 'inspect after exit failed');
        }
      }

      let reason = killReason as 'timeout' | 'abort' | null;
      if (reason && killed && !(await (killed as Promise<boolean>))) reason = null; // it had finished by itself
      if (reason === 'timeout') {
        return done({ status: 'timed_out', exitCode, error: `timed out after ${spec.timeoutSeconds} s` });
      }
      if (reason === 'abort') {
        return done({ status: 'cancelled', exitCode, error: abortReason(signal) });
      }
      if (exitCode === null) {
        return done({ status: 'error', exitCode: null, error: `lost track of the container: ${waitError ?? 'no exit code'}` });
      }
      if (exitCode === 0) return done({ status: 'succeeded', exitCode, error: null });
      let error = `exited with code ${exitCode}`;
      if (oomKilled) error += `; killed: out of memory (limit ${spec.memoryMb} MiB)`;
      else if (waitError) error += `: ${waitError}`;
      return done({ status: 'failed', exitCode, error });
    } finally {
      timer?.clear();
      signal?.removeEventListener('abort', onAbort);
      attach.destroy?.();
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

function abortReason(signal: AbortSignal | undefined): string | null {
  const r: unknown = signal?.reason;
  if (typeof r === 'string' && r) return r;
  if (r instanceof Error && r.name !== 'AbortError') return r.message;
  return null;
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
    if (isEngineUnreachable(err)) throw new DockerEngineUnavailableError(await describeEngine(docker), err);
    throw err;
  }
  return list.map((c) => ({
    id: c.Id,
    taskId: c.Labels?.[LABEL_TASK_ID] ?? '',
    attempt: Number(c.Labels?.[LABEL_ATTEMPT] ?? NaN),
    state: c.State,
  }));
}
