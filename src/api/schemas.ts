// Request and response schemas of the HTTP API (api.md). They, with schedule-schemas.ts,
// tenant-schemas.ts and security-schemas.ts, are where input is parsed: handlers receive
// normalised values (resources in cores and MiB) and trust them.
import { z } from '@hono/zod-openapi';
import { laxFloat, laxInt, maxEntries, queryBool, queryInt, uuidError } from './fastapi/index.ts';
import { NETWORKS, NODE_STATUSES, ON_FAILURE, PRIORITIES, TASK_STATUSES, WORKFLOW_STATUSES } from '../domain/task.ts';
import { parseCpuQuantity, parseMemoryQuantity } from '../domain/resources.ts';
import { MAX_OUTPUTS, OutputDeclaration, OutputDeclarations } from '../workflow/outputs.ts';

/** PostgreSQL text cannot hold NUL; say so as a 422 rather than fail at the insert. */
const Text = () => z.string().refine((v) => !v.includes('\u0000'), { message: 'must not contain the NUL character (\\u0000)' });
/** Integers are stored as PostgreSQL `integer`. */
const INT32_MAX = 2_147_483_647;
/** The most CPUs a task may ask for or a node may offer (as a tenant's quota): sums of them stay finite. */
const MAX_CPU = 1_000_000;
/** The longest base of a retry's backoff: a day (the backoff doubles up to a day, domain/attempt-end.ts). */
const MAX_BACKOFF_SECONDS = 86_400;

// Bounds on the records and lists of a request that no real task comes near; they stop a hostile
// body early (docs/api-beyond-the-design.md): a record over its bound is refused before zod walks
// it (fastapi/entry-limits.ts), a list by zod's own max.
/** env entries of a task. */
export const MAX_ENV_ENTRIES = 1000;
/** labels or node_selector entries of a task, labels of a node. */
export const MAX_LABELS = 100;
/** Items of a command given as a list. */
export const MAX_COMMAND_ITEMS = 10_000;

const StringMap = z.record(Text(), Text());
const Labels = maxEntries(StringMap.openapi({ maxProperties: MAX_LABELS }), MAX_LABELS);

/** env: a value is a string, or `{"secret": NAME}`, taken from the tenant's secret NAME at run time. */
const SecretRefSchema = z
  .strictObject({ secret: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/, 'a secret name is 1-128 letters, digits, "_", "." or "-", starting with a letter or "_"') })
  .openapi('SecretRef', { description: "The value of one of the tenant's secrets (POST /secrets), given to the container only for the run" });
const EnvMap = z.record(Text(), z.union([Text(), SecretRefSchema]));
const BoundedEnv = maxEntries(EnvMap.openapi({ maxProperties: MAX_ENV_ENTRIES }), MAX_ENV_ENTRIES);
const BoundedOutputs = maxEntries(OutputDeclarations.openapi({ maxProperties: MAX_OUTPUTS }), MAX_OUTPUTS);

export const ResourcesInput = z
  .strictObject({
    cpu: z
      .union([
        laxFloat(z.number().gt(0).lte(MAX_CPU)),
        z
          .string()
          .refine((s) => parseCpuQuantity(s) !== null, {
            message: 'cpu must be a number of cores > 0 or a quantity such as "500m" or "2"',
          })
          .refine((s) => (parseCpuQuantity(s) ?? 0) <= MAX_CPU, { message: `cpu must be at most ${MAX_CPU} cores` }),
      ])
      .optional(),
    // Either may be null, as `int | None = None` / `str | None = None` take it: a client sends
    // {"memory_mb": None, "memory": "1Gi"} when it has only one.
    memory_mb: laxInt(z.number().int().gt(0).lte(INT32_MAX)).nullable().optional(),
    memory: z
      .string()
      .refine((s) => parseMemoryQuantity(s) !== null, {
        message: 'memory must be a quantity such as "512Mi", "1Gi" or "1G"',
      })
      .refine((s) => (parseMemoryQuantity(s) ?? 0) <= INT32_MAX, { message: `memory must be at most ${INT32_MAX} MiB (about 2 PiB)` })
      .nullable()
      .optional(),
    gpu: laxInt(z.number().int().gte(0).lte(INT32_MAX)).optional(),
  })
  .refine((r) => !(r.memory != null && r.memory_mb != null), {
    message: 'give either memory_mb or memory, not both',
  })
  .openapi('ResourcesInput');

export const Resources = z
  .object({ cpu: z.number(), memory_mb: z.number().int(), gpu: z.number().int() })
  .openapi('Resources');
export type Resources = z.infer<typeof Resources>;

