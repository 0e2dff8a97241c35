// A task whose image is in a registry that wants a login: the worker pulls it with the node's
// Docker credentials (its client configuration, DOCKER_CONFIG), read at each pull. Here a real
// registry (Debian's docker-registry) with htpasswd auth on a free port, the test image pushed
// to it, and a worker whose configuration has no credentials, then the right ones, then wrong ones.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';
import Docker from 'dockerode';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase } from './support/database.ts';
import { REDIS_URL, TEST_IMAGE } from './support/env.ts';
import { api, spawnJarvis, startJarvis } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs last.
afterAll(removeLeftovers);

const run = promisify(execFile);
const docker = new Docker();
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const USER = 'puller';
const PASSWORD = `pw-${randomUUID()}`;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A registry on 127.0.0.1 that answers only USER/PASSWORD (htpasswd, bcrypt), its data in `dir`. */
async function privateRegistry(dir: string): Promise<{ addr: string; child: ChildProcess }> {
  const addr = `127.0.0.1:${await freePort()}`;
  await writeFile(join(dir, 'htpasswd'), `${USER}:${bcrypt.hashSync(PASSWORD, 5)}\n`);
  await writeFile(
    join(dir, 'config.yml'),
    [
      'version: 0.1',
      'log: { level: warn, accesslog: { disabled: true } }',
      `storage: { filesystem: { rootdirectory: ${join(dir, 'data')} } }`,
      `http: { addr: "${addr}" }`,
      `auth: { htpasswd: { realm: jarvis-test, path: ${join(dir, 'htpasswd')} } }`,
      '',
    ].join('\n'),
  );
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const status = await fetch(`http://${addr}/v2/`).then((r) => r.status, () => 0);
    if (status === 401) return { addr, child };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`the test registry on ${addr} did not ask for a login within 10 s`);
}

async function push(ref: string, authconfig: object): Promise<void> {
  const at = ref.lastIndexOf(':');
  const [repo, tag] = [ref.slice(0, at), ref.slice(at + 1)];
  await docker.getImage(TEST_IMAGE).tag({ repo, tag });
  const stream = await docker.getImage(repo).push({ tag, authconfig });
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: unknown, out: Array<{ error?: string }>) => {
      const failed = out?.find((e) => e.error);
      if (err || failed) reject(err ?? new Error(failed?.error));
      else resolve();
    }),
  );
  await docker.getImage(ref).remove(); // only the tag: the layers are the test image's
}

/** Docker's client configuration with `auths` for `addr` (none when `password` is null). */
async function login(dir: string, addr: string, password: string | null): Promise<void> {
  const auths = password === null ? {} : { [addr]: { auth: Buffer.from(`${USER}:${password}`).toString('base64') } };
  await writeFile(join(dir, 'config.json'), JSON.stringify({ auths }));
}

describe('a private registry', () => {
  it("pulls a task's image with the node's Docker credentials, and says what to do without them", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jarvis-registry-auth-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const registry = await privateRegistry(dir);
    cleanups.push(async () => registry.child.kill('SIGKILL'));
    const image = `${registry.addr}/jarvis-test/private:${randomUUID().slice(0, 8)}`;
    await push(image, { username: USER, password: PASSWORD, serveraddress: registry.addr });
    cleanups.push(() => run('docker', ['rmi', image]));

    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const server = await startJarvis({ command: 'server', databaseUrl: db.url });
    cleanups.push(() => server.stop());
    const http = api(server.url);
    const dockerConfig = join(dir, 'docker');
    await run('mkdir', ['-p', dockerConfig]);
    await login(dockerConfig, registry.addr, null);
    const worker = spawnJarvis(['worker', '--name', 'node-private'], {
      ...(process.env as Record<string, string>),
      REDIS_URL,
      JARVIS_REDIS_PREFIX: server.prefix,
      JARVIS_API_URL: server.url,
      DOCKER_CONFIG: dockerConfig,
      JARVIS_LOG_LEVEL: 'info',
    });
    cleanups.push(() => worker.stop('SIGKILL'));
    await worker.waitFor(/worker: registered/, 30_000);
    const submit = async () => {
      const t = await http.post('/tasks', { image, command: 'echo pulled', resources: { cpu: 0.1, memory_mb: 32 } });
      expect(t.status, JSON.stringify(t.body)).toBe(201);
      return http.waitForTask(t.body.id, (x) => ['succeeded', 'failed'].includes(x.status), 60_000);
    };

    // No credentials: the engine's refusal, and what to do.
    const refused = await submit();
    expect(refused.status).toBe('failed');
    expect(refused.error).toMatch(/could not be pulled: .*(unauthorized|authentication required|no basic auth credentials)/i);
    expect(refused.error).toContain(`the node has no credentials for ${registry.addr}`);
    expect(refused.error).toContain(`docker login ${registry.addr}`);

    // A login on the node (written after the worker started: read at the pull).
    await login(dockerConfig, registry.addr, PASSWORD);
    const pulled = await submit();
    expect(pulled.status, pulled.error ?? '').toBe('succeeded');
    expect((await http.get(`/tasks/${pulled.id}/logs`)).body.logs).toBe('pulled\n');
    expect(worker.output()).toMatch(/"msg":"pulling with this node's credentials for the registry"/);

    // Wrong credentials: said so, naming where they came from.
    await docker.getImage(image).remove();
    await login(dockerConfig, registry.addr, 'not-the-password');
    const wrong = await submit();
    expect(wrong.status).toBe('failed');
    expect(wrong.error).toContain(`the credentials for ${registry.addr} from ${join(dockerConfig, 'config.json')} were refused`);

    // The password appears in nothing the worker or the control plane wrote.
    for (const text of [worker.output(), server.output(), JSON.stringify([refused, pulled, wrong])]) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(Buffer.from(`${USER}:${PASSWORD}`).toString('base64'));
    }
  }, 180_000);
});
