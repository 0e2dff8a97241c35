// HTTPS end to end: `jarvis up` and `jarvis server` serve TLS with a certificate this test makes
// (openssl, a private CA); the CLI and a separate worker given JARVIS_CA_FILE submit and follow a
// task through it; clients without the CA are refused; bad files stop the start with their name.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeCerts, type TestCerts } from './support/certs.ts';
import { createTestDatabase } from './support/database.ts';
import { REDIS_URL, TEST_IMAGE } from './support/env.ts';
import { runCli, spawnJarvis, startJarvis, uniquePrefix, type JarvisProcess } from './support/jarvis.ts';
import { removeLeftovers } from './support/leftovers.ts';

// Redis keys and task containers of this file's processes; first, so that it runs after the
// other after-hooks, once those processes are stopped.
afterAll(removeLeftovers);

let certs: TestCerts;
/** One database per control plane: a node another one registered would look alive for a while. */
const dbs: Array<Awaited<ReturnType<typeof createTestDatabase>>> = [];
const newDatabase = async () => {
  dbs.push(await createTestDatabase());
  return dbs[dbs.length - 1].url;
};
beforeAll(() => {
  certs = makeCerts();
});
afterAll(async () => {
  await Promise.all(dbs.map((d) => d.drop()));
});

const baseEnv = () => {
  const env = { ...(process.env as Record<string, string>) };
  delete env.JARVIS_CA_FILE;
  return env;
};

describe('jarvis up over HTTPS', () => {
  let up: JarvisProcess;
  beforeAll(async () => {
    up = await startJarvis({ databaseUrl: await newDatabase(), env: { JARVIS_TLS_CERT: certs.cert, JARVIS_TLS_KEY: certs.key, JARVIS_CA_FILE: certs.ca } });
  });
  afterAll(async () => {
    await up?.stop();
  });

  it('serves HTTPS, and its own worker registered over it', () => {
    expect(up.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(up.output()).toMatch(/"msg":"worker: registered"/);
  });

  it('a CLI given the CA submits a task and follows its output to the end', async () => {
    const env = { ...baseEnv(), JARVIS_API_URL: up.url, JARVIS_CA_FILE: certs.ca };
    const r = await runCli(['submit', '--follow', TEST_IMAGE, 'sh', '-c', 'echo over; sleep 0.3; echo tls; exit 3'], env);
    expect(r.stdout).toBe('over\ntls\n');
    expect(r.stderr).toMatch(/task [0-9a-f-]{36} failed \(exit code 3\)/);
    expect(r.code).toBe(3);
    const list = await runCli(['tasks', '--status', 'failed'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/1 of 1 tasks/);
  });

  it('a client without the CA is refused, and told which file to give', async () => {
    const r = await runCli(['tasks'], { ...baseEnv(), JARVIS_API_URL: up.url });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot reach Jarvis at https:\/\/127\.0\.0\.1:\d+ \(.*certificate.*set JARVIS_CA_FILE to the PEM file of the CA that signed it\)/);
    await expect(fetch(`${up.url}/health`)).rejects.toThrow(/fetch failed/);
    const plain = await fetch(up.url.replace('https:', 'http:') + '/health').catch((e: Error) => e);
    expect(plain).toBeInstanceOf(Error); // no plain HTTP on the TLS port
  });

  it('a CLI given an unreadable CA file says so', async () => {
    const r = await runCli(['tasks'], { ...baseEnv(), JARVIS_API_URL: up.url, JARVIS_CA_FILE: '/nonexistent/ca.pem' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/jarvis: cannot read the CA file \(JARVIS_CA_FILE\) \/nonexistent\/ca\.pem: ENOENT/);
  });
});

describe('jarvis server and a separate worker over HTTPS', () => {
  let server: JarvisProcess & { prefix: string };
  const workers: Array<ReturnType<typeof spawnJarvis>> = [];
  beforeAll(async () => {
    server = await startJarvis({ command: 'server', databaseUrl: await newDatabase(), env: { JARVIS_TLS_CERT: certs.cert, JARVIS_TLS_KEY: certs.key } });
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.shutdown()));
    await server?.stop();
  });

  const worker = (name: string, extra: Record<string, string>) => {
    const w = spawnJarvis(['worker', '--api-url', server.url, '--name', name], {
      ...baseEnv(),
      REDIS_URL,
      JARVIS_REDIS_PREFIX: server.prefix,
      JARVIS_HEARTBEAT_SECONDS: '1',
      ...extra,
    });
    workers.push(w);
    return w;
  };

  it('a worker given the CA registers and runs a task the CLI follows', async () => {
    const w = worker(`tls-${uniquePrefix()}`, { JARVIS_CA_FILE: certs.ca });
    await w.waitFor(/"msg":"worker: registered"/, 30_000);
    const r = await runCli(['submit', '-f', TEST_IMAGE, 'echo', 'ran on a TLS worker'], { ...baseEnv(), JARVIS_API_URL: server.url, JARVIS_CA_FILE: certs.ca });
    expect(r).toMatchObject({ code: 0, stdout: 'ran on a TLS worker\n' });
  });

  it('a worker without the CA cannot register, and says why', async () => {
    const w = worker(`untrusted-${uniquePrefix()}`, {});
    const m = await w.waitFor(/"msg":"worker: cannot register with the control plane at https:[^"]*"/, 30_000);
    expect(w.output()).toMatch(/set JARVIS_CA_FILE to the PEM file of the CA that signed it/);
    expect(w.output()).not.toMatch(/"msg":"worker: registered"/);
    expect(m[0], 'the message names the control plane it tried').toContain(` at ${server.url} `);
  });

  it('a worker with an unreadable CA file stops at once, naming it', async () => {
    const w = worker('bad-ca', { JARVIS_CA_FILE: '/nonexistent/ca.pem' });
    expect(await w.exited).toBe(2);
    expect(w.output()).toMatch(/jarvis: cannot read the CA file \(JARVIS_CA_FILE\) \/nonexistent\/ca\.pem: ENOENT/);
  });
});

