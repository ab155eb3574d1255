/**
 * A TCP proxy for one link of the cluster (e.g. coordinator → shard-a), with a fault per direction.
 * `up` is what the dialing side sends (requests), `down` what comes back (replies).
 *
 * - pass: bytes are forwarded as they arrive.
 * - latency(ms): every chunk is forwarded `ms` after it arrived, never before an earlier chunk (order
 *   is preserved even when the latency changes under it).
 * - blackhole: bytes are accepted from the sender and held, nothing is forwarded — as on a partitioned
 *   network, where the sender's packets go nowhere. When the fault heals the held bytes are delivered,
 *   as TCP retransmission would; a connection that gave up meanwhile (gRPC keepalive, a deadline) is
 *   closed by its owner and its held bytes go with it. Discarding them instead would cut an HTTP/2
 *   stream mid-frame, which no real network does to an established connection.
 * - drop: every connection of the link is reset (RST) and new ones are reset on accept, so the dialer
 *   sees ECONNRESET at once. TCP has no one-way reset: `drop` on either direction drops the link.
 *
 * Held bytes are bounded per connection direction: past `heldBytesMax` the proxy stops reading the
 * sender, which then feels back-pressure like a full TCP window, and memory stays bounded.
 */
import net from 'node:net';
import { Connection, resetSocket } from './proxied-connection.ts';

export { heldBytesMax } from './proxied-connection.ts';

export const DIRECTIONS = ['up', 'down'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export type LinkFault =
  | { readonly kind: 'pass' }
  | { readonly kind: 'blackhole' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'latency'; readonly ms: number };

export const PASS: LinkFault = Object.freeze({ kind: 'pass' });

/** A latency above this is a partition, not a delay: refuse it. */
export const latencyMsMax = 60_000;

export interface ProxyStats {
  readonly accepted: number;
  /** Connections reset on accept (drop, or no target yet) or by a drop fault. */
  readonly reset: number;
  readonly open: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
}


export class FaultProxy {
  readonly name: string;
  #server: net.Server | undefined;
  #address: string | undefined;
  #target: { host: string; port: number } | undefined;
  readonly #faults: Record<Direction, LinkFault> = { up: PASS, down: PASS };
  readonly #connections = new Set<Connection>();
  readonly #counts = { accepted: 0, reset: 0, bytesUp: 0, bytesDown: 0 };

  constructor(name: string) {
    this.name = name;
  }

  /** Listens (port 0 = any free port) and resolves with HOST:PORT. */
  async listen(host = '127.0.0.1', port = 0): Promise<string> {
    if (this.#server) throw new Error(`proxy ${this.name} already listening`);
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => this.#accept(s));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address() as net.AddressInfo;
    this.#address = `${a.address}:${a.port}`;
    return this.#address;
  }

  get address(): string {
    if (this.#address === undefined) throw new Error(`proxy ${this.name} is not listening`);
    return this.#address;
  }

  /** Where connections go (HOST:PORT); until set, connections are reset on accept. */
  setTarget(hostPort: string): void {
    const colon = hostPort.lastIndexOf(':');
    const port = Number(hostPort.slice(colon + 1));
    if (colon <= 0 || !Number.isInteger(port) || port <= 0) throw new Error(`bad target ${hostPort}`);
    this.#target = { host: hostPort.slice(0, colon), port };
  }

  fault(direction: Direction): LinkFault {
    return this.#faults[direction];
  }

  /** Sets one direction's fault; `drop` resets every open connection now. */
  set(direction: Direction, fault: LinkFault): void {
    if (
      fault.kind === 'latency' &&
      !(Number.isInteger(fault.ms) && fault.ms >= 0 && fault.ms <= latencyMsMax)
    )
      throw new Error(`latency must be an integer from 0 to ${latencyMsMax} ms, got ${fault.ms}`);
    this.#faults[direction] = fault;
    if (this.#dropping()) {
      for (const c of [...this.#connections]) c.reset();
      return;
    }
    for (const c of this.#connections) c.pump(direction);
  }

  /** Both directions back to pass; held bytes are delivered. */
  heal(): void {
    for (const d of DIRECTIONS) this.set(d, PASS);
  }

  stats(): ProxyStats {
    return { ...this.#counts, open: this.#connections.size };
  }

  async close(): Promise<void> {
    for (const c of [...this.#connections]) c.destroy();
    const server = this.#server;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #dropping(): boolean {
    return this.#faults.up.kind === 'drop' || this.#faults.down.kind === 'drop';
  }

  #accept(client: net.Socket): void {
    this.#counts.accepted++;
    if (this.#dropping() || this.#target === undefined) {
      this.#counts.reset++;
      client.on('error', () => {});
      resetSocket(client);
      return;
    }
    const upstream = net.connect({ ...this.#target, allowHalfOpen: true, noDelay: true });
    const connection = new Connection(client, upstream, {
      fault: (d) => this.#faults[d],
      counted: (d, n) => {
        if (d === 'up') this.#counts.bytesUp += n;
        else this.#counts.bytesDown += n;
      },
      onReset: () => this.#counts.reset++,
      onClosed: (c) => this.#connections.delete(c),
    });
    this.#connections.add(connection);
  }
}
