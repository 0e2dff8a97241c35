// (c) Workflows: a 10,000-task DAG validated, stored and posted (c-dag.ts), and release latency on
// the simulated executor (c-release.ts).
import type { Redis } from 'ioredis';
import { layeredDag, withCycle } from '../support/dag.ts';
import { log } from '../support/harness.ts';
import { IMAGE } from '../support/services.ts';
import { S } from '../support/settings.ts';
import { round, type Summary } from '../support/stats.ts';
import { pad } from '../support/table.ts';
import { dagOverHttp, dagPersistInProcess, dagValidationInProcess } from './c-dag.ts';
import { releasePhase } from './c-release.ts';

export async function workflowPhase(redis: Redis) {
  const started = new Date().toISOString();
  const body = layeredDag({ tasks: S.dagTasks, width: S.dagWidth, image: IMAGE });
  const { edges, layers, ...wire } = body;
  const bodyText = JSON.stringify(wire);
  const cycleText = JSON.stringify(withCycle(wire));
  log(`(c) ${S.dagTasks}-task DAG (${layers} layers of ${S.dagWidth}, ${edges} edges, ${round(bodyText.length / 1e6, 2)} MB): validation in this process…`);
  const validation = await dagValidationInProcess(bodyText, cycleText);
  log(`(c) zod ${validation.ms.zod_parse_ms.p50} ms + validateGraph ${validation.ms.validate_graph_ms.p50} ms (p50); storing it in this process…`);
  const persist = await dagPersistInProcess(redis, bodyText);
  log(`(c) WorkflowStore.create ${persist.ms.store_ms.p50} ms (p50); POST /workflows over HTTP…`);
  const http = await dagOverHttp(redis, bodyText, cycleText, S.dagTasks, S.dagWidth);
  const release = await releasePhase(redis);
  const validationMs = validation.zod_plus_validate_graph_ms.p50;
  return {
    started_at: started,
    finished_at: new Date().toISOString(),
    dag: {
      shape: `${S.dagTasks} tasks in ${layers} layers of ${S.dagWidth}; every task after the first layer depends on 1-3 distinct tasks of the layer before (seeded PRNG); ${edges} edges; each task {image, command ["true"], resources {cpu 0.01, memory_mb 1}, labels}`,
      body_bytes: Buffer.byteLength(bodyText),
      validation_in_process: validation,
      persist_in_process: persist,
      post_workflows_http: http,
      target: 'validation of 10,000 tasks < 1 s (zod parse + validateGraph, p50, in process; the 422 over HTTP is the end-to-end check)',
      meets_target: validationMs < 1000,
    },
    release,
  };
}
/** The section's table for the console (the JSON result holds every figure). */
export function printWorkflows(c: Awaited<ReturnType<typeof workflowPhase>>): string[] {
  const lines: string[] = [];
  const dag = c.dag;
  const v = dag.validation_in_process;
  const h = dag.post_workflows_http;
  const pst = dag.persist_in_process;
  lines.push(`(c) workflows: a ${S.dagTasks}-task layered DAG (${round(dag.body_bytes / 1e6, 2)} MB body) (ms)`);
  lines.push(`    ${pad('step', 76)}${pad('p50', 9, true)}${pad('min', 9, true)}${pad('max', 9, true)}`);
  const row = (name: string, s: Summary | null | undefined) => {
    if (s) lines.push(`    ${pad(name, 76)}${pad(s.p50, 9, true)}${pad(s.min, 9, true)}${pad(s.max, 9, true)}`);
  };
  row('in process: JSON.parse of the body', v.ms.json_parse_ms);
  row('in process: zod WorkflowCreate.safeParse', v.ms.zod_parse_ms);
  row('in process: validateGraph', v.ms.validate_graph_ms);
  row('in process: validateGraph, graph with a cycle', v.ms.validate_graph_with_cycle_ms);
  row('in process: zod + validateGraph', v.zod_plus_validate_graph_ms);
  row('in process: build rows (workflowRows)', pst.ms.build_rows_ms);
  row(`in process: WorkflowStore.create, one transaction (Node CPU ${round(pst.store_node_cpu_ms.p50, 0)} ms)`, pst.ms.store_ms);
  row('in process: read back every task (tasksOf)', pst.ms.read_back_ms);
  row('in process: present + JSON.stringify the 201 body', pst.ms.present_and_stringify_ms);
  row(`HTTP: POST /workflows → 201, wall (${round(h.valid_201.response_bytes / 1e6, 1)} MB answer)`, h.valid_201.wall_ms);
  row('HTTP: POST /workflows → 201, server handler (its request log)', h.valid_201.server_handler_ms);
  row('HTTP: POST /workflows with a cycle → 422, wall', h.cycle_422.wall_ms);
  lines.push(
    `    first call in a fresh process: zod ${v.first_call_ms.zod_parse_ms} ms, validateGraph ${v.first_call_ms.validate_graph_ms} ms; ` +
      `validation < 1 s: ${dag.meets_target ? 'met' : 'NOT met'} (zod + validateGraph p50 ${v.zod_plus_validate_graph_ms.p50} ms)`,
  );
  const r = c.release;
  lines.push(`    release latency, last parent "succeeded" → child "scheduled" (ms; ${r.fan_rounds}× root → ${r.fan_width} → sink, ${S.simMs} ms each; chain of ${r.chain_length}):`);
  lines.push(`    ${pad('children', 40)}${pad('n', 7, true)}${pad('p50', 9, true)}${pad('p90', 9, true)}${pad('p99', 9, true)}${pad('max', 9, true)}`);
  const rrow = (name: string, g: typeof r.fan_out_children) => {
    if (g) lines.push(`    ${pad(name, 40)}${pad(g.n, 7, true)}${pad(g.release_ms.p50, 9, true)}${pad(g.release_ms.p90, 9, true)}${pad(g.release_ms.p99, 9, true)}${pad(g.release_ms.max, 9, true)}`);
  };
  rrow('fan-out/fan-in, all children', r.fan_out_fan_in_all_children);
  rrow('  fan-out (released together by root)', r.fan_out_children);
  rrow('  fan-in (sink, 1 per workflow)', r.fan_in_sink);
  rrow('chain (one child per release)', r.chain_children);
  rrow('chain, templates filled at release', r.chain_templated_children);
  if (r.templated_release_added_p99_ms !== null) lines.push(`    templates filled at release add ${r.templated_release_added_p99_ms} ms to the chain's release p99`);
  const all = r.fan_out_fan_in_all_children;
  if (all) {
    lines.push('    where the fan-out/fan-in release time goes (p50 / p99 ms):');
    for (const [k, s] of Object.entries(all.breakdown_ms)) if (s.n > 0) lines.push(`      ${pad(k, 48)}${pad(s.p50, 9, true)}${pad(s.p99, 9, true)}`);
  }
  const bursts = r.runs.filter((x) => x.burst).map((x) => `${x.burst!.placements_per_second}/s (${x.burst!.children} in ${x.burst!.drain_ms} ms)`);
  if (bursts.length) lines.push(`    fan-out placement rate (first child queued → last scheduled): ${bursts.join(', ')}`);
  const recorded = r.runs.filter((x) => x.burst).map((x) => `${x.burst!.successes_recorded_per_second}/s`);
  if (recorded.length) lines.push(`    middle tasks' successes recorded (each under the workflow row lock): ${recorded.join(', ')}`);
  const conns = r.runs.filter((x) => x.database_connections_during_fan_out).map((x) => x.database_connections_during_fan_out!);
  if (conns.length) {
    lines.push(
      `    server's PostgreSQL pool (10) during the fan-out burst, mean of 50 ms samples: ${conns
        .map((x) => `${x.mean_busy} busy, ${x.mean_waiting_for_workflow_row_lock} waiting for the workflow row, ${x.mean_waiting_for_node_row_lock} for the node row`)
        .join('; ')}`,
    );
  }
  lines.push(`    release p99 < 50 ms: ${r.meets_target ? 'met' : 'NOT met'}`);
  lines.push('');
  return lines;
}
