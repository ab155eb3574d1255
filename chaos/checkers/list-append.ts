/**
 * An Elle-style checker for list-append histories (after Kingsbury & Alvaro, "Elle: Inferring
 * Isolation Anomalies from Experimental Observations").
 *
 * Each transaction is a list of micro-ops: `['append', key, element]` adds an element to the end of the
 * list stored at key, `['r', key, list]` reads the whole list. Elements appended to one key are unique,
 * so every element names the transaction that wrote it, and because a read returns the whole list it
 * also shows the order of all earlier appends. From that, with no knowledge of the database:
 *
 * - version order: per key, every read must be a prefix of the longest one ("incompatible-order"
 *   otherwise); the longest read is the key's version order;
 * - dependencies between transactions: ww (T1 appended the element right before T2's), wr (T2 read a
 *   list whose last element T1 appended), rw (T1 read a list and T2 appended the element that comes
 *   next: T1 must precede T2), and, optionally, rt (T1 completed before T2 was invoked);
 * - a cycle of dependencies is a serializability violation: G0 (ww only), G1c (ww and wr), G-single
 *   (exactly one rw), G2 (two or more rw); with `-realtime` when it needs an rt edge;
 * - non-cycle anomalies: G1a (a read saw an element of a failed transaction), G1b (a read saw an
 *   element that was not its transaction's last append to that key), internal (a transaction's read
 *   disagrees with its own earlier reads and appends), lost-append (an acknowledged append missing from
 *   the last read of its key, invoked after the append was acknowledged), duplicate-elements,
 *   garbage-read (an element nobody appended).
 *
 * `info` transactions may or may not have committed: their appends count when observed, their reads
 * are unknown, and they are never treated as failed.
 */
import { pairInvocations, type CompletionType, type Op } from '../history.ts';
import { ANOMALIES_PER_TYPE_MAX_DEFAULT, AnomalyCollector, type Verdict } from './verdict.ts';
import { analyzeReads, collectTxns } from './list-append-reads.ts';
import { findDependencyCycles } from './list-append-cycles.ts';

export type Key = string | number;
export type Element = string | number;
export type AppendOp = readonly ['append', Key, Element];
/** The list is null on invoke (and on fail/info, where the result is unknown). */
export type ReadOp = readonly ['r', Key, readonly Element[] | null];
export type MicroOp = AppendOp | ReadOp;
/** A list-append history entry: f is 'txn', value the micro-ops. */
export type ListAppendOp = Op<readonly MicroOp[]>;
export const LIST_APPEND_F = 'txn';

/** Edge visits one strongly connected component may spend on classifying its cycles. */
export const CYCLE_SEARCH_STEPS_MAX_DEFAULT = 2_000_000;

export interface ListAppendOptions {
  /** Also require real-time order (strict serializability): adds rt edges. Default false. */
  readonly realtime?: boolean;
  /** Default CYCLE_SEARCH_STEPS_MAX_DEFAULT; a component that exhausts it still gets one cycle reported. */
  readonly cycleSearchStepsMax?: number;
  /** Default ANOMALIES_PER_TYPE_MAX_DEFAULT. */
  readonly anomaliesPerTypeMax?: number;
}

/** A transaction as a report shows it; `index` is its invoke entry's index in the history. */
export interface TxnRef {
  readonly index: number;
  readonly process: number;
  readonly type: CompletionType;
  readonly ops: readonly MicroOp[];
}

export const EDGE_KINDS = ['ww', 'wr', 'rw', 'rt'] as const;
export type EdgeKind = (typeof EDGE_KINDS)[number];

export interface CycleStep {
  readonly from: TxnRef;
  readonly to: TxnRef;
  readonly kind: EdgeKind;
  /** The key and element that gave the dependency (absent for rt). */
  readonly key?: Key;
  readonly element?: Element;
}

export const CYCLE_ANOMALY_TYPES = [
  'G0',
  'G1c',
  'G-single',
  'G2',
  'G0-realtime',
  'G1c-realtime',
  'G-single-realtime',
  'G2-realtime',
] as const;
export type CycleAnomalyType = (typeof CYCLE_ANOMALY_TYPES)[number];

