/**
 * The second half of the list-append checker: dependencies between transactions from each key's
 * version order, then one shortest cycle per anomaly class in every strongly connected component.
 *
 * A cycle's class follows from the kinds of its edges: G0 uses ww only, G1c needs wr but no rw,
 * G-single has exactly one rw, G2 two or more; any rt edge adds `-realtime`. Searches run from the
 * strictest class to the weakest, each restricted to the edges that class allows, so the class reported
 * is the strongest claim the evidence supports. A component is a violation whatever the search finds;
 * the search only picks the example.
 */
import {
  DigraphBuilder,
  PathFinder,
  shortestCycle,
  stronglyConnectedComponents,
  type Components,
  type Digraph,
  type SearchBudget,
} from './graph.ts';
import type { AnomalyCollector } from './verdict.ts';
import type { KeyHistory, Txn } from './list-append-reads.ts';
import {
  CYCLE_ANOMALY_TYPES,
  EDGE_KINDS,
  txnName,
  type CycleAnomalyType,
  type CycleStep,
  type EdgeKind,
  type Element,
  type Key,
  type ListAppendAnomaly,
} from './list-append.ts';

/** Edge kinds are bit positions, in EDGE_KINDS order. */
const WW = 0;
const WR = 1;
const RW = 2;
const RT = 3;
const bit = (kind: number): number => 1 << kind;

interface EdgeLabel {
  readonly key?: Key;
  readonly element?: Element;
}

export interface CycleSearchOptions {
  readonly realtime: boolean;
  readonly cycleSearchStepsMax: number;
}

export interface CycleSearchStats {
  readonly edges: number;
  readonly cyclicComponents: number;
  readonly searchExhausted: number;
}

export function findDependencyCycles(
  txns: readonly Txn[],
  keys: ReadonlyMap<Key, KeyHistory>,
  collector: AnomalyCollector<ListAppendAnomaly>,
  options: CycleSearchOptions,
): CycleSearchStats {
  const builder = new DigraphBuilder<EdgeLabel>(txns.length);
  for (const [key, kh] of keys) addKeyEdges(builder, key, kh);
  if (options.realtime) addRealtimeEdges(builder, txns);
  const g = builder.build();
  const allKinds = bit(WW) | bit(WR) | bit(RW) | (options.realtime ? bit(RT) : 0);
  const components = stronglyConnectedComponents(g, allKinds);
  const finder = new PathFinder(g);
  let searchExhausted = 0;
  for (let c = 0; c < components.members.length; c++) {
    const search = new ComponentSearch(g, finder, components, c, options.cycleSearchStepsMax);
    search.classify(0);
    if (search.best.size === 0 && options.realtime) search.classify(bit(RT));
    if (search.best.size === 0) search.anyCycle(allKinds);
    if (search.exhausted) searchExhausted++;
    for (const type of CYCLE_ANOMALY_TYPES) {
      const steps = search.best.get(type);
      if (steps) collector.add(cycleAnomaly(type, steps, txns, g));
    }
  }
  return { edges: g.edgeCount, cyclicComponents: components.members.length, searchExhausted };
}

/** ww between neighbours in the version order; wr from a read's last element's writer; rw to the next one's. */
function addKeyEdges(builder: DigraphBuilder<EdgeLabel>, key: Key, kh: KeyHistory): void {
  const order = kh.order;
  if (!order) return;
  // Failed transactions are not in the graph (their elements are G1a); garbage has no writer.
  const writer = (element: Element): Txn | undefined => {
    const site = kh.appends.get(element);
    return site && site.txn.ref.type !== 'fail' ? site.txn : undefined;
  };
  let previous: Txn | undefined;
  for (const element of order) {
    const w = writer(element);
    if (!w) continue;
    if (previous) builder.addEdge(previous.node, w.node, WW, { key, element });
    previous = w;
  }
  for (const read of kh.reads) {
    const last = read.external.at(-1);
    const w = last === undefined ? undefined : writer(last);
    if (w) builder.addEdge(w.node, read.txn.node, WR, { key, element: last });
    for (let i = read.external.length; i < order.length; i++) {
      const next = writer(order[i]!);
      if (!next) continue;
      builder.addEdge(read.txn.node, next.node, RW, { key, element: order[i] });
      break;
    }
  }
}

/**
 * T1 -rt-> T2 when T1 was acknowledged before T2 was invoked, kept small by transitivity: each
 * invocation links only from the "frontier", the acknowledged transactions not yet known to precede
 * another acknowledged one. Info transactions never complete, so they have no rt successors.
 */
