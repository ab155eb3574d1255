/**
 * A shard reached through its file, with its participant stopped.
 *
 * Reads go through a read-only SQLite connection and the participant's own record decoding
 * (participant/txn-records.ts, txn-state.ts): nothing in the file changes, and a running participant
 * is not disturbed. Writes go through `ShardStore.open(...).decideBatch`, the participant's own code
 * path, so a decision is applied exactly as at runtime (after-images, versions, pending rows, locks,
 * the COMMITTED/ABORTED record, one local transaction). The store is opened with an empty schema:
 * the user's tables are already in the file, and the schema file is not needed to apply decisions.
 * Before writing, the file is claimed (file-claim.ts); a file a live participant holds is refused.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { systemClock } from '../../common/clock.ts';
import { TwopcError, describeError } from '../../common/errors.ts';
import { silentLogger } from '../../common/log.ts';
import type { Ack, DecisionMessage, InDoubtTxn } from '../../common/protocol.ts';
import { storageFormatVersion } from '../../participant/config.ts';
import type { ShardContext } from '../../participant/shard-context.ts';
import { ShardStore } from '../../participant/shard-store.ts';
import { StatementCache } from '../../participant/statements.ts';
import { getTxn } from '../../participant/txn-records.ts';
import { listInDoubt } from '../../participant/txn-state.ts';
import { offlineDecideBatchMax } from './config.ts';
import { claimFile } from './file-claim.ts';
import type { ShardTxn, ShardView } from './shard-view.ts';

export class OfflineShard implements ShardView {
  readonly online = false;
  private reader: Database.Database;
  private ctx: ShardContext;

  private constructor(
    readonly shard: string,
    readonly location: string,
  ) {
    this.reader = openReader(location);
    this.ctx = contextFor(shard, this.reader);
  }

  /** NOT_FOUND for a missing file, FAILED_PRECONDITION for a file that is not a twopc shard. */
  static open(shard: string, file: string): OfflineShard {
    if (!existsSync(file)) {
      throw new TwopcError('NOT_FOUND', `shard file ${file} does not exist`, {
        hint: 'a participant keeps its shard in <data-dir>/<shard>.db; check the path',
      });
    }
    return new OfflineShard(shard, file);
  }

  async listInDoubt(): Promise<readonly InDoubtTxn[]> {
    return listInDoubt(this.ctx);
  }

  async txnState(txnId: string): Promise<ShardTxn> {
    const t = getTxn(this.ctx, txnId);
    if (t === undefined)
      return { shard: this.shard, state: 'UNKNOWN', decisionSeq: 0n, preparedAtMs: 0, decidedAtMs: 0 };
    return {
      shard: this.shard,
      state: t.state,
      decisionSeq: t.decisionSeq,
      preparedAtMs: t.preparedAtMs,
      decidedAtMs: t.decidedAtMs,
      detail: {
        tombstone: t.tombstone,
        onePhase: t.onePhase,
        coordinatorId: t.coordinatorId,
        peers: t.peers.map((p) => p.shard),
        pendingCount: t.pendingCount,
        lockCount: t.lockCount,
        ...(t.vote === undefined ? {} : { vote: { reasonCode: t.vote.reasonCode, reason: t.vote.reason } }),
      },
    };
  }

  async checkWritable(): Promise<void> {
    // Our own reader must be closed while probing: it is a connection to the file too.
    this.reader.close();
    let claim;
    try {
      claim = claimFile(this.location);
    } catch (err) {
      this.reopenReader();
      throw err;
    }
    if (claim.inUse) {
      this.reopenReader();
      const name = path.basename(this.location);
      throw new TwopcError('FAILED_PRECONDITION', `${name} is in use by a running participant`, {
        hint: `stop it first, or resolve online instead: --participant ${this.shard}=HOST:PORT`,
      });
    }
    this.reader = claim.reader;
    this.ctx = contextFor(this.shard, this.reader);
  }

  async decide(messages: readonly DecisionMessage[]): Promise<readonly Ack[]> {
    await this.checkWritable();
    // The reader stays open meanwhile, so closing the store does not checkpoint the WAL: the file
    // is left as the participant would leave it after a crash, and it checkpoints on its own.
    const store = ShardStore.open({ path: this.location, shard: this.shard, schemaSql: '' });
    try {
      const acks: Ack[] = [];
      for (let i = 0; i < messages.length; i += offlineDecideBatchMax) {
        acks.push(...store.decideBatch(messages.slice(i, i + offlineDecideBatchMax)));
      }
      return acks;
    } finally {
      store.close();
    }
  }

  async close(): Promise<void> {
    this.reader.close();
  }

  private reopenReader(): void {
    this.reader = openReader(this.location);
    this.ctx = contextFor(this.shard, this.reader);
  }
}

/** A read-only connection to a file checked to be a shard of this storage format. */
function openReader(file: string): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw notAShard(file, describeError(err));
  }
  try {
    db.defaultSafeIntegers(true);
    const row = db.prepare(`SELECT value FROM _twopc_meta WHERE name = 'storage_format'`).get() as
      { value: string } | undefined;
    if (row?.value !== String(storageFormatVersion)) {
      throw notAShard(
        file,
        `storage format ${row?.value ?? 'missing'}, this build reads ${storageFormatVersion}`,
      );
    }
    return db;
  } catch (err) {
    db.close();
    if (err instanceof TwopcError) throw err;
    throw notAShard(file, describeError(err));
  }
}

function notAShard(file: string, why: string): TwopcError {
  return new TwopcError('FAILED_PRECONDITION', `${file} is not a twopc shard file: ${why}`, {
    hint: "point at a participant's <shard>.db",
  });
}

/** Just enough of a ShardContext for the participant's read functions (no tables, no writes). */
function contextFor(shard: string, db: Database.Database): ShardContext {
  return {
    shard,
    db,
    stmts: new StatementCache(db),
    tables: new Map(),
    clock: systemClock,
    logger: silentLogger,
  };
}
