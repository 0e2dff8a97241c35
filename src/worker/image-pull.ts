// Makes sure a task's image is on the node: inspect, and pull it when missing, within a time
// limit and stoppable by the attempt's abort signal. A problem with the image itself becomes the
// attempt's outcome; only an engine that cannot be reached throws.
import type Dockerode from 'dockerode';
import { engineMessage, engineUnavailable, isEngineUnreachable } from './docker-errors.ts';
import type { RunOutcome } from './executor.ts';
import { credentialsFor, dockerConfigPath, registryOf, type Credentials } from './registry-auth.ts';
import { abortReason } from './timers.ts';

export interface ImageLogger {
  info(obj: object, msg?: string): void;
}

export interface EnsureImageOptions {
  docker: Dockerode;
  log: ImageLogger;
  /** How long a pull may take. */
  timeoutMs: number;
  /** The attempt's: aborting stops the pull. */
  signal?: AbortSignal;
  /** Docker's client configuration, where the node's registry credentials are (registry-auth.ts). */
  dockerConfig?: string;
}

/** How a pull ended: stopped (time limit or caller), failed (the registry's words), or neither. */
interface PullResult {
  stopped: 'timeout' | 'aborted' | null;
  failure: string | null;
  credentials: Credentials;
}

/** Inspect, pull when missing. Returns an outcome when the attempt must stop here, else null. */
export async function ensureImage(ref: string, o: EnsureImageOptions): Promise<RunOutcome | null> {
  if (await imagePresent(o.docker, ref)) return null;
  const t0 = Date.now();
  o.log.info({ image: ref }, 'pulling image');
  const stop = pullOutcome(ref, await pullImage(ref, o, await credentialsFor(ref, o.dockerConfig ?? dockerConfigPath(), o.signal)), o);
  if (stop) return stop;
  const missing = await checkPulled(o.docker, ref);
  if (missing) return missing;
  o.log.info({ image: ref, ms: Date.now() - t0 }, 'image pulled');
  return null;
}

/** true: the image is here. false: it is not (or the reference is invalid: the pull will say why). */
async function imagePresent(docker: Dockerode, ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).inspect();
    return true;
  } catch (err) {
    if (isEngineUnreachable(err)) throw await engineUnavailable(docker, err);
    return false;
  }
}

/** One abort for the whole pull (request and progress stream): the time limit or the caller. */
async function pullImage(ref: string, o: EnsureImageOptions, credentials: Credentials): Promise<PullResult> {
  if (credentials.auth) o.log.info({ image: ref, registry: registryOf(ref), credentials: credentials.from }, 'pulling with this node\'s credentials for the registry');
  const pullAbort = new AbortController();
  let stopped: PullResult['stopped'] = null;
  const timer = setTimeout(() => {
    stopped ??= 'timeout';
    pullAbort.abort();
  }, o.timeoutMs);
  const onAbort = () => {
    stopped ??= 'aborted';
    pullAbort.abort();
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  if (o.signal?.aborted) onAbort();
  try {
    const stream: NodeJS.ReadableStream = await o.docker.pull(ref, { abortSignal: pullAbort.signal, ...(credentials.auth ? { authconfig: credentials.auth } : {}) });
    const failure = await followPull(o.docker, stream, pullAbort.signal);
    return { stopped, failure, credentials };
  } catch (err) {
    if (!stopped && isEngineUnreachable(err)) throw await engineUnavailable(o.docker, err);
    return { stopped, failure: engineMessage(err), credentials };
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
  }
}

/** Reads the pull's progress to its end: the registry's last error, null when none, or 'stopped'. */
function followPull(docker: Dockerode, stream: NodeJS.ReadableStream, abort: AbortSignal): Promise<string | null> {
  return new Promise<string | null>((resolve, reject) => {
    let lastError: string | null = null;
    const onStopped = () => resolve('stopped');
    abort.addEventListener('abort', onStopped, { once: true });
    docker.modem.followProgress(
      stream,
      (err: unknown) => {
        abort.removeEventListener('abort', onStopped);
        if (err) reject(err);
        else resolve(lastError);
      },
      (event: { error?: string; errorDetail?: { message?: string } }) => {
        // Registry-side failures arrive as a progress event, not as an HTTP error.
        if (event && (event.error || event.errorDetail)) {
          lastError = event.errorDetail?.message ?? event.error ?? 'pull failed';
        }
      },
    );
  });
}

function pullOutcome(ref: string, pull: PullResult, o: EnsureImageOptions): RunOutcome | null {
  if (pull.stopped === 'aborted') return { status: 'cancelled', exitCode: null, error: abortReason(o.signal) };
  if (pull.stopped === 'timeout') {
    const s = Math.round(o.timeoutMs / 1000);
    return { status: 'error', exitCode: null, error: `image "${ref}" could not be pulled within ${s} s` };
  }
  // The engine's words say why (not found, unauthorized, a TLS or network failure): not all are "not found".
  if (pull.failure) return { status: 'error', exitCode: null, error: `image "${ref}" could not be pulled: ${pull.failure}${credentialsHint(ref, pull)}` };
  return null;
}

/** What to do about a registry that wants credentials (the engine says "no basic auth credentials", "unauthorized", "authentication required", "denied"). */
function credentialsHint(ref: string, pull: PullResult): string {
  if (!/unauthori[sz]ed|authentication required|no basic auth credentials|denied/i.test(pull.failure ?? '')) return '';
  const registry = registryOf(ref);
  const c = pull.credentials;
  if (c.auth) return ` (the credentials for ${registry} from ${c.from} were refused, or do not give access to this image)`;
  const why = c.problem ? `: ${c.problem}` : '';
  return ` (the node has no credentials for ${registry}${why}; run \`docker login ${registry}\` as the worker's user on the node, or point DOCKER_CONFIG at a directory whose config.json has them)`;
}

/** The pull ended without an error event; make sure the image is really here. */
async function checkPulled(docker: Dockerode, ref: string): Promise<RunOutcome | null> {
  try {
    await docker.getImage(ref).inspect();
    return null;
  } catch (err) {
    if (isEngineUnreachable(err)) throw await engineUnavailable(docker, err);
    return { status: 'error', exitCode: null, error: `image "${ref}" not found after pull: ${engineMessage(err)}` };
  }
}
