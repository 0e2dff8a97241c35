// A light multi-row INSERT for the hot paths (POST /tasks's group commit, the audit batches):
// all the rows go to PostgreSQL as ONE JSON parameter, spread into columns there by
// json_populate_recordset, instead of drizzle building a statement with a parameter per value
// (its per-value checks were ~25 % of the API's CPU under load, docs/decisions.md). Columns the
// rows leave out keep their database defaults; what the database filled in comes back with
// RETURNING and is read by drizzle's own column mappings, so the rows returned equal what a
// SELECT would read (test/tasks.e2e.test.ts compares them).
import { getTableColumns, getTableName, sql, type Column } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import type { Db } from './db.ts';

interface Plan {
  /** JS property → column. */
  byKey: Map<string, Column>;
  name: string;
}

const plans = new WeakMap<PgTable, Plan>();

function planOf(table: PgTable): Plan {
  let p = plans.get(table);
  if (!p) {
    p = { byKey: new Map(Object.entries(getTableColumns(table)) as Array<[string, Column]>), name: getTableName(table) };
    plans.set(table, p);
  }
  return p;
}

/**
 * A lone surrogate would reach PostgreSQL as a `\\udXXX` escape it refuses; as a parameter of
 * its own the driver would have sent U+FFFD instead, so the same is done here.
 */
const wellFormed = (_key: string, v: unknown) =>
  typeof v === 'string' && !(v as unknown as { isWellFormed(): boolean }).isWellFormed() ? (v as unknown as { toWellFormed(): string }).toWellFormed() : v;

/** The rows as JSON; the replacer (slow) only when the plain text holds an escaped surrogate. */
function toJson(rows: unknown[]): string {
  const text = JSON.stringify(rows);
  return /\\u[dD][89a-fA-F]/.test(text) ? JSON.stringify(rows, wellFormed) : text;
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * Inserts the rows in one statement and returns them as drizzle would (`$inferSelect`). Every
 * row must set the same properties (undefined counts as not set); otherwise null is returned and
 * the caller uses drizzle's own insert. `returnRows` false: nothing is read back (returns []).
 */
export async function insertAsJson<T extends PgTable>(
  db: Pick<Db, 'execute'>,
  table: T,
  rows: Array<Record<string, unknown>>,
  returnRows = true,
): Promise<Array<T['$inferSelect']> | null> {
  if (rows.length === 0) return [];
  const { byKey, name } = planOf(table);
  const keys = Object.keys(rows[0]).filter((k) => rows[0][k] !== undefined);
  for (const r of rows) {
    let n = 0;
    for (const k in r) if (r[k] !== undefined) n++;
    if (n !== keys.length) return null;
  }
  const cols: Column[] = [];
  for (const k of keys) {
    const c = byKey.get(k);
    if (!c) return null;
    cols.push(c);
  }
  // Values as the driver would send them (custom types, e.g. JSON kept as text), keyed by column.
  const json = rows.map((r) => {
    const o: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) {
      const v = r[keys[i]];
      if (v === undefined) return null;
      const c = cols[i];
      o[c.name] = v === null ? null : c.columnType === 'PgCustomColumn' ? c.mapToDriverValue(v) : v;
    }
    return o;
  });
  if (json.includes(null)) return null;
  const given = new Set(cols.map((c) => c.name));
  const filled = [...byKey.entries()].filter(([, c]) => !given.has(c.name));
  const list = cols.map((c) => quote(c.name)).join(', ');
  // Matched back by id where the rows carry one (the order of RETURNING is the recordset's in
  // practice, but nothing promises it).
  const idCol = byKey.get('id');
  const byId = idCol && given.has(idCol.name) ? idCol.name : null;
  const wanted = [...filled.map(([, c]) => c.name), ...(byId ? [byId] : [])];
  const back = returnRows ? ` returning ${wanted.length ? wanted.map(quote).join(', ') : '1 as "one"'}` : '';
  const text = `insert into ${quote(name)} (${list}) select ${list} from json_populate_recordset(null::${quote(name)}, `;
  const result = (await db.execute(sql`${sql.raw(text)}${toJson(json)}::json)${sql.raw(back)}`)) as unknown as { rows: Array<Record<string, unknown>> };
  if (!returnRows) return [];
  const index = new Map<unknown, Record<string, unknown>>();
  if (byId) for (const got of result.rows) index.set(got[byId], got);
  // Object.assign, not a spread: a spread copy that then gains the filled columns turns into a
  // slow dictionary object in V8 (~25 µs a row against ~1.5, measured; it was 12 % of the API's
  // CPU under POST /tasks/batch).
  const filledKeys = filled.map(([k]) => k);
  const filledCols = filled.map(([, c]) => c);
  return rows.map((row, i) => {
    const got = (byId ? index.get(row.id) : result.rows[i]) ?? {};
    const out: Record<string, unknown> = Object.assign({}, row);
    for (let j = 0; j < filledKeys.length; j++) {
      const v = got[filledCols[j].name];
      out[filledKeys[j]] = v === null || v === undefined ? null : filledCols[j].mapFromDriverValue(v);
    }
    return out as T['$inferSelect'];
  });
}
