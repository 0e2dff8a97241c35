// Drizzle schema: PostgreSQL (or embedded PGlite) is the source of truth for tasks, their
// attempts' history, stored logs and nodes. Migrations are generated from this file by
// drizzle-kit into drizzle/ and applied at start.
import { sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  bigserial,
  customType,
  boolean,
  check,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  bigint,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

/**
 * JSON kept as text. Used where the value may be a bare JSON string: drivers hand a jsonb string
 * such as "true" back as the boolean true, so a command ["true"] vs "true" must not go through jsonb.
 */
const jsonText = <T>(name: string) =>
  customType<{ data: T; driverData: string }>({
    dataType: () => 'text',
    toDriver: (v) => JSON.stringify(v),
    fromDriver: (v) => JSON.parse(v) as T,
  })(name);

import { NETWORKS, NODE_STATUSES, ON_FAILURE, PRIORITIES, TASK_STATUSES, WORKFLOW_STATUSES } from '../domain/task.ts';
import type { TaskEnv, TaskTemplates } from '../domain/task.ts';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const tasks = pgTable(
  'tasks',
  {
    id: uuid('id').primaryKey(),
    // Insertion order, for a stable newest-first listing.
    seq: bigserial('seq', { mode: 'number' }).notNull(),
    name: text('name'),
    image: text('image').notNull(),
    command: jsonText<string[] | string | null>('command'),
    env: jsonb('env').$type<TaskEnv>().notNull(),
    priority: text('priority', { enum: PRIORITIES }).notNull(),
    cpu: doublePrecision('cpu').notNull(),
    memoryMb: integer('memory_mb').notNull(),
    gpu: integer('gpu').notNull(),
    timeoutSeconds: integer('timeout_seconds'),
    maxRetries: integer('max_retries').notNull(),
    retryBackoffSeconds: doublePrecision('retry_backoff_seconds').notNull(),
    nodeSelector: jsonb('node_selector').$type<Record<string, string>>().notNull(),
    labels: jsonb('labels').$type<Record<string, string>>().notNull(),
    idempotencyKey: text('idempotency_key'),
    network: text('network', { enum: NETWORKS }).notNull(),
    // The tenant of the key that submitted it ('default' in open mode); a key sees only its own.
    tenant: text('tenant').notNull().default('default'),
    status: text('status', { enum: TASK_STATUSES }).notNull(),
    statusReason: text('status_reason'),
    nodeId: uuid('node_id'),
    attempts: integer('attempts').notNull().default(0),
    // Of those, attempts lost with their node (offline, stopped before it took the attempt, or its
    // result lost): placed again without counting against max_retries (domain/attempt-end.ts).
    lostAttempts: integer('lost_attempts').notNull().default(0),
    // Of those, the attempts that counted against max_retries before a user's retry of the task
    // (its own or its workflow's): the retry gives it its max_retries afresh (domain/attempt-end.ts).
    retriedAttempts: integer('retried_attempts').notNull().default(0),
    // When it last began to wait for a node (released by its workflow, queued again for a retry
    // or after a lost attempt); null: since it was created. Aging counts from it (scheduler/aging.ts).
    waitingSince: ts('waiting_since'),
    exitCode: integer('exit_code'),
    error: text('error'),
    workflowId: uuid('workflow_id').references((): AnyPgColumn => workflows.id, { onDelete: 'cascade' }),
    workflowKey: text('workflow_key'),
    dependsOn: jsonb('depends_on').$type<string[]>().notNull().default(sql`'[]'::jsonb`),
    // A workflow task whose parents all succeeded but that waits for a max_parallel slot.
    dagReady: boolean('dag_ready').notNull().default(false),
    // The schedule whose tick made this task (alone, or in its workflow); null: submitted by hand.
    scheduleId: uuid('schedule_id').references((): AnyPgColumn => schedules.id, { onDelete: 'set null' }),
    // Outputs (docs/workflows.md): the files declared, the values the last attempt left, and the
    // last non-blank line of its stdout. A workflow task's templated fields as submitted (name,
    // command, env, filled into the columns above at release) and its `when` condition.
    outputSpec: jsonb('output_spec').$type<Record<string, { path: string }>>().notNull().default(sql`'{}'::jsonb`),
    outputs: jsonb('outputs').$type<Record<string, string>>(),
    result: text('result'),
    templates: jsonb('templates').$type<TaskTemplates>(),
    whenCondition: text('when_condition'),
    createdAt: ts('created_at').notNull(),
    scheduledAt: ts('scheduled_at'),
    startedAt: ts('started_at'),
    finishedAt: ts('finished_at'),
  },
  (t) => [
    // Unique per tenant where set: NULLs never clash, and most tasks have none, so they add no
    // entry. Per tenant (since migration 0021): one tenant's key neither blocks another's nor
    // tells it that the key is in use.
    uniqueIndex('tasks_tenant_idempotency_key_uq').on(t.tenant, t.idempotencyKey).where(sql`idempotency_key is not null`),
    index('tasks_status_idx').on(t.status),
    index('tasks_seq_idx').on(t.seq),
    // Partial where the column is often empty: a standalone task (no workflow, node, name or
    // label yet) then adds no entry to these five, and each query's own condition implies the
    // index's (`node_id = $1` implies `node_id is not null`; the label filter says `labels <>
    // '{}'` itself). Measured in docs/decisions.md ("Cheaper rows").
    index('tasks_node_idx').on(t.nodeId).where(sql`node_id is not null`),
    index('tasks_workflow_idx').on(t.workflowId, t.status).where(sql`workflow_id is not null`),
    // A workflow's task by key (a release looks up the parents of the children it decides, and
    // the values their templates read): unique, as validate.ts has always kept keys. Without it
    // each release hash-joined every task of the workflow (14.5 ms at 10,000). Migration 0023.
    uniqueIndex('tasks_workflow_key_uq').on(t.workflowId, t.workflowKey).where(sql`workflow_id is not null`),
    // The tasks waiting for a max_parallel slot, oldest first (WorkflowStore.queueReady's pick).
    index('tasks_workflow_ready_idx').on(t.workflowId, t.seq).where(sql`status = 'pending' and dag_ready`),
    index('tasks_depends_on_idx').using('gin', t.dependsOn).where(sql`workflow_id is not null`),
    index('tasks_tenant_seq_idx').on(t.tenant, t.seq),
    index('tasks_schedule_idx').on(t.scheduleId, t.status).where(sql`schedule_id is not null`),
    // Fair share reads what each tenant holds and waits for, every placement batch and scrape:
    // small partial indexes that cover those sums, so neither reads the whole table.
    index('tasks_tenant_active_idx')
      .on(t.tenant, t.cpu, t.memoryMb, t.gpu)
      .where(sql`status in ('scheduled', 'running')`),
    index('tasks_tenant_queued_idx').on(t.tenant, t.cpu, t.memoryMb, t.gpu).where(sql`status = 'queued'`),
    // The reconciler walks the tasks waiting for a node or a start in seq order, 100 at a time.
    // Without it the plan depends on the statistics: right after a large insert (before
    // autoanalyze) PostgreSQL read every queued row and sorted them for each step, 16.5 ms
    // instead of 0.06 (bench (e): 80 % of a core during the enqueue probe with 100,000 queued).
    index('tasks_waiting_seq_idx').on(t.seq).where(sql`status in ('queued', 'scheduled')`),
    // The reconciler's steady pass reads the tasks queued again since the pass before last (a
    // retry, a release, a lost attempt, a workflow's ready task: each sets waiting_since); their
    // seq is old, so the window of new seqs misses them. A task's first queueing leaves
    // waiting_since null and adds no entry. In (waiting_since, seq) order, so a page of the
    // window starts where the last ended (0020's index on waiting_since alone read the whole
    // window again for every page: 29 ms a page with 50,000 queued again).
    index('tasks_requeued_page_idx').on(t.waitingSince, t.seq).where(sql`status = 'queued' and waiting_since is not null`),
    // GET /tasks?name= (a prefix): LIKE 'x%' and range compares use it whatever the collation.
    index('tasks_name_idx').on(t.name.op('text_pattern_ops')).where(sql`name is not null`),
    // GET /tasks?label=k:v (labels @> '{"k":"v"}' and labels <> '{}').
    index('tasks_labels_idx').using('gin', t.labels.op('jsonb_path_ops')).where(sql`labels <> '{}'::jsonb`),
    // The status is one of the domain's statuses, checked by the database too (raw SQL updates included).
    check('tasks_status_check', sql.raw(`"status" in (${TASK_STATUSES.map((s) => `'${s}'`).join(', ')})`)),
  ],
);

export const workflows = pgTable(
  'workflows',
  {
    id: uuid('id').primaryKey(),
    seq: bigserial('seq', { mode: 'number' }).notNull(),
    name: text('name'),
    status: text('status', { enum: WORKFLOW_STATUSES }).notNull(),
    onFailure: text('on_failure', { enum: ON_FAILURE }).notNull(),
    maxParallel: integer('max_parallel'),
    tenant: text('tenant').notNull().default('default'),
    scheduleId: uuid('schedule_id').references((): AnyPgColumn => schedules.id, { onDelete: 'set null' }),
    createdAt: ts('created_at').notNull(),
    finishedAt: ts('finished_at'),
  },
  (t) => [
    index('workflows_seq_idx').on(t.seq),
    index('workflows_status_idx').on(t.status),
    index('workflows_tenant_seq_idx').on(t.tenant, t.seq),
    index('workflows_schedule_idx').on(t.scheduleId, t.status).where(sql`schedule_id is not null`),
  ],
);

export const taskLogs = pgTable('task_logs', {
  taskId: uuid('task_id')
    .primaryKey()
    .references(() => tasks.id, { onDelete: 'cascade' }),
  attempt: integer('attempt').notNull(),
  logs: text('logs').notNull(),
  truncated: boolean('truncated').notNull(),
});

export const taskEvents = pgTable(
  'task_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    // No foreign key to tasks: every event is written from a task row that exists, and the code
    // that takes back tasks (an enqueue that failed) deletes their events itself; the key's check
    // (a lookup and a row lock per event, WAL-logged) was ~20 % of a 100-task insert
    // (docs/decisions.md, "A task's first event without a key check").
    taskId: uuid('task_id').notNull(),
    at: ts('at').notNull(),
    status: text('status').notNull(),
    nodeId: uuid('node_id'),
    attempt: integer('attempt').notNull(),
    reason: text('reason'),
    // The writing transaction's id: the webhook outbox reads events by it (src/webhook/outbox.ts).
    xid: bigint('xid', { mode: 'number' }).notNull().default(sql`(pg_current_xact_id()::text)::bigint`),
  },
  // task_events_at_idx: the dashboard's overview counts the last hour's events by status.
  (t) => [index('task_events_task_idx').on(t.taskId, t.id), index('task_events_at_idx').on(t.at), index('task_events_xid_idx').on(t.xid, t.id)],
);

