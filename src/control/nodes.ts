// Use cases for worker nodes: registration (with the registration token when one is
// configured), heartbeats (only from the node itself), drain and resume, forgetting a node.
// Capacity that appears (a node registers or resumes) wakes the tasks waiting for room.
import { sameSecret } from '../auth/keys.ts';
import { SecretKeyError } from '../auth/secret-box.ts';
import type { NodeRegistration } from '../state/node-store.ts';
import type { NodeRow, TaskRow } from '../state/schema.ts';
import { Conflict, NotFound, Unauthorized } from '../domain/errors.ts';
import type { ControlDeps } from './deps.ts';
import { secretContext } from './secrets.ts';
import { isSecretRef } from '../domain/task.ts';
import { heartbeatPeriodSeconds } from '../domain/heartbeats.ts';
import type { UntakenReason } from '../domain/status-reasons.ts';
import { withdrawUntaken } from '../scheduler/hand-over.ts';


export interface Heartbeat {
  cpuPercent: number | null;
  memoryUsedMb: number | null;
  runningTaskIds: string[];
  /** When the node drew up runningTaskIds, by its clock (null: an older worker, which does not say). */
  listedAt: Date | null;
  engine: 'ok' | 'unreachable';
  /** The worker is stopping (its heartbeats while its running attempts end, and its last): nothing more is placed on the node. */
  stopping?: boolean;
}

/** How long the live-node count behind the heartbeat period is reused. */
const NODE_COUNT_TTL_MS = 5_000;

export class NodeControl {
  private liveNodes: { at: number; count: Promise<number> } | null = null;

  constructor(private readonly deps: ControlDeps) {}

  /** The heartbeat period a node is told to keep, in seconds (domain/heartbeats.ts). */
  async heartbeatPeriod(): Promise<number> {
    if (!this.liveNodes || Date.now() - this.liveNodes.at > NODE_COUNT_TTL_MS) {
      const count = this.deps.nodes.countLive();
      this.liveNodes = { at: Date.now(), count };
      count.catch(() => (this.liveNodes = null));
    }
    const { worker, nodes } = this.deps.config;
    return heartbeatPeriodSeconds(await this.liveNodes.count, worker.heartbeat_seconds, nodes.max_heartbeats_per_second);
  }

  /**
   * `bearer` is the token the caller presented (empty for none). Without API keys (open mode) a
   * node needs the registration token only when one is configured, as before keys existed; once
   * keys are in use it needs the registration token, `jarvis up`'s own token, or an admin key
   * (`byKey`), so nobody else can join the cluster and receive its tasks and secrets. Not an
   * operator key (before session 28 it could): a node is handed every tenant's tasks with their
   * secret values, which only admin keys may read; and registering an existing node's name
   * answers with that node's token.
   */
  async register(reg: NodeRegistration, bearer: string, who: { keysInUse: boolean; byKey: boolean }): Promise<NodeRow> {
    const configured = this.deps.config.nodes.registration_token;
    const local = this.deps.localRegistrationToken;
    const byToken = !!bearer && ((!!configured && sameSecret(bearer, configured)) || (!!local && sameSecret(bearer, local)));
    const admitted = byToken || (who.keysInUse ? who.byKey : !configured);
    if (!admitted) {
      throw new Unauthorized(
        who.keysInUse
          ? 'Registering a node needs the registration token (JARVIS_REGISTRATION_TOKEN on the worker) or an admin API key, as "Authorization: Bearer …"'
          : 'A valid registration token is required: pass it as "Authorization: Bearer TOKEN" (JARVIS_REGISTRATION_TOKEN on the worker)',
      );
    }
    const n = await this.deps.nodes.register(reg);
    this.deps.logger.info({ node_id: n.id, node: n.name }, 'node registered');
    await this.deps.pending.wake({ promote: true }).catch(() => undefined);
    return n;
  }

  /** Only the node itself may report for it: with the token its registration answered. */
  async heartbeat(id: string, token: string, hb: Heartbeat): Promise<NodeRow> {
    const n = await this.deps.nodes.heartbeat(id, token, hb);
    if (n === 'unknown') throw new NotFound('Node not found: it may have been deleted; register again');
    if (n === 'unauthorized') {
      throw new Unauthorized("This node's token is required: pass the token POST /nodes/register answered with as \"Authorization: Bearer TOKEN\"");
    }
    if (hb.stopping) await this.giveBackUntaken(n, 'stopping');
    else if (hb.engine === 'unreachable') await this.giveBackUntaken(n, 'engine_unreachable');
    return n;
  }

  /**
   * The attempts a node has not taken are placed again now, not when the node goes offline,
   * when it is stopping (its worker reads no more entries) or its container engine is
   * unreachable (its worker takes nothing until the engine is back, which may be never, while
   * other nodes have room). Each is withdrawn in Redis first, in one script with the worker's
   * take, so the node never runs one that is placed again (a worker restarted under its name, or
   * whose engine came back, would otherwise find the entry). Its next heartbeat tries again on
   * failure.
   */
  private async giveBackUntaken(n: NodeRow, why: UntakenReason): Promise<void> {
    const { tasks, redis, names, pending, logger } = this.deps;
    const state = why === 'stopping' ? 'is stopping' : 'cannot reach its container engine';
    try {
      const withdrawn = await withdrawUntaken(redis, names, await tasks.scheduledOn(n.id));
      const again = await tasks.requeueUntaken(n.id, n.name, withdrawn, why);
      if (again.length === 0) return;
      await pending.add(again);
      this.deps.metrics.lostAttempts.inc({ reason: why === 'stopping' ? 'node_stopped' : 'engine_unreachable' }, again.length);
      logger.info({ node_id: n.id, node: n.name, tasks: again.length }, `node ${n.name} ${state}: the tasks it had not taken are placed again`);
    } catch (err) {
      logger.warn({ err, node_id: n.id, node: n.name }, `node ${n.name} ${state}: could not give back the tasks it had not taken; its next heartbeat tries again`);
    }
  }

