// Real services a test can break without disturbing the others: a private redis-server, and
// TCP / unix-socket forwarders in front of the shared PostgreSQL and Docker engine that a test
// can cut and restore (the services behind them stay real).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { Redis } from 'ioredis';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export class PrivateRedis {
  private proc: ChildProcess | null = null;
  constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const r = new PrivateRedis(await freePort());
    await r.start();
    return r;
  }

  /** The redis-server's output, for a failure report. */
  private output = '';

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it (empty: no persistence, as if Redis had lost everything). */
  async start(): Promise<void> {
    this.output = '';
    const proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout.on('data', (d) => (this.output += d));
    proc.stderr.on('data', (d) => (this.output += d));
    proc.on('error', (err) => (this.output += `\n${err.message}`));
    this.proc = proc;
    const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    for (let i = 0; i < 100; i++) {
      try {
        await client.connect();
        await client.ping();
        client.disconnect();
        return;
      } catch {
        client.disconnect();
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    // Not answering: stop it here, or nobody will (the caller has no handle when start() throws).
    await this.stop();
    throw new Error(`private redis on ${this.port} did not start:\n${this.output.slice(-2000)}`);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }
}

/** Forwards connections to a target; `cut()` drops every connection and refuses new ones. */
export class Forwarder {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  constructor(
    private readonly listenOn: { port?: number; path?: string },
    private readonly target: { port?: number; host?: string; path?: string },
  ) {}

  static async tcp(targetPort: number, targetHost = '127.0.0.1'): Promise<Forwarder & { port: number }> {
    const f = new Forwarder({ port: await freePort() }, { port: targetPort, host: targetHost });
    await f.open();
    return f as Forwarder & { port: number };
  }

  get port(): number | undefined {
    return this.listenOn.port;
  }

  async open(): Promise<void> {
    if (this.listenOn.path) rmSync(this.listenOn.path, { force: true });
    this.server = createServer((client) => {
      const upstream = this.target.path ? connect(this.target.path) : connect(this.target.port as number, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => {
      if (this.listenOn.path) this.server!.listen(this.listenOn.path, resolve);
      else this.server!.listen(this.listenOn.port, '127.0.0.1', resolve);
    });
  }

  async cut(): Promise<void> {
    const s = this.server;
    this.server = null;
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    if (this.listenOn.path) rmSync(this.listenOn.path, { force: true });
  }
}

/**
 * A fresh test database reached through a forwarder the test can cut and restore. Returns the
 * URL to give Jarvis; `cleanups` gets the forwarder's and the database's clean-up.
 */
export async function cuttableTestDatabase(cleanups: Array<() => Promise<unknown>>): Promise<{ url: string; forwarder: Forwarder }> {
  const { createTestDatabase } = await import('./database.ts');
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const url = new URL(db.url);
  const forwarder = await Forwarder.tcp(Number(url.port || 5432), url.hostname);
  cleanups.push(() => forwarder.cut());
  url.port = String(forwarder.port);
  return { url: url.toString(), forwarder };
}
