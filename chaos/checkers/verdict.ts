/**
 * What every checker returns. A checker is a pure function of recorded data; `valid` is true only when
 * it found no anomaly at all. Broken histories can hold thousands of anomalies of one type, so a verdict
 * keeps the first few of each type in full and counts every one.
 */

/** Anomalies kept in full per type; the rest are only counted (a report needs examples, not all). */
export const ANOMALIES_PER_TYPE_MAX_DEFAULT = 20;

export interface Anomaly {
  readonly type: string;
  /** One sentence a person can check by hand against the history. */
  readonly message: string;
}

export interface Verdict<A extends Anomaly = Anomaly, S = Readonly<Record<string, number>>> {
  readonly checker: string;
  readonly valid: boolean;
  /** At most `anomaliesPerTypeMax` of each type, in the order found. */
  readonly anomalies: readonly A[];
  /** Every anomaly found, by type (including those not kept in `anomalies`). */
  readonly anomalyCounts: Readonly<Record<string, number>>;
  /** The smallest, most convincing anomaly, for a summary line. Absent iff valid. */
  readonly counterexample?: A;
  readonly stats: S;
}

export class AnomalyCollector<A extends Anomaly> {
  readonly #kept: A[] = [];
  readonly #counts: Record<string, number> = {};
  readonly #perTypeMax: number;

  constructor(perTypeMax = ANOMALIES_PER_TYPE_MAX_DEFAULT) {
    this.#perTypeMax = perTypeMax;
  }

  add(anomaly: A): void {
    const count = (this.#counts[anomaly.type] ?? 0) + 1;
    this.#counts[anomaly.type] = count;
    if (count <= this.#perTypeMax) this.#kept.push(anomaly);
  }

  get total(): number {
    return Object.values(this.#counts).reduce((a, b) => a + b, 0);
  }

  /** `pick` chooses the counterexample among the kept anomalies; by default the first one found. */
  verdict<S>(
    checker: string,
    stats: S,
    pick: (kept: readonly A[]) => A | undefined = (kept) => kept[0],
  ): Verdict<A, S> {
    const valid = this.total === 0;
    const counterexample = valid ? undefined : pick(this.#kept);
    return {
      checker,
      valid,
      anomalies: [...this.#kept],
      anomalyCounts: { ...this.#counts },
      ...(counterexample === undefined ? {} : { counterexample }),
      stats,
    };
  }
}
