/**
 * The first half of the list-append checker: turn invocations into transactions, then judge what each
 * read shows on its own — internal consistency, aborted and intermediate reads, duplicates, garbage —
 * and infer each key's version order (the longest read, if every read is a prefix of it).
 */
import { HistoryError, type Invocation } from '../history.ts';
import type { AnomalyCollector } from './verdict.ts';
import {
  txnName,
  type Element,
  type Key,
  type ListAppendAnomaly,
  type MicroOp,
  type TxnRef,
} from './list-append.ts';

export interface Txn {
  /** Node id in the dependency graph: the position among the history's transactions. */
  readonly node: number;
  readonly ref: TxnRef;
  /** Index of the `ok` entry (when the transaction was acknowledged); undefined unless ok. */
  readonly okAt: number | undefined;
}

export interface AppendSite {
  readonly txn: Txn;
  /** The last element this transaction appended to the same key (equal to the element if final). */
  finalElement: Element;
}

export interface ReadSite {
  readonly txn: Txn;
  readonly list: readonly Element[];
  /** The list without the transaction's own appends at its end: the state it saw from others. */
  readonly external: readonly Element[];
}

export interface KeyHistory {
  readonly appends: Map<Element, AppendSite>;
  /** Reads of ok transactions only, in history order (and in op order within a transaction). */
  readonly reads: ReadSite[];
  /** The inferred version order; undefined when reads disagree or hold duplicates. */
  order: readonly Element[] | undefined;
}

type Collector = AnomalyCollector<ListAppendAnomaly>;

/** Elements shown per list in messages; anomalies carry the full lists. */
const SHOWN_ELEMENTS_MAX = 8;

export function showList(list: readonly Element[]): string {
  if (list.length <= SHOWN_ELEMENTS_MAX) return `[${list.join(' ')}]`;
  return `[…${list.length - SHOWN_ELEMENTS_MAX} more… ${list.slice(-SHOWN_ELEMENTS_MAX).join(' ')}]`;
}

export function collectTxns(
  invocations: readonly Invocation[],
  collector: Collector,
): { txns: Txn[]; keys: Map<Key, KeyHistory> } {
  const txns: Txn[] = [];
  const keys = new Map<Key, KeyHistory>();
  const keyHistory = (key: Key): KeyHistory => {
    let kh = keys.get(key);
    if (!kh) {
      kh = { appends: new Map(), reads: [], order: undefined };
      keys.set(key, kh);
    }
    return kh;
  };
  for (const inv of invocations) {
    const ops = validateMicroOps(inv.value, inv.invoke.index, inv.type === 'ok');
    const txn: Txn = {
      node: txns.length,
      ref: { index: inv.invoke.index, process: inv.process, type: inv.type, ops },
      okAt: inv.type === 'ok' ? inv.completion?.index : undefined,
    };
    txns.push(txn);
    walkTxn(txn, keyHistory, collector);
  }
  return { txns, keys };
}

/** Records a transaction's appends and reads, checking each read against what the transaction did before. */
function walkTxn(txn: Txn, keyHistory: (key: Key) => KeyHistory, collector: Collector): void {
  // Per key: the list this transaction must see now (once it has read the key), and its own appends.
  const states = new Map<Key, { known: Element[] | undefined; own: Element[]; sites: AppendSite[] }>();
  for (const op of txn.ref.ops) {
    const key = op[1];
    let st = states.get(key);
    if (!st) {
      st = { known: undefined, own: [], sites: [] };
      states.set(key, st);
    }
    if (op[0] === 'append') {
      const element = op[2];
      const kh = keyHistory(key);
      const other = kh.appends.get(element);
      if (other) {
        throw new HistoryError(
          `element ${element} appended to key ${key} twice (ops ${other.txn.ref.index} and ${txn.ref.index}); the workload must append unique elements per key`,
        );
      }
      const site: AppendSite = { txn, finalElement: element };
      kh.appends.set(element, site);
      st.sites.push(site);
      st.own.push(element);
      st.known?.push(element);
      continue;
    }
    const list = op[2];
    if (txn.ref.type !== 'ok' || list === null) continue;
    const endsWithOwn = endsWith(list, st.own);
    if (st.known ? !sameList(list, st.known) : !endsWithOwn) {
      const expected = st.known ?? st.own;
      const what = st.known
        ? `${showList(expected)}`
        : `a list ending in its own appends ${showList(expected)}`;
      collector.add({
        type: 'internal',
        message: `${txnName(txn.ref)} read ${key}=${showList(list)} but its earlier ops imply ${what}`,
        txn: txn.ref,
        key,
        expected: [...expected],
        actual: list,
      });
    }
    st.known = [...list];
    const external = endsWithOwn ? list.slice(0, list.length - st.own.length) : list;
    keyHistory(key).reads.push({ txn, list, external });
  }
  for (const st of states.values()) {
    const last = st.own.at(-1);
    if (last !== undefined) for (const site of st.sites) site.finalElement = last;
  }
}

