// Loads Jarvis's one configuration object: config/default.yaml, then an optional user file,
// then environment variables. Every key is checked; an unknown or malformed key fails at start
// with its dotted path named, so a typo never silently falls back to a default.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ADDABLE_CAPABILITIES } from '../domain/container.ts';
import { NETWORKS } from '../domain/task.ts';

const nullableInt = z.number().int().positive().nullable();

export const ConfigSchema = z.strictObject({
  server: z.strictObject({
    host: z.string().min(1),
    port: z.number().int().min(0).max(65535),
    insecure: z.boolean(),
    processes: z.number().int().min(1).max(64),
    max_body_bytes: z.number().int().positive(),
    max_workflow_body_bytes: z.number().int().positive(),
    /** Log streams (GET /tasks/{id}/logs?follow=true) one API process serves at once, in all and per key. */
    max_log_follows: z.number().int().positive(),
    max_log_follows_per_key: z.number().int().positive(),
    tls: z.strictObject({
      cert: z.string().min(1).nullable(),
      key: z.string().min(1).nullable(),
    }),
  }),
  auth: z.strictObject({
    default_rate_per_s: z.number().min(0.001),
    /** Refused credentials per second per client address, after a burst of refusals_burst (0: no limit). */
    refusals_per_s: z.number().min(0),
    refusals_burst: z.number().int().min(1),
    public_metrics: z.boolean(),
    public_docs: z.boolean(),
    audit_retention_days: z.number().positive(),
  }),
  tenants: z.strictObject({
    policies: z.record(
      z.string().regex(/^(\*|[a-z0-9][a-z0-9_-]{0,62})$/, 'a tenant name, or "*" for every tenant without its own'),
      z.strictObject({
        allow_host_network: z.boolean().default(false),
        image_prefixes: z.array(z.string().min(1)).default([]),
      }),
    ),
  }),
  redis: z.strictObject({
    url: z.string().min(1),
    prefix: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." and "-" only'),
    auto_pipeline: z.boolean().default(true),
  }),
  database: z.strictObject({
    url: z.string().min(1).nullable(),
    data_dir: z.string().min(1),
  }),
  tasks: z.strictObject({
    default_network: z.enum(NETWORKS),
    log_cap_bytes: z.number().int().positive(),
    reconcile_seconds: z.number().positive(),
    /** Ended workflows and standalone tasks are deleted this many days after they ended (null: kept for ever). */
    retention_days: z.number().positive().nullable(),
  }),
  worker: z.strictObject({
    name: z.string().min(1).nullable(),
    api_url: z.string().url(),
    executor: z.enum(['docker', 'simulated']),
    ca_file: z.string().min(1).nullable(),
    heartbeat_seconds: z.number().positive(),
    /** Between SIGTERM and SIGKILL when a task is cancelled or times out (worker/container-kill.ts); 0: SIGKILL at once. */
    kill_grace_seconds: z.number().min(0),
    /** No longer used (node inboxes hold no locks: worker/node-inbox.ts); accepted so old files still load. */
    job_lock_seconds: z.number().positive().optional(),
    capacity: z.strictObject({
      cpu: z.number().positive().nullable(),
      memory_mb: nullableInt,
      gpu: z.number().int().min(0),
      max_tasks: nullableInt,
    }),
    labels: z.record(z.string(), z.string()),
    security: z.strictObject({
      user: z
        .string()
        .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$/, 'a user[:group], by number or name, e.g. 65534:65534')
        .nullable(),
      pids_limit: z.number().int().positive(),
      read_only_root_fs: z.boolean(),
      tmp_size_mb: z.number().int().positive(),
      cap_add: z.array(z.enum(ADDABLE_CAPABILITIES)),
    }),
  }),
  nodes: z.strictObject({
    unhealthy_after_missed: z.number().int().positive(),
    offline_seconds: z.number().positive(),
    /** While none of several nodes is heard, they go offline only after this long (0: at offline_seconds, as any node). */
    unheard_hold_seconds: z.number().min(0),
    /** Heartbeat periods grow with the cluster so that all nodes together send at most this many a second. */
    max_heartbeats_per_second: z.number().positive(),
    registration_token: z.string().min(1).nullable(),
  }),
  metrics: z.strictObject({
    enabled: z.boolean(),
    /** How old jarvis_tasks' final statuses (succeeded, failed, …) may be before a scrape counts them again (0: every scrape). */
    final_counts_seconds: z.number().min(0),
  }),
  scheduler: z.strictObject({
    strategy: z.enum(['binpack', 'spread']),
    aging_seconds: z.number().positive(),
    /** A tenant's queue readers (BullMQ workers, a Redis connection each) close after this long with nothing taken and nothing waiting. */
    idle_tenant_seconds: z.number().positive(),
    /** Critical tasks go first whatever their tenant's fair share (off: fair share orders tenants, priority orders within one). */
    critical_jumps_tenants: z.boolean(),
    /** Room is kept on a node for the task that goes first but fits nowhere now only once it has waited this long (0: at once). */
    keep_room_after_seconds: z.number().min(0),
    /** How long a placement batch may reuse the nodes' view the last one left, ms (0: read the nodes for every batch). */
    view_reuse_ms: z.number().int().min(0).max(60_000),
  }),
  leader: z
    .strictObject({
      ttl_seconds: z.number().positive(),
      renew_seconds: z.number().positive(),
    })
    // A leader steps down when 0.8 ttl pass without a renewal: renewing less often than half the
    // ttl would make it step down and be elected again over and over.
    .refine((l) => l.renew_seconds <= l.ttl_seconds / 2, {
      path: ['renew_seconds'],
      message: 'must be at most half of leader.ttl_seconds (JARVIS_LEADER_TTL_SECONDS): the leader renews its lock several times before it could expire',
    }),
  webhooks: z.strictObject({
    // Host names (or *.suffix) webhook URLs may name; empty: any host.
    allowed_hosts: z.array(z.string().min(1)),
    // Private, loopback and link-local addresses; null: allowed when the server listens on loopback.
    allow_private_addresses: z.boolean().nullable(),
    retry_base_seconds: z.number().positive(),
    timeout_seconds: z.number().positive(),
    // Webhooks one tenant may have: the outbox matches each of the tenant's events against them.
    max_per_tenant: z.number().int().positive(),
  }),
  dashboard: z.strictObject({
    /** A sign-in's session ends after this long unused (its record's TTL in Redis, pushed on by use). */
    session_idle_seconds: z.number().int().positive(),
    /** A session ends this long after its sign-in however much it is used (and its cookie's Max-Age). */
    session_max_seconds: z.number().int().positive().max(34_560_000, 'at most 34560000 (400 days): browsers keep a cookie no longer, and it is the cookie\'s Max-Age'),
  }),
  log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
});

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const here = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_CONFIG_PATH = resolve(here, '../../config/default.yaml');

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v);

