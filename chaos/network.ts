/**
 * The cluster's network as the harness sees it: one FaultProxy per link, and the addresses each
 * process is given so that every byte between processes crosses a proxy.
 *
 *   clients            → [clients-coordinator]      → coordinator
 *   coordinator        → [coordinator-SHARD]        → participant SHARD   (prepare, decide, reads;
 *                                                                          also peers' cooperative termination)
 *   participant SHARD  → [SHARD-coordinator]        → coordinator        (in-doubt lookups)
 *
 * `up` on a link is what its dialer sends, `down` what comes back. Faults name a *target*: `clients`
 * (the client link), a shard (its two links with the coordinator) or `coordinator` (every link).
 */
import { FaultProxy, type Direction, type LinkFault } from './fault-proxy.ts';

export const CLIENTS_TARGET = 'clients';
export const COORDINATOR = 'coordinator';

/** Which way the lost or delayed bytes travel, seen from the target. */
export const FLOWS = ['both', 'into-target', 'out-of-target'] as const;
export type Flow = (typeof FLOWS)[number];

export class Network {
  readonly shards: readonly string[];
  readonly #proxies = new Map<string, FaultProxy>();

  private constructor(shards: readonly string[]) {
    this.shards = shards;
  }

  static async create(shards: readonly string[]): Promise<Network> {
    const net = new Network(shards);
    const names = [`${CLIENTS_TARGET}-${COORDINATOR}`];
    for (const s of shards) names.push(`${COORDINATOR}-${s}`, `${s}-${COORDINATOR}`);
    try {
      for (const name of names) {
        const proxy = new FaultProxy(name);
        await proxy.listen();
        net.#proxies.set(name, proxy);
      }
    } catch (err) {
      await net.close();
      throw err;
    }
    return net;
  }

  /** Where clients dial the coordinator. */
  get clientAddress(): string {
    return this.link(`${CLIENTS_TARGET}-${COORDINATOR}`).address;
  }

  /** What the coordinator is told a shard's participant listens on. */
  participantAddressFor(shard: string): string {
    return this.link(`${COORDINATOR}-${shard}`).address;
  }

  /** What a participant is told the coordinator listens on. */
  coordinatorAddressFor(shard: string): string {
    return this.link(`${shard}-${COORDINATOR}`).address;
  }

  /** The coordinator's real address, once known (after its first start). */
  setCoordinatorTarget(address: string): void {
    this.link(`${CLIENTS_TARGET}-${COORDINATOR}`).setTarget(address);
    for (const s of this.shards) this.link(`${s}-${COORDINATOR}`).setTarget(address);
  }

  setParticipantTarget(shard: string, address: string): void {
    this.link(`${COORDINATOR}-${shard}`).setTarget(address);
  }

  link(name: string): FaultProxy {
    const proxy = this.#proxies.get(name);
    if (!proxy) throw new Error(`no link ${name}`);
    return proxy;
  }

  links(): FaultProxy[] {
    return [...this.#proxies.values()];
  }

  /** Targets a network fault may name. */
  targets(): string[] {
    return [CLIENTS_TARGET, COORDINATOR, ...this.shards];
  }

  /**
   * Applies `fault` to the target's links in the given flow; returns the link directions touched,
   * as `LINK:DIRECTION`, for the report.
   */
  apply(target: string, flow: Flow, fault: LinkFault): string[] {
    const touched: string[] = [];
    for (const [proxy, dir] of this.#directions(target, flow)) {
      proxy.set(dir, fault);
      touched.push(`${proxy.name}:${dir}`);
    }
    return touched;
  }

  /** Heals the target's links (both directions). */
  heal(target: string): void {
    for (const [proxy, dir] of this.#directions(target, 'both')) proxy.set(dir, { kind: 'pass' });
  }

  healAll(): void {
    for (const proxy of this.#proxies.values()) proxy.heal();
  }

  async close(): Promise<void> {
    await Promise.all([...this.#proxies.values()].map((p) => p.close()));
  }

  /**
   * The (link, direction) pairs carrying bytes into or out of the target. For a link dialed BY the
   * target, `up` leaves it; for a link dialed TO it, `up` enters it.
   */
  #directions(target: string, flow: Flow): Array<[FaultProxy, Direction]> {
    const pairs: Array<[FaultProxy, Direction, 'in' | 'out']> = [];
    const add = (name: string, dialedByTarget: boolean) => {
      const proxy = this.link(name);
      pairs.push([proxy, 'up', dialedByTarget ? 'out' : 'in']);
      pairs.push([proxy, 'down', dialedByTarget ? 'in' : 'out']);
    };
    if (target === CLIENTS_TARGET) {
      add(`${CLIENTS_TARGET}-${COORDINATOR}`, true);
    } else if (target === COORDINATOR) {
      add(`${CLIENTS_TARGET}-${COORDINATOR}`, false);
      for (const s of this.shards) {
        add(`${COORDINATOR}-${s}`, true);
        add(`${s}-${COORDINATOR}`, false);
      }
    } else if (this.shards.includes(target)) {
      add(`${COORDINATOR}-${target}`, false);
      add(`${target}-${COORDINATOR}`, true);
    } else {
      throw new Error(`no network target ${target}`);
    }
    return pairs
      .filter(([, , way]) => flow === 'both' || (flow === 'into-target' ? way === 'in' : way === 'out'))
      .map(([p, d]) => [p, d]);
  }
}
