/**
 * A compact directed graph for dependency cycles: nodes are 0..n-1, each edge carries a bit mask of
 * kinds (one edge may be, say, both write-write and read-write) and, per kind, the first label that
 * explained it. Strongly connected components come from an iterative Tarjan (histories have tens of
 * thousands of transactions, too deep for recursion); inside a component a breadth-first search gives
 * a shortest cycle through a chosen edge, which is the minimal counter-example a report shows.
 */

/** Edge kinds are bit positions 0..7. */
export const EDGE_KINDS_MAX = 8;

interface PendingEdge<L> {
  readonly from: number;
  readonly to: number;
  mask: number;
  readonly labels: (L | undefined)[];
}

export class DigraphBuilder<L> {
  readonly #edges = new Map<number, PendingEdge<L>>();
  readonly nodeCount: number;

  constructor(nodeCount: number) {
    this.nodeCount = nodeCount;
  }

  /** Adds `kind` to the edge from→to; the first label per kind is kept. Self-loops are ignored. */
  addEdge(from: number, to: number, kind: number, label: L): void {
    if (kind < 0 || kind >= EDGE_KINDS_MAX) throw new RangeError(`edge kind ${kind} out of range`);
    if (from === to) return;
    const key = from * this.nodeCount + to;
    let edge = this.#edges.get(key);
    if (!edge) {
      edge = { from, to, mask: 0, labels: [] };
      this.#edges.set(key, edge);
    }
    const bit = 1 << kind;
    if ((edge.mask & bit) === 0) edge.labels[kind] = label;
    edge.mask |= bit;
  }

  build(): Digraph<L> {
    const n = this.nodeCount;
    const edges = [...this.#edges.values()].sort((a, b) => a.from - b.from || a.to - b.to);
    const offsets = new Int32Array(n + 1);
    for (const e of edges) offsets[e.from + 1]! += 1;
    for (let v = 0; v < n; v++) offsets[v + 1]! += offsets[v]!;
    return new Digraph(
      n,
      offsets,
      Int32Array.from(edges, (e) => e.from),
      Int32Array.from(edges, (e) => e.to),
      Uint8Array.from(edges, (e) => e.mask),
      edges.map((e) => e.labels),
    );
  }
}

/** Edges of node v are offsets[v]..offsets[v+1]-1, sorted by target. */
export class Digraph<L> {
  constructor(
    readonly nodeCount: number,
    readonly offsets: Int32Array,
    readonly sources: Int32Array,
    readonly targets: Int32Array,
    readonly masks: Uint8Array,
    readonly labels: readonly (readonly (L | undefined)[])[],
  ) {}

  get edgeCount(): number {
    return this.targets.length;
  }
}

export interface Components {
  /** Component id of each node, or -1 for a node on no cycle (alone in its component). */
  readonly componentOf: Int32Array;
  /** The members of each component of two or more nodes, by id. */
  readonly members: readonly Int32Array[];
}

/** Strongly connected components over the edges whose mask intersects `allowed` (iterative Tarjan). */
export function stronglyConnectedComponents(g: Digraph<unknown>, allowed: number): Components {
  const n = g.nodeCount;
  const order = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const stack = new Int32Array(n);
  const callNode = new Int32Array(n);
  const callEdge = new Int32Array(n);
  const componentOf = new Int32Array(n).fill(-1);
  const members: Int32Array[] = [];
  let counter = 0;
  let sp = 0;
  for (let root = 0; root < n; root++) {
    if (order[root] !== -1) continue;
    let depth = 0;
    const enter = (v: number): void => {
      order[v] = low[v] = counter++;
      stack[sp++] = v;
      onStack[v] = 1;
      callNode[depth] = v;
      callEdge[depth] = g.offsets[v]!;
      depth++;
    };
    enter(root);
    while (depth > 0) {
      const v = callNode[depth - 1]!;
      const e = callEdge[depth - 1]!;
      if (e < g.offsets[v + 1]!) {
        callEdge[depth - 1] = e + 1;
        if ((g.masks[e]! & allowed) === 0) continue;
        const w = g.targets[e]!;
        if (order[w] === -1) enter(w);
        else if (onStack[w]) low[v] = Math.min(low[v]!, order[w]!);
        continue;
      }
      depth--;
      if (depth > 0) {
        const parent = callNode[depth - 1]!;
        low[parent] = Math.min(low[parent]!, low[v]!);
      }
      if (low[v] !== order[v]) continue;
      let start = sp - 1;
      while (stack[start] !== v) start--;
      const component = stack.slice(start, sp);
      sp = start;
      for (const w of component) onStack[w] = 0;
      if (component.length < 2) continue;
      for (const w of component) componentOf[w] = members.length;
      members.push(component);
    }
  }
  return { componentOf, members };
}

/** A shared allowance of edge visits, so a pathological component cannot stall a checker. */
export interface SearchBudget {
  stepsLeft: number;
  exhausted: boolean;
}

/** Breadth-first searches that reuse their arrays (a stamp instead of clearing `seen`). */
export class PathFinder {
  readonly #g: Digraph<unknown>;
  readonly #seen: Int32Array;
  readonly #parentEdge: Int32Array;
  readonly #queue: Int32Array;
  #stamp = 0;

