/** Flag helpers shared by the `shard` subcommands. */
import { invalidArgument } from '../common/errors.ts';
import { INT64_MAX } from '../common/value.ts';
import { openReplicaClient, parseReplicaUrl } from '../participant/replica/replica-url.ts';
import { ShardReplica } from '../participant/replica/shard-replica.ts';

/** Opens `--replica URL` for one shard; a bad URL is a usage error. */
export async function openShardReplica(url: string, shard: string): Promise<ShardReplica> {
  return new ShardReplica(await openReplicaClient(parseReplicaUrl(url)), shard);
}

/** An ISO 8601 date-time (or date, UTC) as ms since the epoch. */
export function parseTime(flag: string, raw: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}/.test(raw) ? Date.parse(raw) : Number.NaN;
  if (!Number.isFinite(ms))
    throw invalidArgument(
      `${flag}: "${raw}" is not an ISO 8601 time`,
      'e.g. 2025-01-02T03:04:05Z or 2025-01-02T03:04:05.123+01:00',
    );
  return ms;
}

/** A decision-log sequence number: a decimal integer in [0, 2^63). */
export function parseDecisionSeq(flag: string, raw: string): bigint {
  const seq = /^\d{1,19}$/.test(raw) ? BigInt(raw) : -1n;
  if (seq < 0n || seq > INT64_MAX)
    throw invalidArgument(
      `${flag}: "${raw}" is not a decision sequence number`,
      "a whole number >= 0; 'npx twopc recover log' shows the seqs in the decision log",
    );
  return seq;
}
