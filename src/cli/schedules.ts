// `jarvis schedules …` and `jarvis webhooks …`: the /schedules and /webhooks routes from the
// command line, through the HTTP API like every other API command.
import { readFile } from 'node:fs/promises';
import type { Command, Option } from 'commander';
import { CliError, type ApiClient } from './client.ts';
import { INT32_MAX, numberFlag } from './flags.ts';

interface ScheduleView {
  id: string;
  name: string;
  cron: string;
  timezone: string;
  concurrency: string;
  paused: boolean;
  next_run_at: string | null;
  last_run_at: string | null;
  last_run_id: string | null;
  missed_ticks: number;
  last_error: string | null;
}

function table(rows: Array<Array<string | number>>, header: string[]) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  for (const r of [header, ...rows]) process.stdout.write(r.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd() + '\n');
}

function printSchedule(s: ScheduleView) {
  process.stdout.write(
    `schedule ${s.id} (${s.name}): "${s.cron}" in ${s.timezone}, concurrency ${s.concurrency}${s.paused ? ', paused' : ''}\n` +
      `  next run: ${s.next_run_at ?? '-'}   last run: ${s.last_run_at ?? '-'}${s.last_run_id ? ` (${s.last_run_id})` : ''}   missed: ${s.missed_ticks}\n` +
      (s.last_error ? `  last error: ${s.last_error}\n` : ''),
  );
}

