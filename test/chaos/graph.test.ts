import { describe, expect, it } from 'vitest';
import {
  DigraphBuilder,
  PathFinder,
  shortestCycle,
  stronglyConnectedComponents,
  type Digraph,
} from '../../chaos/checkers/graph.ts';

const A = 1; // kind 0
const B = 2; // kind 1

function graph(n: number, edges: readonly [number, number, number][]): Digraph<string> {
  const b = new DigraphBuilder<string>(n);
  for (const [from, to, kind] of edges) b.addEdge(from, to, kind, `${from}>${to}`);
  return b.build();
}

function componentSets(g: Digraph<string>, allowed: number): number[][] {
  return stronglyConnectedComponents(g, allowed)
    .members.map((m) => [...m].sort((x, y) => x - y))
    .sort((x, y) => x[0]! - y[0]!);
}

describe('graph', () => {
  it('merges kinds on one edge, keeps the first label per kind, ignores self-loops', () => {
    const b = new DigraphBuilder<string>(2);
    b.addEdge(0, 1, 0, 'first');
    b.addEdge(0, 1, 0, 'second');
    b.addEdge(0, 1, 1, 'other kind');
    b.addEdge(1, 1, 0, 'self');
    const g = b.build();
    expect(g.edgeCount).toBe(1);
    expect(g.masks[0]).toBe(A | B);
    expect(g.labels[0]).toEqual(['first', 'other kind']);
  });

  it('finds strongly connected components, only over allowed kinds', () => {
    // 0 <-> 1 by kind A; 1 -> 2 (A), 2 -> 1 (B); 3 -> 4 -> 3 (A); 5 alone.
    const g = graph(6, [
      [0, 1, 0],
      [1, 0, 0],
      [1, 2, 0],
      [2, 1, 1],
      [3, 4, 0],
      [4, 3, 0],
    ]);
    expect(componentSets(g, A)).toEqual([
      [0, 1],
      [3, 4],
    ]);
    expect(componentSets(g, A | B)).toEqual([
      [0, 1, 2],
      [3, 4],
    ]);
    expect(componentSets(g, B)).toEqual([]);
    expect(stronglyConnectedComponents(g, A).componentOf[5]).toBe(-1);
  });

  it('handles a 200,000-node cycle without recursion', () => {
    const n = 200_000;
    const b = new DigraphBuilder<string>(n);
    for (let v = 0; v < n; v++) b.addEdge(v, (v + 1) % n, 0, '');
    const components = stronglyConnectedComponents(b.build(), A);
    expect(components.members).toHaveLength(1);
    expect(components.members[0]).toHaveLength(n);
  });

  it('finds shortest paths and respects the budget', () => {
    // 0 -> 1 -> 2 -> 3 and a shortcut 0 -> 3 of kind B.
    const g = graph(4, [
      [0, 1, 0],
      [1, 2, 0],
      [2, 3, 0],
      [0, 3, 1],
    ]);
    const finder = new PathFinder(g);
    const inside = (): boolean => true;
    const budget = { stepsLeft: 100, exhausted: false };
    expect(
      finder.shortestPath(0, 3, A | B, inside, budget)?.map((e) => g.labels[e]![0] ?? g.labels[e]![1]),
    ).toEqual(['0>3']);
    expect(finder.shortestPath(0, 3, A, inside, budget)).toHaveLength(3);
    expect(finder.shortestPath(3, 0, A | B, inside, budget)).toBeUndefined();
    expect(budget.exhausted).toBe(false);
    const tight = { stepsLeft: 1, exhausted: false };
    expect(finder.shortestPath(0, 3, A, inside, tight)).toBeUndefined();
    expect(tight.exhausted).toBe(true);
  });

  it('finds the shortest cycle through a closing edge of the requested kind', () => {
    // Ring 0->1->2->3->0 (A) and a chord 2->0 (B): cycles 0-1-2-3 (A only) and 0-1-2 (closed by B).
    const g = graph(4, [
      [0, 1, 0],
      [1, 2, 0],
      [2, 3, 0],
      [3, 0, 0],
      [2, 0, 1],
    ]);
    const components = stronglyConnectedComponents(g, A | B);
    const finder = new PathFinder(g);
    const budget = (): { stepsLeft: number; exhausted: boolean } => ({ stepsLeft: 1000, exhausted: false });
    const onlyA = shortestCycle(g, finder, components, 0, { closing: A, path: A }, budget());
    expect(onlyA.cycle).toHaveLength(4);
    const closedByB = shortestCycle(g, finder, components, 0, { closing: B, path: A }, budget());
    expect(closedByB.cycle?.map((e) => `${g.sources[e]}>${g.targets[e]}`)).toEqual(['2>0', '0>1', '1>2']);
    const skipped = shortestCycle(
      g,
      finder,
      components,
      0,
      { closing: B, path: A, skip: () => true },
      budget(),
    );
    expect(skipped.cycle).toBeUndefined();
  });
});