// A workflow's history: one row per change of its status (running, succeeded, failed, cancelled),
// written in the transaction that changes it; webhooks read it for workflow.* events.
export const workflowEvents = pgTable(
  'workflow_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    workflowId: uuid('workflow_id')
      .notNull()
      .references(() => workflows.id, { onDelete: 'cascade' }),
    at: ts('at').notNull(),
    status: text('status').notNull(),
    xid: bigint('xid', { mode: 'number' }).notNull().default(sql`(pg_current_xact_id()::text)::bigint`),
  },
  (t) => [index('workflow_events_xid_idx').on(t.xid, t.id)],
);

// Schedules (Kubernetes CronJob semantics, src/schedule/). last_tick is the last tick handled:
// a tick is claimed by a compare-and-set on it in the transaction that creates the run, so two
// control planes, a new leader or a restart never start the same tick twice.
export const schedules = pgTable(
  'schedules',
  {
    id: uuid('id').primaryKey(),
    seq: bigserial('seq', { mode: 'number' }).notNull(),
    name: text('name').notNull(),
    tenant: text('tenant').notNull(),
    cron: text('cron').notNull(),
    timezone: text('timezone').notNull(),
    // Exactly one of the two: the body of POST /tasks or of POST /workflows.
    task: jsonb('task').$type<Record<string, unknown>>(),
    workflow: jsonb('workflow').$type<Record<string, unknown>>(),
    concurrency: text('concurrency', { enum: ['allow', 'forbid', 'replace'] }).notNull(),
    startingDeadlineSeconds: integer('starting_deadline_seconds'),
    paused: boolean('paused').notNull(),
    lastTick: ts('last_tick').notNull(),
    nextTick: ts('next_tick'),
    missedTicks: integer('missed_ticks').notNull().default(0),
    lastRunId: uuid('last_run_id'),
    lastRunAt: ts('last_run_at'),
    lastError: text('last_error'),
    createdAt: ts('created_at').notNull(),
    updatedAt: ts('updated_at').notNull(),
  },
  (t) => [index('schedules_tenant_seq_idx').on(t.tenant, t.seq), index('schedules_due_idx').on(t.nextTick).where(sql`not paused`)],
);

