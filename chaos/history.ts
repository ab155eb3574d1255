/**
 * The operation history a chaos workload records and the checkers judge (Jepsen's model).
 *
 * Every client operation is two entries: an `invoke` when the client sends it, then a completion when
 * the client learns its outcome — `ok` (it happened), `fail` (it certainly did not happen: ABORTED, or
 * refused before anything was staged) or `info` (unknown: a timeout, a dropped connection, a crashed
 * coordinator; it may have happened, now or later, or never). A process runs one operation at a time,
 * so an invoke is completed by the next entry of the same process. Histories are stored as JSON lines,
 * one `Op` per line, in the order they happened; the position is the real-time order.
 *
 * Nothing here (or in checkers/) imports twopc: the harness maps twopc's outcomes onto these four types,
 * and the checkers judge the data alone.
 */
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';

export const OP_TYPES = ['invoke', 'ok', 'fail', 'info'] as const;
export type OpType = (typeof OP_TYPES)[number];
export type CompletionType = Exclude<OpType, 'invoke'>;

export interface Op<V = unknown> {
  /** Position in the history, 0-based and dense. Assigned by the recorder; it is the real-time order. */
  readonly index: number;
  /** The logical client (a non-negative integer) issuing the op; at most one op in flight per process. */
  readonly process: number;
  readonly type: OpType;
  /** What the op does, e.g. 'txn' (list-append), 'transfer' or 'read' (bank). */
  readonly f: string;
  /** JSON data. On `invoke`: the request; on `ok`: the result (reads filled in); on fail/info: the request. */
  readonly value: V;
  /** Milliseconds since the start of the run on a monotonic clock; non-decreasing along the history. */
  readonly timeMs: number;
  /** Why the op failed or its outcome is unknown (fail/info only); free text for reports. */
  readonly error?: string;
}

/** A malformed history: a bug in the harness or a corrupted file, never a verdict about the system. */
export class HistoryError extends Error {
  override name = 'HistoryError';
}

/** An invocation paired with its outcome. */
export interface Invocation<V = unknown> {
  readonly process: number;
  readonly f: string;
  /** `info` also when the history ended before the op completed. */
  readonly type: CompletionType;
  readonly invoke: Op<V>;
  readonly completion: Op<V> | undefined;
  /** On ok: the completion's value (reads filled in); on fail/info: the invoke's value (the request). */
  readonly value: V;
}

/** Pairs every invoke with the next entry of its process; invocations come back in invoke order. */
export function pairInvocations<V>(history: readonly Op<V>[]): Invocation<V>[] {
  const open = new Map<number, Op<V>>();
  const completions = new Map<Op<V>, Op<V>>();
  for (const op of history) {
    const pending = open.get(op.process);
    if (op.type === 'invoke') {
      if (pending)
        throw new HistoryError(
          `op ${op.index}: process ${op.process} invoked while op ${pending.index} is in flight`,
        );
      open.set(op.process, op);
      continue;
    }
    if (!pending)
      throw new HistoryError(`op ${op.index}: ${op.type} on process ${op.process} with nothing in flight`);
    if (pending.f !== op.f)
      throw new HistoryError(
        `op ${op.index}: completes f=${op.f} but op ${pending.index} invoked f=${pending.f}`,
      );
    completions.set(pending, op);
    open.delete(op.process);
  }
  const result: Invocation<V>[] = [];
  for (const op of history) {
    if (op.type !== 'invoke') continue;
    const completion = completions.get(op);
    const type: CompletionType = completion ? (completion.type as CompletionType) : 'info';
    const value = completion && type === 'ok' ? completion.value : op.value;
    result.push({ process: op.process, f: op.f, type, invoke: op, completion, value });
  }
  return result;
}

/**
 * Builds a history as it happens. Entries go to memory and, if given, to a sink (a HistoryFile) at once,
 * so a crashed harness still leaves the history up to its crash on disk.
 */
export class HistoryRecorder<V = unknown> {
  readonly #ops: Op<V>[] = [];
  readonly #inFlight = new Map<number, Op<V>>();
  readonly #clockMs: () => number;
  readonly #sink: ((op: Op<V>) => void) | undefined;

  constructor(clockMs: () => number, sink?: (op: Op<V>) => void) {
    this.#clockMs = clockMs;
    this.#sink = sink;
  }

