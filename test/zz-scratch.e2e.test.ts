import { it } from 'vitest';
import { api, spawnSimulatedNodes, startJarvis } from './support/jarvis.ts';
it('debug', async () => {
  const s = await startJarvis({ command: 'server', databaseUrl: null });
  const nodes = spawnSimulatedNodes(s, `sim-${s.prefix}`, 1, { cpu: 64, memoryMb: 65536, maxTasks: 4 });
  await nodes.waitFor(/worker: registered/, 30_000);
  const http = api(s.url);
  const ids = (await http.post('/tasks/batch', { tasks: Array.from({ length: 40 }, () => ({ image: 'sim', labels: { 'jarvis.sim/duration_ms': '300' } })) })).body.items.map((t: any) => t.id);
  const t0 = Date.now();
  try {
    for (const id of ids) await http.waitForTask(id, (t) => t.status === 'succeeded', 30_000);
    console.log('all done in', Date.now() - t0);
  } catch (e) { console.log('FAILED', (e as Error).message.slice(0, 300)); }
  console.log(s.output().split('\n').filter((l) => /warn|error|"level":[45]0|database ready/i.test(l)).slice(0, 15).join('\n'));
  await nodes.stop(); await s.stop();
}, 120000);