// Webhooks: a tenant's subscription to events. The secret is sealed (src/auth/secret-box.ts).
export const webhooks = pgTable(
  'webhooks',
  {
    id: uuid('id').primaryKey(),
    seq: bigserial('seq', { mode: 'number' }).notNull(),
    tenant: text('tenant').notNull(),
    url: text('url').notNull(),
    events: jsonb('events').$type<string[]>().notNull(),
    sealedSecret: text('sealed_secret').notNull(),
    createdAt: ts('created_at').notNull(),
  },
  (t) => [index('webhooks_tenant_seq_idx').on(t.tenant, t.seq)],
);

// The outbox: one row per (webhook, event), written by the outbox part, sent by the sender.
// Per (webhook, line) only the oldest pending row is attempted (line: "task:<id>"/"workflow:<id>").
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: uuid('id').primaryKey(),
    seq: bigserial('seq', { mode: 'number' }).notNull(),
    webhookId: uuid('webhook_id')
      .notNull()
      .references(() => webhooks.id, { onDelete: 'cascade' }),
    tenant: text('tenant').notNull(),
    eventId: text('event_id').notNull(),
    eventType: text('event_type').notNull(),
    line: text('line').notNull(),
    // The event's position in its history table: the order within a line.
    eventSeq: bigint('event_seq', { mode: 'number' }).notNull(),
    body: text('body').notNull(),
    // A re-send by hand: its own line, never de-duplicated against the first delivery.
    redelivery: boolean('redelivery').notNull().default(false),
    status: text('status', { enum: ['pending', 'delivered', 'failed'] }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at').notNull(),
    responseCode: integer('response_code'),
    lastError: text('last_error'),
    createdAt: ts('created_at').notNull(),
    lastAttemptAt: ts('last_attempt_at'),
    deliveredAt: ts('delivered_at'),
  },
  (t) => [
    uniqueIndex('webhook_deliveries_event_uq').on(t.webhookId, t.eventId).where(sql`not redelivery`),
    index('webhook_deliveries_pending_idx').on(t.webhookId, t.line, t.eventSeq).where(sql`status = 'pending'`),
    index('webhook_deliveries_due_idx').on(t.nextAttemptAt).where(sql`status = 'pending'`),
    index('webhook_deliveries_webhook_seq_idx').on(t.webhookId, t.seq),
  ],
);

