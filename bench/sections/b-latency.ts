// (b) Submit→succeeded latency of a trivial container through `jarvis up`, observed by polling
// GET /tasks/{id} every 10 ms and by following its output to the end event, against a bare
// `docker run --rm`, a dockerode create/start/wait/remove and Jarvis's DockerExecutor.run alone
// (its Engine API calls timed), with a per-task breakdown from the task's events, BullMQ's event
// streams and Docker's times.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import type { Redis } from 'ioredis';
import { bullEventTimes, epochNow, FINAL, TASK_BODY } from '../support/fixtures.ts';
import { log, onCleanup, RUN_ID } from '../support/harness.ts';
import { startJarvis } from '../support/jarvis.ts';
import { HttpClient } from '../support/load.ts';
import { createDatabase, IMAGE } from '../support/services.ts';
import { S } from '../support/settings.ts';
import { round, sleep, summarize, type Summary } from '../support/stats.ts';
import { pad } from '../support/table.ts';

interface LatencySample {
  wall_ms: number;
}

export async function latencyPhase(redis: Redis, facts: { cli: boolean }) {
  const prefix = `${RUN_ID}-up`;
  const tmp = mkdtempSync(join(tmpdir(), 'jarvis-bench-'));
  onCleanup(`remove ${tmp}`, () => rmSync(tmp, { recursive: true, force: true }));
  const db = await createDatabase('up');
  onCleanup(`drop database ${db.name}`, () => db.drop());
  log('(b) starting `jarvis up` (PostgreSQL)…');
  const jarvis = await startJarvis({ command: 'up', prefix, databaseUrl: db.url, dataDir: join(tmp, 'pglite') });
  const stop = onCleanup(`stop jarvis up ${prefix}`, () => jarvis.stop());
  const client = new HttpClient(jarvis.url, 4);
  const docker = new Dockerode();
  const { DockerExecutor } = await import('../../src/worker/docker-executor.ts');
  // The executor gets its own client whose every Engine API call is timed (request sent →
  // answer, or for attach → stream open), to show which calls its time goes to.
  const execDocker = new Dockerode();
  const engineCalls = new Map<string, number[]>();
  const modem = execDocker.modem as unknown as { dial(o: { method: string; path: string }, cb: (e: unknown, d: unknown) => void): unknown };
  const dial = modem.dial.bind(modem);
  modem.dial = (o, cb) => {
    const path = o.path
      .replace(/^\/v[\d.]+\//, '/')
      .replace(/\/containers\/[0-9a-f]{64}/, '/containers/{id}')
      .replace(/\/containers\/jarvis-[^/?]+/, '/containers/{name}')
      .replace(/\/images\/.+\/json/, '/images/{name}/json')
      .replace(/\?.*$/, '');
    const key = `${o.method} ${path}`;
    const t0 = performance.now();
    return dial(o, (e, d) => {
      const list = engineCalls.get(key) ?? [];
      list.push(performance.now() - t0);
      engineCalls.set(key, list);
      cb(e, d);
    });
  };
  const executor = new DockerExecutor({ docker: execDocker });

  // --- one sample of each ---

  interface JarvisSample extends LatencySample {
    id: string;
    post_ms: number;
    polls: number;
    t0: number;
    observed: number;
  }
  /** POST /tasks of the trivial task: when it was sent, how long the answer took, the task's id. */
  const submitOne = async () => {
    const t0 = epochNow();
    const r = await client.request('POST', '/tasks', TASK_BODY);
    if (r.status !== 201) throw new Error(`POST /tasks answered ${r.status}: ${r.body.slice(0, 300)}`);
    return { t0, postMs: epochNow() - t0, id: (JSON.parse(r.body) as { id: string }).id };
  };
  const jarvisOnce = async (): Promise<JarvisSample> => {
    const { t0, postMs, id } = await submitOne();
    let polls = 0;
    for (;;) {
      const s = epochNow();
      const g = await client.request('GET', `/tasks/${id}`);
      polls++;
      const t = JSON.parse(g.body) as { status: string; error: string | null };
      if (FINAL.includes(t.status)) {
        const observed = epochNow();
        if (t.status !== 'succeeded') throw new Error(`task ${id} ended ${t.status}: ${t.error}`);
        return { id, wall_ms: observed - t0, post_ms: postMs, polls, t0, observed };
      }
      if (s - t0 > 60_000) throw new Error(`task ${id} did not finish within 60 s (status ${t.status})`);
      await sleep(Math.max(0, S.pollMs - (epochNow() - s)));
    }
  };

  // The same task, waited for as `jarvis submit --follow` does: its output followed as Server-Sent
  // Events until the "end" event, which carries the recorded status (no polling by the client).
  const jarvisFollowOnce = async (): Promise<JarvisSample> => {
    const { t0, postMs, id } = await submitOne();
    const end = await new Promise<{ status: string; exit_code: number | null }>((resolveEnd, reject) => {
      const req = http.get(`${jarvis.url}/tasks/${id}/logs?follow=true`, { agent: client.agent }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`GET /tasks/${id}/logs?follow=true answered ${res.statusCode}`));
        }
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          for (let cut = text.indexOf('\n\n'); cut >= 0; cut = text.indexOf('\n\n')) {
            const block = text.slice(0, cut);
            text = text.slice(cut + 2);
            if (!/^event: end$/m.test(block)) continue;
            resolveEnd(JSON.parse(block.match(/^data: (.*)$/m)?.[1] ?? 'null'));
            res.destroy();
            return;
          }
        });
        res.on('end', () => reject(new Error(`task ${id}: the follow stream ended without an end event`)));
      });
      req.on('error', reject);
      req.setTimeout(60_000, () => req.destroy(new Error(`task ${id}: no end event within 60 s`)));
    });
    const observed = epochNow();
    if (end?.status !== 'succeeded') throw new Error(`task ${id} ended ${end?.status}`);
    return { id, wall_ms: observed - t0, post_ms: postMs, polls: 0, t0, observed };
  };

  interface ExecutorSample extends LatencySample {
    to_started_ms: number;
    after_finished_ms: number;
  }
  const executorOnce = async (): Promise<ExecutorSample> => {
    const t0 = epochNow();
    const res = await executor.run({
      taskId: randomUUID(),
      attempt: 1,
      image: IMAGE,
      command: ['true'],
      env: {},
      cpu: 1,
      memoryMb: 256,
      gpu: 0,
      network: 'none',
      timeoutSeconds: null,
      labels: { 'jarvis.bench': RUN_ID },
    });
    const t1 = epochNow();
    if (res.status !== 'succeeded') throw new Error(`DockerExecutor.run: ${res.status}: ${res.error}`);
    return {
      wall_ms: t1 - t0,
      to_started_ms: (res.startedAt?.getTime() ?? NaN) - t0,
      after_finished_ms: t1 - res.finishedAt.getTime(),
    };
  };

  interface DockerodeSample extends LatencySample {
    create_ms: number;
    start_ms: number;
    wait_ms: number;
    remove_ms: number;
  }
  const dockerodeOnce = async (): Promise<DockerodeSample> => {
    const t0 = performance.now();
    const c = await docker.createContainer({ Image: IMAGE, Cmd: ['true'], Labels: { 'jarvis.bench': RUN_ID }, HostConfig: { NetworkMode: 'none' } });
    const t1 = performance.now();
    try {
      await c.start();
      const t2 = performance.now();
      const w = (await c.wait()) as { StatusCode: number };
      const t3 = performance.now();
      await c.remove();
      const t4 = performance.now();
      if (w.StatusCode !== 0) throw new Error(`dockerode: container exited ${w.StatusCode}`);
      return { wall_ms: t4 - t0, create_ms: t1 - t0, start_ms: t2 - t1, wait_ms: t3 - t2, remove_ms: t4 - t3 };
    } catch (err) {
      await c.remove({ force: true }).catch(() => undefined);
      throw err;
    }
  };

  const cliOnce = () =>
    new Promise<LatencySample>((resolveSample, reject) => {
      const t0 = performance.now();
      const child = spawn('docker', ['run', '--rm', '--network', 'none', IMAGE, 'true'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      child.on('error', reject);
      child.on('exit', (code) => {
        const ms = performance.now() - t0;
        if (code !== 0) reject(new Error(`docker run exited ${code}: ${err.trim()}`));
        else resolveSample({ wall_ms: ms });
      });
    });

  // --- interleaved rounds: one of each per round, so drift on this shared machine hits all alike ---
  const samples = { jarvis: [] as JarvisSample[], follow: [] as JarvisSample[], executor: [] as ExecutorSample[], dockerode: [] as DockerodeSample[], cli: [] as LatencySample[] };
  const rounds = S.latencyWarmup + S.latencyCount;
  log(`(b) ${S.latencyWarmup} warm-up + ${S.latencyCount} measured rounds, each: jarvis task (polled), jarvis task (followed), DockerExecutor.run, dockerode, docker run…`);
  const started = new Date().toISOString();
  // Each round starts with a different variant (the order rotates): whichever runs right after
  // `docker run --rm` pays for the engine still removing that container (with the vfs storage
  // driver, a whole copy of the image): +14 ms on its start call when Jarvis always went first.
  for (let i = 0; i < rounds; i++) {
    let j!: JarvisSample;
    let f!: JarvisSample;
    let e!: ExecutorSample;
    let d!: DockerodeSample;
    let c = null as LatencySample | null;
    const steps: Array<() => Promise<unknown>> = [
      async () => (j = await jarvisOnce()),
      async () => (f = await jarvisFollowOnce()),
      async () => (e = await executorOnce()),
      async () => (d = await dockerodeOnce()),
      async () => (c = facts.cli ? await cliOnce() : null),
    ];
    for (let k = 0; k < steps.length; k++) await steps[(i + k) % steps.length]();
    if (i + 1 === S.latencyWarmup) engineCalls.clear();
    if (i >= S.latencyWarmup) {
      samples.jarvis.push(j);
      samples.follow.push(f);
      samples.executor.push(e);
      samples.dockerode.push(d);
      if (c) samples.cli.push(c);
    }
    if ((i + 1) % 10 === 0) log(`(b) round ${i + 1}/${rounds}: jarvis ${round(j.wall_ms, 0)} ms, followed ${round(f.wall_ms, 0)} ms, docker run ${c ? round(c.wall_ms, 0) : '-'} ms`);
  }
  const finished = new Date().toISOString();
  // The queues' event streams for the breakdown below, read now: the backlog's 20,000 jobs would
  // trim the pending queue's stream (BullMQ keeps ~10,000 events) past these tasks' entries.
  const streamTimes = (queue: string) => bullEventTimes(redis, prefix, queue);
  const pendingQ = await streamTimes('pending');

  // --- the same with a backlog that fits no node: does it slow unrelated work? ---
  // S.latencyBacklog tasks whose node_selector matches no node: they wait for ever ("no node
  // fits"), queued before the probes. Then S.latencyCount more rounds of jarvis (polled and
  // followed) and docker run.
  let withBacklog: {
    backlog: number;
    queued_in_s: number;
    jarvis_submit_to_succeeded_ms: Summary;
    jarvis_followed_submit_to_end_ms: Summary;
    docker_run_cli_ms: Summary | null;
    jarvis_p50_over_docker_run_p50: number | null;
    jarvis_followed_p50_over_docker_run_p50: number | null;
    /** Filled in below, as jarvis_breakdown_ms is for the empty queue. */
    jarvis_breakdown_ms?: Record<string, Summary>;
    jarvis_tasks_via_pending_queue?: number;
  } | null = null;
  let backlogPolled: JarvisSample[] = [];
  if (S.latencyBacklog > 0) {
    log(`(b) queueing ${S.latencyBacklog} tasks that fit no node (node_selector matches none)…`);
    const waiting = { image: IMAGE, command: ['true'], node_selector: { 'jarvis.bench/pool': 'none' }, resources: { cpu: 0.1, memory_mb: 16 } };
    const q0 = performance.now();
    for (let i = 0; i < S.latencyBacklog; i += 1000) {
      const n = Math.min(1000, S.latencyBacklog - i);
      const r = await client.request('POST', '/tasks/batch', JSON.stringify({ tasks: Array.from({ length: n }, () => waiting) }), 120_000);
      if (r.status !== 201) throw new Error(`POST /tasks/batch answered ${r.status}: ${r.body.slice(0, 300)}`);
    }
    const queuedIn = (performance.now() - q0) / 1000;
    await sleep(2_000); // the dispatcher has looked at them and set them aside
    const js: JarvisSample[] = [];
    const fs: JarvisSample[] = [];
    const cs: LatencySample[] = [];
    const steps: Array<() => Promise<unknown>> = [
      async () => js.push(await jarvisOnce()),
      async () => fs.push(await jarvisFollowOnce()),
      async () => facts.cli && cs.push(await cliOnce()),
    ];
    // The order rotates, as above.
    for (let i = 0; i < S.latencyCount; i++) for (let k = 0; k < steps.length; k++) await steps[(i + k) % steps.length]();
    const j = summarize(js.map((x) => x.wall_ms));
    const f = summarize(fs.map((x) => x.wall_ms));
    const c = cs.length ? summarize(cs.map((x) => x.wall_ms)) : null;
    backlogPolled = js;
    withBacklog = {
      backlog: S.latencyBacklog,
      queued_in_s: round(queuedIn, 1),
      jarvis_submit_to_succeeded_ms: j,
      jarvis_followed_submit_to_end_ms: f,
      docker_run_cli_ms: c,
      jarvis_p50_over_docker_run_p50: c ? round(j.p50 / c.p50, 3) : null,
      jarvis_followed_p50_over_docker_run_p50: c ? round(f.p50 / c.p50, 3) : null,
    };
    log(`(b) with ${S.latencyBacklog} waiting: jarvis p50 ${j.p50} ms, followed ${f.p50} ms, docker run p50 ${c?.p50 ?? '-'} ms`);
  }

  // --- breakdown of the Jarvis samples from the task's own timestamps ---
  // Sources, all on this host's clock: the task's events (PostgreSQL, ms), Docker's StartedAt /
  // FinishedAt, and BullMQ's per-queue event streams ({prefix}:<queue>:events), whose entry ids
  // are Redis's own ms timestamps of "added" and "active" for each job.
  interface TaskView {
    node_id: string | null;
    started_at: string | null;
    finished_at: string | null;
  }
  const segs: Record<string, number[]> = {
    '01_post_sent_to_row_inserted': [],
    '02_row_inserted_to_node_job_added': [],
    '03_node_job_added_to_worker_took_it': [],
    '04_worker_took_it_to_container_started': [],
    '05_container_running': [],
    // One segment from the exit to the recorded result: a worker's "finished" reports travel in
    // jobs of many (worker/reports.ts), which have no per-task id in the events stream to split it by.
    '06_container_exited_to_succeeded_recorded': [],
    '07_succeeded_recorded_to_observed_by_poll': [],
  };
  const extra: Record<string, number[]> = {
    post_response_ms: [],
    polls_per_task: [],
    submit_to_succeeded_recorded_ms: [],
    started_report_recorded_after_container_start_ms: [],
    // Segment 02 for the tasks that went through their tenant's pending queue (the dispatcher
    // had work in hand or tasks waiting); the others went to the dispatcher directly.
    via_queue_row_inserted_to_pending_job_added: [],
    via_queue_pending_job_added_to_dispatcher_took_it: [],
    via_queue_dispatcher_took_it_to_node_job_added: [],
    // The followed tasks (no poll beside their run): the engine's part, and the end event's wait.
    followed_worker_took_it_to_container_started: [],
    followed_succeeded_recorded_to_end_event: [],
  };
  /**
   * A task's own times: its events (`at(status)`), its container's start and end, and the
   * attempt's record (scheduler/hand-over.ts): when it was handed to the node, and when the node took it.
   */
  const timesOf = async (id: string) => {
    const t = await client.json<TaskView>('GET', `/tasks/${id}`, undefined, 200);
    const ev = await client.json<{ items: Array<{ at: string; status: string }> }>('GET', `/tasks/${id}/events`, undefined, 200);
    const [handed, taken] = await redis.hmget(`{${prefix}}:attempt:${id}-a1`, 'at', 'taken');
    return {
      at: (status: string) => Date.parse(ev.items.find((e) => e.status === status)?.at ?? ''),
      started: Date.parse(t.started_at ?? ''),
      finished: Date.parse(t.finished_at ?? ''),
      node: { added: handed ? Number(handed) : NaN, active: taken ? Number(taken) : NaN },
    };
  };
  /** One polled sample's way, segment by segment, into `into` (and the queue's part, when it went through it). */
  const addPolled = async (s: JarvisSample, into: Record<string, number[]>, pendingTimes: Map<string, Record<string, number>>, more: Record<string, number[]> | null): Promise<boolean> => {
    const { at, started, finished, node } = await timesOf(s.id);
    const pend = pendingTimes.get(s.id) ?? {};
    const queued = at('queued');
    const succeeded = at('succeeded');
    const points = [s.t0, queued, node.added, node.active, started, finished, succeeded, s.observed];
    Object.values(into).forEach((list, k) => list.push(points[k + 1] - points[k]));
    if (more) {
      more.post_response_ms.push(s.post_ms);
      more.polls_per_task.push(s.polls);
      more.submit_to_succeeded_recorded_ms.push(succeeded - s.t0);
      more.started_report_recorded_after_container_start_ms.push(at('running') - started);
    }
    if (pend.added === undefined) return false;
    if (more) {
      more.via_queue_row_inserted_to_pending_job_added.push(pend.added - queued);
      more.via_queue_pending_job_added_to_dispatcher_took_it.push((pend.active ?? NaN) - pend.added);
      more.via_queue_dispatcher_took_it_to_node_job_added.push((node.added ?? NaN) - (pend.active ?? NaN));
    }
    return true;
  };
  let viaQueue = 0;
  for (const s of samples.jarvis) if (await addPolled(s, segs, pendingQ, extra)) viaQueue++;
  if (withBacklog && backlogPolled.length > 0) {
    // The same segments with the backlog waiting (its queue's stream read now, after its rounds).
    const backlogSegs: Record<string, number[]> = Object.fromEntries(Object.keys(segs).map((k) => [k, [] as number[]]));
    const pendingAfter = await streamTimes('pending');
    let via = 0;
    for (const s of backlogPolled) if (await addPolled(s, backlogSegs, pendingAfter, null)) via++;
    withBacklog.jarvis_breakdown_ms = summarizeEach(backlogSegs);
    withBacklog.jarvis_tasks_via_pending_queue = via;
  }
  for (const s of samples.follow) {
    const { at, started, node } = await timesOf(s.id);
    extra.followed_worker_took_it_to_container_started.push(started - node.active);
    extra.followed_succeeded_recorded_to_end_event.push(s.observed - at('succeeded'));
  }
  client.close();
  await stop();

  const sum = (xs: LatencySample[]) => summarize(xs.map((x) => x.wall_ms));
  const result = {
    method: {
      jarvis:
        `\`jarvis up\` (PostgreSQL, one local worker). Tasks submitted one at a time: POST /tasks ${TASK_BODY}, then GET /tasks/{id} every ` +
        `${S.pollMs} ms (start to start) until a final status; wall time from sending the POST to receiving the GET that shows "succeeded". ` +
        `The poll adds on average about half the interval plus one GET; segment 07 of the breakdown shows it. ` +
        `"followed": the same task waited for as \`jarvis submit --follow\` does, by GET /tasks/{id}/logs?follow=true (Server-Sent Events) ` +
        `until its "end" event, which carries the recorded status (control/task-logs.ts reads the task again every 5 ms, then 50 ms, until ` +
        `its result is recorded); wall time from sending the POST to receiving that event.`,
      docker_executor: 'Jarvis\'s DockerExecutor.run called in the bench process (no queues, no database): create (the image is inspected and pulled only if the engine has none), attach, start, wait, remove (an inspect after the exit only for exit code 137 or a lost one); same limits as a Jarvis task (1 CPU, 256 MiB, network none).',
      dockerode: 'dockerode in the bench process: createContainer (network none) → start → wait → remove; no attach, no limits.',
      docker_run: `\`docker run --rm --network none ${IMAGE} true\` spawned with child_process, wall time to exit.`,
      order: `${S.latencyWarmup} warm-up rounds, then ${S.latencyCount} measured rounds; each round runs one of each, sequentially, starting with a different one each round (the order rotates; with the backlog, the polled task, the followed one and docker run rotate alike).`,
      breakdown:
        'Per task, from timestamps on this host\'s one clock: the task\'s events in PostgreSQL ("queued" = row inserted, "succeeded" = result recorded), ' +
        'BullMQ\'s event stream of the pending queue and the attempt\'s record in Redis (Redis-stamped "added" and "active"/"taken" of each job), Docker\'s StartedAt/FinishedAt, ' +
        'and the bench\'s own send/observe times. Segments are consecutive, so per task they add up to the wall time (medians need not). ' +
        'A task submitted while the dispatcher has nothing in hand goes to it directly (no pending job); for those that went through their ' +
        'pending queue, segment 02 is split in jarvis_extra.via_queue_* (jarvis_tasks_via_pending_queue counts them).',
    },
    started_at: started,
    finished_at: finished,
    count: S.latencyCount,
    warmup: S.latencyWarmup,
    poll_ms: S.pollMs,
    image: IMAGE,
    jarvis_submit_to_succeeded_ms: sum(samples.jarvis),
    jarvis_followed_submit_to_end_ms: sum(samples.follow),
    docker_executor_run_ms: sum(samples.executor),
    dockerode_create_start_wait_remove_ms: sum(samples.dockerode),
    docker_run_cli_ms: samples.cli.length ? sum(samples.cli) : null,
    dockerode_phases_ms: {
      create: summarize(samples.dockerode.map((d) => d.create_ms)),
      start: summarize(samples.dockerode.map((d) => d.start_ms)),
      wait: summarize(samples.dockerode.map((d) => d.wait_ms)),
      remove: summarize(samples.dockerode.map((d) => d.remove_ms)),
    },
    docker_executor_phases_ms: {
      call_to_container_started: summarize(samples.executor.map((e) => e.to_started_ms)),
      container_exited_to_return: summarize(samples.executor.map((e) => e.after_finished_ms)),
    },
    docker_executor_engine_calls_ms: Object.fromEntries(
      [...engineCalls].map(([k, v]) => [k, { calls_per_run: round(v.length / samples.executor.length, 2), ...summarize(v) }]),
    ),
    jarvis_breakdown_ms: summarizeEach(segs),
    jarvis_extra: summarizeEach(extra),
    jarvis_tasks_via_pending_queue: viaQueue,
    ratio: {} as Record<string, number | boolean | string | null>,
    with_backlog_that_fits_no_node: withBacklog,
  };
  const jp50 = result.jarvis_submit_to_succeeded_ms.p50;
  const cli50 = result.docker_run_cli_ms?.p50 ?? NaN;
  result.ratio = {
    jarvis_p50_over_docker_run_p50: round(jp50 / cli50, 3),
    target: '≤ 1.15',
    meets_target: jp50 / cli50 <= 1.15,
    jarvis_followed_p50_over_docker_run_p50: round(result.jarvis_followed_submit_to_end_ms.p50 / cli50, 3),
    followed_meets_target: result.jarvis_followed_submit_to_end_ms.p50 / cli50 <= 1.15,
    jarvis_recorded_p50_over_docker_run_p50: round(result.jarvis_extra.submit_to_succeeded_recorded_ms.p50 / cli50, 3),
    jarvis_p50_over_dockerode_p50: round(jp50 / result.dockerode_create_start_wait_remove_ms.p50, 3),
    docker_executor_p50_over_dockerode_p50: round(result.docker_executor_run_ms.p50 / result.dockerode_create_start_wait_remove_ms.p50, 3),
    docker_run_p50_over_dockerode_p50: round(cli50 / result.dockerode_create_start_wait_remove_ms.p50, 3),
  };
  return result;
}
/** Each named list of samples, summarized. */
function summarizeEach(lists: Record<string, number[]>): Record<string, Summary> {
  return Object.fromEntries(Object.entries(lists).map(([k, v]) => [k, summarize(v)]));
}

/** The section's table for the console (the JSON result holds every figure). */
export function printLatency(b: Awaited<ReturnType<typeof latencyPhase>>): string[] {
  const lines: string[] = [];
  lines.push(`(b) submit→succeeded, ${b.count} sequential runs of \`${IMAGE} true\` after ${b.warmup} warm-up (ms)`);
  lines.push(`    ${pad('variant', 50)}${pad('p50', 9, true)}${pad('p90', 9, true)}${pad('mean', 9, true)}`);
  const row = (name: string, s: Summary | null) => {
    if (s) lines.push(`    ${pad(name, 50)}${pad(s.p50, 9, true)}${pad(s.p90, 9, true)}${pad(s.mean, 9, true)}`);
  };
  row(`jarvis up: POST → seen succeeded (poll ${b.poll_ms} ms)`, b.jarvis_submit_to_succeeded_ms);
  row('jarvis up: POST → end event of logs?follow=true', b.jarvis_followed_submit_to_end_ms);
  row('jarvis up: POST → succeeded recorded (server clock)', b.jarvis_extra.submit_to_succeeded_recorded_ms);
  row('DockerExecutor.run alone (in process)', b.docker_executor_run_ms);
  row('dockerode create/start/wait/remove', b.dockerode_create_start_wait_remove_ms);
  row('docker run --rm --network none (CLI)', b.docker_run_cli_ms);
  lines.push(`    ratio jarvis p50 / docker run p50 = ${b.ratio.jarvis_p50_over_docker_run_p50} (target ≤ 1.15: ${b.ratio.meets_target ? 'met' : 'NOT met'}); followed: ${b.ratio.jarvis_followed_p50_over_docker_run_p50} (${b.ratio.followed_meets_target ? 'met' : 'NOT met'})`);
  const wb = b.with_backlog_that_fits_no_node;
  if (wb) {
    row(`jarvis up, ${wb.backlog} tasks waiting: POST → seen succeeded`, wb.jarvis_submit_to_succeeded_ms);
    row(`jarvis up, ${wb.backlog} tasks waiting: POST → end event (followed)`, wb.jarvis_followed_submit_to_end_ms);
    row(`docker run, in the same rounds`, wb.docker_run_cli_ms);
    lines.push(`    with the backlog: ratio jarvis p50 / docker run p50 = ${wb.jarvis_p50_over_docker_run_p50}; followed: ${wb.jarvis_followed_p50_over_docker_run_p50} (target ≤ 1.15)`);
    if (wb.jarvis_breakdown_ms) {
      lines.push(`    where jarvis time goes with the backlog (p50 / mean ms; ${wb.jarvis_tasks_via_pending_queue} of ${wb.jarvis_submit_to_succeeded_ms.n} tasks went through their pending queue):`);
      for (const [k, s] of Object.entries(wb.jarvis_breakdown_ms)) lines.push(`      ${pad(k, 48)}${pad(s.p50, 9, true)}${pad(s.mean, 9, true)}`);
    }
  }
  lines.push(
    `    DockerExecutor engine calls, p50 ms: ${Object.entries(b.docker_executor_engine_calls_ms)
      .map(([k, v]) => `${k} ${round(v.p50, 1)}${v.calls_per_run !== 1 ? ` (×${v.calls_per_run})` : ''}`)
      .join(', ')}`,
  );
  lines.push(`    where jarvis time goes (p50 / mean ms; ${b.jarvis_tasks_via_pending_queue} of ${b.jarvis_submit_to_succeeded_ms.n} tasks went through their pending queue):`);
  for (const [k, s] of Object.entries(b.jarvis_breakdown_ms)) lines.push(`      ${pad(k, 48)}${pad(s.p50, 9, true)}${pad(s.mean, 9, true)}`);
  lines.push('');
  return lines;
}
