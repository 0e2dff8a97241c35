// The submit section's ceiling (bench/sections/a-submit.ts): a node:http server in a process of
// its own that reads each request's body, parses it as JSON and answers 201 with a task-sized
// JSON body — no validation, no database, no queue. Whatever rate this reaches with the bench's
// client is more than any HTTP service on this machine can reach with that client.
// Plain JavaScript, run with `node`, so nothing loads that the measured server would not.
import { createServer } from 'node:http';

// The body Jarvis would answer (presentTask of a row as POST /tasks makes it), handed over by
// the bench in JARVIS_BENCH_ANSWER, so the two answers stay the same size.
const answer = process.env.JARVIS_BENCH_ANSWER;
if (!answer) throw new Error('bare-http-server: JARVIS_BENCH_ANSWER (the body to answer) is not set');

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
