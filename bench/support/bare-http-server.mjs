// The submit section's ceiling (bench/sections/a-submit.ts): a node:http server in a process of
// its own that reads each request's body, parses it as JSON and answers 201 with a task-sized
// JSON body — no validation, no database, no queue. Whatever rate this reaches with the bench's
// client is more than any HTTP service on this machine can reach with that client.
// Plain JavaScript, run with `node`, so nothing loads that the measured server would not.
import { createServer } from 'node:http';

const answer = JSON.stringify({
  id: '01900000-0000-7000-8000-000000000000',
  name: null,
  image: 'jarvis-bench-busybox:latest',
  command: ['true'],
  env: {},
  priority: 'normal',
  resources: { cpu: 1, memory_mb: 256, gpu: 0 },
  timeout_seconds: null,
  max_retries: 0,
  retry_backoff_seconds: 1,
  node_selector: {},
  labels: {},
  idempotency_key: null,
  network: 'none',
  tenant: 'default',
  status: 'queued',
  node_id: null,
  attempts: 0,
  exit_code: null,
  error: null,
  status_reason: 'waiting for the scheduler to place it on a node',
  workflow_id: null,
  workflow_key: null,
  depends_on: [],
  schedule_id: null,
  declared_outputs: {},
  outputs: null,
  result: null,
  when: null,
  created_at: new Date().toISOString(),
  scheduled_at: null,
  started_at: null,
  finished_at: null,
});

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    try {
      JSON.parse(Buffer.concat(chunks).toString());
    } catch {
      res.writeHead(422, { 'content-type': 'application/json' }).end('{"detail":"bad json"}');
      return;
    }
    res.writeHead(201, { 'content-type': 'application/json' }).end(answer);
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening on http://127.0.0.1:${server.address().port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
