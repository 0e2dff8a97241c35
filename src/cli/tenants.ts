// `jarvis tenants [NAME]` and `jarvis tenants set NAME --weight W --cpu C ...`: fair-share
// settings through the API (GET /tenants, PUT /tenants/{name}), as any client would.
import { Option, type Command } from 'commander';
import { CliError, type ApiClient } from './client.ts';

interface TenantView {
  name: string;
  weight: number;
  quota: { cpu: number | null; memory_mb: number | null; gpu: number | null; max_running: number | null };
  configured: boolean;
  usage: { cpu: number; memory_mb: number; gpu: number; running: number };
  pending: { tasks: number; cpu: number; memory_mb: number; gpu: number };
  dominant_share: number;
  dominant_resource: string;
  entitled_share: number;
}

const pct = (n: number) => `${Math.round(n * 1000) / 10}%`;
const of = (used: number, limit: number | null) => `${Math.round(used * 100) / 100}/${limit === null ? '-' : limit}`;

function table(items: TenantView[]): string {
  const header = ['TENANT', 'WEIGHT', 'RUNNING', 'CPU', 'MEMORY_MB', 'GPU', 'QUEUED', 'SHARE', 'ENTITLED'];
  const rows = items.map((t) => [
    t.name,
    String(t.weight),
    of(t.usage.running, t.quota.max_running),
    of(t.usage.cpu, t.quota.cpu),
    of(t.usage.memory_mb, t.quota.memory_mb),
    of(t.usage.gpu, t.quota.gpu),
    String(t.pending.tasks),
    `${pct(t.dominant_share)} ${t.dominant_resource}`,
    pct(t.entitled_share),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

/** "none" or "" clears a quota field (no limit); otherwise a number ≥ 0. */
function quotaValue(name: string, v: string | undefined, int: boolean): number | null | undefined {
  if (v === undefined) return undefined;
  if (v === 'none' || v === '') return null;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || (int && !Number.isInteger(n))) throw new CliError(`--${name} must be ${int ? 'a whole number' : 'a number'} ≥ 0, or "none" for no limit; got "${v}"`);
  return n;
}

export function registerTenantCommands(program: Command, client: (opts: { apiUrl?: string }) => ApiClient, apiUrlOption: () => Option) {
  const tenants = program
    .command('tenants')
    .description("Fair share: tenants' weights, quotas, usage and shares (GET /tenants); `tenants set` changes them (admin)")
    .argument('[name]', 'one tenant')
    .option('--json', "print the API's JSON")
    .addOption(apiUrlOption())
    .action(async (name: string | undefined, opts) => {
      const api = client(opts);
      const items = name ? [await api.request<TenantView>('GET', `/tenants/${encodeURIComponent(name)}`)] : (await api.request<{ items: TenantView[] }>('GET', '/tenants')).items;
      process.stdout.write(opts.json ? JSON.stringify(name ? items[0] : { items }, null, 2) + '\n' : table(items));
    });

  tenants
    .command('set')
    .description("Set a tenant's weight and quota (admin). Quota fields not given keep their value; \"none\" removes a limit")
    .argument('<name>', 'tenant')
    .option('--weight <w>', 'share of a busy cluster relative to other tenants with work')
    .option('--cpu <cores>', 'CPUs its tasks may hold at once')
    .option('--memory-mb <mb>', 'MiB its tasks may hold at once')
    .option('--gpu <n>', 'GPUs its tasks may hold at once')
    .option('--max-running <n>', 'tasks scheduled or running at once')
    .addOption(apiUrlOption())
    .action(async (name: string, opts) => {
      const api = client(opts);
      const now = await api.request<TenantView>('GET', `/tenants/${encodeURIComponent(name)}`);
      const weight = opts.weight === undefined ? now.weight : Number(opts.weight);
      if (!Number.isFinite(weight) || weight <= 0) throw new CliError(`--weight must be a number > 0, got "${opts.weight}"`);
      const pick = <T>(given: T | undefined, was: T) => (given === undefined ? was : given);
      const quota = {
        cpu: pick(quotaValue('cpu', opts.cpu, false), now.quota.cpu),
        memory_mb: pick(quotaValue('memory-mb', opts.memoryMb, true), now.quota.memory_mb),
        gpu: pick(quotaValue('gpu', opts.gpu, true), now.quota.gpu),
        max_running: pick(quotaValue('max-running', opts.maxRunning, true), now.quota.max_running),
      };
      const t = await api.request<TenantView>('PUT', `/tenants/${encodeURIComponent(name)}`, { weight, quota });
      process.stdout.write(table([t]));
    });
}
