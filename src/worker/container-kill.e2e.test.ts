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

/**
 * A proxy to the engine that answers 500 to the first `refuse` kills (Infinity: all); counts them.
 * `slow`: per signal, answer a kill this many ms late (a 500 instead of passing it on, when `refuse` is true).
 */
async function refusingEngine(
  refuse: number,
  slow: Record<string, { ms: number; refuse: boolean }> = {},
): Promise<{ docker: Dockerode; kills: () => number; server: Server }> {
  const path = join(dir, `${randomUUID()}.sock`);
  let kills = 0;
  const server = createServer((req, res) => {
    const isKill = req.method === 'POST' && /\/containers\/[^/]+\/kill/.test(req.url ?? '');
    const late = isKill ? slow[new URL(req.url ?? '', 'http://x').searchParams.get('signal') ?? ''] : undefined;
    if ((isKill && kills++ < refuse) || late?.refuse) {
      res.writeHead(500, { 'content-type': 'application/json' });
      const refused = () => res.end(JSON.stringify({ message: 'injected: cannot kill container: context deadline exceeded' }));
      return void (late ? setTimeout(refused, late.ms) : refused());
    }
    const out = request({ socketPath: ENGINE, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      const pass = () => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        res.flushHeaders(); // an attach answers before any output: the client waits for the headers
        answer.pipe(res);
      };
      if (late) setTimeout(pass, late.ms);
      else pass();
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

function spec(command: string, killGraceSeconds?: number): RunSpec {
  const taskId = randomUUID();
  taskIds.add(taskId);
  return { taskId, attempt: 1, image: 'jarvis-test/busybox:latest', command, env: {}, cpu: 0.5, memoryMb: 64, gpu: 0, network: 'none', timeoutSeconds: 120, killGraceSeconds };
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

  it('lets a SIGKILL that landed name the outcome though a refused SIGTERM is answered after the exit', async () => {
    // SIGTERM unanswered through the grace, then refused; SIGKILL passed on at once (the
    // container exits) but answered after that refusal. The refusal, coming first, settled the
    // kill as never delivered: the cancelled task was reported failed, exit 137.
    const engine = await refusingEngine(0, { SIGTERM: { ms: 2_500, refuse: true }, SIGKILL: { ms: 3_500, refuse: false } });
    try {
      const executor = new DockerExecutor({ docker: engine.docker });
      const ac = new AbortController();
      const run = executor.run(spec('trap "" TERM; echo ready; sleep 300', 1), {
        signal: ac.signal,
        onOutput: (chunk) => {
          if (chunk.toString().includes('ready')) ac.abort();
        },
      });
      const outcome = await within(run, 20_000, 'the cancelled attempt');
      expect(outcome.status).toBe('cancelled');
    } finally {
      engine.server.close();
    }
  });

  it('does not name the outcome when it never lands: the container ended by itself; says so once at warn', async () => {
    const engine = await refusingEngine(Infinity);
    const said: Record<string, number> = {};
    const count = (level: string) => (_: object, msg?: string) => void (msg === 'kill failed; trying again' && (said[level] = (said[level] ?? 0) + 1));
    try {
      const executor = new DockerExecutor({ docker: engine.docker, logger: { info() {}, warn: count('warn'), error: count('error'), debug: count('debug') } });
      const ac = new AbortController();
      const run = executor.run(spec('echo ready; sleep 2; echo done'), {
        signal: ac.signal,
        onOutput: (chunk) => {
          if (chunk.toString().includes('ready')) ac.abort();
        },
      });
      const outcome = await within(run, 20_000, 'the attempt');
      expect(outcome).toMatchObject({ status: 'succeeded', exitCode: 0 });
      expect(engine.kills()).toBeGreaterThan(2);
      // The first refusal at warn, the next ones (250 ms doubling apart) at debug; one refused
      // after the exit is said otherwise.
      expect(said.warn).toBe(1);
      expect(said.debug).toBeGreaterThanOrEqual(1);
    } finally {
      engine.server.close();
    }
  });
});

describe('a grace between SIGTERM and SIGKILL', () => {
  const executor = new DockerExecutor({ docker });

  /** Runs the command, cancels it once it printed "ready"; the outcome, its output, how long the stop took. */
  async function cancelled(command: string, graceSeconds: number, timeoutSeconds: number | null = 120) {
    const ac = new AbortController();
    let out = '';
    let cancelledAt = 0;
    const outcome = await within(
      executor.run({ ...spec(command, graceSeconds), timeoutSeconds }, {
        signal: ac.signal,
        onOutput: (chunk) => {
          out += chunk.toString();
          if (out.includes('ready') && !cancelledAt) {
            cancelledAt = Date.now();
            ac.abort();
          }
        },
      }),
      40_000,
      command,
    );
    return { outcome, out, stopMs: Date.now() - cancelledAt };
  }

  it('lets a task that handles SIGTERM finish its work, and names the outcome cancelled', async () => {
    const r = await cancelled(`trap 'echo flushed; exit 0' TERM; echo ready; while true; do sleep 0.1; done`, 20);
    expect(r.outcome.status).toBe('cancelled');
    expect(r.out).toContain('flushed');
    expect(r.stopMs).toBeLessThan(10_000);
  });

  it("reaches a plain `sh -c` (init passes SIGTERM on): it ends at once, not after the grace", async () => {
    const r = await cancelled('echo ready; sleep 300', 30);
    expect(r.outcome).toMatchObject({ status: 'cancelled', exitCode: 143 });
    expect(r.stopMs).toBeLessThan(10_000);
  });

  it('sends SIGKILL after the grace to a task that ignores SIGTERM', async () => {
    const r = await cancelled(`trap '' TERM; echo ready; sleep 300`, 1);
    expect(r.outcome.status).toBe('cancelled');
    expect(r.stopMs).toBeGreaterThanOrEqual(1_000);
    expect(r.stopMs).toBeLessThan(10_000);
  });

  it('names a timed-out task that exits on SIGTERM timed_out', async () => {
    const ac = new AbortController();
    const outcome = await within(executor.run({ ...spec(`trap 'exit 0' TERM; while true; do sleep 0.1; done`, 20), timeoutSeconds: 1 }, { signal: ac.signal }), 30_000, 'timeout');
    expect(outcome).toMatchObject({ status: 'timed_out', exitCode: 0 });
  });
});
