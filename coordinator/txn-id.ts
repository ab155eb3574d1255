/**
 * Transaction ids: `tx_` + 12 hex digits of wall-clock ms + 20 hex digits (80 bits) of cryptographic
 * randomness. Unique across coordinators and restarts without coordination (a collision needs two ids
 * in the same millisecond with the same 80 random bits), and time-ordered, so sorting ids sorts
 * transactions by start time and ListTransactions can page by id. Within one millisecond a generator
 * does not draw again: it adds 1 to the previous id's random part (as ULID's monotonic mode does), so
 * one coordinator's ids are strictly increasing in the order it made them, not only by millisecond.
 *
 * The random part comes from `crypto.randomFillSync` (in blocks) unless the caller injects a source: the
 * deterministic simulator (chaos/simulation/) passes a seeded one, so a seed replays the same ids,
 * hence the same id order wherever ids are sorted (in-doubt lists, log listings).
 */
import { randomFillSync } from 'node:crypto';

const TXN_ID_PATTERN = /^tx_[0-9a-f]{32}$/;
const timestampHexDigits = 12;
const randomBytesPerId = 10;

/** A source of `n` random bytes. */
export type EntropySource = (n: number) => Uint8Array;

/** Ids per refill of the pooled source: one `randomFillSync` call serves this many ids. */
const pooledIdsPerRefill = 256;

/**
 * Cryptographic randomness drawn in blocks: one kernel call per `pooledIdsPerRefill` ids instead of
 * one per id (it showed up in the coordinator's profile). Every byte is handed out once.
 */
function pooledEntropy(): EntropySource {
  const pool = Buffer.alloc(randomBytesPerId * pooledIdsPerRefill);
  let offset = pool.length;
  return (n) => {
    if (n > pool.length) return randomFillSync(Buffer.alloc(n));
    if (offset + n > pool.length) {
      randomFillSync(pool);
      offset = 0;
    }
    const out = Buffer.from(pool.subarray(offset, offset + n));
    offset += n;
    return out;
  };
}

export class TxnIdGenerator {
  private lastMs = 0;
  /** The random part of the last id, big-endian; incremented for the next id in the same ms. */
  private lastRandom: Uint8Array | undefined;

  /** `entropy` defaults to pooled crypto randomness; only a simulation should pass a seeded one. */
  constructor(private readonly entropy: EntropySource = pooledEntropy()) {}

  /** `nowMs` is the coordinator's clock; a clock stepping backwards never makes ids go backwards. */
  next(nowMs: number): string {
    const ms = Math.floor(nowMs);
    let random: Uint8Array;
    if (ms > this.lastMs || this.lastRandom === undefined) {
      this.lastMs = Math.max(this.lastMs, ms);
      random = Uint8Array.from(this.entropy(randomBytesPerId));
    } else if (increment(this.lastRandom)) {
      random = this.lastRandom;
    } else {
      // 2^80 ids in one millisecond: move to the next one, as if the clock had.
      this.lastMs++;
      random = Uint8Array.from(this.entropy(randomBytesPerId));
    }
    this.lastRandom = random;
    const time = this.lastMs.toString(16).padStart(timestampHexDigits, '0');
    return `tx_${time}${Buffer.from(random.buffer, random.byteOffset, random.byteLength).toString('hex')}`;
  }
}

/** Adds 1 to a big-endian number in place; false (and all zeros) when it overflowed. */
function increment(bytes: Uint8Array): boolean {
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i] !== 0xff) {
      bytes[i] = (bytes[i] as number) + 1;
      return true;
    }
    bytes[i] = 0;
  }
  return false;
}

/** True for a string shaped like an id this coordinator could have made. */
export function isTxnId(value: string): boolean {
  return TXN_ID_PATTERN.test(value);
}

/** The wall-clock ms an id was made at. */
export function txnIdTimeMs(txnId: string): number {
  return Number.parseInt(txnId.slice(3, 3 + timestampHexDigits), 16);
}
