// Per-tenant fair-share metrics, read at scrape time: what each tenant holds by resource, its
// dominant and entitled shares, its weight, and its queued demand, in total and by resource
// shape (the buckets an autoscaler reads: which node sizes would let the backlog run).
import { Gauge, type Registry } from 'prom-client';
import type { ScrapeSource } from './scrape-source.ts';

export interface TenantFigures {
  tenants: Array<{
    name: string;
    weight: number;
    usage: { cpu: number; memoryMb: number; gpu: number; running: number };
    pending: { tasks: number; cpu: number; memoryMb: number; gpu: number };
    dominantShare: number;
    entitledShare: number;
  }>;
  /** Queued tasks by tenant and shape bucket ("le_2": at most 2; "gt_16": more than 16). */
  shapes: Array<{ tenant: string; cpu: string; memory: string; gpu: string; tasks: number }>;
}

export function registerTenantMetrics(registers: Registry[], source: ScrapeSource<TenantFigures>): void {
  const perTenant = (name: string, help: string, value: (t: TenantFigures['tenants'][number]) => number) =>
    new Gauge({
      name,
      help: `${help} (read at scrape time).`,
      labelNames: ['tenant'],
      registers,
      aggregator: 'first',
      async collect() {
        const f = await source.get();
        this.reset();
        for (const t of f?.tenants ?? []) this.set({ tenant: t.name }, value(t));
      },
    });
  perTenant('jarvis_tenant_weight', "A tenant's fair-share weight, by tenant", (t) => t.weight);
  perTenant('jarvis_tenant_dominant_share', "A tenant's dominant share: its largest fraction of the cluster's cpu, memory, gpu or task slots, by tenant", (t) => t.dominantShare);
  perTenant('jarvis_tenant_entitled_share', "The share a tenant is entitled to: its weight over the weights of all tenants with work, by tenant", (t) => t.entitledShare);

  const byResource = (name: string, help: string, value: (t: TenantFigures['tenants'][number]) => Record<string, number>) =>
    new Gauge({
      name,
      help: `${help} (read at scrape time).`,
      labelNames: ['tenant', 'resource'],
      registers,
      aggregator: 'first',
      async collect() {
        const f = await source.get();
        this.reset();
        for (const t of f?.tenants ?? []) for (const [resource, v] of Object.entries(value(t))) this.set({ tenant: t.name, resource }, v);
      },
    });
  byResource('jarvis_tenant_usage', "What a tenant's scheduled and running tasks hold, by tenant and resource (cpu cores, memory_mb, gpu, tasks)", (t) => ({
    cpu: t.usage.cpu,
    memory_mb: t.usage.memoryMb,
    gpu: t.usage.gpu,
    tasks: t.usage.running,
  }));
  byResource('jarvis_tenant_pending_demand', "What a tenant's queued tasks ask for, summed, by tenant and resource (cpu cores, memory_mb, gpu, tasks)", (t) => ({
    cpu: t.pending.cpu,
    memory_mb: t.pending.memoryMb,
    gpu: t.pending.gpu,
    tasks: t.pending.tasks,
  }));

  new Gauge({
    name: 'jarvis_tenant_pending_tasks',
    help: "Queued tasks by tenant and resource shape: cpu, memory_mb and gpu buckets ('le_N': at most N, 'gt_N': more) (read at scrape time).",
    labelNames: ['tenant', 'cpu', 'memory_mb', 'gpu'],
    registers,
    aggregator: 'first',
    async collect() {
      const f = await source.get();
      this.reset();
      for (const s of f?.shapes ?? []) this.set({ tenant: s.tenant, cpu: s.cpu, memory_mb: s.memory, gpu: s.gpu }, s.tasks);
    },
  });
}
