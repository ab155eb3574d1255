/**
 * Seeded randomness for tests, chaos and simulation: the same seed gives the same sequence, and every
 * failure prints the seed that reproduces it.
 */
export interface Random {
  readonly seed: number;
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max] inclusive. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
}

/** mulberry32: small, fast, good enough for scheduling and workloads (not for cryptography). */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[Math.floor(next() * items.length)] as (typeof items)[number];
    },
  };
}

/** The seed for this run: TWOPC_SEED if set, else a fresh one (print it!). */
export function seedFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.TWOPC_SEED;
  if (raw !== undefined && /^\d+$/.test(raw)) return Number(raw) >>> 0;
  return Math.floor(Math.random() * 2 ** 31);
}
