// The credentials a node pulls a task's image with: those the Docker command line would use on
// this host (`docker login`), read from its client configuration (`$DOCKER_CONFIG/config.json`,
// else `~/.docker/config.json`) when a pull is needed, so a login made after the worker started
// counts. A registry's entry in `auths` (`auth`: base64 of `user:password`, or `identitytoken`),
// else its credential helper (`credHelpers`, else `credsStore`: `docker-credential-<name> get`),
// as the Docker CLI looks them up. The engine itself never reads that file: without this, every
// private image failed with "unauthorized" on a node logged in to its registry.
//
// Credentials are the node's, for every task it runs (as an image already on the node is): see
// docs/security.md. Nothing here is logged but the registry's name and where its credentials
// came from.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** What the engine's pull takes as X-Registry-Auth (dockerode's `authconfig`). */
export type RegistryAuth = { username: string; password: string; serveraddress: string } | { identitytoken: string; serveraddress: string };

/** Where a node's credentials for one registry come from, or why there are none. */
export type Credentials = { auth: RegistryAuth; from: string } | { auth: null; problem: string | null };

const DOCKER_HUB = 'docker.io';
/** The key the Docker CLI files Docker Hub's credentials under. */
const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const HELPER_TIMEOUT_MS = 30_000;

/** The registry an image reference names: its first part when that is a host (has a dot or a port, or is localhost), else Docker Hub. */
export function registryOf(ref: string): string {
  const slash = ref.indexOf('/');
  if (slash < 0) return DOCKER_HUB;
  const first = ref.slice(0, slash);
  if (first.includes('.') || first.includes(':') || first === 'localhost') return first === 'index.docker.io' || first === 'registry-1.docker.io' ? DOCKER_HUB : first;
  return DOCKER_HUB;
}

/** A config key as a host (`https://host:port/v1/` → `host:port`), as the Docker CLI compares them. */
function hostOf(key: string): string {
  const host = key.replace(/^https?:\/\//, '').split('/')[0];
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? DOCKER_HUB : host;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json');
}

/**
 * The node's credentials for the registry of `ref`. `signal`: the attempt's (a cancel stops a
 * credential helper that hangs).
 */
export async function credentialsFor(ref: string, path = dockerConfigPath(), signal?: AbortSignal): Promise<Credentials> {
  const registry = registryOf(ref);
  const serveraddress = registry === DOCKER_HUB ? DOCKER_HUB_KEY : registry;
  let config: DockerConfig;
  try {
    config = JSON.parse(await readFile(path, 'utf8')) as DockerConfig;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { auth: null, problem: null };
    // Not the parser's words: they quote the file, credentials and all.
    const why = err instanceof SyntaxError ? 'not valid JSON' : ((err as NodeJS.ErrnoException).code ?? 'unreadable');
    return { auth: null, problem: `${path} cannot be read as Docker's client configuration (${why})` };
  }
  if (typeof config !== 'object' || config === null) return { auth: null, problem: `${path} is not a JSON object` };
  const helper = Object.entries(config.credHelpers ?? {}).find(([k]) => hostOf(k) === registry)?.[1] ?? config.credsStore;
  const entry = Object.entries(config.auths ?? {}).find(([k]) => hostOf(k) === registry)?.[1];
  if (helper && typeof helper === 'string') {
    const got = await fromHelper(helper, serveraddress, signal);
    if ('auth' in got) return { auth: got.auth, from: `docker-credential-${helper}` };
    if (!entry) return { auth: null, problem: got.problem };
  }
  if (entry && typeof entry === 'object') {
    if (typeof entry.identitytoken === 'string' && entry.identitytoken) return { auth: { identitytoken: entry.identitytoken, serveraddress }, from: path };
    if (typeof entry.auth === 'string' && entry.auth) {
      const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = plain.indexOf(':');
      if (colon < 0) return { auth: null, problem: `the entry for ${registry} in ${path} is not base64 of user:password` };
      return { auth: { username: plain.slice(0, colon), password: plain.slice(colon + 1), serveraddress }, from: path };
    }
    if (typeof entry.username === 'string' && typeof entry.password === 'string') return { auth: { username: entry.username, password: entry.password, serveraddress }, from: path };
  }
  return { auth: null, problem: null };
}

/**
 * Asks `docker-credential-<name>` for a registry's credentials (its protocol: the server on
 * stdin, JSON out). Killed (SIGKILL: a helper may ignore SIGTERM) after HELPER_TIMEOUT_MS or when
 * `signal` aborts. Its failure is told in its stderr's first line, never its stdout, which is
 * where a helper prints the secret (one that prints it and then fails, say), but for the helpers'
 * own "credentials not found".
 */
function fromHelper(name: string, server: string, signal?: AbortSignal): Promise<{ auth: RegistryAuth } | { problem: string }> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) return Promise.resolve({ problem: `credential helper name "${name}" is not a plain name` });
  const bin = `docker-credential-${name}`;
  return new Promise((resolve) => {
    const child = execFile(bin, ['get'], { timeout: HELPER_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 20, ...(signal ? { signal } : {}) }, (err, stdout, stderr) => {
      if (err) {
        const e = err as NodeJS.ErrnoException & { killed?: boolean };
        // The helpers print "credentials not found in native keychain" on stdout: that phrase is
        // told; any other stdout is not (it may hold the secret).
        const said = String(stderr).trim().split('\n')[0].slice(0, 200) || (/^credentials not found\b[^{}"]*$/i.exec(String(stdout).trim().split('\n')[0])?.[0] ?? `exit code ${e.code ?? '?'}`);
        const why =
          e.code === 'ENOENT'
            ? 'is not installed'
            : e.name === 'AbortError'
              ? 'was stopped (the attempt ended)'
              : e.killed
                ? `did not answer within ${HELPER_TIMEOUT_MS / 1000} s`
                : `failed${said ? ` (${said})` : ''}`;
        return resolve({ problem: `credential helper ${bin} ${why}` });
      }
      try {
        const r = JSON.parse(stdout) as { Username?: string; Secret?: string };
        if (typeof r.Secret !== 'string' || !r.Secret) return resolve({ problem: `credential helper ${bin} gave no secret` });
        // The helpers' convention: user "<token>" means the secret is an identity token.
        resolve({ auth: r.Username === '<token>' ? { identitytoken: r.Secret, serveraddress: server } : { username: r.Username ?? '', password: r.Secret, serveraddress: server } });
      } catch {
        resolve({ problem: `credential helper ${bin} did not answer JSON` });
      }
    });
    child.stdin?.end(server);
  });
}