export const TaskCreate = z
  .strictObject({
    image: Text().min(1).openapi({ example: 'jarvis/busybox:latest', description: 'A Docker image reference' }),
    command: z
      .union([z.array(Text()).max(MAX_COMMAND_ITEMS), Text()])
      .nullable()
      .optional()
      .openapi({ example: ['echo', 'hello'], description: 'A string runs under `sh -c`' }),
    name: Text().max(128).nullable().optional(),
    env: BoundedEnv.optional(),
    priority: z.enum(PRIORITIES).optional(),
    resources: ResourcesInput.optional(),
    // Numbers in pydantic's lax mode: "60", 60.0 and true are read as a pydantic int field reads them.
    timeout_seconds: laxInt(z.number().int().gte(1).lte(INT32_MAX)).nullable().optional(),
    max_retries: laxInt(z.number().int().gte(0).lte(20)).optional(),
    retry_backoff_seconds: laxFloat(z.number().gte(0).lte(MAX_BACKOFF_SECONDS)).optional(),
    node_selector: Labels.optional(),
    labels: Labels.optional(),
    idempotency_key: Text().min(1).max(256).nullable().optional(),
    network: z.enum(NETWORKS).optional(),
    outputs: BoundedOutputs.optional(),
  })
  .openapi('TaskCreate');
export type TaskCreate = z.infer<typeof TaskCreate>;

const Timestamp = z.string().nullable().openapi({ example: '2026-11-22T17:00:00.000Z' });

export const Task = z
  .object({
    id: z.string().uuid(),
    name: z.string().nullable(),
    image: z.string(),
    command: z.union([z.array(z.string()), z.string()]).nullable(),
    env: EnvMap,
    priority: z.enum(PRIORITIES),
    resources: Resources,
    timeout_seconds: z.number().int().nullable(),
    max_retries: z.number().int(),
    retry_backoff_seconds: z.number(),
    node_selector: StringMap,
    labels: StringMap,
    idempotency_key: z.string().nullable(),
    network: z.enum(NETWORKS),
    tenant: z.string(),
    status: z.enum(TASK_STATUSES),
    node_id: z.string().uuid().nullable(),
    attempts: z.number().int(),
    exit_code: z.number().int().nullable(),
    error: z.string().nullable(),
    status_reason: z.string().nullable(),
    workflow_id: z.string().uuid().nullable(),
    workflow_key: z.string().nullable(),
    depends_on: z.array(z.string()),
    schedule_id: z.string().uuid().nullable().openapi({ description: 'The schedule whose tick made this task; null: submitted by hand' }),
    declared_outputs: z.record(z.string(), OutputDeclaration).openapi({ description: 'The outputs the task declares (its `outputs` when submitted)' }),
    outputs: z
      .record(z.string(), z.string())
      .nullable()
      .openapi({ description: 'The values of the declared outputs that its last attempt left; null until it succeeds', example: { rows: '7' } }),
    result: z.string().nullable().openapi({ description: 'The last line of its stdout that is not blank (secrets masked); null when there is none', example: 'done' }),
    when: z.string().nullable().openapi({ description: 'A workflow task: the condition it runs under' }),
    created_at: z.string(),
    scheduled_at: Timestamp,
    started_at: Timestamp,
    finished_at: Timestamp,
  })
  .openapi('Task');
export type Task = z.infer<typeof Task>;

export const TaskBatchCreate = z.strictObject({ tasks: z.array(TaskCreate).min(1).max(1000) }).openapi('TaskBatchCreate');
export const TaskBatch = z.object({ items: z.array(Task) }).openapi('TaskBatch');