  get ops(): readonly Op<V>[] {
    return this.#ops;
  }

  invoke(process: number, f: string, value: V): Op<V> {
    if (!Number.isInteger(process) || process < 0)
      throw new HistoryError(`process must be a non-negative integer, got ${process}`);
    const pending = this.#inFlight.get(process);
    if (pending)
      throw new HistoryError(`process ${process} invoked ${f} while op ${pending.index} is in flight`);
    const op = this.#append({ process, type: 'invoke', f, value });
    this.#inFlight.set(process, op);
    return op;
  }

  complete(invoked: Op<V>, type: CompletionType, value: V, error?: string): Op<V> {
    if (this.#inFlight.get(invoked.process) !== invoked)
      throw new HistoryError(`op ${invoked.index} is not in flight`);
    this.#inFlight.delete(invoked.process);
    return this.#append({
      process: invoked.process,
      type,
      f: invoked.f,
      value,
      ...(error === undefined ? {} : { error }),
    });
  }

  #append(entry: Omit<Op<V>, 'index' | 'timeMs'>): Op<V> {
    const last = this.#ops.at(-1);
    // A clock that steps back would make timeMs disagree with the order; keep the order, clamp the time.
    const timeMs = Math.max(this.#clockMs(), last ? last.timeMs : 0);
    const op: Op<V> = { index: this.#ops.length, ...entry, timeMs };
    this.#ops.push(op);
    this.#sink?.(op);
    return op;
  }
}

export function formatHistory(history: readonly Op[]): string {
  return history.map((op) => JSON.stringify(op) + '\n').join('');
}

/** Parses JSON lines (blank lines ignored) and checks every entry's shape, density and time order. */
export function parseHistory(text: string): Op[] {
  const ops: Op[] = [];
  const lines = text.split('\n');
  for (let lineNo = 1; lineNo <= lines.length; lineNo++) {
    const line = (lines[lineNo - 1] ?? '').trim();
    if (line === '') continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (error) {
      throw new HistoryError(`line ${lineNo}: not JSON (${(error as Error).message})`);
    }
    const op = validateOp(raw, `line ${lineNo}`);
    if (op.index !== ops.length)
      throw new HistoryError(`line ${lineNo}: index ${op.index}, expected ${ops.length}`);
    const previous = ops.at(-1);
    if (previous && op.timeMs < previous.timeMs)
      throw new HistoryError(`line ${lineNo}: timeMs goes backwards`);
    ops.push(op);
  }
  return ops;
}

function validateOp(raw: unknown, where: string): Op {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new HistoryError(`${where}: not an object`);
  const o = raw as Record<string, unknown>;
  const fail = (field: string, want: string): never => {
    throw new HistoryError(`${where}: field ${field} must be ${want}, got ${JSON.stringify(o[field])}`);
  };
  if (!Number.isInteger(o.index) || (o.index as number) < 0) fail('index', 'a non-negative integer');
  if (!Number.isInteger(o.process) || (o.process as number) < 0) fail('process', 'a non-negative integer');
  if (!OP_TYPES.includes(o.type as OpType)) fail('type', OP_TYPES.join('|'));
  if (typeof o.f !== 'string') fail('f', 'a string');
  if (!('value' in o)) fail('value', 'present');
  if (typeof o.timeMs !== 'number' || !Number.isFinite(o.timeMs)) fail('timeMs', 'a finite number');
  if (o.error !== undefined && typeof o.error !== 'string') fail('error', 'a string');
  return o as unknown as Op;
}

export function writeHistoryFile(path: string, history: readonly Op[]): void {
  writeFileSync(path, formatHistory(history));
}

export function readHistoryFile(path: string): Op[] {
  return parseHistory(readFileSync(path, 'utf8'));
}

/** An append-only JSON-lines history file; each `append` is one write(2), so a crash loses at most a line. */
export class HistoryFile {
  #fd: number | undefined;

  constructor(path: string) {
    this.#fd = openSync(path, 'a');
  }

  readonly append = (op: Op): void => {
    if (this.#fd === undefined) throw new HistoryError('history file is closed');
    writeSync(this.#fd, JSON.stringify(op) + '\n');
  };

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}
