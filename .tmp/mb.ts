import { getTableColumns } from 'drizzle-orm';
import { tasks } from '/work/main/src/state/schema.ts';
const cols = Object.entries(getTableColumns(tasks));
const given = new Set(['id','name','image','command','env','priority','cpu','memoryMb','gpu','timeoutSeconds','maxRetries','retryBackoffSeconds','nodeSelector','labels','idempotencyKey','network','outputSpec','createdAt','status','statusReason','tenant']);
const filled = cols.filter(([k]) => !given.has(k));
console.log('filled', filled.map(([k,c]) => k + ':' + (c as any).columnType));
const row: any = { id: 'x', name: null, image: 'img', command: ['true'], env: {}, priority: 'normal', cpu: 1, memoryMb: 256, gpu: 0, timeoutSeconds: null, maxRetries: 0, retryBackoffSeconds: 1, nodeSelector: {}, labels: {}, idempotencyKey: null, network: 'none', outputSpec: {}, createdAt: new Date(), status: 'queued', statusReason: 'w', tenant: 'default' };
const got: any = { seq: '123', node_id: null, attempts: 0, exit_code: null, error: null, workflow_id: null, workflow_key: null, depends_on: [], dag_ready: false, schedule_id: null, outputs: null, result: null, templates: null, when_condition: null, scheduled_at: null, started_at: null, finished_at: null };
let t = performance.now(); let n = 0;
for (let i = 0; i < 200000; i++) { const out: any = { ...row }; for (const [k, c] of filled) { const v = got[(c as any).name]; out[k] = v === null || v === undefined ? null : (c as any).mapFromDriverValue(v); } n += out.seq; }
console.log('per row us', (performance.now() - t) / 200000 * 1000);
const rows = Array.from({length:100}, () => ({...row, id: crypto.randomUUID()}));
t = performance.now();
for (let i = 0; i < 2000; i++) { const json = rows.map((r) => { const o: any = {}; for (const [k, c] of cols) { if (!given.has(k)) continue; const v = r[k]; o[(c as any).name] = v === null ? null : (c as any).columnType === 'PgCustomColumn' ? (c as any).mapToDriverValue(v) : v; } return o; }); JSON.stringify(json); }
console.log('to json per row us', (performance.now() - t) / 200000 * 1000);
{
const fk = filled.map(([k]) => k), fc = filled.map(([, c]) => c as any), fn = fc.map((c) => c.name);
let t = performance.now(); let n = 0;
for (let i = 0; i < 200000; i++) { const out: any = Object.assign({}, row); for (let j = 0; j < fk.length; j++) { const v = got[fn[j]]; out[fk[j]] = v === null || v === undefined ? null : fc[j].mapFromDriverValue(v); } n += out.seq; }
console.log('v2 per row us', (performance.now() - t) / 200000 * 1000);
t = performance.now();
for (let i = 0; i < 200000; i++) { for (let j = 0; j < fk.length; j++) { const v = got[fn[j]]; const x = v === null || v === undefined ? null : fc[j].mapFromDriverValue(v); n+= x ? 1 : 0; } }
console.log('map only per row us', (performance.now() - t) / 200000 * 1000);
t = performance.now();
for (let i = 0; i < 200000; i++) { const out: any = { ...row }; for (let j = 0; j < fk.length; j++) out[fk[j]] = null; n += out.seq ? 1 : 0; }
console.log('spread+assign per row us', (performance.now() - t) / 200000 * 1000);
for (const c of fc) { const v = got[c.name]; if (v !== null && v !== undefined) { let t0 = performance.now(); for (let i = 0; i < 100000; i++) c.mapFromDriverValue(v); console.log(c.name, (performance.now() - t0) / 100000 * 1000); } }
}