export const TaskPage = z
  .object({ items: z.array(Task), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .openapi('TaskPage');

/** `8-4-4-4-12` lowercase, from any form pydantic's UUID takes. */
function canonicalUuid(value: string): string {
  const hex = value.replace(/^urn:uuid:/, '').replace(/^\{(.*)\}$/, '$1').replaceAll('-', '').toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * A UUID path or query parameter read as pydantic reads `uuid.UUID`: any version, any case,
 * hyphenated, 32 hex digits, `{braced}` or `urn:uuid:`; the handler gets the canonical form.
 * (`z.string().uuid()` takes RFC 9562 versions only and the hyphenated form only, and its
 * failures had no uuid crate message to report.)
 */
export function uuidParam() {
  return z.preprocess((v) => (typeof v === 'string' && uuidError(v) === undefined ? canonicalUuid(v) : v), z.guid());
}

/** `?tenant=`: operators and admins pick one tenant's work; others always see their own. */
export const TenantFilter = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'a tenant name is 1-63 lowercase letters, digits, "_" or "-", starting with a letter or digit')
  .optional()
  .openapi({ description: "Operators and admins: only this tenant's work (others always see their own tenant's)" });

export const TaskListQuery = z.object({
  tenant: TenantFilter,
  status: z.enum(TASK_STATUSES).optional(),
  workflow_id: uuidParam().optional(),
  node_id: uuidParam().optional(),
  schedule_id: uuidParam().optional().openapi({ description: 'Only the runs of this schedule' }),
  label: z
    .string()
    .regex(/^[^:]+:.*$/, 'label filters look like key:value')
    .optional()
    .openapi({ description: 'key:value; only tasks with that label' }),
  name: z
    .string()
    .min(1)
    .max(200)
    .refine((v) => !v.includes('\u0000'), { message: 'must not contain the NUL character (\\u0000)' })
    .optional()
    .openapi({ description: 'only tasks whose name starts with this (case-sensitive)' }),
  // Parsed as pydantic parses an `int` query parameter: "", "1e3", "0x10" and "1.5" are int_parsing.
  limit: queryInt(z.int().gte(1).lte(500)).default(50),
  offset: queryInt(z.int().gte(0)).default(0),
});

export const TaskIdParam = z.object({
  id: uuidParam().openapi({ param: { name: 'id', in: 'path' } }),
});

export const TaskLogs = z
  .object({ task_id: z.string().uuid(), logs: z.string(), truncated: z.boolean() })
  .openapi('TaskLogs');

export const LogsQuery = z.object({
  // What pydantic takes for a `bool` query parameter: true/false, 1/0, yes/no, on/off, t/f, y/n.
  follow: queryBool().default(false),
});

export const TaskEvent = z
  .object({
    at: z.string(),
    status: z.enum(TASK_STATUSES),
    node_id: z.string().uuid().nullable(),
    attempt: z.number().int(),
    reason: z.string().nullable(),
  })
  .openapi('TaskEvent');

export const ErrorDetail = z.object({ detail: z.string() }).openapi('ErrorDetail');

export const NodeCapacity = z
  .strictObject({
    cpu: laxFloat(z.number().gt(0).lte(MAX_CPU)),
    memory_mb: laxInt(z.number().int().gt(0).lte(INT32_MAX)),
    gpu: laxInt(z.number().int().gte(0).lte(INT32_MAX)).default(0),
    max_tasks: laxInt(z.number().int().gte(1).lte(INT32_MAX)),
  })
  .openapi('NodeCapacity');

export const NodeRegister = z
  .strictObject({
    name: Text().min(1).max(128),
    hostname: Text().min(1).max(255),
    capacity: NodeCapacity,
    labels: Labels.optional(),
  })
  .openapi('NodeRegister');

export const NodeHeartbeat = z
  .strictObject({
    cpu_percent: laxFloat(z.number().gte(0).lte(1e9)).nullable().optional(),
    memory_used_mb: laxFloat(z.number().gte(0).lte(INT32_MAX)).nullable().optional(),
    running_task_ids: z.array(z.string().max(64)).max(100_000).optional(),
    listed_at: z.iso
      .datetime({ offset: true })
      .refine((s) => Date.parse(s) >= Date.UTC(2000, 0, 1), { message: 'Input should be a time after 2000-01-01' })
      .refine((s) => !(Date.parse(s) >= Date.UTC(9999, 0, 1)), { message: 'Input should be a time before 9999-01-01' })
      .optional()
      .openapi({
        description:
          "When the node drew up running_task_ids, by its own clock (the clock of its tasks' started reports). A running task a list leaves out is placed again only when it started two heartbeat periods before that list was drawn up, so a heartbeat delivered late (a control plane that stalled) or a node clock behind the control plane's does not take a running task for a lost one. Without it, the time the heartbeat is received is used.",
      }),
    engine: z.enum(['ok', 'unreachable']).optional(),
    stopping: z.boolean().optional().openapi({
      description:
        "The worker is stopping (its heartbeats from the start of a clean stop until what it runs has ended or the shutdown grace period is over): the node is unhealthy, so nothing more is placed on it, and what was handed to it and not taken is placed again at once; after its last heartbeat it goes offline after nodes.offline_seconds as a silent node does, or is available again when its worker starts and heartbeats.",
    }),
  })
  .openapi('NodeHeartbeat');

export const Node = z
  .object({
    id: z.string().uuid(),
    name: z.string(),
    hostname: z.string(),
    status: z.enum(NODE_STATUSES),
    labels: StringMap,
    capacity: z.object({ cpu: z.number(), memory_mb: z.number().int(), gpu: z.number().int(), max_tasks: z.number().int() }),
    allocated: z.object({ cpu: z.number(), memory_mb: z.number().int(), gpu: z.number().int(), tasks: z.number().int() }),
    cpu_percent: z.number().nullable(),
    memory_used_mb: z.number().nullable(),
    running_tasks: z.array(z.string()),
    last_heartbeat_at: z.string().nullable(),
    registered_at: z.string(),
  })
  .openapi('Node');
export type Node = z.infer<typeof Node>;

export const NodeRegistered = Node.extend({ token: z.string() }).openapi('NodeRegistered');

export const NodeIdParam = z.object({
  id: uuidParam().openapi({ param: { name: 'id', in: 'path' } }),
});

export const NodeAttemptParams = z.object({
  id: uuidParam().openapi({ param: { name: 'id', in: 'path' } }),
  task_id: uuidParam().openapi({ param: { name: 'task_id', in: 'path' } }),
});
export const NodeAttemptQuery = z.object({ attempt: queryInt(z.int().gte(1).lte(2_147_483_647)) });
export const NodeSecretsRequest = z
  .strictObject({ task_id: uuidParam(), attempt: laxInt(z.int().gte(1).lte(2_147_483_647)) })
  .openapi('NodeSecretsRequest');
export const NodeSecrets = z
  .object({ env: z.record(z.string(), z.string()).openapi({ description: 'The env keys that take a secret, with their values' }) })
  .openapi('NodeSecrets');
export const NodeAttempt = z
  .object({ task_id: z.string().uuid(), attempt: z.int(), owned: z.boolean(), status: z.enum(TASK_STATUSES).nullable() })
  .openapi('NodeAttempt');

export const Health = z
  .object({ status: z.enum(['ok', 'unavailable']), checks: z.record(z.string(), z.string()) })
  .openapi('Health');

export const WorkflowTaskCreate = TaskCreate.omit({ idempotency_key: true })
  .extend({
    key: z
      .string()
      .regex(/^[a-zA-Z0-9_.-]{1,64}$/, 'a key is 1 to 64 letters, digits, "_", "." or "-"')
      .openapi({ example: 'extract' }),
    depends_on: z.array(z.string()).max(10_000).optional().openapi({ example: [] }),
    when: Text()
      .nullable()
      .optional()
      .openapi({
        description: "Run only when this condition (CEL over its ancestors' values) holds; otherwise the task is skipped",
        example: '{{ tasks.extract.outputs.rows }} > 0',
      }),
  })
  .openapi('WorkflowTaskCreate', {
    description: 'name, command and env values may use {{ tasks.<key>.outputs.<name> }}, {{ tasks.<key>.result }} and {{ tasks.<key>.status }} of ancestors; filled in when the task is released',
  });

export const WorkflowCreate = z
  .strictObject({
    name: Text().max(128).nullable().optional(),
    tasks: z.array(WorkflowTaskCreate).min(1).max(10_000),
    on_failure: z.enum(ON_FAILURE).optional(),
    max_parallel: laxInt(z.number().int().gte(1).lte(INT32_MAX)).nullable().optional(),
  })
  .openapi('WorkflowCreate');
export type WorkflowCreate = z.infer<typeof WorkflowCreate>;

const WorkflowFields = {
  id: z.string().uuid(),
  name: z.string().nullable(),
  status: z.enum(WORKFLOW_STATUSES),
  on_failure: z.enum(ON_FAILURE),
  max_parallel: z.number().int().nullable(),
  tenant: z.string(),
  schedule_id: z.string().uuid().nullable().openapi({ description: 'The schedule whose tick made this workflow; null: submitted by hand' }),
  created_at: z.string(),
  finished_at: z.string().nullable(),
};

export const Workflow = z.object({ ...WorkflowFields, tasks: z.array(Task) }).openapi('Workflow');
export type Workflow = z.infer<typeof Workflow>;

export const WorkflowSummary = z
  .object({
    ...WorkflowFields,
    task_counts: z.record(z.string(), z.number().int()).openapi({ description: 'How many of its tasks are in each status' }),
  })
  .openapi('WorkflowSummary');

export const WorkflowPage = z
  .object({ items: z.array(WorkflowSummary), total: z.number().int(), limit: z.number().int(), offset: z.number().int() })
  .openapi('WorkflowPage');

export const WorkflowListQuery = z.object({
  tenant: TenantFilter,
  status: z.enum(WORKFLOW_STATUSES).optional(),
  schedule_id: uuidParam().optional().openapi({ description: 'Only the runs of this schedule' }),
  limit: queryInt(z.int().gte(1).lte(500)).default(50),
  offset: queryInt(z.int().gte(0)).default(0),
});

export const WorkflowIdParam = z.object({
  id: uuidParam().openapi({ param: { name: 'id', in: 'path' } }),
});