  /**
   * For a node checking, after a restart or a lost heartbeat, whether it still owns an attempt:
   * only the node itself may ask (with its own token), and it learns only that.
   */
  async ownsAttempt(nodeId: string, token: string, taskId: string, attempt: number): Promise<{ owned: boolean; status: TaskRow['status'] | null }> {
    const n = await this.deps.nodes.get(nodeId);
    if (!n) throw new NotFound('Node not found: it may have been deleted; register again');
    if (!token || !sameSecret(token, n.token)) throw new Unauthorized("This node's token is required: pass the token POST /nodes/register answered with as \"Authorization: Bearer TOKEN\"");
    const t = await this.deps.tasks.get(taskId);
    if (!t) return { owned: false, status: null };
    return { owned: t.attempts === attempt && t.nodeId === nodeId && (t.status === 'scheduled' || t.status === 'running'), status: t.status };
  }

  /**
   * The secret values of a task's env, for the node that runs this attempt of it now (its own
   * token, the attempt scheduled or running on it): the only place a value leaves the database
   * in clear, and only over the node's connection. Missing secrets are named, never guessed.
   */
  async secretsFor(nodeId: string, token: string, taskId: string, attempt: number): Promise<Record<string, string>> {
    const own = await this.ownsAttempt(nodeId, token, taskId, attempt);
    if (!own.owned) throw new Conflict('This node does not run that attempt of the task (any more)');
    const t = (await this.deps.tasks.get(taskId)) as TaskRow;
    const refs = Object.entries(t.env).filter((e): e is [string, { secret: string }] => isSecretRef(e[1]));
    if (refs.length === 0) return {};
    const box = this.deps.secretBox;
    if (!box) throw new Conflict('The control plane has no JARVIS_SECRET_KEY, so it cannot open secrets');
    const sealed = await this.deps.secrets.sealedMany(t.tenant, refs.map(([, r]) => r.secret));
    const out: Record<string, string> = {};
    for (const [key, ref] of refs) {
      const s = sealed.get(ref.secret);
      if (s === undefined) throw new NotFound(`secret "${ref.secret}" (env ${key}) no longer exists in tenant ${t.tenant}`);
      try {
        out[key] = box.open(s, secretContext(t.tenant, ref.secret));
      } catch (err) {
        // A changed JARVIS_SECRET_KEY (or another control plane's): the node must not wait for
        // this to pass (a 500 it would ask again about); the attempt ends, saying why.
        if (err instanceof SecretKeyError) throw new Conflict(err.message);
        throw err;
      }
    }
    return out;
  }

  list(): Promise<NodeRow[]> {
    return this.deps.nodes.list();
  }

  async get(id: string): Promise<NodeRow> {
    const n = await this.deps.nodes.get(id);
    if (!n) throw new NotFound('Node not found');
    return n;
  }

  /** draining: it finishes what it runs and receives nothing new; resuming undoes that. */
  async setDraining(id: string, draining: boolean): Promise<NodeRow> {
    const action = draining ? 'drain' : 'resume';
    const n = await this.deps.nodes.setDraining(id, draining);
    if (!n) throw new NotFound('Node not found');
    if (n.status === 'offline') throw new Conflict(`Node ${n.name} is offline; it can be ${draining ? 'drained' : 'resumed'} once it heartbeats again`);
    this.deps.logger.info({ node_id: n.id, node: n.name, status: n.status }, `node ${action}`);
    if (!draining) await this.deps.pending.wake({ promote: true }).catch(() => undefined);
    return n;
  }

  /** Forgets a node with no task scheduled or running on it (an offline one's are placed again first, by the node health check). */
  async delete(id: string): Promise<void> {
    const r = await this.deps.nodes.delete(id);
    if (r === 'not_found') throw new NotFound('Node not found');
    if (r !== 'deleted') {
      throw new Conflict(
        r.busy.status === 'offline'
          ? `Node ${r.busy.name} is offline with ${r.held} task(s) still placed on it, which are being placed on other nodes; try again in a few seconds`
          : `Node ${r.busy.name} has ${r.held} task(s) placed on it: drain it (POST /nodes/${r.busy.id}/drain) and wait for them to end`,
      );
    }
    // Its inbox (what is left there was withdrawn or is of ended attempts) and its reader's name:
    // nodes come and go (autoscaled workers with names of their own), their keys must not stay.
    const { redis, names, logger } = this.deps;
    await redis.unlink(names.nodeInbox(id), names.nodeReader(id)).catch((err) =>
      logger.warn({ err, node_id: id }, 'node deleted, but its inbox could not be removed from Redis (unavailable); it holds nothing that runs'),
    );
  }
}
