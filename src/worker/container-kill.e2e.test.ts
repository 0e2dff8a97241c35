// The real executor against the real engine, through a proxy on a unix socket that refuses the
// first kills (a 500, as a busy engine or containerd timing out answers): the kill is sent again
// until it lands, and a kill that never lands does not name the outcome.
import { randomUUID } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { removeLeftovers } from '../../test/support/leftovers.ts';
import { DockerExecutor, findJarvisContainers } from './docker-executor.ts';
import type { RunSpec } from './executor.ts';

// First, so that it runs last (this file's containers are also removed by task id below).
afterAll(removeLeftovers);

const ENGINE = '/var/run/docker.sock';
const docker = new Dockerode({ socketPath: ENGINE });
const taskIds = new Set<string>();
const dir = mkdtempSync(join(tmpdir(), 'jarvis-kill-'));

afterAll(async () => {
  const left = (await findJarvisContainers(docker)).filter((c) => taskIds.has(c.taskId));
  for (const c of left) await docker.getContainer(c.id).remove({ force: true, v: true }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

/** A proxy to the engine that answers 500 to the first `refuse` kills (Infinity: all); counts them. */
async function refusingEngine(refuse: number): Promise<{ docker: Dockerode; kills: () => number; server: Server }> {
  const path = join(dir, `${randomUUID()}.sock`);
  let kills = 0;
  const server = createServer((req, res) => {
    if (req.method === 'POST' && /\/containers\/[^/]+\/kill/.test(req.url ?? '') && kills++ < refuse) {
      res.writeHead(500, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ message: 'injected: cannot kill container: context deadline exceeded' }));
    }
    const out = request({ socketPath: ENGINE, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      res.flushHeaders(); // an attach answers before any output: the client waits for the headers
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  server.on('upgrade', (req, socket, head) => {
    const up = connect(ENGINE, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(`${lines.join('\r\n')}\r\n\r\n`);
      up.write(head);
      socket.pipe(up).pipe(socket);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { docker: new Dockerode({ socketPath: path }), kills: () => kills, server };
}

function spec(command: string): RunSpec {
  const taskId = randomUUID();
  taskIds.add(taskId);
  return { taskId, attempt: 1, image: 'jarvis-test/busybox:latest', command, env: {}, cpu: 0.5, memoryMb: 64, gpu: 0, network: 'none', timeoutSeconds: 120 };
}

const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: no outcome within ${ms} ms`)), ms).unref())]);

describe('a kill the engine refuses', () => {
  it('is sent again until it lands: a cancel ends a long task', async () => {
    const engine = await refusingEngine(2);
    try {
      const executor = new DockerExecutor({ docker: engine.docker });
      const ac = new AbortController();
      const run = executor.run(spec('echo ready; sleep 300'), {
        signal: ac.signal,
        onOutput: (chunk) => {
          if (chunk.toString().includes('ready')) ac.abort();
        },
      });
      const outcome = await within(run, 20_000, 'the cancelled attempt');
      expect(outcome.status).toBe('cancelled');
      expect(engine.kills()).toBe(3);
    } finally {
      engine.server.close();
    }
  });

  it('does not name the outcome when it never lands: the container ended by itself', async () => {
    const engine = await refusingEngine(Infinity);
    try {
      const executor = new DockerExecutor({ docker: engine.docker });
      const ac = new AbortController();
      const run = executor.run(spec('echo ready; sleep 2; echo done'), {
        signal: ac.signal,
        onOutput: (chunk) => {
          if (chunk.toString().includes('ready')) ac.abort();
        },
      });
      const outcome = await within(run, 20_000, 'the attempt');
      expect(outcome).toMatchObject({ status: 'succeeded', exitCode: 0 });
      expect(engine.kills()).toBeGreaterThan(1);
    } finally {
      engine.server.close();
    }
  });
});
