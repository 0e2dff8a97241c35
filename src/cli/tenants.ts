// `jarvis tenants [NAME]` and `jarvis tenants set NAME --weight W --cpu C ...`: fair-share
// settings through the API (GET /tenants, PUT /tenants/{name}), as any client would.
import { Option, type Command } from 'commander';
import type { ApiClient } from './client.ts';
import { INT32_MAX, numberFlag, type NumberRule } from './flags.ts';

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

/** "none" or "" clears a quota field (no limit); otherwise a number in the API's range for it. */
function quotaValue(name: string, v: string | undefined, rule: NumberRule): number | null | undefined {
  if (v === undefined) return undefined;
  if (v === 'none' || v === '') return null;
  return numberFlag(`--${name}`, v, { ...rule, example: `${rule.example}, or --${name} none for no limit` });
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
      // The flags are checked before anything is asked of the API.
      const weight = opts.weight === undefined ? undefined : numberFlag('--weight', opts.weight, { above: 0, max: 1_000_000, example: '2' });
      const given = {
        cpu: quotaValue('cpu', opts.cpu, { above: 0, max: 1_000_000, example: '16' }),
        memory_mb: quotaValue('memory-mb', opts.memoryMb, { integer: true, min: 1, max: INT32_MAX, example: '65536' }),
        gpu: quotaValue('gpu', opts.gpu, { integer: true, min: 0, max: INT32_MAX, example: '4' }),
        max_running: quotaValue('max-running', opts.maxRunning, { integer: true, min: 0, max: INT32_MAX, example: '8' }),
      };
      const api = client(opts);
      const now = await api.request<TenantView>('GET', `/tenants/${encodeURIComponent(name)}`);
      const pick = <T>(v: T | undefined, was: T) => (v === undefined ? was : v);
      const quota = {
        cpu: pick(given.cpu, now.quota.cpu),
        memory_mb: pick(given.memory_mb, now.quota.memory_mb),
        gpu: pick(given.gpu, now.quota.gpu),
        max_running: pick(given.max_running, now.quota.max_running),
      };
      const body = { weight: pick(weight, now.weight), quota };
      const t = await api.request<TenantView>('PUT', `/tenants/${encodeURIComponent(name)}`, body);
      process.stdout.write(table([t]));
    });
}
