// `jarvis` command line: runs the processes (up, server, worker) and talks to the API
// (submit, tasks, logs). Signals are handled here only: SIGINT/SIGTERM close every part in order
// within a grace period, then force what is left (lifecycle/shutdown.ts); a second signal exits
// at once.
import { Command, Option } from 'commander';
import { pino, type Logger } from 'pino';
import { errSerializer } from '../config/log-redaction.ts';
import { ConfigError, loadConfig, type Config } from '../config/index.ts';
import { loadCa, trustingFetch } from '../tls/trusted-fetch.ts';
import { ApiClient, CliError } from './client.ts';
import { apiKeyUnusedWarning } from './advice.ts';
import { INT32_MAX, numberFlag } from './flags.ts';
import { followExitCode, followLogs } from './follow.ts';
import { registerKeyCommands } from './keys.ts';
import { registerScheduleCommands } from './schedules.ts';
import { registerTenantCommands } from './tenants.ts';
import { isFinal } from '../domain/task.ts';
import { parseCpuQuantity, parseMemoryQuantity } from '../domain/resources.ts';
import type { CloseOptions } from '../lifecycle/part.ts';
import { startIdleCollector } from '../lifecycle/idle-collector.ts';
import { closeInOrder, type Closable } from '../lifecycle/shutdown.ts';

const program = new Command();
program
  .name('jarvis')
  .description('Jarvis: run container tasks and workflows on a cluster')
  .option('-c, --config <file>', 'YAML config file laid over config/default.yaml (or JARVIS_CONFIG)')
  .enablePositionalOptions()
  .showHelpAfterError();

function config(overrides: Record<string, unknown> = {}): Config {
  return loadConfig({ file: program.opts().config ?? null, overrides });
}

/** How long a log line may wait in the buffer before it is written. */
const LOG_FLUSH_MS = 50;

const logDestinations: Array<ReturnType<typeof pino.destination>> = [];
/** Writes the buffered log lines now (before the banner, so what led up to it is printed first). */
function flushLogs(): void {
  for (const d of logDestinations) {
    try {
      d.flushSync();
    } catch {
      d.flush(); // a write in flight: the rest follows it
    }
  }
}

function makeLogger(cfg: Config, role: string): Logger {
  // Buffered, asynchronous writes: under load one write carries many lines instead of one
  // write per request (a write each was ~12 % of the API's CPU, docs/decisions.md). A line
  // waits at most LOG_FLUSH_MS; pino writes what is left when the process exits (a SIGKILL
  // loses at most that much). The pid tells the API processes of `--processes N` apart.
  const dest = pino.destination({ dest: 1, sync: false, minLength: 8 * 1024 });
  logDestinations.push(dest);
  const pending = dest as unknown as { _len?: number; destroyed?: boolean };
  setInterval(() => {
    if (pending._len !== 0 && !pending.destroyed) dest.flush();
  }, LOG_FLUSH_MS).unref();
  // Errors are logged without a failed query's parameters or a Redis command's arguments
  // (config/log-redaction.ts): a node's token and the Redis password travel in them.
  return pino({ level: cfg.log_level, base: { service: 'jarvis', role, pid: process.pid }, serializers: { err: errSerializer } }, dest);
}

const GRACE_MS = 15_000;
/** After the grace period, how long the forced close may take before the process just exits. */
const FORCE_MS = 5_000;
/**
 * A long-lived process (up, server, worker, an API process): closes `parts` in order on
 * SIGINT/SIGTERM (a second signal exits at once) and returns the stop for other causes; and
 * gives its heap back when quiet after a burst (lifecycle/idle-collector.ts).
 */