function deepMerge(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isPlain(v) && isPlain(base[k]) ? deepMerge(base[k] as Plain, v) : v;
  }
  return out;
}

function readYaml(path: string): Plain {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid YAML: ${(err as Error).message}`);
  }
  if (doc == null) return {};
  if (!isPlain(doc)) throw new ConfigError(`config file ${path} must be a YAML mapping at the top level`);
  return doc;
}

function set(target: Plain, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (!isPlain(node[key])) node[key] = {};
    node = node[key] as Plain;
  }
  node[path[path.length - 1]] = value;
}

function envNumber(name: string, raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n)) throw new ConfigError(`environment variable ${name}="${raw}" must be a number`);
  return n;
}

function envBoolean(name: string, raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`environment variable ${name}="${raw}" must be true or false`);
}

function envOverrides(env: NodeJS.ProcessEnv): Plain {
  const out: Plain = {};
  const str: Array<[string, string[]]> = [
    ['HOST', ['server', 'host']],
    ['REDIS_URL', ['redis', 'url']],
    ['JARVIS_REDIS_PREFIX', ['redis', 'prefix']],
    ['DATABASE_URL', ['database', 'url']],
    ['JARVIS_DATA_DIR', ['database', 'data_dir']],
    ['JARVIS_API_URL', ['worker', 'api_url']],
    ['JARVIS_WORKER_NAME', ['worker', 'name']],
    ['JARVIS_LOG_LEVEL', ['log_level']],
    ['JARVIS_REGISTRATION_TOKEN', ['nodes', 'registration_token']],
    ['JARVIS_DEFAULT_NETWORK', ['tasks', 'default_network']],
    ['JARVIS_SCHEDULER_STRATEGY', ['scheduler', 'strategy']],
    ['JARVIS_TLS_CERT', ['server', 'tls', 'cert']],
    ['JARVIS_TLS_KEY', ['server', 'tls', 'key']],
    ['JARVIS_CA_FILE', ['worker', 'ca_file']],
  ];
  for (const [name, path] of str) {
    const v = env[name];
    if (v !== undefined && v !== '') set(out, path, v);
  }
  const num: Array<[string, string[]]> = [
    ['PORT', ['server', 'port']],
    ['JARVIS_API_PROCESSES', ['server', 'processes']],
    ['JARVIS_MAX_LOG_FOLLOWS', ['server', 'max_log_follows']],
    ['JARVIS_MAX_LOG_FOLLOWS_PER_KEY', ['server', 'max_log_follows_per_key']],
    ['JARVIS_LOG_CAP_BYTES', ['tasks', 'log_cap_bytes']],
    ['JARVIS_RECONCILE_SECONDS', ['tasks', 'reconcile_seconds']],
    ['JARVIS_HEARTBEAT_SECONDS', ['worker', 'heartbeat_seconds']],
    ['JARVIS_KILL_GRACE_SECONDS', ['worker', 'kill_grace_seconds']],
    ['JARVIS_JOB_LOCK_SECONDS', ['worker', 'job_lock_seconds']],
    ['JARVIS_OFFLINE_SECONDS', ['nodes', 'offline_seconds']],
    ['JARVIS_UNHEARD_HOLD_SECONDS', ['nodes', 'unheard_hold_seconds']],
    ['JARVIS_MAX_HEARTBEATS_PER_SECOND', ['nodes', 'max_heartbeats_per_second']],
    ['JARVIS_AGING_SECONDS', ['scheduler', 'aging_seconds']],
    ['JARVIS_IDLE_TENANT_SECONDS', ['scheduler', 'idle_tenant_seconds']],
    ['JARVIS_VIEW_REUSE_MS', ['scheduler', 'view_reuse_ms']],
    ['JARVIS_KEEP_ROOM_AFTER_SECONDS', ['scheduler', 'keep_room_after_seconds']],
    ['JARVIS_TASK_RETENTION_DAYS', ['tasks', 'retention_days']],
    ['JARVIS_LEADER_TTL_SECONDS', ['leader', 'ttl_seconds']],
    ['JARVIS_LEADER_RENEW_SECONDS', ['leader', 'renew_seconds']],
    ['JARVIS_RATE_LIMIT_PER_S', ['auth', 'default_rate_per_s']],
    ['JARVIS_REFUSALS_PER_S', ['auth', 'refusals_per_s']],
    ['JARVIS_REFUSALS_BURST', ['auth', 'refusals_burst']],
    ['JARVIS_AUDIT_RETENTION_DAYS', ['auth', 'audit_retention_days']],
    ['JARVIS_CONTAINER_PIDS_LIMIT', ['worker', 'security', 'pids_limit']],
    ['JARVIS_CONTAINER_TMP_SIZE_MB', ['worker', 'security', 'tmp_size_mb']],
    ['JARVIS_WEBHOOK_RETRY_BASE_SECONDS', ['webhooks', 'retry_base_seconds']],
    ['JARVIS_WEBHOOK_TIMEOUT_SECONDS', ['webhooks', 'timeout_seconds']],
    ['JARVIS_WEBHOOK_MAX_PER_TENANT', ['webhooks', 'max_per_tenant']],
    ['JARVIS_METRICS_FINAL_COUNTS_SECONDS', ['metrics', 'final_counts_seconds']],
    ['JARVIS_UI_SESSION_IDLE_SECONDS', ['dashboard', 'session_idle_seconds']],
    ['JARVIS_UI_SESSION_MAX_SECONDS', ['dashboard', 'session_max_seconds']],
  ];
  for (const [name, path] of num) {
    const v = env[name];
    if (v !== undefined && v !== '') set(out, path, envNumber(name, v));
  }
  const insecure = env.JARVIS_INSECURE;
  if (insecure !== undefined && insecure !== '') set(out, ['server', 'insecure'], envBoolean('JARVIS_INSECURE', insecure));
  const allowPrivate = env.JARVIS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES;
  if (allowPrivate !== undefined && allowPrivate !== '') set(out, ['webhooks', 'allow_private_addresses'], envBoolean('JARVIS_WEBHOOK_ALLOW_PRIVATE_ADDRESSES', allowPrivate));
  const allowedHosts = env.JARVIS_WEBHOOK_ALLOWED_HOSTS;
  if (allowedHosts !== undefined && allowedHosts !== '') set(out, ['webhooks', 'allowed_hosts'], allowedHosts.split(',').map((h) => h.trim()).filter(Boolean));
  const jumps = env.JARVIS_CRITICAL_JUMPS_TENANTS;
  if (jumps !== undefined && jumps !== '') set(out, ['scheduler', 'critical_jumps_tenants'], envBoolean('JARVIS_CRITICAL_JUMPS_TENANTS', jumps));
  const autoPipeline = env.JARVIS_REDIS_AUTO_PIPELINE;
  if (autoPipeline !== undefined && autoPipeline !== '') set(out, ['redis', 'auto_pipeline'], envBoolean('JARVIS_REDIS_AUTO_PIPELINE', autoPipeline));
  const publicMetrics = env.JARVIS_PUBLIC_METRICS;
  if (publicMetrics !== undefined && publicMetrics !== '') set(out, ['auth', 'public_metrics'], envBoolean('JARVIS_PUBLIC_METRICS', publicMetrics));
  const publicDocs = env.JARVIS_PUBLIC_DOCS;
  if (publicDocs !== undefined && publicDocs !== '') set(out, ['auth', 'public_docs'], envBoolean('JARVIS_PUBLIC_DOCS', publicDocs));
  const metricsEnabled = env.JARVIS_METRICS_ENABLED;
  if (metricsEnabled !== undefined && metricsEnabled !== '') set(out, ['metrics', 'enabled'], envBoolean('JARVIS_METRICS_ENABLED', metricsEnabled));
  return out;
}

function describeIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.flatMap((issue) => {
    const at = issue.path.join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => `unknown key "${[...issue.path, k].join('.')}"`);
    }
    return [`"${at || '(root)'}": ${issue.message}`];
  });
  return `invalid configuration (${source}):\n  - ${lines.join('\n  - ')}`;
}

export interface LoadConfigOptions {
  /** A YAML file laid over the defaults (the --config flag or JARVIS_CONFIG). */
  file?: string | null;
  env?: NodeJS.ProcessEnv;
  /** Values laid over everything else (CLI flags). */
  overrides?: Plain;
}

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env.JARVIS_CONFIG ?? null;
  let merged = readYaml(DEFAULT_CONFIG_PATH);
  const sources = [DEFAULT_CONFIG_PATH];
  if (file) {
    merged = deepMerge(merged, readYaml(file));
    sources.push(file);
  }
  merged = deepMerge(merged, envOverrides(env));
  if (options.overrides) merged = deepMerge(merged, options.overrides);
  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, sources.join(' + ') + ' + environment'));
  return parsed.data;
}