/** Judges every key's reads and sets its version order. */
export function analyzeReads(keys: Map<Key, KeyHistory>, collector: Collector): void {
  for (const [key, kh] of keys) {
    // When (history index) each element was first seen by an acknowledged reader: proof it committed.
    const observedAt = new Map<Element, number>();
    let ordered = true;
    for (const read of kh.reads) {
      if (!checkElements(key, kh, read, observedAt, collector)) ordered = false;
      checkIntermediate(key, kh, read, collector);
    }
    if (!checkPrefixes(key, kh, collector)) ordered = false;
    let longest: readonly Element[] = [];
    for (const read of kh.reads) if (read.list.length > longest.length) longest = read.list;
    kh.order = ordered ? longest : undefined;
    checkLostAppends(key, kh, observedAt, collector);
  }
}

/** Duplicates, garbage and aborted reads in one read; false if the read holds duplicates. */
function checkElements(
  key: Key,
  kh: KeyHistory,
  read: ReadSite,
  observedAt: Map<Element, number>,
  collector: Collector,
): boolean {
  const reader = read.txn.ref;
  const seen = new Set<Element>();
  const failedWriters = new Set<Txn>();
  let duplicates = false;
  for (const element of read.list) {
    if (seen.has(element)) duplicates = true;
    seen.add(element);
    const firstSeenAt = observedAt.get(element);
    if (read.txn.okAt !== undefined && (firstSeenAt === undefined || read.txn.okAt < firstSeenAt)) {
      observedAt.set(element, read.txn.okAt);
    }
    const site = kh.appends.get(element);
    if (!site) {
      const message = `${txnName(reader)} read ${key}=${showList(read.list)} containing ${element}, which no transaction appended`;
      collector.add({ type: 'garbage-read', message, txn: reader, key, element });
    } else if (site.txn.ref.type === 'fail' && !failedWriters.has(site.txn)) {
      failedWriters.add(site.txn);
      const writer = site.txn.ref;
      const message = `${txnName(reader)} read ${key}=${showList(read.list)} containing ${element}, appended by ${txnName(writer)}, which failed`;
      collector.add({ type: 'G1a', message, reader, writer, key, element });
    }
  }
  if (duplicates) {
    const message = `${txnName(reader)} read ${key}=${showList(read.list)}, which holds an element more than once`;
    collector.add({ type: 'duplicate-elements', message, txn: reader, key, list: read.list });
  }
  return !duplicates;
}

/** G1b: the last element another transaction appended is not that transaction's final append to the key. */
function checkIntermediate(key: Key, kh: KeyHistory, read: ReadSite, collector: Collector): void {
  const last = read.external.at(-1);
  if (last === undefined) return;
  const site = kh.appends.get(last);
  if (!site || site.txn === read.txn || site.txn.ref.type === 'fail' || site.finalElement === last) return;
  const reader = read.txn.ref;
  const writer = site.txn.ref;
  const message = `${txnName(reader)} read ${key}=${showList(read.list)} ending at ${last}, but ${txnName(writer)} went on to append ${site.finalElement} to ${key}`;
  collector.add({
    type: 'G1b',
    message,
    reader,
    writer,
    key,
    element: last,
    finalElement: site.finalElement,
  });
}