// Where the outbox has read each history table up to: (xid, id) of the last event handled.
export const webhookCursors = pgTable('webhook_cursors', {
  source: text('source').primaryKey(),
  xid: bigint('xid', { mode: 'number' }).notNull(),
  lastId: bigint('last_id', { mode: 'number' }).notNull(),
});

export const nodes = pgTable('nodes', {
  id: uuid('id').primaryKey(),
  name: text('name').notNull(),
  hostname: text('hostname').notNull(),
  status: text('status', { enum: NODE_STATUSES }).notNull(),
  /**
   * Drained by an operator, until resumed: kept apart from the status, which goes `offline` when
   * the node falls silent; a drained node that comes back is `draining` again, not `available`.
   */
  drained: boolean('drained').notNull().default(false),
  labels: jsonb('labels').$type<Record<string, string>>().notNull(),
  cpu: doublePrecision('cpu').notNull(),
  memoryMb: integer('memory_mb').notNull(),
  gpu: integer('gpu').notNull(),
  maxTasks: integer('max_tasks').notNull(),
  allocatedCpu: doublePrecision('allocated_cpu').notNull().default(0),
  allocatedMemoryMb: integer('allocated_memory_mb').notNull().default(0),
  allocatedGpu: integer('allocated_gpu').notNull().default(0),
  allocatedTasks: integer('allocated_tasks').notNull().default(0),
  cpuPercent: doublePrecision('cpu_percent'),
  memoryUsedMb: integer('memory_used_mb'),
  runningTaskIds: jsonb('running_task_ids').$type<string[]>().notNull().default(sql`'[]'::jsonb`),
  /**
   * When the node drew up that list, by its own clock (the clock of its tasks' started_at); null
   * from a worker that does not say. What a lost attempt is judged by (NodeStore.compareLists).
   */
  runningListedAt: ts('running_listed_at'),
  engineStatus: text('engine_status'),
  token: text('token').notNull(),
  lastHeartbeatAt: ts('last_heartbeat_at'),
  registeredAt: ts('registered_at').notNull(),
});

