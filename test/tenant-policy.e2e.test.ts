// A tenant policy set by an admin in the config reaches the container: tenant "default" may use
// the host's network here, so its task sees the host's interfaces (not only "lo", as with
// network "none"); without the policy the same task is refused at submit, naming the rule.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { api, startJarvis, tempDir } from './support/jarvis.ts';
import { TEST_IMAGE } from './support/env.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

describe('tenant policy: host network', () => {
  const running: Array<{ stop(): Promise<unknown> }> = [];
  afterAll(async () => {
    for (const p of running) await p.stop();
  });

  it('runs a host-network task of a tenant allowed it, with the host network', async () => {
    const file = join(tempDir(), 'policy.yaml');
    writeFileSync(file, 'tenants:\n  policies:\n    default: {allow_host_network: true}\n');
    const jarvis = await startJarvis({ databaseUrl: null, env: { JARVIS_CONFIG: file } });
    running.push(jarvis);
    const http = api(jarvis.url);
    const t = await http.post('/tasks', { image: TEST_IMAGE, command: 'ls /sys/class/net', network: 'host' });
    expect(t.status).toBe(201);
    const done = await http.waitForTask(t.body.id, (x) => ['succeeded', 'failed'].includes(x.status));
    expect(done.status, JSON.stringify(done)).toBe('succeeded');
    const out = (await http.get(`/tasks/${t.body.id}/logs`)).body.logs as string;
    expect(out.split('\n').filter(Boolean).some((n) => n !== 'lo')).toBe(true);
  });

  it('refuses the same task without the policy', async () => {
    const jarvis = await startJarvis({ databaseUrl: null });
    running.push(jarvis);
    const r = await api(jarvis.url).post('/tasks', { image: TEST_IMAGE, command: 'true', network: 'host' });
    expect(r.status).toBe(403);
    expect(r.body.detail).toContain('tenants.policies.default.allow_host_network');
  });
});
