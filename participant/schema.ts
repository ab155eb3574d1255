/**
 * Introspection of the user's tables: columns, affinities, primary key, UNIQUE indexes. Loaded
 * once at open (the schema cannot change while the store is open: `query` is read-only) and frozen.
 */
import type { Database } from 'better-sqlite3';
import { assert } from '../common/assert.ts';
import { invalidArgument } from '../common/errors.ts';
import { affinityOf, isKnownCollation, type Affinity } from './affinity.ts';
import { isInternalName } from './internal-tables.ts';

export interface ColumnSchema {
  readonly name: string;
  readonly declaredType: string;
  readonly affinity: Affinity;
  readonly notNull: boolean;
  /** 1-based position in the primary key; 0 = not a key column. */
  readonly pkIndex: number;
  /** GENERATED ALWAYS AS: readable, never written by twopc. */
  readonly generated: boolean;
  /** The DEFAULT expression's SQL text, or null. */
  readonly defaultSql: string | null;
}

export interface UniqueIndexSchema {
  readonly name: string;
  /** Null when the index has an expression or a collation twopc cannot reproduce (locked coarsely). */
  readonly columns: readonly string[] | null;
  /** Collation per column: BINARY, NOCASE or RTRIM. */
  readonly collations: readonly string[];
  readonly partial: boolean;
}

export interface TableSchema {
  readonly name: string;
  readonly strict: boolean;
  readonly columns: readonly ColumnSchema[];
  readonly byName: ReadonlyMap<string, ColumnSchema>;
  /** Primary-key columns in key order. */
  readonly pk: readonly ColumnSchema[];
  /** Collation of each primary-key column (BINARY, NOCASE or RTRIM), in key order. */
  readonly pkCollations: readonly string[];
  /** Columns twopc writes: every column except generated ones. */
  readonly writable: readonly ColumnSchema[];
  readonly uniqueIndexes: readonly UniqueIndexSchema[];
}

interface RawTable {
  name: string;
  type: string;
  strict: bigint;
}

/** Every user table of `main`; throws INVALID_ARGUMENT for one twopc cannot serve. */
export function loadTables(db: Database): ReadonlyMap<string, TableSchema> {
  refuseTriggers(db);
  const raw = db
    .prepare(`SELECT name, type, strict FROM pragma_table_list WHERE schema = 'main' ORDER BY name`)
    .all() as RawTable[];
  const tables = new Map<string, TableSchema>();
  for (const t of raw) {
    if (t.name.startsWith('sqlite_') || isInternalName(t.name) || t.type === 'view') continue;
    if (t.type !== 'table')
      throw invalidArgument(`table ${t.name}: ${t.type} tables are not supported`, 'use ordinary tables');
    tables.set(t.name, loadTable(db, t.name, t.strict === 1n));
  }
  return tables;
}

/**
 * A trigger's writes bypass intent locks and versions, and a trigger that fails at commit would
 * break a YES: twopc cannot promise what it cannot see, so a schema with triggers is refused.
 */
function refuseTriggers(db: Database): void {
  const trigger = db
    .prepare(`SELECT name, tbl_name FROM sqlite_schema WHERE type = 'trigger' LIMIT 1`)
    .get() as { name: string; tbl_name: string } | undefined;
  if (trigger !== undefined) {
    throw invalidArgument(
      `trigger ${trigger.name} on ${trigger.tbl_name}: triggers are not supported`,
      'twopc must see every write it promises; express the rule as a CHECK constraint or in the transaction',
    );
  }
}

interface RawColumn {
  name: string;
  type: string;
  notnull: bigint;
  dflt_value: string | null;
  pk: bigint;
  hidden: bigint;
}

function loadTable(db: Database, name: string, strict: boolean): TableSchema {
  const raw = db
    .prepare(`SELECT name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo(?) ORDER BY cid`)
    .all(name) as RawColumn[];
  assert(raw.length > 0, `table ${name} has columns`);
  const columns: ColumnSchema[] = raw.map((c) => ({
    name: c.name,
    declaredType: c.type,
    affinity: affinityOf(c.type, strict),
    notNull: c.notnull === 1n,
    pkIndex: Number(c.pk),
    // hidden 2 and 3 are VIRTUAL and STORED generated columns.
    generated: c.hidden === 2n || c.hidden === 3n,
    defaultSql: c.dflt_value,
  }));
  const pk = columns.filter((c) => c.pkIndex > 0).sort((a, b) => a.pkIndex - b.pkIndex);
  if (pk.length === 0) {
    throw invalidArgument(
      `table ${name} has no PRIMARY KEY`,
      'twopc addresses rows by their full primary key: declare one',
    );
  }
  return Object.freeze({
    name,
    strict,
    columns,
    byName: new Map(columns.map((c) => [c.name, c])),
    pk,
    writable: columns.filter((c) => !c.generated),
    pkCollations: loadPkCollations(db, name, pk),
    uniqueIndexes: loadUniqueIndexes(db, name),
  });
}

/**
 * Two spellings of a key that the PRIMARY KEY's collation treats as equal ('A' and 'a' under
 * NOCASE) are one row, so they must be one lock and version key. An INTEGER PRIMARY KEY has no
 * index of its own and no collation to speak of.
 */
function loadPkCollations(db: Database, table: string, pk: readonly ColumnSchema[]): string[] {
  const index = db.prepare(`SELECT name FROM pragma_index_list(?) WHERE origin = 'pk'`).get(table) as
    { name: string } | undefined;
  if (index === undefined) return pk.map(() => 'BINARY');
  const cols = db.prepare(`SELECT name, coll FROM pragma_index_xinfo(?) WHERE key = 1`).all(index.name) as {
    name: string;
    coll: string;
  }[];
  return pk.map((c) => {
    const coll = cols.find((x) => x.name === c.name)?.coll.toUpperCase() ?? 'BINARY';
    if (!isKnownCollation(coll)) {
      throw invalidArgument(
        `table ${table}: primary-key column ${c.name} uses collation ${coll}`,
        'use BINARY, NOCASE or RTRIM',
      );
    }
    return coll;
  });
}

interface RawIndex {
  name: string;
  origin: string;
  partial: bigint;
}

interface RawIndexColumn {
  cid: bigint;
  name: string | null;
  coll: string;
}

/** UNIQUE indexes other than the primary key (its values are locked as the row key already). */
function loadUniqueIndexes(db: Database, table: string): UniqueIndexSchema[] {
  const indexes = db
    .prepare(`SELECT name, origin, partial FROM pragma_index_list(?) WHERE "unique" = 1 ORDER BY name`)
    .all(table) as RawIndex[];
  return indexes
    .filter((ix) => ix.origin !== 'pk')
    .map((ix) => {
      const cols = db
        .prepare(`SELECT cid, name, coll FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno`)
        .all(ix.name) as RawIndexColumn[];
      const collations = cols.map((c) => c.coll.toUpperCase());
      const reproducible =
        cols.every((c) => c.cid >= 0n && c.name !== null) && collations.every((c) => isKnownCollation(c));
      return Object.freeze({
        name: ix.name,
        columns: reproducible ? cols.map((c) => c.name as string) : null,
        collations,
        partial: ix.partial === 1n,
      });
    });
}
