/**
 * Shared set-up for the shard-store suites: a fresh temp dir per test, a real SQLite file, a manual
 * clock, message builders, and a full dump of the file (user and `_twopc_` tables) through a second
 * connection, for "changes nothing" comparisons.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Clock } from '../../common/clock.ts';
import type {
  DecisionMessage,
  OpKind,
  PrepareMessage,
  ReadCheck,
  ShardOp,
  Vote,
} from '../../common/protocol.ts';
import type { Row } from '../../common/value.ts';
import { ShardStore } from '../../participant/shard-store.ts';

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (
  id INTEGER PRIMARY KEY,
  owner TEXT NOT NULL,
  balance INTEGER NOT NULL CHECK (balance >= 0),
  email TEXT UNIQUE
);
CREATE TABLE IF NOT EXISTS items (
  id INTEGER PRIMARY KEY,
  qty INT NOT NULL DEFAULT 0,
  label TEXT NOT NULL DEFAULT 'none',
  weight REAL
) STRICT;
-- A STRICT table whose default does not fit its column: inserting without size is a type error.
CREATE TABLE IF NOT EXISTS gadgets (id INTEGER PRIMARY KEY, size INT DEFAULT 'big') STRICT;
CREATE TABLE IF NOT EXISTS pairs (
  region TEXT NOT NULL,
  n INTEGER NOT NULL,
  v REAL,
  note,
  PRIMARY KEY (region, n)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tags (code NUMERIC PRIMARY KEY, name TEXT);
CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, handle TEXT COLLATE NOCASE UNIQUE);
CREATE TABLE IF NOT EXISTS nicknames (nick TEXT COLLATE NOCASE PRIMARY KEY, n INTEGER) WITHOUT ROWID;
INSERT OR IGNORE INTO accounts (id, owner, balance, email) VALUES (100, 'seed', 50, 'seed@example.com');
`;

/** A clock the test moves by hand. */
export class ManualClock implements Clock {
  now = 1_700_000_000_000;
  nowMs(): number {
    return this.now;
  }
  sleep(): Promise<void> {
    return Promise.resolve();
  }
}

export interface Harness {
  readonly dir: string;
  readonly file: string;
  readonly clock: ManualClock;
  store: ShardStore;
  reopen(): ShardStore;
  dump(): string;
  cleanup(): void;
}

export function openHarness(schemaSql = SCHEMA): Harness {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twopc-shard-'));
  const file = path.join(dir, 'shard-a.db');
  const clock = new ManualClock();
  const open = () => ShardStore.open({ path: file, shard: 'shard-a', schemaSql, clock });
  const h: Harness = {
    dir,
    file,
    clock,
    store: open(),
    reopen() {
      h.store.close();
      h.store = open();
      return h.store;
    },
    dump: () => dumpFile(file),
    cleanup() {
      h.store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

/** A harness whose shard holds accounts 1 (ann) and 2 (bob) with balance 10 each, committed. */
export function openAccountsHarness(): Harness {
  const h = openHarness();
  commitTxn(h, 'setup', [
    op('INSERT', 'accounts', { id: 1n }, { owner: 'ann', balance: 10n }),
    op('INSERT', 'accounts', { id: 2n }, { owner: 'bob', balance: 10n }),
  ]);
  return h;
}

/** Every row of every table in the file, in a stable order, as text. */
export function dumpFile(file: string): string {
  const db = new Database(file, { readonly: true });
  db.defaultSafeIntegers(true);
  try {
    const tables = db
      .prepare(
        `SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`,
      )
      .all() as { name: string }[];
    const out: Record<string, unknown[]> = {};
    for (const { name } of tables) out[name] = db.prepare(`SELECT * FROM "${name}" ORDER BY 1, 2`).all();
    return JSON.stringify(out, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v), 1);
  } finally {
    db.close();
  }
}

/** Rows of one internal table, straight from the file. */
export function internalRows(file: string, table: string): Record<string, unknown>[] {
  const db = new Database(file, { readonly: true });
  db.defaultSafeIntegers(true);
  try {
    return db.prepare(`SELECT * FROM ${table}`).all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

export function op(
  kind: OpKind,
  table: string,
  key: Row,
  values: Row = {},
  expectedVersion?: bigint,
): ShardOp {
  return expectedVersion === undefined
    ? { table, kind, key, values }
    : { table, kind, key, values, expectedVersion };
}

export function prepareMsg(
  clock: ManualClock,
  txnId: string,
  ops: readonly ShardOp[],
  extra: Partial<PrepareMessage> = {},
): PrepareMessage {
  return {
    txnId,
    ops,
    reads: [] as ReadCheck[],
    onePhase: false,
    readOnlyOk: false,
    peers: [{ shard: 'shard-b', address: '127.0.0.1:7402' }],
    coordinatorId: 'coord-1',
    epoch: 1n,
    deadlineMs: clock.now + 10_000,
    ...extra,
  };
}

export function commitMsg(txnId: string, decisionSeq = 1n): DecisionMessage {
  return { txnId, commit: true, decisionSeq, epoch: 1n };
}

export function abortMsg(txnId: string): DecisionMessage {
  return { txnId, commit: false, decisionSeq: 0n, epoch: 1n };
}

/** Prepares one message alone and returns its vote. */
export function prepareOne(
  h: Harness,
  txnId: string,
  ops: readonly ShardOp[],
  extra: Partial<PrepareMessage> = {},
): Vote {
  const votes = h.store.prepareBatch([prepareMsg(h.clock, txnId, ops, extra)]);
  if (votes.length !== 1 || votes[0] === undefined) throw new Error('one vote per message');
  return votes[0];
}

/** Prepares and commits; fails the test if the vote is not YES. */
export function commitTxn(h: Harness, txnId: string, ops: readonly ShardOp[], decisionSeq = 1n): void {
  const vote = prepareOne(h, txnId, ops);
  if (vote.vote !== 'YES') throw new Error(`expected YES for ${txnId}, got ${JSON.stringify(vote)}`);
  h.store.decideBatch([commitMsg(txnId, decisionSeq)]);
}

/** The NO fields of a vote, or a failure if it is not a NO. */
export function noOf(vote: Vote): { reasonCode: string; reason: string; invalid: boolean } {
  if (vote.vote !== 'NO') throw new Error(`expected NO, got ${vote.vote}`);
  return { reasonCode: vote.reasonCode, reason: vote.reason, invalid: vote.invalid };
}