  constructor(g: Digraph<unknown>) {
    this.#g = g;
    this.#seen = new Int32Array(g.nodeCount);
    this.#parentEdge = new Int32Array(g.nodeCount);
    this.#queue = new Int32Array(g.nodeCount);
  }

  /**
   * A shortest path from→to over edges whose mask intersects `allowed`, through nodes for which
   * `inside` holds, as edge indices; undefined if there is none or the budget ran out.
   */
  shortestPath(
    from: number,
    to: number,
    allowed: number,
    inside: (v: number) => boolean,
    budget: SearchBudget,
  ): number[] | undefined {
    const g = this.#g;
    if (from === to) return [];
    const stamp = ++this.#stamp;
    this.#seen[from] = stamp;
    let head = 0;
    let tail = 0;
    this.#queue[tail++] = from;
    while (head < tail) {
      const v = this.#queue[head++]!;
      for (let e = g.offsets[v]!; e < g.offsets[v + 1]!; e++) {
        if (--budget.stepsLeft < 0) {
          budget.exhausted = true;
          return undefined;
        }
        const w = g.targets[e]!;
        if ((g.masks[e]! & allowed) === 0 || this.#seen[w] === stamp || !inside(w)) continue;
        this.#seen[w] = stamp;
        this.#parentEdge[w] = e;
        if (w === to) return this.#unwind(from, to);
        this.#queue[tail++] = w;
      }
    }
    return undefined;
  }

  #unwind(from: number, to: number): number[] {
    const path: number[] = [];
    for (let v = to; v !== from;) {
      const e = this.#parentEdge[v]!;
      path.push(e);
      v = this.#g.sources[e]!;
    }
    return path.reverse();
  }
}

export interface CycleQuery {
  /** Kinds the cycle's closing edge must have. */
  readonly closing: number;
  /** Kinds the rest of the cycle may use. */
  readonly path: number;
  /** Closing edges not to try (e.g. those already explained by a stricter query). */
  readonly skip?: (edge: number) => boolean;
}

export interface CycleSearchResult {
  /** The shortest cycle found, as edge indices starting with its closing edge. */
  readonly cycle: number[] | undefined;
  /** Every closing edge that closed some cycle. */
  readonly closed: Set<number>;
}

/**
 * Tries every qualifying closing edge a→b inside one component and keeps the shortest cycle
 * a→b⇝a; stops early at a two-edge cycle, which nothing can beat.
 */
export function shortestCycle(
  g: Digraph<unknown>,
  finder: PathFinder,
  components: Components,
  component: number,
  query: CycleQuery,
  budget: SearchBudget,
): CycleSearchResult {
  const inside = (v: number): boolean => components.componentOf[v] === component;
  const closed = new Set<number>();
  let best: number[] | undefined;
  for (const a of components.members[component] ?? []) {
    for (let e = g.offsets[a]!; e < g.offsets[a + 1]!; e++) {
      if ((g.masks[e]! & query.closing) === 0 || !inside(g.targets[e]!) || query.skip?.(e)) continue;
      const path = finder.shortestPath(g.targets[e]!, a, query.path, inside, budget);
      if (budget.exhausted) return { cycle: best, closed };
      if (!path) continue;
      closed.add(e);
      if (!best || path.length + 1 < best.length) best = [e, ...path];
      if (best.length === 2) return { cycle: best, closed };
    }
  }
  return { cycle: best, closed };
}