/** Every read must be a prefix of the longest; reports the first that is not. */
function checkPrefixes(key: Key, kh: KeyHistory, collector: Collector): boolean {
  let longest: ReadSite | undefined;
  for (const read of kh.reads) if (!longest || read.list.length > longest.list.length) longest = read;
  if (!longest) return true;
  for (const read of kh.reads) {
    if (isPrefix(read.list, longest.list)) continue;
    const message = `${key}: ${txnName(read.txn.ref)} read ${showList(read.list)} and ${txnName(longest.txn.ref)} read ${showList(longest.list)}; neither is a prefix of the other`;
    const reads = [read, longest].map((r) => ({ txn: r.txn.ref, list: r.list }));
    collector.add({ type: 'incompatible-order', message, key, reads });
    return false;
  }
  return true;
}

/**
 * An append known to be committed (acknowledged, or observed by an acknowledged reader) before the
 * key's last read was invoked must be in that read.
 */
function checkLostAppends(
  key: Key,
  kh: KeyHistory,
  observedAt: Map<Element, number>,
  collector: Collector,
): void {
  let lastRead: ReadSite | undefined;
  for (const read of kh.reads) if (!lastRead || read.txn.ref.index >= lastRead.txn.ref.index) lastRead = read;
  if (!lastRead) return;
  const present = new Set(lastRead.list);
  const readInvokedAt = lastRead.txn.ref.index;
  for (const [element, site] of kh.appends) {
    if (site.txn === lastRead.txn || present.has(element)) continue;
    const committedAt = site.txn.okAt ?? (site.txn.ref.type === 'info' ? observedAt.get(element) : undefined);
    if (committedAt === undefined || committedAt > readInvokedAt) continue;
    const writer = site.txn.ref;
    const how = site.txn.okAt !== undefined ? 'acknowledged' : 'observed committed';
    const message = `${txnName(writer)} appended ${element} to ${key} (${how} at op ${committedAt}), but the last read of ${key}, by ${txnName(lastRead.txn.ref)} invoked at op ${readInvokedAt}, lacks it`;
    collector.add({ type: 'lost-append', message, writer, key, element, lastRead: lastRead.txn.ref });
  }
}

function validateMicroOps(value: unknown, at: number, resultsKnown: boolean): readonly MicroOp[] {
  const bad = (why: string): never => {
    throw new HistoryError(`op ${at}: list-append txn ${why}: ${JSON.stringify(value)}`);
  };
  if (!Array.isArray(value)) return bad('value must be an array of micro-ops');
  for (const op of value as unknown[]) {
    if (!Array.isArray(op) || op.length !== 3) return bad('micro-ops must be [f, key, value] triples');
    const [f, key, arg] = op as unknown[];
    if (!isScalar(key)) return bad('keys must be strings or numbers');
    if (f === 'append') {
      if (!isScalar(arg)) bad('appended elements must be strings or numbers');
    } else if (f === 'r') {
      if (arg === null ? resultsKnown : !Array.isArray(arg) || !(arg as unknown[]).every(isScalar)) {
        bad(
          resultsKnown
            ? 'reads of an ok txn must hold a list of strings or numbers'
            : 'read lists must be null or lists',
        );
      }
    } else {
      bad(`micro-op f must be 'append' or 'r', got ${JSON.stringify(f)}`);
    }
  }
  return value as readonly MicroOp[];
}

function isScalar(x: unknown): x is string | number {
  return typeof x === 'string' || (typeof x === 'number' && Number.isFinite(x));
}

function sameList(a: readonly Element[], b: readonly Element[]): boolean {
  return a.length === b.length && isPrefix(a, b);
}

function isPrefix(prefix: readonly Element[], list: readonly Element[]): boolean {
  if (prefix.length > list.length) return false;
  for (let i = 0; i < prefix.length; i++) if (prefix[i] !== list[i]) return false;
  return true;
}

function endsWith(list: readonly Element[], suffix: readonly Element[]): boolean {
  if (suffix.length > list.length) return false;
  const offset = list.length - suffix.length;
  for (let i = 0; i < suffix.length; i++) if (list[offset + i] !== suffix[i]) return false;
  return true;
}
