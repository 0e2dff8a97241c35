// Stand-ins for a network between two real processes, for tests that need to cut it or bend
// one kind of request: a TCP proxy that can be cut, an HTTP forwarder that can answer some
// requests itself, and a Docker engine proxy that can change a container's create.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, createServer as createNetServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';

/** A TCP proxy to `url` this test can cut: `cut(true)` drops every connection and refuses new ones. */
export async function cuttableProxy(url: string) {
  const target = new URL(url);
  let isCut = false;
  const sockets = new Set<Socket>();
  const proxy = createNetServer((c) => {
    if (isCut) return c.destroy();
    const u = connect(Number(target.port), target.hostname);
    for (const s of [c, u]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    c.pipe(u).pipe(c);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(proxy.address() as { port: number }).port}`,
    cut(on: boolean) {
      isCut = on;
      if (on) for (const s of sockets) s.destroy();
    },
    close: () => new Promise((r) => proxy.close(r)),
  };
}

/**
 * An HTTP forwarder to `target`: `intercept` sees each request first and returns true when it
 * answered it (or cut it) itself; the others go on to the target.
 */
export async function httpForwarder(target: string, intercept: (req: IncomingMessage, res: ServerResponse) => boolean = () => false): Promise<{ url: string; server: Server }> {
  const to = new URL(target);
  const server = createServer((req, res) => {
    if (intercept(req, res)) return;
    const out = request({ host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** Answers 503 as a restarting control plane would. */
export function restarting(res: ServerResponse): true {
  res.writeHead(503, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ detail: 'the control plane is restarting' }));
  return true;
}

/**
 * An HTTP forwarder to a control plane (`target`) that, while `refuseOwns` is set, answers a
 * node's question whether it still owns an attempt with a 503, as a restarting control plane does.
 */
export async function ownsRefusingForwarder(target: string): Promise<{ url: string; server: Server; refuseOwns: boolean }> {
  const f = { refuseOwns: false };
  const { url, server } = await httpForwarder(target, (req, res) => f.refuseOwns && /^\/nodes\/[^/]+\/attempts\//.test(req.url ?? '') && restarting(res));
  return Object.assign(f, { url, server });
}

/**
 * A Docker engine on a unix socket in front of the real one, for a worker given
 * `DOCKER_HOST: proxy.dockerHost`: requests and attach streams (upgraded connections) pass
 * through; `createBody` may change the JSON body of each container create (POST /containers/create).
 */
export async function engineProxy(createBody: (body: Record<string, unknown>) => void, engine = '/var/run/docker.sock'): Promise<{ dockerHost: string; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'jarvis-engine-'));
  const path = join(dir, 'docker.sock');
  const upgraded = new Set<Socket>();
  const server = createServer((req, res) => {
    const pass = (body?: Buffer) => {
      const headers = { ...req.headers };
      if (body) {
        delete headers['transfer-encoding'];
        headers['content-length'] = String(body.length);
      }
      const out = request({ socketPath: engine, path: req.url, method: req.method, headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        res.flushHeaders(); // an attach answers before any output: the client waits for the headers
        answer.pipe(res);
      });
      out.on('error', () => res.destroy());
      if (body) out.end(body);
      else req.pipe(out);
    };
    if (req.method !== 'POST' || !/^(\/v[\d.]+)?\/containers\/create(\?|$)/.test(req.url ?? '')) return pass();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>;
      createBody(body);
      pass(Buffer.from(JSON.stringify(body)));
    });
  });
  server.on('upgrade', (req, socket, head) => {
    const up = connect(engine, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(`${lines.join('\r\n')}\r\n\r\n`);
      up.write(head);
      socket.pipe(up).pipe(socket);
    });
    for (const s of [up, socket as Socket]) {
      upgraded.add(s);
      s.on('close', () => upgraded.delete(s));
    }
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    dockerHost: `unix://${path}`,
    async close() {
      for (const s of upgraded) s.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
