// A flood of GET /tasks?limit=1 from its own process (bench (f)): sent from the bench's process,
// its 1,000 requests a second would share an event loop with the victim's reads, whose latencies
// would then measure the bench's own client as much as the server. Reads the key from
// FLOOD_KEY (not argv, which any process can list); sends {statuses} to its parent when done.
import { HttpClient, openLoop } from './load.ts';

const [url, count, rate] = process.argv.slice(2);
const key = process.env.FLOOD_KEY;
if (!url || !key || !Number(count) || !Number(rate)) throw new Error('usage: FLOOD_KEY=… flood-child.ts URL COUNT RATE_PER_S');
const client = new HttpClient(url, 64, { authorization: `Bearer ${key}` });
const statuses: Record<string, number> = {};
process.send?.({ started: true });
const loop = await openLoop(Number(count), Number(rate), async () => {
  const r = await client.request('GET', '/tasks?limit=1');
  statuses[r.status] = (statuses[r.status] ?? 0) + 1;
});
client.close();
process.send?.({ statuses, errors: loop.errors, firstError: loop.firstError }, () => process.exit(0));
