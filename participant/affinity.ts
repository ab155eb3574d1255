/**
 * Column affinity and which values a column accepts. SQLite would silently store text in an INTEGER
 * column of an ordinary table; twopc refuses it up front (INVALID_ARGUMENT), so a typo never
 * becomes data. Rules: INTEGER takes int only; REAL takes int or real (an int becomes a real, as
 * SQLite would store it); TEXT takes text; BLOB takes blob; NUMERIC and untyped (or STRICT ANY)
 * take anything. NULL is accepted here; NOT NULL is the trial-apply's business.
 */
import type { SqlValue } from '../common/value.ts';
import { INT64_MAX, INT64_MIN } from '../common/value.ts';

export const AFFINITIES = ['INTEGER', 'REAL', 'TEXT', 'BLOB', 'NUMERIC', 'ANY'] as const;
export type Affinity = (typeof AFFINITIES)[number];

/** SQLite's affinity rules (datatype3 §3.1), with BLOB kept apart from untyped and STRICT's ANY. */
export function affinityOf(declaredType: string, strict: boolean): Affinity {
  const t = declaredType.toUpperCase();
  if (strict && t === 'ANY') return 'ANY';
  if (t.includes('INT')) return 'INTEGER';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'TEXT';
  if (t.includes('BLOB')) return 'BLOB';
  if (t === '') return 'ANY';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'REAL';
  return 'NUMERIC';
}

export function typeName(value: unknown): string {
  if (value === null) return 'NULL';
  if (typeof value === 'bigint') return 'INTEGER';
  if (typeof value === 'number') return 'REAL';
  if (typeof value === 'string') return 'TEXT';
  if (Buffer.isBuffer(value)) return 'BLOB';
  return typeof value;
}

/**
 * A value twopc can store at all: the SqlValue union, ints in 64 bits, reals finite. SQLite would
 * turn NaN into NULL, and the after-image codec (JSON, common/value.ts) cannot carry ±Infinity.
 */
export function isStorable(value: unknown): value is SqlValue {
  if (value === null || typeof value === 'string' || Buffer.isBuffer(value)) return true;
  if (typeof value === 'bigint') return value >= INT64_MIN && value <= INT64_MAX;
  return typeof value === 'number' && Number.isFinite(value);
}

/**
 * The value as it goes into a column of this affinity, or undefined if it cannot go there. NULL
 * passes (NOT NULL is checked by SQLite). NUMERIC values are converted later by SQLite itself.
 */
export function acceptValue(affinity: Affinity, value: SqlValue): SqlValue | undefined {
  if (value === null) return null;
  switch (affinity) {
    case 'INTEGER':
      return typeof value === 'bigint' ? value : undefined;
    case 'REAL':
      if (typeof value === 'bigint') return Number(value);
      return typeof value === 'number' ? value : undefined;
    case 'TEXT':
      return typeof value === 'string' ? value : undefined;
    case 'BLOB':
      return Buffer.isBuffer(value) ? value : undefined;
    case 'NUMERIC':
    case 'ANY':
      return value;
  }
}

/** Columns ADD can add to: the ones that can hold a number. */
export function isNumericAffinity(affinity: Affinity): boolean {
  return affinity === 'INTEGER' || affinity === 'REAL' || affinity === 'NUMERIC' || affinity === 'ANY';
}

/**
 * The form of a value used inside lock and version keys. SQLite compares 1 and 1.0 as equal (in a
 * PRIMARY KEY or UNIQUE index they are the same entry), so an integral real within int64 is keyed
 * as the int. Only for keys: stored values keep their type.
 */
export function comparableValue(value: SqlValue): SqlValue {
  if (typeof value !== 'number' || !Number.isInteger(value)) return value;
  if (value < -(2 ** 63) || value >= 2 ** 63) return value;
  return BigInt(value);
}

/** Collations whose equality twopc reproduces when it builds lock and version keys. */
export const KNOWN_COLLATIONS = ['BINARY', 'NOCASE', 'RTRIM'] as const;

export function isKnownCollation(name: string): boolean {
  return (KNOWN_COLLATIONS as readonly string[]).includes(name);
}

/** Text as the collation compares it. NOCASE folds ASCII letters only, as SQLite's does. */
export function collatedValue(value: SqlValue, collation: string): SqlValue {
  if (typeof value !== 'string') return value;
  if (collation === 'NOCASE') return value.replace(/[A-Z]/g, (c) => c.toLowerCase());
  if (collation === 'RTRIM') return value.replace(/ +$/, '');
  return value;
}
