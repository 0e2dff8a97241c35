// A light multi-row INSERT for the hot paths (POST /tasks's group commit, the audit batches):
// all the rows go to PostgreSQL as ONE JSON parameter, spread into columns there by
// json_populate_recordset, instead of drizzle building a statement with a parameter per value
// (its per-value checks were ~25 % of the API's CPU under load, docs/decisions.md). Columns the
// rows leave out keep their database defaults: what only the database knows (a serial, an SQL
// default) comes back with RETURNING and is read by drizzle's own column mappings; a column with
// no default is null and a plain default is its value, filled in here without reading 18 columns
// back per row. The rows returned equal what a SELECT would read (test/tasks.e2e.test.ts and
// json-insert.e2e.test.ts compare them).
import { getTableColumns, getTableName, is, SQL, sql, type Column } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import type { Db } from './db.ts';

interface Plan {
  /** JS property → column. */
  byKey: Map<string, Column>;
  name: string;
  /** Per set of properties given (their names joined): how rows with that set are written. */
  shapes: Map<string, Shape>;
}

/** How rows that give one set of properties are sent and completed. */
interface Shape {
  /** The INSERT up to its JSON parameter, and what follows it (the RETURNING list). */
  head: string;
  tail: string;
  /** A row as the object JSON.stringify sends: column names as keys, driver values. */
  toJsonRow: (row: Record<string, unknown>) => Record<string, unknown>;
  /**
   * The row as inserted: the properties given, then the columns the database fills with a value
   * known here (no default: null; a plain default), then those only it knows (serials, SQL
   * defaults), read from `got`, the row RETURNING gave.
   */
  complete: (row: Record<string, unknown>, got: Record<string, unknown>) => Record<string, unknown>;
  /** The column that matches a returned row to its row (the id), if the rows carry it. */
  byId: string | null;
}

const plans = new WeakMap<PgTable, Plan>();

function planOf(table: PgTable): Plan {
  let p = plans.get(table);
  if (!p) {
    p = { byKey: new Map(Object.entries(getTableColumns(table)) as Array<[string, Column]>), name: getTableName(table), shapes: new Map() };
    plans.set(table, p);
  }
  return p;
}

/**
 * What the database puts in a column the insert leaves out, when that is known without asking:
 * null for a column with no default, the value of a plain (number, string, boolean) default.
 * Undefined: only the database knows (a serial, an SQL default), so the value is read back.
 */
function knownDefault(c: Column): { value: unknown } | undefined {
  if (!c.hasDefault) return c.generated || c.generatedIdentity ? undefined : { value: null };
  if (c.defaultFn || c.onUpdateFn || is(c.default, SQL)) return undefined;
  const d = c.default;
  return typeof d === 'number' || typeof d === 'string' || typeof d === 'boolean' ? { value: c.mapFromDriverValue(d) } : undefined;
}

function shapeOf(plan: Plan, keys: string[]): Shape | null {
  const id = keys.join(',');
  let shape = plan.shapes.get(id);
  if (shape) return shape;
  const cols: Column[] = [];
  for (const k of keys) {
    const c = plan.byKey.get(k);
    if (!c) return null;
    cols.push(c);
  }
  // One object literal per row, built by a function made for these columns (a fixed shape: V8
  // then makes every row the same hidden class, ~2x faster to build and stringify than objects
  // grown key by key). Keys and property names are JSON-quoted, never spliced in raw.
  const toDriver = cols.map((c) => (c.columnType === 'PgCustomColumn' ? (v: unknown) => c.mapToDriverValue(v) : null));
  const fields = cols.map((c, i) => {
    const get = `r[${JSON.stringify(keys[i])}]`;
    return `${JSON.stringify(c.name)}: ${toDriver[i] ? `${get} === null ? null : m[${i}](${get})` : get}`;
  });
  const build = new Function('m', `return (r) => ({ ${fields.join(', ')} });`) as (m: unknown) => (r: Record<string, unknown>) => Record<string, unknown>;
  const given = new Set(cols.map((c) => c.name));
  const known: Array<[key: string, value: unknown]> = [];
  const read: Array<[key: string, column: Column]> = [];
  for (const [k, c] of plan.byKey) {
    if (given.has(c.name)) continue;
    const d = knownDefault(c);
    if (d) known.push([k, d.value]);
    else read.push([k, c]);
  }
  // The completed row as one object literal too (it was a copy that then gained ~20 properties
  // one by one: 4.6 % of the API's CPU under POST /tasks/batch).
  const parts = [
    ...keys.map((k) => `${JSON.stringify(k)}: row[${JSON.stringify(k)}]`),
    ...known.map(([k], i) => `${JSON.stringify(k)}: known[${i}]`),
    ...read.map(([k, c], i) => {
      const v = `got[${JSON.stringify(c.name)}]`;
      return `${JSON.stringify(k)}: ${v} === null || ${v} === undefined ? null : read[${i}](${v})`;
    }),
  ];
  const complete = new Function('known', 'read', `return (row, got) => ({ ${parts.join(', ')} });`)(
    known.map(([, v]) => v),
    read.map(([, c]) => (v: unknown) => c.mapFromDriverValue(v)),
  ) as Shape['complete'];
  // Matched back by id where the rows carry one (the order of RETURNING is the recordset's in
  // practice, but nothing promises it).
  const idCol = plan.byKey.get('id');
  const byId = idCol && given.has(idCol.name) ? idCol.name : null;
  const wanted = [...read.map(([, c]) => c.name), ...(byId ? [byId] : [])];
  const list = cols.map((c) => quote(c.name)).join(', ');
  shape = {
    head: `insert into ${quote(plan.name)} (${list}) select ${list} from json_populate_recordset(null::${quote(plan.name)}, `,
    tail: ` returning ${wanted.length ? wanted.map(quote).join(', ') : '1 as "one"'}`,
    toJsonRow: build(toDriver),
    complete,
    byId,
  };
  plan.shapes.set(id, shape);
  return shape;
}

/**
 * A lone surrogate would reach PostgreSQL as a `\\udXXX` escape it refuses; as a parameter of
 * its own the driver would have sent U+FFFD instead, so the same is done here.
 */
const wellFormed = (_key: string, v: unknown) =>
  typeof v === 'string' && !(v as unknown as { isWellFormed(): boolean }).isWellFormed() ? (v as unknown as { toWellFormed(): string }).toWellFormed() : v;

/** The rows as JSON; the replacer (slow) only when the plain text holds an escaped surrogate. */
export function toJson(rows: unknown[]): string {
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
  const plan = planOf(table);
  const keys = Object.keys(rows[0]).filter((k) => rows[0][k] !== undefined);
  for (const r of rows) {
    let n = 0;
    for (const k in r) if (r[k] !== undefined) n++;
    if (n !== keys.length) return null;
    for (const k of keys) if (r[k] === undefined) return null;
  }
  const shape = shapeOf(plan, keys);
  if (!shape) return null;
  const tail = returnRows ? shape.tail : '';
  const result = (await db.execute(sql`${sql.raw(shape.head)}${toJson(rows.map(shape.toJsonRow))}::json)${sql.raw(tail)}`)) as unknown as {
    rows: Array<Record<string, unknown>>;
  };
  if (!returnRows) return [];
  const { byId, complete } = shape;
  const index = new Map<unknown, Record<string, unknown>>();
  if (byId) for (const got of result.rows) index.set(got[byId], got);
  return rows.map((row, i) => complete(row, (byId ? index.get(row.id) : result.rows[i]) ?? {}) as T['$inferSelect']);
}
