// The waves a release sets off, decided in memory. When releasing children ends some of them at
// release (skipped by their `when`, failed for a template value), their children are released in
// turn, and so on: a `when`-chain under on_failure continue ends one task a wave. Through the
// database each wave cost a scan of the workflow's pending tasks and four to six statements (a
// 1,000-task chain: 11.3 s inside the transaction that records a results batch, holding the
// workflow's lock). Here the workflow's graph is read once, the `when`s and templates of the
// tasks to admit in reads that double in size (a cascade of n waves reads O(log n) times and at
// most about twice the tasks it admits), and the caller writes the outcome in a few statements.
//
// The waves are decided as settle decided them through the database, one after the other, each
// on the state the one before left: the tasks a failure for good stops have their pending
// descendants skipped, named by the first such ancestor found; then the pending children of the
// tasks done (succeeded, or skipped under continue) whose parents are all done are admitted,
// every one of a wave on the values as they were before any of that wave's ends; the rest say
// what they wait on. A task is pending until it ends here: one admitted to run stays pending (the
// caller queues it) and is still skipped if a later failure reaches it, as before.
import type { TaskStatus } from '../domain/task.ts';
import type { AncestorValue } from '../workflow/template.ts';
import { admission, admissionPlan, waitingOn, type Admission, type AdmissionPlan, type ToAdmit } from './admission.ts';

/** A task of the workflow as the cascade sees it: a pending task's parents, and whether it has a `when` or templates. */
export interface GraphTask {
  id: string;
  key: string;
  status: TaskStatus;
  /** A pending task's parents (any other's: not needed, may be empty). */
  dependsOn: string[];
  /** It has a `when` or templates: admitting it needs them (reads.toAdmit) and the values they read. */
  special: boolean;
}

/** A task that ended: at release (by the caller, or here), or as the result that set the release off. */
export interface EndedTask {
  key: string;
  status: TaskStatus;
}

/** What the cascade reads, on demand, beside the graph. */
export interface CascadeReads {
  /** The `when` and templates of these pending tasks. */
  toAdmit(ids: string[]): Promise<ToAdmit[]>;
  /** What the tasks with these keys left (status comes from the graph, as the cascade changes it). */
  values(keys: string[]): Promise<Array<{ workflowKey: string | null; result: string | null; outputs: Record<string, string> | null }>>;
}

/** A task the cascade ends: skipped (`reason` is its status_reason) or failed (`reason` is its error). */
export interface CascadeEnd {
  id: string;
  status: 'skipped' | 'failed';
  reason: string;
}

export interface CascadeOutcome {
  /** In the order they ended, wave after wave. */
  ended: CascadeEnd[];
  /** Tasks still waiting on parents, with what they wait on now. */
  waiting: Array<{ taskId: string; reason: string }>;
  /** Tasks admitted to run: still pending, to be queued; `fields`, their filled-in templates. */
  ready: Array<{ id: string; fields: Extract<Admission, { run: true }>['fields'] }>;
}

/**
 * Decides the waves that follow the tasks `ended` (already written: the caller's first wave),
 * over `graph`, every task of the workflow as it is now. `satisfied`: the parent statuses that let
 * a child run.
 */
