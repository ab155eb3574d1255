/**
 * Named limits and defaults of the shard store. Each one bounds something that would otherwise grow
 * without limit (a batch, a transaction, an answer) or wait without limit (the SQLite file lock).
 * Units and qualifiers go last.
 */

/**
 * Prepares written in one local SQLite transaction. The write lock is held for the whole batch, so
 * this bounds how long a read or a commit batch can be kept waiting behind it. The batcher must
 * split larger groups; a bigger batch is a caller bug (INVALID_ARGUMENT).
 */
export const prepareBatchMax = 1_024;

/** Decisions applied in one local SQLite transaction; same reasoning as `prepareBatchMax`. */
export const decideBatchMax = 4_096;

/**
 * Ops of one transaction on this shard. Every op is validated, locked and trial-applied inside the
 * batch's write transaction; a transaction over this votes NO (invalid) instead of stalling the shard.
 */
export const opsPerTxnMax = 10_000;

/** Read checks of one transaction on this shard; each is a lock and a version lookup. */
export const readsPerTxnMax = 10_000;

/** Peers named in one prepare; they are stored as JSON with the PREPARED record. */
export const peersPerTxnMax = 1_024;

/** Transaction ids are primary keys of `_twopc_txns`, `_twopc_locks` and `_twopc_pending`. */
export const txnIdBytesMax = 256;

/** The coordinator id is stored with every PREPARED record and shown by the recovery CLI. */
export const coordinatorIdBytesMax = 256;

/**
 * Rows one `query` may return. The answer is built in memory and sent in one gRPC message; a query
 * that needs more must page with LIMIT/OFFSET or a key range.
 */
export const queryRowsMax = 10_000;

/**
 * How long SQLite waits for its file lock when another process (the recovery CLI, a backup) holds
 * it. Intent-lock conflicts between transactions never wait: they are NO votes. Only a foreign
 * process can make this connection wait, and past this bound the call fails as UNAVAILABLE.
 */
export const busyTimeoutMs = 5_000;

/**
 * Prepared statements kept by one store. The cache holds only statements generated from the
 * schema (a few per table and column), never user SQL, so this is an assertion bound, not an
 * eviction policy: reaching it means something caches statements it should not.
 */
export const statementCacheMax = 20_000;

/**
 * Version of the layout of the `_twopc_` tables. A file written by a different layout is refused at
 * open rather than misread.
 */
export const storageFormatVersion = 1;