// API keys: only a hash of the key is kept (keys are 256 random bits, so a fast hash is enough;
// see src/auth/keys.ts). A revoked key keeps its row, so audit records still name it.
export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey(),
    name: text('name').notNull(),
    role: text('role').$type<'admin' | 'operator' | 'submitter' | 'viewer'>().notNull(),
    tenant: text('tenant').notNull(),
    hash: text('hash').notNull().unique(),
    rateLimitPerS: doublePrecision('rate_limit_per_s'),
    createdAt: ts('created_at').notNull(),
    revokedAt: ts('revoked_at'),
  },
  (t) => [index('api_keys_tenant_idx').on(t.tenant)],
);

// Every change and every refused request. Never holds a key or a secret value.
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    at: ts('at').notNull(),
    keyId: uuid('key_id'),
    keyName: text('key_name'),
    tenant: text('tenant'),
    role: text('role'),
    action: text('action').notNull(),
    target: text('target'),
    status: integer('status').notNull(),
    client: text('client'),
    requestId: text('request_id'),
    /** How many requests the record stands for: refusals of one key (or client address), action and status within a second are one record (auth/audit-trail.ts). */
    count: integer('count').notNull().default(1),
  },
  (t) => [index('audit_log_at_idx').on(t.at), index('audit_log_key_idx').on(t.keyId, t.id), index('audit_log_tenant_idx').on(t.tenant, t.id)],
);

// Per-tenant secrets, encrypted at rest with AES-256-GCM (src/auth/secret-box.ts).
export const secrets = pgTable(
  'secrets',
  {
    tenant: text('tenant').notNull(),
    name: text('name').notNull(),
    sealed: text('sealed').notNull(),
    createdAt: ts('created_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenant, t.name] })],
);

export type TaskRow = typeof tasks.$inferSelect;
export type NewTaskRow = typeof tasks.$inferInsert;
export type NodeRow = typeof nodes.$inferSelect;
export type WorkflowRow = typeof workflows.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type AuditRow = typeof auditLog.$inferSelect;
export type ScheduleRow = typeof schedules.$inferSelect;
export type WebhookRow = typeof webhooks.$inferSelect;
export type DeliveryRow = typeof webhookDeliveries.$inferSelect;

// Fair-share settings of a tenant (PUT /tenants/{name}). A tenant without a row has weight 1 and
// no quota; null quota fields mean no limit on that dimension.
export const tenants = pgTable(
  'tenants',
  {
    name: text('name').primaryKey(),
    weight: doublePrecision('weight').notNull().default(1),
    quotaCpu: doublePrecision('quota_cpu'),
    quotaMemoryMb: integer('quota_memory_mb'),
    quotaGpu: integer('quota_gpu'),
    quotaMaxRunning: integer('quota_max_running'),
    updatedAt: ts('updated_at').notNull(),
  },
  (t) => [check('tenants_weight_positive', sql`${t.weight} > 0`)],
);
export type TenantRow = typeof tenants.$inferSelect;
