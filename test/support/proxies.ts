// Stand-ins for a network between two real processes, for tests that need to cut it or bend
// one kind of request: a TCP proxy that can be cut, and an HTTP forwarder that can answer some
// requests itself.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, createServer as createNetServer, type Socket } from 'node:net';
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
