/**
 * What every chaos workload is, and the client loop they share.
 *
 * A workload's op is recorded Jepsen's way: `invoke` before the first byte is sent, then exactly one
 * completion — `ok` when the coordinator answered COMMITTED, `fail` when it certainly did not commit
 * (ABORTED, or an interactive transaction that failed before its Commit was sent), `info` when nobody
 * can tell (UNAVAILABLE, DEADLINE_EXCEEDED, a dropped connection after Commit went out). A process
 * whose op ended `info` may still have that op in flight, so the worker continues as a new process
 * (id + clients), as Jepsen does.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { TwopcError, describeError } from '../../common/errors.ts';
import { seededRandom, type Random } from '../../common/random.ts';
import type { TwopcClient } from '../../client/twopc-client.ts';
import { ClientSlot } from './client-slot.ts';
import type { CompletionType, HistoryRecorder } from '../history.ts';
import type { Anomaly, Verdict } from '../checkers/verdict.ts';
import type { CommitRecord } from '../checkers/durability.ts';

export const WORKLOAD_NAMES = ['bank', 'list-append'] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

/** Pause after an op that did not succeed, so a worker does not spin against a dead coordinator. */
export const failurePauseMs = { min: 20, max: 200 } as const;
/**
 * Deadline of each SDK call (a call carrying a transaction timeout gets that plus the SDK's 2 s slack if
 * longer): a paused or blackholed coordinator costs a worker at most this long per call.
 */
export const callDeadlineMs = 4_000;

export interface StepResult {
  readonly type: CompletionType;
  /** The call failed in a way that suggests a broken connection: the worker opens a new one. */
  readonly reconnect: boolean;
}

export const STEP_OK: StepResult = Object.freeze({ type: 'ok', reconnect: false });

/** A verdict of any checker (their stats differ). */
export type AnyVerdict = Verdict<Anomaly, unknown>;

export interface WorkloadEnv {
  readonly history: HistoryRecorder;
  readonly shards: readonly string[];
  readonly seed: number;
  /** Each transaction's timeout at the coordinator. */
  readonly txnTimeoutMs: number;
  readonly log: (line: string) => void;
}

/** The shard files after the run, read by the harness (read-only) once every process stopped. */
export interface FinalStateReader {
  /** Rows of `sql` on one shard, integers as numbers (they are small here). */
  rows(shard: string, sql: string): Record<string, unknown>[];
}

export interface Workload {
  readonly name: WorkloadName;
  /** Applied by every participant at every start: idempotent. */
  readonly schemaSql: string;
  /** One operation as history process `process`: records its invoke and completion. */
  step(client: TwopcClient, process: number, rnd: Random): Promise<StepResult>;
  /**
   * After the heal and the liveness phase, with the cluster healthy: sharpen unknown outcomes and
   * take final reads (recorded in the history as ordinary ops of processes `process`, `process` + 1…).
   */
  settle(client: TwopcClient, process: number): Promise<void>;
  /** The transactions that left markers (for the durability checker), with what their clients know. */
  commitRecords(): CommitRecord[];
  /** Shard → marker ids found after the run. */
  markers(state: FinalStateReader): Record<string, string[]>;
  /** The workload's own checker(s) over the history and the final state. */
  check(state: FinalStateReader): AnyVerdict[];
  /** Extra figures for the summary. */
  stats(): Record<string, number>;
}

const NOT_SENT = /No connection established/;

/** How an error ends an op. `commitMaybeSent` is false only when nothing could have committed yet. */
export function classifyError(
  err: unknown,
  commitMaybeSent: boolean,
): StepResult & { readonly type: 'fail' | 'info'; readonly error: string } {
  const error = describeError(err);
  const code = err instanceof TwopcError ? err.code : 'UNKNOWN';
  const reconnect = RECONNECT_CODES.has(code);
  if (code === 'ABORTED') return { type: 'fail', error, reconnect };
  // Refused before anything ran (a harness bug, but certainly not committed).
  if (code === 'INVALID_ARGUMENT') return { type: 'fail', error, reconnect };
  // grpc-js fails a call with this status when it could not pick a connection at all (the channel is
  // in reconnect backoff): the request never left the client.
  if (code === 'UNAVAILABLE' && NOT_SENT.test(error)) return { type: 'fail', error, reconnect };
  return { type: commitMaybeSent ? 'info' : 'fail', error, reconnect };
}

const RECONNECT_CODES: ReadonlySet<string> = new Set(['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'CANCELLED']);

export interface WorkerPool {
  /** Asks every worker to stop after its op in flight, waits for them, and closes their clients. */
  stop(): Promise<void>;
  /** Clients replaced after connection errors, over all workers. */
  renewals(): number;
}

/** Starts `clients` workers, each with its own SDK client (own connection) through the client proxy. */
export function startWorkers(
  workload: Workload,
  options: { readonly clients: number; readonly address: string; readonly seed: number },
): WorkerPool {
  let stopping = false;
  const slots = Array.from(
    { length: options.clients },
    () => new ClientSlot(options.address, callDeadlineMs),
  );
  const worker = async (w: number, slot: ClientSlot) => {
    const rnd = seededRandom((options.seed * 1_000 + w) >>> 0);
    let process = w;
    while (!stopping) {
      let result: StepResult;
      try {
        result = await workload.step(slot.client, process, rnd);
      } catch (err) {
        // A bug in the workload itself: the history would be wrong from here on. Stop this worker.
        throw new Error(`worker ${w}: ${describeError(err)}`, { cause: err });
      }
      if (result.type === 'info') process += options.clients;
      if (result.reconnect) slot.renew();
      if (result.type !== 'ok') await sleep(rnd.int(failurePauseMs.min, failurePauseMs.max));
    }
  };
  const errors: unknown[] = [];
  const running = slots.map((c, w) =>
    worker(w, c).catch((err: unknown) => {
      errors.push(err);
    }),
  );
  return {
    renewals: () => slots.reduce((n, s) => n + s.renewals, 0),
    stop: async () => {
      stopping = true;
      await Promise.all(running);
      for (const s of slots) s.close();
      if (errors.length > 0) throw errors[0];
    },
  };
}

/** History process id of the harness's own ops after the heal (final reads, re-asks). */
export const SETTLE_PROCESS = 900_000;
