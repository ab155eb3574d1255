/**
 * Property tests for the list-append checker. A model runs random transactions one after another
 * (a serial execution, so always serializable, also in real time), with some failing (not applied) and
 * some of unknown outcome (applied or not); the checker must accept every such history, also when the
 * invocations overlap. Then one anomaly is injected — into existing transactions, on fresh keys so the
 * injected evidence is unambiguous amid the noise — and the checker must report it.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkListAppend, type Element, type MicroOp } from '../../chaos/checkers/list-append.ts';
import type { CompletionType } from '../../chaos/history.ts';
import { append, ListAppendHistory, read, type OpenTxn } from './histories.ts';

interface ModelTxn {
  type: CompletionType;
  ops: MicroOp[];
}

/** Transactions in serial order; the last one reads every key (the harness's final read). */
interface Model {
  txns: ModelTxn[];
}

const KEYS = ['k0', 'k1', 'k2', 'k3'] as const;
/** fast-check prints the seed of a failure; TWOPC_SEED=<seed> replays it. */
const SEED = Number(process.env.TWOPC_SEED ?? Date.now() % 2 ** 31);

const specArb = fc.record({
  type: fc.constantFrom<CompletionType>('ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'fail', 'info'),
  infoApplied: fc.boolean(),
  micro: fc.array(fc.record({ append: fc.boolean(), key: fc.constantFrom(...KEYS) }), {
    minLength: 1,
    maxLength: 5,
  }),
});

const modelArb: fc.Arbitrary<Model> = fc.array(specArb, { minLength: 2, maxLength: 30 }).map((specs) => {
  const state = new Map<string, Element[]>(KEYS.map((k) => [k, []]));
  let next = 1;
  const txns: ModelTxn[] = specs.map((spec) => {
    const local = new Map([...state].map(([k, list]) => [k, [...list]]));
    const ops: MicroOp[] = spec.micro.map(({ append: isAppend, key }) => {
      const list = local.get(key)!;
      if (isAppend) {
        list.push(next);
        return append(key, next++);
      }
      return spec.type === 'ok' ? read(key, [...list]) : (['r', key, null] as const);
    });
    if (spec.type === 'ok' || (spec.type === 'info' && spec.infoApplied))
      for (const [k, list] of local) state.set(k, list);
    return { type: spec.type, ops };
  });
  txns.push({ type: 'ok', ops: KEYS.map((k) => read(k, state.get(k)!)) });
  return { txns };
});

/** Renders a model serially, or with up to `overlap` transactions in flight (still in serial order). */
function render(model: Model, overlap = 0): ListAppendHistory {
  const h = new ListAppendHistory();
  const open: { txn: OpenTxn; type: CompletionType }[] = [];
  for (const t of model.txns) {
    open.push({ txn: h.begin(t.ops), type: t.type });
    while (open.length > overlap) {
      const o = open.shift()!;
      o.txn.end(o.type);
    }
  }
  for (const o of open) o.txn.end(o.type);
  return h;
}

/** Two ok transactions T(i) before T(j), not the final read; adds empty ones if there are too few. */
function okPair(model: Model, a: number, b: number): [ModelTxn, ModelTxn] {
  const final = model.txns.pop()!;
  while (model.txns.filter((t) => t.type === 'ok').length < 2) model.txns.push({ type: 'ok', ops: [] });
  model.txns.push(final);
  const ok = model.txns.slice(0, -1).filter((t) => t.type === 'ok');
  let i = a % ok.length;
  let j = b % ok.length;
  if (i === j) j = (i + 1) % ok.length;
  if (i > j) [i, j] = [j, i];
  return [ok[i]!, ok[j]!];
}

function finalRead(model: Model): MicroOp[] {
  return model.txns.at(-1)!.ops;
}

type Mutation = (model: Model, a: number, b: number) => void;

/** Each mutation injects one anomaly; the key is the anomaly type the checker must report. */
const MUTATIONS: Record<string, Mutation> = {
  G0: (m, a, b) => {
    const [ti, tj] = okPair(m, a, b);
    ti.ops.push(append('p', 1), append('q', 1));
    tj.ops.push(append('p', 2), append('q', 2));
    finalRead(m).push(read('p', [1, 2]), read('q', [2, 1]));
  },
  G1c: (m, a, b) => {
    const [ti, tj] = okPair(m, a, b);
    ti.ops.push(append('p', 1), read('q', [1]));
    tj.ops.push(append('q', 1), read('p', [1]));
  },
  'G-single': (m, a, b) => {
    const [ti, tj] = okPair(m, a, b);
    ti.ops.push(append('p', 1), append('q', 1));
    tj.ops.push(read('p', [1]), read('q', []));
    finalRead(m).push(read('q', [1]));
  },
  G2: (m, a, b) => {
    const [ti, tj] = okPair(m, a, b);
    ti.ops.push(read('p', []), append('q', 1));
    tj.ops.push(read('q', []), append('p', 1));
    finalRead(m).push(read('p', [1]), read('q', [1]));
  },
  G1a: (m, a) => {
    const at = a % (m.txns.length - 1);
    m.txns.splice(at, 0, { type: 'fail', ops: [append('p', 1)] });
    finalRead(m).push(read('p', [1]));
  },
  G1b: (m, a, b) => {
    const [ti, tj] = okPair(m, a, b);
    ti.ops.push(append('p', 1), append('p', 2));
    tj.ops.push(read('p', [1]));
    finalRead(m).push(read('p', [1, 2]));
  },
  'incompatible-order': (m, a, b) => {
    const [ti, tj] = okPair(m, a, b);
    ti.ops.push(append('p', 1));
    tj.ops.push(append('p', 2), read('p', [1, 2]));
    finalRead(m).push(read('p', [2, 1]));
  },
  'lost-append': (m, a) => {
    // Drop the last element of an existing key's final read when an acknowledged txn appended it.
    const reads = finalRead(m).filter((op) => op[0] === 'r' && (op[2]?.length ?? 0) > 0);
    const okAppended = okAppends(m);
    const target = reads
      .map((op, i) => reads[(i + a) % reads.length]!)
      .find((op) => okAppended.has(`${op[1]}:${(op[2] as Element[]).at(-1)}`));
    if (target) {
      const ops = finalRead(m);
      ops[ops.indexOf(target)] = read(target[1] as string, (target[2] as number[]).slice(0, -1));
      return;
    }
    const [ti] = okPair(m, a, a + 1);
    ti.ops.push(append('p', 1));
    finalRead(m).push(read('p', []));
  },
  'duplicate-elements': (m, a, b) => {
    okPair(m, a, b)[0].ops.push(append('p', 1));
    finalRead(m).push(read('p', [1, 1]));
  },
  'garbage-read': (m) => {
    finalRead(m).push(read('p', [99]));
  },
  internal: (m, a, b) => {
    okPair(m, a, b)[1].ops.push(append('p', 1), read('p', []));
  },
};

/** Appended elements of acknowledged transactions, as 'key:element'. */
function okAppends(m: Model): Set<string> {
  const ok = m.txns.filter((t) => t.type === 'ok');
  return new Set(
    ok.flatMap((t) => t.ops.filter((op) => op[0] === 'append').map((op) => `${op[1]}:${op[2]}`)),
  );
}

/**
 * Truncates an ok read whose last element an acknowledged transaction appended (necessarily earlier,
 * in a serial run): the read is then stale in real time.
 */
function staleRead(m: Model, a: number): boolean {
  const acknowledged = okAppends(m);
  const candidates: { txn: ModelTxn; at: number }[] = [];
  for (const txn of m.txns.slice(0, -1)) {
    if (txn.type !== 'ok') continue;
    const firstTouch = new Set<string>();
    txn.ops.forEach((op, at) => {
      const fresh = !firstTouch.has(op[1] as string);
      firstTouch.add(op[1] as string);
      // Only a txn's first op on a key, so its own later ops stay consistent with what it saw.
      if (!fresh || op[0] !== 'r' || !acknowledged.has(`${op[1]}:${op[2]?.at(-1)}`)) return;
      if (!txn.ops.some((o, k) => k > at && o[1] === op[1])) candidates.push({ txn, at });
    });
  }
  const pick = candidates[a % Math.max(1, candidates.length)];
  if (!pick) return false;
  const op = pick.txn.ops[pick.at]!;
  pick.txn.ops[pick.at] = read(op[1] as string, (op[2] as number[]).slice(0, -1));
  return true;
}

describe('list-append checker, property-based', () => {
  it('accepts every serial execution, rendered serially or overlapping', () => {
    fc.assert(
      fc.property(modelArb, fc.integer({ min: 0, max: 4 }), fc.boolean(), (model, overlap, realtime) => {
        const v = checkListAppend(render(model, overlap).ops, { realtime });
        expect(v.valid, JSON.stringify(v.anomalies)).toBe(true);
      }),
      { numRuns: 300, seed: SEED },
    );
  });

  it('finds every injected anomaly', () => {
    fc.assert(
      fc.property(
        modelArb,
        fc.constantFrom(...Object.keys(MUTATIONS)),
        fc.nat(),
        fc.nat(),
        fc.boolean(),
        (model, name, a, b, realtime) => {
          MUTATIONS[name]!(model, a, b);
          const v = checkListAppend(render(model).ops, { realtime });
          expect(v.valid).toBe(false);
          expect(Object.keys(v.anomalyCounts), JSON.stringify(v.anomalies)).toContain(name);
        },
      ),
      { numRuns: 500, seed: SEED },
    );
  });

  it('finds a stale read once real-time order is required', () => {
    fc.assert(
      fc.property(modelArb, fc.nat(), (model, a) => {
        if (!staleRead(model, a)) return;
        const v = checkListAppend(render(model).ops, { realtime: true });
        expect(v.valid).toBe(false);
        const cycles = ['G-single', 'G2', 'G-single-realtime', 'G2-realtime'];
        expect(
          Object.keys(v.anomalyCounts).some((t) => cycles.includes(t)),
          JSON.stringify(v.anomalyCounts),
        ).toBe(true);
      }),
      { numRuns: 300, seed: SEED },
    );
  });
});