export async function decideCascade(graph: GraphTask[], ended: EndedTask[], satisfied: readonly string[], reads: CascadeReads): Promise<CascadeOutcome> {
  const status = new Map<string, TaskStatus>();
  const childrenOf = new Map<string, GraphTask[]>();
  const position = new Map<string, number>();
  for (const [i, t] of graph.entries()) {
    status.set(t.key, t.status);
    position.set(t.id, i);
    if (t.status !== 'pending') continue;
    for (const parent of new Set(t.dependsOn)) {
      const list = childrenOf.get(parent);
      if (list) list.push(t);
      else childrenOf.set(parent, [t]);
    }
  }
  for (const e of ended) status.set(e.key, e.status);
  const isPending = (t: GraphTask) => status.get(t.key) === 'pending';
  const isSatisfied = (key: string) => {
    const s = status.get(key);
    return s !== undefined && satisfied.includes(s);
  };

  const out: CascadeOutcome = { ended: [], waiting: [], ready: [] };
  const waiting = new Map<string, string>();
  const end = (t: GraphTask, s: CascadeEnd['status'], reason: string) => {
    status.set(t.key, s);
    waiting.delete(t.id);
    out.ended.push({ id: t.id, status: s, reason });
  };
  const admitting = new AdmissionFacts(reads, childrenOf, isPending);

  let batch = ended;
  while (batch.length > 0) {
    const done = batch.filter((e) => satisfied.includes(e.status));
    const stopped = batch.filter((e) => !satisfied.includes(e.status));
    // Every pending descendant of a task stopped for good is skipped, named by the first found.
    for (const task of stopped) {
      const reason = `skipped: upstream task ${task.key} ${task.status.replace('_', ' ')}`;
      const queue = [task.key];
      while (queue.length > 0) {
        for (const child of childrenOf.get(queue.pop() as string) ?? []) {
          if (!isPending(child)) continue;
          end(child, 'skipped', reason);
          queue.push(child.key);
        }
      }
    }
    if (done.length === 0) break;

    // The pending children of the tasks done: those whose parents are all done are admitted.
    const found = new Set<string>();
    const children: GraphTask[] = [];
    for (const d of done) {
      for (const c of childrenOf.get(d.key) ?? []) {
        if (!isPending(c) || found.has(c.id)) continue;
        found.add(c.id);
        children.push(c);
      }
    }
    children.sort((a, b) => (position.get(a.id) as number) - (position.get(b.id) as number));
    const admit: GraphTask[] = [];
    for (const c of children) {
      const open = c.dependsOn.filter((p) => !isSatisfied(p));
      if (open.length === 0) admit.push(c);
      else waiting.set(c.id, waitingOn(open.length, open.slice(0, 5), c.dependsOn.length));
    }
    await admitting.load(admit.filter((t) => t.special));
    // Every admission of the wave first, on the values as they are before any of its ends.
    const decided = admit.map((t) => ({ task: t, a: t.special ? admitting.decide(t, status) : ({ run: true, fields: null } as Admission) }));
    const next: EndedTask[] = [];
    for (const { task, a } of decided) {
      if ('skip' in a) {
        end(task, 'skipped', a.skip);
        next.push({ key: task.key, status: 'skipped' });
      } else if ('fail' in a) {
        end(task, 'failed', a.fail);
        next.push({ key: task.key, status: 'failed' });
      } else {
        waiting.delete(task.id);
        out.ready.push({ id: task.id, fields: a.fields });
      }
    }
    batch = next;
  }
  out.waiting = [...waiting].map(([taskId, reason]) => ({ taskId, reason }));
  return out;
}

/**
 * The `when`s and templates of the tasks to admit, and the values they read, read as needed:
 * each read takes the tasks needed now and as many more of their pending descendants that will
 * need theirs if they are admitted as were read before, so a long cascade reads a few times, and
 * a short one little more than it needs.
 */
class AdmissionFacts {
  private readonly tasks = new Map<string, { row: ToAdmit; plan: AdmissionPlan }>();
  /** What each key's task left (db), once read; keys read but not found are absent. */
  private readonly values = new Map<string, { result: string | null; outputs: Record<string, string> }>();
  private readonly keysRead = new Set<string>();

  constructor(
    private readonly reads: CascadeReads,
    private readonly childrenOf: Map<string, GraphTask[]>,
    private readonly isPending: (t: GraphTask) => boolean,
  ) {}

  async load(need: GraphTask[]): Promise<void> {
    const missing = need.filter((t) => !this.tasks.has(t.id));
    if (missing.length === 0) return;
    const take = new Set(missing.map((t) => t.id));
    const seen = new Set(take);
    let more = Math.max(missing.length, this.tasks.size);
    // Breadth first below the tasks needed: the next waves' first (plain tasks are passed through, not read).
    const queue = missing.map((t) => t.key);
    for (let i = 0; i < queue.length && more > 0; i++) {
      for (const c of this.childrenOf.get(queue[i]) ?? []) {
        if (more === 0) break;
        if (seen.has(c.id) || !this.isPending(c)) continue;
        seen.add(c.id);
        queue.push(c.key);
        if (c.special && !this.tasks.has(c.id)) {
          take.add(c.id);
          more--;
        }
      }
    }
    const ids = [...take];
    const rows = await this.reads.toAdmit(ids);
    const keys = new Set<string>();
    for (const row of rows) {
      const plan = admissionPlan(row);
      this.tasks.set(row.id, { row, plan });
      for (const k of plan.keys) if (!this.keysRead.has(k)) keys.add(k);
    }
    for (const t of missing) if (!this.tasks.has(t.id)) throw new Error(`the pending task ${t.key} (${t.id}) was not found to release it`);
    if (keys.size === 0) return;
    for (const k of keys) this.keysRead.add(k);
    for (const v of await this.reads.values([...keys])) this.values.set(v.workflowKey as string, { result: v.result, outputs: v.outputs ?? {} });
  }

  /** The admission of a task loaded before, on the values as `status` has them now. */
  decide(t: GraphTask, status: ReadonlyMap<string, TaskStatus>): Admission {
    const { row, plan } = this.tasks.get(t.id) as { row: ToAdmit; plan: AdmissionPlan };
    const values = new Map<string, AncestorValue>();
    for (const k of plan.keys) {
      const v = this.values.get(k);
      if (v) values.set(k, { status: status.get(k) as TaskStatus, result: v.result, outputs: v.outputs });
    }
    return admission(row, plan.condition, plan.conditionError, values);
  }
}
