// "Runs" a task by waiting, like Kubernetes' hollow nodes: the same queues, reports and
// heartbeats as a real worker, no container. For benchmarks and scheduler tests at a scale one
// machine cannot host; never the default. The task's labels say what to simulate:
//   jarvis.sim/duration_ms  how long the run takes (default 0)
//   jarvis.sim/exit_code    the exit code it ends with (default 0)
import type { Executor, RunHooks, RunOutcome, RunSpec } from './executor.ts';

export const SIM_DURATION_LABEL = 'jarvis.sim/duration_ms';
export const SIM_EXIT_CODE_LABEL = 'jarvis.sim/exit_code';

export class SimulatedExecutor implements Executor {
  readonly alwaysAnswers = true;

  async ping(): Promise<void> {}

  async run(spec: RunSpec, hooks: RunHooks = {}): Promise<RunOutcome & { startedAt: Date | null; finishedAt: Date }> {
    const labels = spec.taskLabels ?? {};
    const duration = Math.max(0, Number(labels[SIM_DURATION_LABEL] ?? 0) || 0);
    const exitCode = Math.trunc(Number(labels[SIM_EXIT_CODE_LABEL] ?? 0) || 0);
    const startedAt = new Date();
    await hooks.onStarted?.({ containerId: `simulated-${spec.taskId}-${spec.attempt}`, startedAt });
    hooks.onOutput?.(Buffer.from(`simulated run of ${duration} ms\n`), 'stdout');
    const limit = spec.timeoutSeconds === null ? Infinity : spec.timeoutSeconds * 1000;
    const ended = await new Promise<'done' | 'timeout' | 'aborted'>((resolve) => {
      if (hooks.signal?.aborted) return resolve('aborted');
      const timer = setTimeout(() => resolve(duration > limit ? 'timeout' : 'done'), Math.min(duration, limit));
      hooks.signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve('aborted');
      });
    });
    const finishedAt = new Date();
    if (ended === 'aborted') return { status: 'cancelled', exitCode: null, error: 'cancelled', startedAt, finishedAt };
    if (ended === 'timeout') return { status: 'timed_out', exitCode: null, error: `timed out after ${spec.timeoutSeconds} s`, startedAt, finishedAt };
    if (exitCode === 0) return { status: 'succeeded', exitCode: 0, error: null, startedAt, finishedAt };
    return { status: 'failed', exitCode, error: `exited with code ${exitCode}`, startedAt, finishedAt };
  }
}
