// Use cases for schedules: create (the task or workflow checked as its submit would check it,
// so a bad spec is a 422 now rather than a failed tick tonight), read, list, patch, delete,
// trigger. Runs belong to the schedule's tenant. Another tenant's schedule is not found.
import { checkPageBytes } from './page-bytes.ts';
import { randomUUID } from 'node:crypto';
import { compileCron } from '../schedule/cron.ts';
import { checkScheduleCron, type SchedulePatch } from '../schedule/schedule-spec.ts';
import type { ConcurrencyPolicy } from '../schedule/tick-planner.ts';
import { validateGraph } from '../dag/validate.ts';
import { policyFor, policyRefusal } from '../auth/tenant-policy.ts';
import { Forbidden, InvalidInput, NotFound } from '../domain/errors.ts';
import type { TaskSpec, WorkflowSpec } from '../domain/task.ts';
import type { ScheduleRow } from '../state/schema.ts';
import type { ScheduleChange, ScheduleStore } from '../state/schedule-store.ts';
import { canSee, type Actor } from './actor.ts';
import type { ControlDeps } from './deps.ts';
import { countSubmitted, createScheduleRun, type ScheduleRun } from './schedule-runs.ts';
import { enqueueWithin } from './queueing.ts';
import { checkSecretRefs } from './secret-refs.ts';
import { checkStandaloneSpecs, checkWorkflowSpecTemplates } from './template-checks.ts';
import { taskRowFrom, workflowRows } from './task-rows.ts';
import { WAITING_FOR_SCHEDULER } from '../domain/status-reasons.ts';
import { isForeignKeyViolation } from '../state/tx.ts';

export interface ScheduleSpec {
  name: string;
  cron: string;
  timezone: string;
  task?: TaskSpec | null;
  workflow?: WorkflowSpec | null;
  concurrency: ConcurrencyPolicy;
  starting_deadline_seconds: number | null;
  paused: boolean;
}

/** The first tick after `from`, or null while paused. */
export function nextTickOf(s: { cron: string; timezone: string; paused: boolean }, from: Date): Date | null {
  if (s.paused) return null;
  const c = compileCron(s.cron, s.timezone);
  return c.ok ? c.cron.nextAfter(from) : null;
}

export class ScheduleControl {
  constructor(private readonly deps: ControlDeps & { schedules: ScheduleStore }) {}

  /** What submitting the run would refuse (graph, tenant policy, secrets), refused now. */
  private async checkRun(spec: ScheduleSpec, tenant: string): Promise<void> {
    const { config } = this.deps;
    const policy = policyFor(config.tenants.policies, tenant);
    if (spec.workflow) {
      const problems = validateGraph(spec.workflow.tasks.map((t) => ({ key: t.key, depends_on: t.depends_on ?? [] })));
      if (problems.length > 0) throw new InvalidInput(problems.map((p) => ({ ...p, loc: ['body', 'workflow', ...p.loc.slice(1)] })));
      try {
        checkWorkflowSpecTemplates(spec.workflow);
      } catch (err) {
        if (err instanceof InvalidInput) throw new InvalidInput(err.problems.map((p) => ({ ...p, loc: ['body', 'workflow', ...p.loc.slice(1)] })));
        throw err;
      }
      for (const r of workflowRows(spec.workflow, config, tenant).rows) {
        const refusal = policyRefusal(r, tenant, policy);
        if (refusal) throw new Forbidden(`task "${r.workflowKey}": ${refusal}`);
      }
      await checkSecretRefs(this.deps, tenant, spec.workflow.tasks.map((t, i) => ({ loc: ['body', 'workflow', 'tasks', i], env: t.env })));
    } else if (spec.task) {
      checkStandaloneSpecs([{ prefix: ['body', 'task'], spec: spec.task }]);
      const refusal = policyRefusal(taskRowFrom(spec.task, config, { status: 'queued', statusReason: WAITING_FOR_SCHEDULER }), tenant, policy);
      if (refusal) throw new Forbidden(refusal);
      await checkSecretRefs(this.deps, tenant, [{ loc: ['body', 'task'], env: spec.task.env }]);
    }
  }

