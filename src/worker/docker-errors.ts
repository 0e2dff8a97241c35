// Telling Docker engine errors apart: "no engine to talk to" (the worker stops taking jobs) from
// "the engine said no" (the task's own problem, reported as its outcome), and the engine's words
// without dockerode's decoration.
import type Dockerode from 'dockerode';

/** The Docker engine could not be reached; the message says where it was looked for and what to do. */
export class DockerEngineUnavailableError extends Error {
  readonly endpoint: string;
  constructor(endpoint: string, cause: unknown) {
    const code = asDockerError(cause).code;
    const advice =
      code === 'EACCES' || code === 'EPERM'
        ? 'Permission denied on the socket: run the worker as root or as a member of the `docker` group.'
        : process.env.DOCKER_HOST
          ? 'Start the Docker daemon there, or fix DOCKER_HOST (unset it to use the local socket /var/run/docker.sock).'
          : 'Start the Docker daemon (e.g. `systemctl start docker` or run `dockerd`), ' +
            'or set DOCKER_HOST to the address of a running engine (e.g. unix:///path/docker.sock or tcp://host:2375).';
    super(`Docker engine at ${endpoint} cannot be reached (${errorText(cause)}). ${advice}`, { cause });
    this.name = 'DockerEngineUnavailableError';
    this.endpoint = endpoint;
  }
}

/** Node socket-level error codes that mean "no engine to talk to" rather than "the engine said no". */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'EACCES',
  'EPERM',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

interface DockerError {
  statusCode?: number;
  code?: string;
  message?: string;
  json?: { message?: string } | null;
}

function asDockerError(err: unknown): DockerError {
  return (err && typeof err === 'object' ? err : {}) as DockerError;
}

export function isEngineUnreachable(err: unknown): boolean {
  if (err instanceof DockerEngineUnavailableError) return true;
  const e = asDockerError(err);
  if (typeof e.statusCode === 'number') return false; // the engine answered
  if (e.code && UNREACHABLE_CODES.has(e.code)) return true;
  return /socket hang up/i.test(e.message ?? '');
}

/** The HTTP status the engine answered with, if it answered. */
export function statusOf(err: unknown): number | undefined {
  return asDockerError(err).statusCode;
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The engine's own words, without dockerode's "(HTTP code 404) no such image - " prefix. */
export function engineMessage(err: unknown): string {
  const e = asDockerError(err);
  const fromJson = e.json && typeof e.json === 'object' ? e.json.message : undefined;
  const raw = (fromJson ?? e.message ?? String(err)).trim();
  return raw.replace(/^\(HTTP code \d+\) [^-]*- /, '').trim();
}

/** Where this client talks to the engine, in words: unix:///var/run/docker.sock, tcp://h:2375… */
export async function describeEngine(docker: Dockerode): Promise<string> {
  const modem = docker.modem as {
    socketPath?: string | (() => unknown);
    getSocketPath?: () => Promise<string | undefined> | undefined;
    host?: string;
    port?: string | number;
    protocol?: string;
  };
  const fromEnv = process.env.DOCKER_HOST ? ` (DOCKER_HOST=${process.env.DOCKER_HOST})` : '';
  if (modem.socketPath) {
    let p: unknown = modem.socketPath;
    try {
      if (typeof modem.getSocketPath === 'function') p = await modem.getSocketPath();
    } catch {
      /* keep what we have */
    }
    if (typeof p === 'string') return `unix://${p}${fromEnv}`;
  }
  if (modem.host) {
    const port = modem.port ? `:${modem.port}` : '';
    return `${modem.protocol ?? 'http'}://${modem.host}${port}${fromEnv}`;
  }
  return process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
}

/** The error to throw for `err`, a failure to reach the engine behind `docker`. */
export async function engineUnavailable(docker: Dockerode, err: unknown): Promise<DockerEngineUnavailableError> {
  if (err instanceof DockerEngineUnavailableError) return err;
  return new DockerEngineUnavailableError(await describeEngine(docker), err);
}
