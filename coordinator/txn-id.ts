/**
 * Transaction ids: `tx_` + 12 hex digits of wall-clock ms + 20 hex digits (80 bits) of cryptographic
 * randomness. Unique across coordinators and restarts without coordination (a collision needs two ids
 * in the same millisecond with the same 80 random bits), and time-ordered, so sorting ids sorts
 * transactions by start time and ListTransactions can page by id.
 *
 * The random part comes from `crypto.randomBytes` unless the caller injects a source: the
 * deterministic simulator (chaos/simulation/) passes a seeded one, so a seed replays the same ids,
 * hence the same id order wherever ids are sorted (in-doubt lists, log listings).
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto';

const TXN_ID_PATTERN = /^tx_[0-9a-f]{32}$/;
const timestampHexDigits = 12;
const randomBytesPerId = 10;

/** A source of `n` random bytes. */
export type EntropySource = (n: number) => Uint8Array;

export class TxnIdGenerator {
  private lastMs = 0;

  /** `entropy` defaults to crypto.randomBytes; only a simulation should pass a seeded one. */
  constructor(private readonly entropy: EntropySource = cryptoRandomBytes) {}

  /** `nowMs` is the coordinator's clock; a clock stepping backwards never makes ids go backwards. */
  next(nowMs: number): string {
    this.lastMs = Math.max(this.lastMs, Math.floor(nowMs));
    const time = this.lastMs.toString(16).padStart(timestampHexDigits, '0');
    return `tx_${time}${Buffer.from(this.entropy(randomBytesPerId)).toString('hex')}`;
  }
}

/** True for a string shaped like an id this coordinator could have made. */
export function isTxnId(value: string): boolean {
  return TXN_ID_PATTERN.test(value);
}

/** The wall-clock ms an id was made at. */
export function txnIdTimeMs(txnId: string): number {
  return Number.parseInt(txnId.slice(3, 3 + timestampHexDigits), 16);
}