function onSignals(logger: Logger, parts: Closable[]): (why: string) => void {
  startIdleCollector({
    onCollect: ({ heapBefore, heapAfter, pauseMs }) =>
      logger.debug({ heap_mb_before: Math.round(heapBefore / 2 ** 20), heap_mb_after: Math.round(heapAfter / 2 ** 20), pause_ms: Math.round(pauseMs) }, 'idle: heap collected after a burst'),
  });
  let stopping = false;
  const stop = (signal: string, isSignal = true) => {
    if (stopping) {
      if (!isSignal) return;
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, GRACE_MS + FORCE_MS);
    deadline.unref();
    closeInOrder(parts, GRACE_MS, logger)
      .then(() => process.exit(0))
      .catch((err) => {
        logger.error({ err }, 'error during shutdown');
        process.exit(1);
      });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  return (why) => stop(why, false);
}

function serverOverrides(opts: { host?: string; port?: string; insecure?: boolean }) {
  const server: Record<string, unknown> = {};
  if (opts.host) server.host = opts.host;
  if (opts.insecure) server.insecure = true;
  // Checked here, as the flag: loadConfig would name it "server.port" from the config files.
  if (opts.port !== undefined) server.port = numberFlag('--port', opts.port, { integer: true, min: 0, max: 65535, example: '8000' });
  return Object.keys(server).length ? { server } : {};
}

/** database: the opened database's label (state/db.ts), or null for DATABASE_URL's server. */
function banner(url: string, withWorker: boolean, cfg: Config, database: string | null) {
  flushLogs();
  const here = (path: string) => decodeURIComponent(new URL(`../../${path}`, import.meta.url).pathname);
  const lines = [
    '',
    `Jarvis is up at ${url}${withWorker ? ' (control plane + one local worker)' : ''}`,
    `  API docs      ${url}/docs   (OpenAPI: ${url}/openapi.json)`,
    `  Queue board   ${url}/admin/queues   (BullMQ board: the pending and task-events queues)`,
    cfg.metrics.enabled ? `  Metrics       ${url}/metrics   (Prometheus; alert rules: ${here('config/prometheus/jarvis.rules.yml')})` : '  Metrics       off (metrics.enabled is false)',
    `  Grafana       mount ${here('grafana/provisioning')} at /etc/grafana/provisioning`,
    `                and ${here('grafana/dashboards')} at /var/lib/grafana/dashboards/jarvis`,
    `                (or: docker compose -f docker-compose.observability.yml up; see docs/observability.md)`,
    `  Health        ${url}/health`,
    `  Database      ${cfg.database.url || !database ? 'PostgreSQL (DATABASE_URL)' : database}`,
    '',
    'Try it:',
    `  curl -s -X POST ${url}/tasks -H 'content-type: application/json' \\`,
    `       -d '{"image": "jarvis/busybox:latest", "command": "echo hello from jarvis"}'`,
    `  npx jarvis submit --follow jarvis/busybox:latest sh -c 'echo hello; sleep 1; echo bye'`,
    '',
  ];
  process.stderr.write(lines.join('\n') + '\n');
}

type ServerOpts = { host?: string; port?: string; insecure?: boolean; processes?: string };

function serverConfig(opts: ServerOpts): Config {
  const overrides = serverOverrides(opts) as { server?: Record<string, unknown> };
  if (opts.processes !== undefined) {
    const n = numberFlag('--processes', opts.processes, { integer: true, min: 1, max: 64, example: '4' });
    overrides.server = { ...overrides.server, processes: n };
  }
  return config(overrides);
}

async function runControlPlane(opts: ServerOpts, withWorker: boolean) {
  const { isClusterChild } = await import('./cluster.ts');
  const cfg = serverConfig(opts);
  if (isClusterChild()) return runApiProcess(cfg, withWorker);
  if (cfg.server.processes > 1) return runPrimary(cfg, withWorker);
  const logger = makeLogger(cfg, withWorker ? 'all-in-one' : 'server');
  const { startControlPlane } = await import('./control-plane.ts');
  // `jarvis up`'s own worker registers with a token made for this run, so it needs no API key
  // when keys are in use (other workers bring the registration token or an operator key).
  const localToken = withWorker ? (await import('node:crypto')).randomBytes(24).toString('base64url') : null;
  const localSecretKey = withWorker ? await localSecret(cfg, logger) : null;
  const cp = await startControlPlane(cfg, logger, { localRegistrationToken: localToken, localSecretKey });
  const parts: Closable[] = [];
  if (withWorker) parts.push(await localWorker(cfg, logger, cp.url, localToken as string));
  parts.push({ name: 'control plane', close: (o?: CloseOptions) => cp.close(o) });
  onSignals(logger, parts);
  banner(cp.url, withWorker, cfg, cp.database);
}

/** `jarvis up` on the embedded database keeps its own secret key beside it (auth/local-secret-key.ts). */
async function localSecret(cfg: Config, logger: Logger): Promise<string | null> {
  if (cfg.database.url || process.env.JARVIS_SECRET_KEY?.trim()) return null;
  const { loadOrCreateLocalSecretKey, localSecretKeyPath } = await import('../auth/local-secret-key.ts');
  const path = localSecretKeyPath(cfg.database.data_dir);
  logger.info({ path }, 'secrets are sealed with the key in this file (set JARVIS_SECRET_KEY to use your own)');
  return loadOrCreateLocalSecretKey(path);
}

async function localWorker(cfg: Config, logger: Logger, url: string, token: string): Promise<Closable> {
  const { startWorker } = await import('./worker.ts');
  const { localWorkerSettings } = await import('../tls/server-tls.ts');
  const local = { ...cfg, worker: { ...cfg.worker, ...localWorkerSettings(cfg, url) }, nodes: { ...cfg.nodes, registration_token: token } };
  const workers = await startWorker(local, logger.child({ role: 'worker' }));
  return { name: 'local worker', close: (o?: CloseOptions) => workers.close(o) };
}

/**
 * `--processes N` (N > 1): this process prepares the database, starts N API processes on the
 * port (cluster.ts) and, for `jarvis up`, the local worker; it serves nothing itself.
 */
async function runPrimary(cfg: Config, withWorker: boolean) {
  const logger = makeLogger(cfg, 'primary');
  const { startChildren, LOCAL_TOKEN_ENV } = await import('./cluster.ts');
  const { openDatabase, embeddedChoice, localPostgresLabel } = await import('../state/db.ts');
  const parts: Closable[] = [];
  const env: Record<string, string> = {};
  let url = cfg.database.url;
  let embedded: string | null = null;
  if (!url) {
    // The embedded PostgreSQL is this process's child, shared by the API processes over its socket.
    const choice = embeddedChoice(cfg.database.data_dir);
    if (choice.kind !== 'postgres') {
      throw new CliError('--processes above 1 needs PostgreSQL: set DATABASE_URL, or install the PostgreSQL server binaries for the embedded one (PGlite runs inside one process)');
    }
    const { startLocalPostgres } = await import('../state/local-postgres.ts');
    const local = await startLocalPostgres(choice.dir, choice.bin);
    parts.push({ name: 'embedded database', close: () => local.stop() });
    url = local.url;
    env.DATABASE_URL = url;
    embedded = localPostgresLabel(choice.dir, choice.bin);
  }
  const stopAll = async (o?: CloseOptions) => {
    for (const p of [...parts].reverse()) await p.close(o).catch((err) => logger.warn({ err }, `shutdown: error closing ${p.name}`));
  };
  try {
    // Migrations once, here, before any API process opens the database.
    const db = await openDatabase({ url, dataDir: cfg.database.data_dir });
    logger.info({ database: db.label }, 'database ready');
    await db.close();
    const token = withWorker ? (await import('node:crypto')).randomBytes(24).toString('base64url') : null;
    if (token) env[LOCAL_TOKEN_ENV] = token;
    const secret = withWorker ? await localSecret(cfg, logger) : null;
    if (secret) env.JARVIS_SECRET_KEY = secret;
    const children = await startChildren(cfg.server.processes, env, logger, GRACE_MS + FORCE_MS + 2_000);
    parts.unshift({ name: `${cfg.server.processes} API processes`, close: (o?: CloseOptions) => children.close(o) });
    if (withWorker) parts.unshift(await localWorker(cfg, logger, children.url, token as string));
    logger.info({ processes: cfg.server.processes, pids: children.pids(), scheduler: children.schedulerPid(), url: children.url }, 'API processes ready');
    onSignals(logger, parts);
    banner(children.url, withWorker, cfg, embedded);
  } catch (err) {
    await stopAll({ force: true });
    throw err;
  }
}

/** A child of `--processes N`: an API process on the shared port, or the scheduler process. */
async function runApiProcess(cfg: Config, withWorker: boolean) {
  const { reportListening, onPrimaryStop, clusterMetrics, childRole, LOCAL_TOKEN_ENV } = await import('./cluster.ts');
  const role = childRole();
  const logger = makeLogger(cfg, role === 'scheduler' ? 'scheduler' : withWorker ? 'all-in-one' : 'server');
  const { startControlPlane } = await import('./control-plane.ts');
  const cp = await startControlPlane(cfg, logger, { localRegistrationToken: process.env[LOCAL_TOKEN_ENV] ?? null, role });
  if (cp.deps.metrics.enabled) await clusterMetrics(cp.deps.metrics);
  const stop = onSignals(logger, [{ name: 'control plane', close: (o?: CloseOptions) => cp.close(o) }]);
  onPrimaryStop(stop);
  flushLogs();
  reportListening(cp.url);
}

program
  .command('up')
  .description('Start the control plane and one local worker (a laptop cluster)')
  .option('--host <host>', 'address to listen on (HOST)')
  .option('--port <port>', 'port to listen on (PORT)')
  .option('--insecure', 'allow open mode (no API key) on a non-loopback address (JARVIS_INSECURE)')
  .option('--processes <n>', 'API processes on the port, using more cores (JARVIS_API_PROCESSES; default 1)')
  .action((opts) => runControlPlane(opts, true));

program
  .command('server')
  .description('Start a control plane: the API, scheduler and monitor')
  .option('--host <host>', 'address to listen on (HOST)')
  .option('--port <port>', 'port to listen on (PORT)')
  .option('--insecure', 'allow open mode (no API key) on a non-loopback address (JARVIS_INSECURE)')
  .option('--processes <n>', 'API processes on the port, using more cores (JARVIS_API_PROCESSES; default 1)')
  .action((opts) => runControlPlane(opts, false));

const collect = (v: string, prev: string[] = []) => [...prev, v];
function keyValues(pairs: string[] | undefined, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs ?? []) {
    const i = p.indexOf('=');
    if (i <= 0) throw new CliError(`${what} must look like KEY=VALUE, got "${p}"`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

program
  .command('worker')
  .description('Start a worker node: registers with the control plane and runs tasks in Docker')
  .option('--name <name>', 'node name (default: the host name)')
  .option('--api-url <url>', 'control plane URL (JARVIS_API_URL)')
  .option('--cpu <cores>', 'CPU cores offered (default: all)')
  .option('--memory-mb <mb>', 'memory offered in MiB (default: all)')
  .option('--gpu <n>', 'GPUs offered')
  .option('--max-tasks <n>', 'tasks run at once')
  .option('--label <key=value>', 'node label (repeatable)', collect)
  .addOption(new Option('--executor <kind>', 'docker, or simulated (waits instead of running; for benchmarks)').choices(['docker', 'simulated']))
  .option('--nodes <n>', 'with --executor simulated: how many nodes this process hosts', '1')
  .action(async (opts) => {
    const nodes = numberFlag('--nodes', opts.nodes, { integer: true, min: 1, example: '100' });
    const capacity: Record<string, number> = {};
    if (opts.cpu !== undefined) capacity.cpu = numberFlag('--cpu', opts.cpu, { above: 0, unit: 'cores', example: '4' });
    if (opts.memoryMb !== undefined) capacity.memory_mb = numberFlag('--memory-mb', opts.memoryMb, { integer: true, min: 1, max: INT32_MAX, unit: 'MiB', example: '4096' });
    if (opts.gpu !== undefined) capacity.gpu = numberFlag('--gpu', opts.gpu, { integer: true, min: 0, max: INT32_MAX, example: '1' });
    if (opts.maxTasks !== undefined) capacity.max_tasks = numberFlag('--max-tasks', opts.maxTasks, { integer: true, min: 1, max: INT32_MAX, example: '8' });
    const worker: Record<string, unknown> = { capacity };
    if (opts.name) worker.name = opts.name;
    if (opts.apiUrl) worker.api_url = opts.apiUrl;
    if (opts.label) worker.labels = keyValues(opts.label, '--label');
    if (opts.executor) worker.executor = opts.executor;
    const cfg = config({ worker });
    if (nodes > 1 && cfg.worker.executor !== 'simulated') throw new CliError(`--nodes ${nodes} needs --executor simulated: real nodes are one per process`);
    const logger = makeLogger(cfg, 'worker');
    const unused = apiKeyUnusedWarning(process.env, cfg);
    if (unused) logger.warn(unused);
    const { startWorker } = await import('./worker.ts');
    const workers = await startWorker(cfg, logger, nodes);
    onSignals(logger, [{ name: 'worker', close: (o?: CloseOptions) => workers.close(o) }]);
    // From here a SIGTERM stops it cleanly (its heartbeats say so until its tasks end); before, it just ends.
    logger.info('worker: running');
  });

function client(opts: { apiUrl?: string }) {
  const url = opts.apiUrl ?? process.env.JARVIS_API_URL ?? 'http://127.0.0.1:8000';
  return new ApiClient(url, process.env.JARVIS_API_KEY?.trim() || null, trustingFetch(loadCa(process.env.JARVIS_CA_FILE)));
}
const apiUrlOption = () => new Option('--api-url <url>', 'Jarvis API URL (JARVIS_API_URL; default http://127.0.0.1:8000)');

interface TaskView {
  id: string;
  status: string;
  exit_code: number | null;
  error: string | null;
  name: string | null;
  image: string;
  created_at: string;
  status_reason: string | null;
}

program
  .command('submit')
  .description('Submit a task: IMAGE [CMD...]. Put options before IMAGE, or use -- before CMD')
  .argument('<image>', 'Docker image')
  .argument('[command...]', 'command to run (default: the image\'s)')
  .option('--name <name>', 'task name')
  .option('--priority <p>', 'critical, high, normal or low')
  .option('--cpu <cores>', 'CPU cores, e.g. 0.5 or 500m')
  .option('--memory <qty>', 'memory, e.g. 256Mi or 1Gi')
  .option('--gpu <n>', 'GPUs')
  .option('--env <KEY=VALUE>', 'environment variable (repeatable)', collect)
  .option('--label <KEY=VALUE>', 'label (repeatable)', collect)
  .option('--timeout <seconds>', 'kill the container after this many seconds')
  .option('--network <mode>', 'none, bridge or host')
  .option('-f, --follow', 'stream the output; exit 0 if the task succeeded, else with its exit code (1 if it has none or it is 0); 2 if the stream is lost')
  .addOption(apiUrlOption())
  .passThroughOptions()
  .action(async (image: string, command: string[], opts) => {
    const api = client(opts);
    const resources: Record<string, unknown> = {};
    if (opts.cpu !== undefined) {
      // Cores ("0.5") or a quantity ("500m"), as the API takes them.
      if (parseCpuQuantity(String(opts.cpu)) === null) throw new CliError(`--cpu must be a number of cores > 0 or a quantity such as "500m", got "${opts.cpu}" (e.g. --cpu 0.5 or --cpu 500m)`);
      resources.cpu = /^\s*[\d.]+\s*$/.test(opts.cpu) ? Number(opts.cpu) : opts.cpu;
    }
    if (opts.memory !== undefined) {
      if (parseMemoryQuantity(String(opts.memory)) === null) throw new CliError(`--memory must be a quantity such as "256Mi" or "1Gi", got "${opts.memory}" (e.g. --memory 512Mi)`);
      resources.memory = opts.memory;
    }
    if (opts.gpu !== undefined) resources.gpu = numberFlag('--gpu', opts.gpu, { integer: true, min: 0, max: INT32_MAX, example: '1' });
    const body: Record<string, unknown> = { image };
    if (command.length) body.command = command;
    if (opts.name) body.name = opts.name;
    if (opts.priority) body.priority = opts.priority;
    if (Object.keys(resources).length) body.resources = resources;
    if (opts.env) body.env = keyValues(opts.env, '--env');
    if (opts.label) body.labels = keyValues(opts.label, '--label');
    if (opts.timeout !== undefined) body.timeout_seconds = numberFlag('--timeout', opts.timeout, { integer: true, min: 1, max: INT32_MAX, unit: 'seconds', example: '600' });
    if (opts.network) body.network = opts.network;
    const task = await api.request<TaskView>('POST', '/tasks', body);
    if (!opts.follow) {
      process.stdout.write(`${task.id}\n`);
      return;
    }
    process.stderr.write(`task ${task.id} ${task.status}\n`);
    await followLogs(api, task.id);
    const end = await api.request<TaskView>('GET', `/tasks/${task.id}`);
    process.stderr.write(`task ${end.id} ${end.status}${end.exit_code !== null ? ` (exit code ${end.exit_code})` : ''}${end.error && end.status !== 'succeeded' ? `: ${end.error}` : ''}\n`);
    process.exitCode = followExitCode(end);
  });

program
  .command('tasks')
  .description('List tasks, newest first')
  .option('--status <status>', 'only tasks in this status')
  .option('--limit <n>', 'how many', '20')
  .option('--json', 'print the API\'s JSON')
  .addOption(apiUrlOption())
  .action(async (opts) => {
    const q = new URLSearchParams({ limit: String(numberFlag('--limit', opts.limit, { integer: true, min: 1, max: 500, example: '50' })) });
    if (opts.status) q.set('status', opts.status);
    const page = await client(opts).request<{ items: TaskView[]; total: number }>('GET', `/tasks?${q}`);
    if (opts.json) {
      process.stdout.write(JSON.stringify(page, null, 2) + '\n');
      return;
    }
    const rows = page.items.map((t) => [t.id, t.status, t.exit_code ?? '', t.name ?? '', t.image, t.created_at]);
    const header = ['ID', 'STATUS', 'EXIT', 'NAME', 'IMAGE', 'CREATED'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
    for (const r of [header, ...rows]) process.stdout.write(r.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd() + '\n');
    process.stdout.write(`${page.items.length} of ${page.total} tasks\n`);
  });

program
  .command('logs')
  .description("Print a task's output")
  .argument('<id>', 'task id')
  .option('-f, --follow', 'keep streaming until the task ends')
  .addOption(apiUrlOption())
  .action(async (id: string, opts) => {
    const api = client(opts);
    if (opts.follow) return followLogs(api, id);
    const logs = await api.request<{ logs: string; truncated: boolean }>('GET', `/tasks/${id}/logs`);
    process.stdout.write(logs.logs);
    if (logs.truncated) process.stderr.write('(output truncated at the log cap)\n');
  });

interface WorkflowView {
  id: string;
  name: string | null;
  status: string;
  tasks: Array<TaskView & { workflow_key: string; depends_on: string[]; result?: string | null; outputs?: Record<string, string> | null }>;
}

function printWorkflow(wf: WorkflowView) {
  process.stdout.write(`workflow ${wf.id}${wf.name ? ` (${wf.name})` : ''}: ${wf.status}\n`);
  const width = Math.max(3, ...wf.tasks.map((t) => t.workflow_key.length));
  for (const t of wf.tasks) {
    let detail = t.status_reason ?? t.error ?? (t.exit_code !== null ? `exit code ${t.exit_code}` : '');
    if (t.outputs && Object.keys(t.outputs).length > 0) detail += `  outputs: ${JSON.stringify(t.outputs)}`;
    if (t.result) detail += `  result: ${JSON.stringify(t.result)}`;
    process.stdout.write(`  ${t.workflow_key.padEnd(width)}  ${t.status.padEnd(9)}  ${detail}\n`);
  }
}

const workflow = program.command('workflow').description('Run and inspect workflows (DAGs of tasks)');

workflow
  .command('run')
  .description('Submit a workflow from a YAML (or JSON) file with the body of POST /workflows')
  .argument('<file>', 'the workflow file')
  .option('-f, --follow', 'show progress as tasks finish; exit non-zero if the workflow does not succeed')
  .addOption(apiUrlOption())
  .action(async (file: string, opts) => {
    const { readFileSync } = await import('node:fs');
    const { parse } = await import('yaml');
    let body: unknown;
    try {
      body = parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new CliError(`cannot read workflow file ${file}: ${(err as Error).message}`);
    }
    const api = client(opts);
    const wf = await api.request<WorkflowView>('POST', '/workflows', body);
    if (!opts.follow) {
      process.stdout.write(`${wf.id}\n`);
      return;
    }
    process.stderr.write(`workflow ${wf.id} submitted: ${wf.tasks.length} tasks\n`);
    await followWorkflow(api, wf);
  });

/** Prints each task as it starts and ends until the workflow ends; exit code 1 unless it succeeded. */
async function followWorkflow(api: ReturnType<typeof client>, first: WorkflowView): Promise<void> {
  let wf = first;
  const seen = new Map<string, string>();
  for (;;) {
    let done = 0;
    for (const t of wf.tasks) if (isFinal(t.status)) done++;
    for (const t of wf.tasks) {
      if (seen.get(t.id) === t.status) continue;
      seen.set(t.id, t.status);
      if (t.status === 'running' || isFinal(t.status)) {
        const extra = t.status === 'skipped' ? ` (${t.status_reason})` : t.status !== 'running' && t.status !== 'succeeded' && t.error ? ` (${t.error})` : '';
        process.stdout.write(`[${done}/${wf.tasks.length}] ${t.workflow_key} ${t.status}${extra}\n`);
      }
    }
    if (wf.status !== 'running') break;
    await new Promise((r) => setTimeout(r, 500));
    wf = await api.request<WorkflowView>('GET', `/workflows/${wf.id}`);
  }
  process.stdout.write(`workflow ${wf.id} ${wf.status}\n`);
  process.exitCode = wf.status === 'succeeded' ? 0 : 1;
}

workflow
  .command('retry')
  .description('Run an ended workflow again: its failed, timed-out, cancelled and skipped tasks re-run; succeeded ones are kept')
  .argument('<id>', 'workflow id')
  .option('-f, --follow', 'show progress as tasks finish; exit non-zero if the workflow does not succeed')
  .addOption(apiUrlOption())
  .action(async (id: string, opts) => {
    const api = client(opts);
    const wf = await api.request<WorkflowView>('POST', `/workflows/${id}/retry`);
    if (opts.follow) await followWorkflow(api, wf);
    else printWorkflow(wf);
  });

workflow
  .command('get')
  .description('Show a workflow and the state of each of its tasks')
  .argument('<id>', 'workflow id')
  .option('--json', "print the API's JSON")
  .addOption(apiUrlOption())
  .action(async (id: string, opts) => {
    const wf = await client(opts).request<WorkflowView>('GET', `/workflows/${id}`);
    if (opts.json) process.stdout.write(JSON.stringify(wf, null, 2) + '\n');
    else printWorkflow(wf);
  });

registerKeyCommands(program, () => config());
registerScheduleCommands(program, client, apiUrlOption);
registerTenantCommands(program, client, apiUrlOption);

program.parseAsync(process.argv).catch((err) => {
  if (err instanceof CliError || err instanceof ConfigError) {
    process.stderr.write(`jarvis: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`jarvis: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