  async create(spec: ScheduleSpec, actor: Actor): Promise<ScheduleRow> {
    await this.checkRun(spec, actor.tenant);
    const now = new Date();
    return this.deps.schedules.create({
      id: randomUUID(),
      name: spec.name,
      tenant: actor.tenant,
      cron: spec.cron.trim(),
      timezone: spec.timezone,
      task: (spec.task ?? null) as Record<string, unknown> | null,
      workflow: (spec.workflow ?? null) as Record<string, unknown> | null,
      concurrency: spec.concurrency,
      startingDeadlineSeconds: spec.starting_deadline_seconds,
      paused: spec.paused,
      // Ticks count from creation: nothing before it is "missed".
      lastTick: now,
      nextTick: nextTickOf(spec, now),
      createdAt: now,
      updatedAt: now,
    });
  }

  async get(id: string, actor: Actor): Promise<ScheduleRow> {
    const s = await this.deps.schedules.get(id);
    if (!s || !canSee(actor, s.tenant)) throw new NotFound('Schedule not found');
    return s;
  }

  /** A page of the schedules the actor sees; refused (422 on `limit`) when its rows weigh more than one answer may hold (page-bytes.ts). */
  async list(q: { limit: number; offset: number }, actor: Actor) {
    const f = { ...q, tenant: actor.sees ?? undefined };
    checkPageBytes(await this.deps.schedules.pageSizes(f), q.limit, 'schedules');
    return this.deps.schedules.list(f);
  }

  /**
   * Changes a schedule. A new cron or time zone, or a resume, counts ticks from now: ticks that
   * passed while paused (or under the old cron) are not caught up.
   */
  async patch(id: string, patch: SchedulePatch, actor: Actor): Promise<ScheduleRow> {
    const s = await this.get(id, actor);
    const merged = { cron: patch.cron ?? s.cron, timezone: patch.timezone ?? s.timezone, paused: patch.paused ?? s.paused };
    const bad = checkScheduleCron(merged);
    if (bad) throw new InvalidInput([{ type: 'value_error', loc: ['body', ...bad.loc], msg: `Value error, ${bad.msg}`, input: merged.cron, ctx: { error: {} } }]);
    const change: ScheduleChange = {};
    if (patch.name !== undefined) change.name = patch.name;
    if (patch.concurrency !== undefined) change.concurrency = patch.concurrency;
    if (patch.starting_deadline_seconds !== undefined) change.startingDeadlineSeconds = patch.starting_deadline_seconds;
    const retimed = merged.cron !== s.cron || merged.timezone !== s.timezone || merged.paused !== s.paused;
    if (retimed) {
      const now = new Date();
      // Ticks count from now once it runs on the new timing; a pause is no tick, and leaves
      // the last one handled as it was (the resume counts from its own time).
      Object.assign(change, { cron: merged.cron.trim(), timezone: merged.timezone, paused: merged.paused, nextTick: nextTickOf(merged, now) });
      if (!merged.paused) change.lastTick = now;
    }
    const updated = await this.deps.schedules.update(id, change);
    if (!updated) throw new NotFound('Schedule not found');
    return updated;
  }

  /** Deletes the schedule; its runs stay (their schedule_id becomes null). */
  async delete(id: string, actor: Actor): Promise<void> {
    await this.get(id, actor);
    if (!(await this.deps.schedules.delete(id))) throw new NotFound('Schedule not found');
  }

  /**
   * Starts a run now, whatever the cron, the concurrency policy or paused say (as
   * `kubectl create job --from=cronjob/…` does); the tick bookkeeping is left alone. Forbidden
   * when the tenant's policy refuses the run now.
   */
  async trigger(id: string, actor: Actor): Promise<{ schedule: ScheduleRow; run: ScheduleRun }> {
    const s = await this.get(id, actor);
    const run = await this.deps.schedules
      .transaction(async (tx) => {
        const r = await createScheduleRun(this.deps, tx, s, null);
        await this.deps.schedules.noteRun(tx, s.id, r.runId);
        return r;
      })
      .catch(async (err: unknown) => {
        // Deleted between the read above and the run's insert (which refers to it).
        if (isForeignKeyViolation(err)) throw new NotFound('Schedule not found');
        // Refused by the tenant's policy as configured now: a 403 naming the rule, as a submit
        // gets, and last_error says it too, as for a tick's run.
        if (err instanceof Forbidden) await this.deps.schedules.noteError(s.id, `a run triggered by hand was refused: ${err.message}`).catch(() => undefined);
        throw err;
      });
    countSubmitted(this.deps, run.made);
    await enqueueWithin(this.deps, run.queued).catch((err) =>
      this.deps.logger.warn({ err, schedule_id: id }, 'trigger: run stored, Redis unavailable; the reconciler will enqueue it'),
    );
    return { schedule: (await this.deps.schedules.get(id)) ?? s, run };
  }
}