async function readBody(file: string): Promise<Record<string, unknown>> {
  const { parse } = await import('yaml');
  try {
    return parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

export function registerScheduleCommands(program: Command, client: (opts: { apiUrl?: string }) => ApiClient, apiUrlOption: () => Option) {
  const schedules = program.command('schedules').description('Run a task or a workflow on a cron schedule');

  schedules
    .command('list', { isDefault: true })
    .description('List schedules, newest first')
    .option('--limit <n>', 'how many', '50')
    .option('--json', "print the API's JSON")
    .addOption(apiUrlOption())
    .action(async (opts) => {
      const limit = numberFlag('--limit', opts.limit, { integer: true, min: 1, max: 500, example: '50' });
      const page = await client(opts).request<{ items: ScheduleView[]; total: number }>('GET', `/schedules?limit=${limit}`);
      if (opts.json) return void process.stdout.write(JSON.stringify(page, null, 2) + '\n');
      table(
        page.items.map((s) => [s.id, s.name, s.cron, s.timezone, s.concurrency, s.paused ? 'paused' : 'active', s.next_run_at ?? '-']),
        ['ID', 'NAME', 'CRON', 'TIMEZONE', 'CONCURRENCY', 'STATE', 'NEXT RUN'],
      );
      process.stdout.write(`${page.items.length} of ${page.total} schedules\n`);
    });

  schedules
    .command('create')
    .description('Create a schedule from a YAML (or JSON) file with the body of POST /schedules, or from flags (one task)')
    .argument('[file]', 'the schedule file')
    .option('--name <name>', 'schedule name')
    .option('--cron <expr>', 'five-field cron, six with seconds first, or @daily etc.')
    .option('--timezone <tz>', 'IANA time zone (default UTC)')
    .option('--image <image>', 'the task image')
    .option('--command <cmd>', 'the task command (run by the image shell)')
    .option('--concurrency <policy>', 'allow | forbid | replace')
    .option('--starting-deadline-seconds <n>', 'a tick not started within this is missed')
    .option('--paused', 'create it paused')
    .option('--json', "print the API's JSON")
    .addOption(apiUrlOption())
    .action(async (file: string | undefined, opts) => {
      const body: Record<string, unknown> = file ? await readBody(file) : {};
      if (opts.name) body.name = opts.name;
      if (opts.cron) body.cron = opts.cron;
      if (opts.timezone) body.timezone = opts.timezone;
      if (opts.concurrency) body.concurrency = opts.concurrency;
      if (opts.startingDeadlineSeconds !== undefined) {
        body.starting_deadline_seconds = numberFlag('--starting-deadline-seconds', opts.startingDeadlineSeconds, { integer: true, min: 1, max: INT32_MAX, unit: 'seconds', example: '300' });
      }
      if (opts.paused) body.paused = true;
      if (opts.image) body.task = { ...(body.task as object), image: opts.image, ...(opts.command ? { command: opts.command } : {}) };
      if (!file && !opts.image) throw new CliError('give a schedule file, or --name, --cron and --image');
      const s = await client(opts).request<ScheduleView>('POST', '/schedules', body);
      if (opts.json) process.stdout.write(JSON.stringify(s, null, 2) + '\n');
      else printSchedule(s);
    });

  schedules
    .command('get')
    .description('Show a schedule')
    .argument('<id>', 'schedule id')
    .option('--json', "print the API's JSON")
    .addOption(apiUrlOption())
    .action(async (id: string, opts) => {
      const s = await client(opts).request<ScheduleView>('GET', `/schedules/${encodeURIComponent(id)}`);
      if (opts.json) process.stdout.write(JSON.stringify(s, null, 2) + '\n');
      else printSchedule(s);
    });

  for (const [name, paused, what] of [
    ['pause', true, 'Pause a schedule: its ticks are missed until it is resumed'],
    ['resume', false, 'Resume a schedule: ticks count from now (those missed while paused are not caught up)'],
  ] as const) {
    schedules
      .command(name)
      .description(what)
      .argument('<id>', 'schedule id')
      .addOption(apiUrlOption())
      .action(async (id: string, opts) => printSchedule(await client(opts).request<ScheduleView>('PATCH', `/schedules/${encodeURIComponent(id)}`, { paused })));
  }

  schedules
    .command('trigger')
    .description('Start a run of a schedule now')
    .argument('<id>', 'schedule id')
    .addOption(apiUrlOption())
    .action(async (id: string, opts) => {
      const r = await client(opts).request<{ run: { kind: string; id: string } }>('POST', `/schedules/${encodeURIComponent(id)}/trigger`);
      process.stdout.write(`${r.run.kind} ${r.run.id} started\n`);
    });

  schedules
    .command('delete')
    .description('Delete a schedule (the runs it made stay)')
    .argument('<id>', 'schedule id')
    .addOption(apiUrlOption())
    .action(async (id: string, opts) => {
      await client(opts).request('DELETE', `/schedules/${encodeURIComponent(id)}`);
      process.stdout.write(`schedule ${id} deleted\n`);
    });

  const webhooks = program.command('webhooks').description("Post the tenant's task and workflow events to a URL, signed");

  webhooks
    .command('list', { isDefault: true })
    .description('List webhooks')
    .addOption(apiUrlOption())
    .action(async (opts) => {
      const page = await client(opts).request<{ items: Array<{ id: string; url: string; events: string[] }>; total: number }>('GET', '/webhooks?limit=500');
      table(page.items.map((w) => [w.id, w.url, w.events.join(',')]), ['ID', 'URL', 'EVENTS']);
    });

  webhooks
    .command('create')
    .description('Create a webhook; the secret is read from JARVIS_WEBHOOK_SECRET (so it stays out of the shell history)')
    .requiredOption('--url <url>', 'where to POST events')
    .option('--events <list>', 'comma-separated: task.succeeded,task.failed,workflow.*, or *', '*')
    .addOption(apiUrlOption())
    .action(async (opts) => {
      const secret = process.env.JARVIS_WEBHOOK_SECRET;
      if (!secret) throw new CliError('set JARVIS_WEBHOOK_SECRET to the signing secret (e.g. openssl rand -hex 32)');
      const w = await client(opts).request<{ id: string }>('POST', '/webhooks', { url: opts.url, events: String(opts.events).split(','), secret });
      process.stdout.write(`webhook ${w.id} created\n`);
    });

  webhooks
    .command('deliveries')
    .description("A webhook's delivery log, newest first")
    .argument('<id>', 'webhook id')
    .addOption(apiUrlOption())
    .action(async (id: string, opts) => {
      const page = await client(opts).request<{ items: Array<{ id: string; event_type: string; status: string; attempts: number; response_code: number | null; last_error: string | null }> }>(
        'GET',
        `/webhooks/${encodeURIComponent(id)}/deliveries`,
      );
      table(page.items.map((d) => [d.id, d.event_type, d.status, d.attempts, d.response_code ?? '-', d.last_error ?? '']), ['DELIVERY', 'EVENT', 'STATUS', 'ATTEMPTS', 'CODE', 'LAST ERROR']);
    });

  webhooks
    .command('delete')
    .description('Delete a webhook and its delivery log')
    .argument('<id>', 'webhook id')
    .addOption(apiUrlOption())
    .action(async (id: string, opts) => {
      await client(opts).request('DELETE', `/webhooks/${encodeURIComponent(id)}`);
      process.stdout.write(`webhook ${id} deleted\n`);
    });
}
