/**
 * Seeded randomness for the simulator. Each concern (network, faults, workload, each node's jitter,
 * transaction ids) draws from its own stream derived from the seed and the stream's name, so a change
 * in how often one concern draws does not reshuffle every other one.
 */
import { seededRandom, type Random } from '../../common/random.ts';
import type { EntropySource } from '../../coordinator/txn-id.ts';

/** A stream of its own for `name`, fixed by `seed`. */
export function deriveRandom(seed: number, name: string): Random {
  // FNV-1a over the name, mixed with the seed: cheap, and different names give unrelated streams.
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= Math.imul(seed >>> 0, 0x9e3779b1);
  return seededRandom(h >>> 0);
}

/** Random bytes from a seeded stream (for transaction ids: unique enough within one run). */
export function entropyFrom(random: Random): EntropySource {
  return (n) => {
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) bytes[i] = Math.floor(random.next() * 256);
    return bytes;
  };
}

/** Uniform in [min, max], rounded to an integer. */
export function uniformInt(random: Random, min: number, max: number): number {
  return Math.round(min + random.next() * (max - min));
}
