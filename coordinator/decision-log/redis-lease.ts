/**
 * ReplicaRegistry (coordinator/replica-registry.ts) on the Redis log. Keys, all in the meta slot:
 *
 *     {twopc}:replicas         hash: epoch -> {"id", "address"} of every registered replica
 *     {twopc}:lease:<epoch>    string with a TTL: the replica's lease (SET PX at every renewal)
 *     {twopc}:fenced           set: claimed epochs (copied into each group's `{twopc.G}:fenced`)
 *     {twopc}:adopted          hash: coordinator id -> epoch of the replica that settles its prepares
 *
 * Claiming (CLAIM) and adopting (FENCE_GROUP, per group) are separate steps: a claimer that dies in
 * between is itself claimed later, and the next adoption moves records of every fenced epoch, so
 * nothing is orphaned. The scripts are in redis-lease-scripts.ts.
 */
import { assert } from '../../common/assert.ts';
import { unavailable } from '../../common/errors.ts';
import type { ReplicaInfo, ReplicaRegistry } from '../replica-registry.ts';
import type { CommandResult, RedisConnection, WaitPolicy } from './redis-connection.ts';
import { metaKeys, metaTag, type KeyLayout } from './redis-keys.ts';

const keys = Object.freeze({
  replicas: `${metaTag}:replicas`,
  fenced: `${metaTag}:fenced`,
  adopted: `${metaTag}:adopted`,
  lease: (epoch: bigint) => `${metaTag}:lease:${epoch}`,
});

/**
 * 100,000 records per group per adoption: an unfinished backlog bigger than this is moved over
 * several takeover rounds (each round adopts again).
 */
export const adoptRecordsPerGroupMax = 100_000;

function replyOf(result: CommandResult | undefined, what: string): unknown {
  if (result === undefined || result[0] !== null)
    throw unavailable(`decision log ${what} failed: ${result?.[0]?.message ?? 'no reply'}`);
  return result[1];
}

/**
 * Every registered coordinator replica of the log and whether its lease is alive. Read-only: the
 * recovery CLI asks it too (it has no epoch of its own).
 */
export async function listReplicas(connection: RedisConnection): Promise<readonly ReplicaInfo[]> {
  const [listed] = await connection.exec([{ tag: metaTag, add: (p) => p.hgetall(keys.replicas) }]);
  const all = replyOf(listed, 'replica list') as Record<string, string>;
  const epochs = Object.keys(all).map((e) => BigInt(e));
  const leases = await connection.exec(
    epochs.map((e) => ({ tag: metaTag, add: (p) => p.exists(keys.lease(e)) })),
  );
  return epochs.map((epoch, i) => {
    const info = JSON.parse(all[epoch.toString()] as string) as { id?: unknown; address?: unknown };
    return {
      epoch,
      coordinatorId: String(info.id ?? ''),
      address: String(info.address ?? ''),
      alive: replyOf(leases[i], 'lease check') === 1,
    };
  });
}

export class RedisReplicaRegistry implements ReplicaRegistry {
  constructor(
    private readonly connection: RedisConnection,
    private readonly layout: KeyLayout,
    private readonly epoch: bigint,
    private readonly wait: WaitPolicy | undefined,
    /** Called with the fresh epoch a successful claim took (messages about adopted txns carry it). */
    private readonly onTakeoverEpoch: (epoch: bigint) => void,
  ) {
    assert(epoch > 0n, 'a replica needs an epoch from a coordinator open');
  }

  async register(coordinatorId: string, address: string, leaseTtlMs: number): Promise<void> {
    const info = JSON.stringify({ id: coordinatorId, address });
    await this.meta('register', this.wait, (p) =>
      p.twopcRegister(
        3,
        keys.replicas,
        keys.lease(this.epoch),
        keys.adopted,
        this.epoch.toString(),
        info,
        leaseTtlMs,
        coordinatorId,
      ),
    );
  }

  async renew(leaseTtlMs: number): Promise<boolean> {
    const reply = await this.meta('lease renewal', undefined, (p) =>
      p.twopcRenew(2, keys.replicas, keys.lease(this.epoch), this.epoch.toString(), leaseTtlMs),
    );
    return reply === 1;
  }

  replicas(): Promise<readonly ReplicaInfo[]> {
    return listReplicas(this.connection);
  }

  async claim(deadEpoch: bigint): Promise<boolean> {
    assert(deadEpoch !== this.epoch, 'a replica cannot claim itself');
    const reply = await this.meta('claim', this.wait, (p) =>
      p.twopcClaim(
        5,
        keys.replicas,
        keys.lease(deadEpoch),
        keys.fenced,
        keys.adopted,
        metaKeys.epoch,
        deadEpoch.toString(),
        this.epoch.toString(),
      ),
    );
    if (reply === 0) return false;
    this.onTakeoverEpoch(BigInt(reply as number));
    return true;
  }

  async adoptOrphans(): Promise<readonly string[]> {
    const fenced = (await this.meta('fenced list', undefined, (p) => p.smembers(keys.fenced))) as string[];
    if (fenced.length === 0) return [];
    const results = await this.connection.exec(
      this.layout.groups.map((g) => ({
        tag: g.tag,
        add: (p) =>
          p.twopcFenceGroup(
            3,
            g.fenced,
            g.unfinished,
            g.status.INTENT,
            this.epoch.toString(),
            g.tag,
            adoptRecordsPerGroupMax,
            ...fenced,
          ),
      })),
      this.wait,
    );
    return results.flatMap((r) => replyOf(r, 'fence') as string[]);
  }

  async ownedCoordinatorIds(): Promise<readonly string[]> {
    const all = (await this.meta('adopted list', undefined, (p) => p.hgetall(keys.adopted))) as Record<
      string,
      string
    >;
    const me = this.epoch.toString();
    return Object.entries(all)
      .filter(([, owner]) => owner === me)
      .map(([id]) => id);
  }

  async resign(): Promise<void> {
    await this.meta('resign', undefined, (p) => p.del(keys.lease(this.epoch)));
  }

  private async meta(
    what: string,
    wait: WaitPolicy | undefined,
    add: Parameters<RedisConnection['exec']>[0][number]['add'],
  ): Promise<unknown> {
    const [result] = await this.connection.exec([{ tag: metaTag, add }], wait);
    return replyOf(result, what);
  }
}
