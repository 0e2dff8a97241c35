// Rows read by a raw statement (`tx.execute(sql…)`, e.g. an UPDATE … RETURNING) turned into the
// objects drizzle's own select would give (`$inferSelect`), through drizzle's column mappings.
// For the hot paths that skip drizzle's query builder: its per-row mapping (mapResultRow and its
// `is()` checks) was ~10 % of the control plane's CPU while placing a backlog (bench (e) profile).
import { getTableColumns, getTableName, sql, type Column, type SQL } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';

/** Maps one column's value (not null) to what drizzle's select gives. */
type Reader = (v: unknown) => unknown;

interface Plan {
  keys: string[];
  names: string[];
  /** Per column, for a driver's value: drizzle's own mapping. */
  fromDriver: Reader[];
  /** Per column, for a value of row_to_json: json/jsonb columns arrive as values already. */
  fromJson: Reader[];
}

const readerOf = (c: Column): Reader => (v) => c.mapFromDriverValue(v);
const asIs: Reader = (v) => v;

const plans = new WeakMap<PgTable, Plan>();

function planOf(table: PgTable): Plan {
  let p = plans.get(table);
  if (!p) {
    const entries = Object.entries(getTableColumns(table)) as Array<[string, Column]>;
    const columns = entries.map(([, c]) => c);
    const fromDriver = columns.map(readerOf);
    p = { keys: entries.map(([k]) => k), names: columns.map((c) => c.name), fromDriver, fromJson: columns.map((c, i) => (c.dataType === 'json' ? asIs : fromDriver[i])) };
    plans.set(table, p);
  }
  return p;
}

/**
 * The table's row from a raw row keyed by column name (`returning <table>.*`). Columns the raw
 * row lacks become null; other fields of the raw row are left out. Every object gets its
 * properties in the same order (one V8 shape for all of them).
 */
export function rowsOf<T extends PgTable>(table: T, raw: Array<Record<string, unknown>>): Array<T['$inferSelect']> {
  const { keys, names, fromDriver } = planOf(table);
  return mapRows(raw, keys, names, fromDriver) as Array<T['$inferSelect']>;
}

/**
 * The table's row from `row_to_json(<table>)::text`: one text column instead of one per column,
 * so the driver builds no per-column parsers for the statement (pg's addFields) and PostgreSQL
 * sends one field. json/jsonb columns arrive as values and are kept as they are; every other
 * column arrives as the JSON form of its value (timestamps in ISO form, numbers as numbers) and
 * goes through drizzle's mapping as a driver's value would, so the row equals a SELECT's.
 */
export function rowFromJson<T extends PgTable>(table: T, text: string): T['$inferSelect'] {
  const { keys, names, fromJson } = planOf(table);
  return mapRows([JSON.parse(text) as Record<string, unknown>], keys, names, fromJson)[0] as T['$inferSelect'];
}

/** Each raw row's field names[i], mapped by read[i], as property keys[i] (null for none). */
function mapRows(raw: Array<Record<string, unknown>>, keys: readonly string[], names: readonly string[], read: readonly Reader[]): Array<Record<string, unknown>> {
  return raw.map((r) => {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) {
      const v = r[names[i]];
      out[keys[i]] = v === null || v === undefined ? null : read[i](v);
    }
    return out;
  });
}

/**
 * Some of a table's columns, read by a raw statement: `list` is the select list (each column
 * aliased to its property name, qualified by the table's name), `read` maps the raw rows through
 * drizzle's column mappings (timestamps come back from the drivers as text, for drizzle to map).
 */
export function fieldsOf<T extends PgTable, K extends keyof T['$inferSelect'] & string>(table: T, keys: readonly K[]): { list: SQL; read(raw: Array<Record<string, unknown>>): Array<Pick<T['$inferSelect'], K>> } {
  const all = getTableColumns(table) as Record<string, Column>;
  const columns = keys.map((k) => {
    const c = all[k];
    if (!c) throw new Error(`fieldsOf: ${getTableName(table)} has no column for ${k}`);
    return c;
  });
  const name = getTableName(table);
  const readers = columns.map(readerOf);
  const list = sql.raw(keys.map((k, i) => `${quote(name)}.${quote(columns[i].name)} as ${quote(k)}`).join(', '));
  return {
    list,
    // Aliased to the property names: the raw rows' fields are the keys themselves.
    read: (raw) => mapRows(raw, keys, keys, readers) as Array<Pick<T['$inferSelect'], K>>,
  };
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
