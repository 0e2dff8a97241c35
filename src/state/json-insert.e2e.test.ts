// The light insert (json-insert.ts) against a real PostgreSQL: what it returns equals what a
// SELECT reads back, defaults included, for the group commit's rows, a batch, odd text and the
// audit log.
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../../test/support/database.ts';
import { TaskStore } from './task-store.ts';
import { AuditStore } from './audit-store.ts';
import { taskRowFrom } from '../control/task-rows.ts';
import { loadConfig } from '../config/index.ts';

describe('insert as one JSON value', () => {
  const opened = useTestDatabase();
  const config = loadConfig({ file: null, overrides: {} });

  it('returns the rows a SELECT reads, defaults and odd values included', async () => {
    const store = new TaskStore(opened().db);
    const specs = [
      { image: 'busybox', command: 'true' },
      { image: 'busybox', command: ['true'], env: { A: '1', B: { secret: 'x' } }, labels: { 'team/x': 'é "quoted" \\ \ud800 lone' }, name: 'n\u2028' },
      { image: 'busybox', resources: { cpu: 0.25, memory: '1Gi' }, priority: 'critical', timeout_seconds: 5, node_selector: { zone: 'a' } },
    ];
    const rows = specs.map((s) => taskRowFrom(s as never, config, { status: 'queued', statusReason: 'waiting', tenant: 't1' }));
    const created = await store.insertMany(rows);
    expect(created.map((t) => t.id)).toEqual(rows.map((r) => r.id));
    for (const t of created) {
      const read = await store.get(t.id);
      // A lone surrogate is stored as U+FFFD, as the driver stores a parameter holding one.
      expect(read).toEqual(t.labels['team/x'] ? { ...t, labels: { 'team/x': 'é "quoted" \\ \ufffd lone' } } : t);
    }
    expect(created[0].attempts).toBe(0);
    expect(created[0].dependsOn).toEqual([]);
    expect(created[0].seq).toBeGreaterThan(0);
    expect(new Set(created.map((t) => t.seq)).size).toBe(3);
  });

  it('stores a batch (in a transaction) the same way', async () => {
    const store = new TaskStore(opened().db);
    const rows = Array.from({ length: 700 }, (_, i) => taskRowFrom({ image: 'busybox', name: `b${i}` } as never, config, { status: 'queued', statusReason: null }));
    const created = await store.createMany(rows, async () => undefined);
    expect(created.length).toBe(700);
    const last = created[699];
    expect(await store.get(last.id)).toEqual(last);
  });

  it('writes audit records', async () => {
    const audit = new AuditStore(opened().db);
    const at = new Date();
    await audit.insertMany([
      { at, keyId: null, keyName: null, tenant: 'x', role: 'admin', action: 'POST /tasks', target: 't', status: 201, client: '127.0.0.1', requestId: 'r1' },
      { at, keyId: null, keyName: 'k', tenant: 'x', role: null, action: 'POST /tasks', target: null, status: 422, client: null, requestId: null },
    ]);
    const page = await audit.list({ tenant: 'x', limit: 10, offset: 0 });
    expect(page.total).toBe(2);
    expect(page.items.map((r) => r.status).sort()).toEqual([201, 422]);
    expect(page.items[0].at.getTime()).toBe(at.getTime());
  });
});