function addRealtimeEdges(builder: DigraphBuilder<EdgeLabel>, txns: readonly Txn[]): void {
  const events: { at: number; txn: Txn; invoked: boolean }[] = [];
  for (const txn of txns) {
    if (txn.ref.type === 'fail') continue;
    events.push({ at: txn.ref.index, txn, invoked: true });
    if (txn.okAt !== undefined) events.push({ at: txn.okAt, txn, invoked: false });
  }
  events.sort((a, b) => a.at - b.at);
  const frontier = new Set<Txn>();
  const predecessors = new Map<Txn, Txn[]>();
  for (const { txn, invoked } of events) {
    if (invoked) {
      const before = [...frontier];
      predecessors.set(txn, before);
      for (const p of before) builder.addEdge(p.node, txn.node, RT, {});
      continue;
    }
    for (const p of predecessors.get(txn) ?? []) frontier.delete(p);
    frontier.add(txn);
  }
}

/** The shortest cycle of each class found in one component, as kinded steps. */
class ComponentSearch {
  readonly best = new Map<CycleAnomalyType, { edge: number; kind: EdgeKind }[]>();
  exhausted = false;

  constructor(
    private readonly g: Digraph<EdgeLabel>,
    private readonly finder: PathFinder,
    private readonly components: Components,
    private readonly component: number,
    private readonly stepsMax: number,
  ) {}

  /** The four class searches; `extra` adds kinds every path may use (rt). */
  classify(extra: number): void {
    const ww = bit(WW) | extra;
    const wwWr = bit(WW) | bit(WR) | extra;
    this.#search(bit(WW), ww);
    this.#search(bit(WR), wwWr);
    const single = this.#search(bit(RW), wwWr);
    // Only rw edges that close no cycle without another rw can witness G2.
    this.#search(bit(RW), wwWr | bit(RW), (e) => single.has(e));
  }

  /** Any one cycle, with a budget that always suffices: one breadth-first search of the component. */
  anyCycle(allKinds: number): void {
    let steps = 1;
    for (const v of this.components.members[this.component] ?? [])
      steps += this.g.offsets[v + 1]! - this.g.offsets[v]!;
    this.#search(allKinds, allKinds, undefined, steps);
  }

  #search(
    closing: number,
    path: number,
    skip?: (edge: number) => boolean,
    stepsMax = this.stepsMax,
  ): Set<number> {
    const budget: SearchBudget = { stepsLeft: stepsMax, exhausted: false };
    const query = skip ? { closing, path, skip } : { closing, path };
    const result = shortestCycle(this.g, this.finder, this.components, this.component, query, budget);
    if (budget.exhausted) this.exhausted = true;
    if (result.cycle) {
      const steps = result.cycle.map((edge, i) => ({
        edge,
        kind: kindOf(this.g.masks[edge]!, i === 0 ? closing : path),
      }));
      const type = classOf(steps.map((s) => s.kind));
      const kept = this.best.get(type);
      if (!kept || steps.length < kept.length) this.best.set(type, steps);
    }
    return result.closed;
  }
}

/** The strongest dependency an edge gives among the allowed kinds (ww over wr over rw over rt). */
function kindOf(mask: number, allowed: number): EdgeKind {
  for (let k = 0; k < EDGE_KINDS.length; k++) if (mask & allowed & bit(k)) return EDGE_KINDS[k]!;
  throw new Error(`edge mask ${mask} has none of the allowed kinds ${allowed}`);
}

function classOf(kinds: readonly EdgeKind[]): CycleAnomalyType {
  const rw = kinds.filter((k) => k === 'rw').length;
  const base = rw === 0 ? (kinds.includes('wr') ? 'G1c' : 'G0') : rw === 1 ? 'G-single' : 'G2';
  return kinds.includes('rt') ? `${base}-realtime` : base;
}

function cycleAnomaly(
  type: CycleAnomalyType,
  steps: readonly { edge: number; kind: EdgeKind }[],
  txns: readonly Txn[],
  g: Digraph<EdgeLabel>,
): ListAppendAnomaly {
  const cycle: CycleStep[] = steps.map(({ edge, kind }) => {
    const label = g.labels[edge]?.[EDGE_KINDS.indexOf(kind)] ?? {};
    return {
      from: txns[g.sources[edge]!]!.ref,
      to: txns[g.targets[edge]!]!.ref,
      kind,
      ...(label.key === undefined ? {} : { key: label.key }),
      ...(label.element === undefined ? {} : { element: label.element }),
    };
  });
  const arrows = cycle.map(
    (s) => ` -${s.kind}${s.key === undefined ? '' : `(${s.key}:${s.element})`}-> ${txnName(s.to)}`,
  );
  return { type, message: `${txnName(cycle[0]!.from)}${arrows.join('')}`, cycle };
}