export type ListAppendAnomaly =
  | { readonly type: CycleAnomalyType; readonly message: string; readonly cycle: readonly CycleStep[] }
  | {
      readonly type: 'G1a';
      readonly message: string;
      readonly reader: TxnRef;
      readonly writer: TxnRef;
      readonly key: Key;
      readonly element: Element;
    }
  | {
      readonly type: 'G1b';
      readonly message: string;
      readonly reader: TxnRef;
      readonly writer: TxnRef;
      readonly key: Key;
      readonly element: Element;
      readonly finalElement: Element;
    }
  | {
      readonly type: 'internal';
      readonly message: string;
      readonly txn: TxnRef;
      readonly key: Key;
      readonly expected: readonly Element[];
      readonly actual: readonly Element[];
    }
  | {
      readonly type: 'incompatible-order';
      readonly message: string;
      readonly key: Key;
      readonly reads: readonly { readonly txn: TxnRef; readonly list: readonly Element[] }[];
    }
  | {
      readonly type: 'lost-append';
      readonly message: string;
      readonly writer: TxnRef;
      readonly key: Key;
      readonly element: Element;
      readonly lastRead: TxnRef;
    }
  | {
      readonly type: 'duplicate-elements';
      readonly message: string;
      readonly txn: TxnRef;
      readonly key: Key;
      readonly list: readonly Element[];
    }
  | {
      readonly type: 'garbage-read';
      readonly message: string;
      readonly txn: TxnRef;
      readonly key: Key;
      readonly element: Element;
    };

export interface ListAppendStats {
  readonly txns: number;
  readonly ok: number;
  readonly fail: number;
  readonly info: number;
  readonly keys: number;
  readonly reads: number;
  readonly appends: number;
  /** Keys whose version order could not be inferred (incompatible orders, duplicates). */
  readonly unorderedKeys: number;
  readonly edges: number;
  /** Strongly connected components of two or more transactions: each one is a violation. */
  readonly cyclicComponents: number;
  /** Components whose classification ran out of search budget (one cycle is still reported). */
  readonly searchExhausted: number;
}

export type ListAppendVerdict = Verdict<ListAppendAnomaly, ListAppendStats>;

/** Judges the 'txn' entries of a history (other f's are ignored). Throws HistoryError if malformed. */
export function checkListAppend(history: readonly Op[], options: ListAppendOptions = {}): ListAppendVerdict {
  const collector = new AnomalyCollector<ListAppendAnomaly>(
    options.anomaliesPerTypeMax ?? ANOMALIES_PER_TYPE_MAX_DEFAULT,
  );
  const invocations = pairInvocations(history).filter((inv) => inv.f === LIST_APPEND_F);
  const { txns, keys } = collectTxns(invocations, collector);
  analyzeReads(keys, collector);
  const cycles = findDependencyCycles(txns, keys, collector, {
    realtime: options.realtime ?? false,
    cycleSearchStepsMax: options.cycleSearchStepsMax ?? CYCLE_SEARCH_STEPS_MAX_DEFAULT,
  });
  const count = (type: CompletionType): number => txns.filter((t) => t.ref.type === type).length;
  const stats: ListAppendStats = {
    txns: txns.length,
    ok: count('ok'),
    fail: count('fail'),
    info: count('info'),
    keys: keys.size,
    reads: [...keys.values()].reduce((n, k) => n + k.reads.length, 0),
    appends: [...keys.values()].reduce((n, k) => n + k.appends.size, 0),
    unorderedKeys: [...keys.values()].filter((k) => k.order === undefined).length,
    ...cycles,
  };
  return collector.verdict('list-append', stats, pickCounterexample);
}

/** The shortest cycle if there is one (the most convincing evidence), else the first anomaly found. */
function pickCounterexample(kept: readonly ListAppendAnomaly[]): ListAppendAnomaly | undefined {
  let best: ListAppendAnomaly | undefined;
  for (const a of kept) {
    if (!('cycle' in a)) continue;
    if (!best || !('cycle' in best) || a.cycle.length < best.cycle.length) best = a;
  }
  return best ?? kept[0];
}

/** How reports name a transaction: T<invoke index>. */
export function txnName(txn: TxnRef): string {
  return `T${txn.index}`;
}