describe('a server whose TLS files are wrong does not start', () => {
  const started: Array<ReturnType<typeof spawnJarvis>> = [];
  // A server that starts after all is stopped, not left running.
  afterEach(async () => {
    await Promise.all(started.splice(0).map((p) => p.shutdown(3_000)));
  });
  const start = (env: Record<string, string>) => {
    const p = spawnJarvis(['server'], { ...baseEnv(), REDIS_URL, JARVIS_REDIS_PREFIX: uniquePrefix(), PORT: '0', JARVIS_DATA_DIR: `${certs.dir}/pglite-${uniquePrefix()}`, ...env });
    started.push(p);
    return p;
  };

  it.each([
    ['an unreadable certificate', () => ({ JARVIS_TLS_CERT: '/nonexistent/server.pem', JARVIS_TLS_KEY: certs.key }), /cannot read server\.tls\.cert \(JARVIS_TLS_CERT\) \/nonexistent\/server\.pem: ENOENT/],
    ['a key that is not the certificate\'s', () => ({ JARVIS_TLS_CERT: certs.cert, JARVIS_TLS_KEY: certs.caKey }), /server\.tls\.key \(JARVIS_TLS_KEY\) \S+ca\.key does not fit server\.tls\.cert/],
    ['a certificate without its key', () => ({ JARVIS_TLS_CERT: certs.cert }), /HTTPS needs both a certificate and its private key: server\.tls\.key \(JARVIS_TLS_KEY\) is not set/],
  ])('%s', async (_what, env, message) => {
    const p = start(env());
    expect(await p.exited).toBe(2);
    expect(p.output()).toMatch(message);
    expect(p.output()).not.toMatch(/Jarvis is up/);
  });
});
