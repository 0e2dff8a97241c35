// The contract between the node agent and whatever runs a task (Docker containers, or later a
// simulated executor). The agent owns fencing and reporting; an executor only runs one attempt.
import type { ContainerSecurity } from './container-security.ts';

export type NetworkMode = 'none' | 'bridge' | 'host';

export interface RunSpec {
  taskId: string;
  attempt: number;
  image: string;
  /** null: the image's default command. A string is run under `sh -c`. */
  command: string[] | string | null;
  env: Record<string, string>;
  cpu: number; // cores, e.g. 0.5
  memoryMb: number;
  gpu: number;
  /** Which of the node's cards the attempt gets (GpuSlots); absent: Docker picks `gpu` of them (the first ones). */
  gpuDevices?: string[];
  network: NetworkMode;
  timeoutSeconds: number | null;
  /**
   * How long a cancelled or timed-out container has between SIGTERM and SIGKILL (worker.kill_grace_seconds);
   * absent or 0: SIGKILL at once.
   */
  killGraceSeconds?: number;
  /** Extra labels put on the container (the executor adds task id and attempt itself). */
  labels?: Record<string, string>;
  /** The task's own labels (free metadata; the simulated executor reads its settings there). */
  taskLabels?: Record<string, string>;
  /** What the task's tenant allows beyond the restricted profile; absent: nothing. */
  security?: ContainerSecurity;
  /** Declared outputs, name → path: files read from the container after it exits. */
  outputs?: Record<string, string>;
  /** The attempt's log cap (tasks.log_cap_bytes or the job's own): bounds what the engine keeps of its output. */
  logCapBytes?: number;
  /**
   * The attempt's inbox entry came back after a worker restart: a container of this attempt may
   * be there, left running. run() adopts it; if the attempt ends before that (refused, cancelled,
   * its image gone), the container is removed.
   */
  redelivered?: boolean;
}

export type RunOutcome =
  | { status: 'succeeded'; exitCode: number; error: null; outputs?: Record<string, string> }
  | { status: 'failed'; exitCode: number; error: string | null }
  | { status: 'timed_out'; exitCode: number | null; error: string }
  | { status: 'cancelled'; exitCode: number | null; error: string | null }
  /** The attempt could not start (image missing, bad command…); `error` says why in words. */
  | { status: 'error'; exitCode: null; error: string };

export interface RunHooks {
  /** Called once the container has started. */
  onStarted?(info: { containerId: string; startedAt: Date }): void | Promise<void>;
  /** Output as it arrives, stdout and stderr interleaved in arrival order. */
  onOutput?(chunk: Buffer, stream: 'stdout' | 'stderr'): void;
  /** Aborting kills the container and resolves with status 'cancelled'. */
  signal?: AbortSignal;
  /**
   * Called once with the outcome as soon as it is known, before the container is removed, so
   * the caller can report it without waiting for the removal (a few ms on every task); run()
   * still resolves with the same outcome afterwards. An error it throws is logged, not raised.
   */
  onOutcome?(outcome: RunOutcome & { startedAt: Date | null; finishedAt: Date }): Promise<void>;
}

export interface Executor {
  run(spec: RunSpec, hooks?: RunHooks): Promise<RunOutcome & { startedAt: Date | null; finishedAt: Date }>;
  /** Throws a clear error when the engine cannot be reached. */
  ping(): Promise<void>;
  /**
   * True when there is no engine that can go away (the simulated executor): the agent then does
   * not check it every couple of seconds (a thousand simulated nodes in one process would each).
   */
  readonly alwaysAnswers?: boolean;
  /** Containers this node left behind (after a restart), by task and attempt. */
  /** `gpus`: the cards a still-running container holds (its jarvis.gpus label). */
  leftovers?(nodeId: string): Promise<Array<{ taskId: string; attempt: number; gpus?: string[] }>>;
  /** Kills and removes the container of an attempt; false when there was none. */
  discard?(taskId: string, attempt: number): Promise<boolean>;
}
