/**
 * Where a shard's WAL is shipped: an object store holding whole, immutable objects under string
 * keys. Two backends implement it: `file.ts` (a local directory, the default of `twopc dev`) and
 * `s3.ts` (any S3-compatible store). `shard-replica.ts` puts the generations/snapshots/segments
 * layout on top; nothing here knows about SQLite.
 *
 * Contract for implementations:
 * - `put` is atomic (a reader sees the old object, no object, or the whole new one — never a part)
 *   and idempotent (putting the same bytes twice is harmless); when it resolves the object is durable.
 * - `get` returns the whole object, or undefined if there is none.
 * - `list` returns every object whose key starts with the prefix, in lexical (byte) order of keys.
 * - `delete` is idempotent: deleting a missing key succeeds.
 * - Failures throw TwopcError: UNAVAILABLE (worth retrying: the store is down or slow),
 *   PERMISSION_DENIED / FAILED_PRECONDITION / NOT_FOUND (a bucket that does not exist) are not.
 * - Every call honours its AbortSignal.
 */
export interface ReplicaObject {
  readonly key: string;
  /** Stored size in bytes (compressed, as uploaded). */
  readonly size: number;
}

export interface ReplicaClient {
  /** The replica's URL without credentials, for messages and logs. */
  readonly url: string;
  put(key: string, body: Buffer, signal?: AbortSignal): Promise<void>;
  get(key: string, signal?: AbortSignal): Promise<Buffer | undefined>;
  list(prefix: string, signal?: AbortSignal): Promise<ReplicaObject[]>;
  delete(key: string, signal?: AbortSignal): Promise<void>;
  /** Releases sockets and handles. */
  close(): void;
}
