// A client generated from Jarvis's own /openapi.json by a tool that knows nothing of Jarvis
// (@hey-api/openapi-ts, fetch client) submits a task, follows it to its end and reads its logs,
// and a program using it type-checks against the generated types: the OpenAPI document is
// complete enough for a schema-driven client.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, api, startJarvis, tempDir } from './support/jarvis.ts';
import { TEST_IMAGE } from './support/env.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

const DRIVER = `
import { client } from './client/client.gen.ts';
import { getTasksById, getTasksByIdLogs, postTasks } from './client/index.ts';

client.setConfig({ baseUrl: 'BASE_URL' });
const created = await postTasks({ body: { image: '${TEST_IMAGE}', command: ['sh', '-c', 'echo from-generated-client'], resources: { cpu: '250m', memory: '32Mi' } } });
if (!created.data) throw new Error('submit failed: ' + JSON.stringify(created.error));
const id: string = created.data.id;
let status: string = created.data.status;
for (let i = 0; i < 300 && !['succeeded', 'failed', 'timed_out', 'cancelled'].includes(status); i++) {
  await new Promise((r) => setTimeout(r, 100));
  const t = await getTasksById({ path: { id } });
  status = t.data?.status ?? 'unknown';
}
const logs = await getTasksByIdLogs({ path: { id } });
const out = logs.data as { logs: string; truncated: boolean } | undefined;
const bad = await postTasks({ body: { image: '' } as never });
console.log(JSON.stringify({ id, status, logs: out?.logs, truncated: out?.truncated, badStatus: bad.response.status, badDetail: bad.error }));
`;

describe('a client generated from /openapi.json', () => {
  let jarvis: Awaited<ReturnType<typeof startJarvis>>;
  const dir = tempDir();
  beforeAll(async () => {
    jarvis = await startJarvis({ databaseUrl: null });
  });
  afterAll(async () => {
    await jarvis?.stop();
  });

  it('is generated, type-checks, and submits, follows and reads a task', async () => {
    const spec = await api(jarvis.url).get('/openapi.json');
    writeFileSync(join(dir, 'openapi.json'), JSON.stringify(spec.body));
    execFileSync(join(ROOT, 'node_modules/.bin/openapi-ts'), ['-i', join(dir, 'openapi.json'), '-o', join(dir, 'client'), '-c', '@hey-api/client-fetch', '-s'], { cwd: dir, stdio: 'pipe' });
    writeFileSync(join(dir, 'driver.ts'), DRIVER.replace('BASE_URL', jarvis.url));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: true, allowImportingTsExtensions: true, types: [] }, files: ['driver.ts'] }),
    );
    // The program's use of the generated functions and types is checked by TypeScript.
    execFileSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', join(dir, 'tsconfig.json')], { cwd: dir, stdio: 'pipe' });
    const out = execFileSync(join(ROOT, 'node_modules/.bin/tsx'), [join(dir, 'driver.ts')], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    const r = JSON.parse(out.trim().split('\n').pop() as string);
    expect(r.status).toBe('succeeded');
    expect(r.logs).toBe('from-generated-client\n');
    expect(r.truncated).toBe(false);
    expect(r.badStatus).toBe(422);
    expect(r.badDetail.detail[0]).toMatchObject({ type: 'string_too_short', loc: ['body', 'image'] });
  });
});
