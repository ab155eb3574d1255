/**
 * The decision sender and the `coordinator.after-first-commit-sent` failpoint: when armed, it must mark
 * the moment one participant has the Commit and the others have not been sent it (not the moment the
 * first Commit is handed to a client that puts it on the wire later). When not armed, Commit goes to
 * every shard at once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../common/clock.ts';
import { configureFailpoints, failpointArmed } from '../../common/failpoints.ts';
import { silentLogger } from '../../common/log.ts';
import type { DecisionMessage, ParticipantClient } from '../../common/protocol.ts';
import { seededRandom } from '../../common/random.ts';
import { resolveCoordinatorConfig } from '../../coordinator/config.ts';
import { DecisionSender } from '../../coordinator/decision-sender.ts';
import { CoordinatorMetrics } from '../../coordinator/metrics.ts';
import { TxnIdGenerator } from '../../coordinator/txn-id.ts';
import { FakeParticipant } from './fake-participant.ts';
import { TEST_CONFIG, seed } from './harness.ts';

const SHARDS = ['s1', 's2', 's3'] as const;
/** The failpoint's stall: long enough that "before" and "after" it cannot be confused on a busy box. */
const stallMs = 1_000;
/** How long the first shard takes to apply a Commit: the gRPC flush stands in here. */
const firstShardDecideMs = 20;

const stopper = new AbortController();
afterEach(() => configureFailpoints(''));

interface Setup {
  readonly sender: DecisionSender;
  readonly fakes: ReadonlyMap<string, FakeParticipant>;
  /** When each shard's acknowledgement of the Commit came back (Date.now()). */
  readonly ackedAtMs: Map<string, number>;
  readonly commit: DecisionMessage;
}

/** Three fake shards holding one transaction PREPARED, and a sender over them. */
async function setup(): Promise<Setup> {
  const fakes = new Map(SHARDS.map((s) => [s, new FakeParticipant(s)]));
  const ackedAtMs = new Map<string, number>();
  const txnId = new TxnIdGenerator().next(Date.now());
  for (const fake of fakes.values()) {
    fake.seed('accounts', { id: 1n }, { balance: 10n });
    const vote = await fake.prepare(
      {
        txnId,
        ops: [{ table: 'accounts', kind: 'ADD', key: { id: 1n }, values: { balance: 1n } }],
        reads: [],
        onePhase: false,
        readOnlyOk: false,
        peers: [],
        coordinatorId: 'c1',
        epoch: 1n,
        deadlineMs: Date.now() + 60_000,
      },
      1_000,
    );
    expect(vote.vote).toBe('YES');
    const decide = fake.decide.bind(fake);
    fake.decide = async (m, timeoutMs) => {
      const ack = await decide(m, timeoutMs);
      ackedAtMs.set(fake.shard, Date.now());
      return ack;
    };
  }
  const sender = new DecisionSender({
    participants: fakes as ReadonlyMap<string, ParticipantClient>,
    clock: systemClock,
    random: seededRandom(seed).next,
    // A deadline far above every delay below: no re-send muddles the timings.
    config: resolveCoordinatorConfig({ ...TEST_CONFIG, rpcTimeoutMs: 5_000 }),
    logger: silentLogger,
    metrics: new CoordinatorMetrics(),
    stopSignal: stopper.signal,
  });
  return { sender, fakes, ackedAtMs, commit: { txnId, commit: true, decisionSeq: 1n, epoch: 1n } };
}

describe('coordinator.after-first-commit-sent', () => {
  it('is armed only when configured, and free when off', () => {
    expect(failpointArmed('coordinator.after-first-commit-sent')).toBe(false);
    configureFailpoints('coordinator.after-first-commit-sent=3*crash');
    expect(failpointArmed('coordinator.after-first-commit-sent')).toBe(true);
    expect(failpointArmed('coordinator.after-decision-logged')).toBe(false);
    configureFailpoints('');
    expect(failpointArmed('coordinator.after-first-commit-sent')).toBe(false);
  });

  it('fires once the first shard acknowledged its Commit, before the others are sent theirs', async () => {
    const { sender, fakes, ackedAtMs, commit } = await setup();
    fakes.get('s1')!.delayMs.decide = firstShardDecideMs;
    configureFailpoints(`coordinator.after-first-commit-sent=delay(${stallMs})`);
    const startedAtMs = Date.now();
    const acks = await sender.deliver(commit, SHARDS);
    expect([...acks.values()].map((a) => a?.state)).toEqual(['COMMITTED', 'COMMITTED', 'COMMITTED']);
    const s1 = ackedAtMs.get('s1')!;
    // s1 had applied the Commit before the stall (which blocks the whole process) ...
    expect(s1 - startedAtMs).toBeLessThan(stallMs);
    // ... and s2, s3 were not sent theirs until after it.
    for (const shard of ['s2', 's3']) {
      expect(ackedAtMs.get(shard)! - s1, shard).toBeGreaterThanOrEqual(stallMs - 5);
      expect(fakes.get(shard)!.decisions).toHaveLength(1);
    }
  });

  it('with an error action: the first shard has the Commit, the rest are left to the re-drive', async () => {
    const { sender, fakes, commit } = await setup();
    configureFailpoints('coordinator.after-first-commit-sent=error');
    const acks = await sender.deliver(commit, SHARDS);
    expect(acks.get('s1')?.state).toBe('COMMITTED');
    expect(acks.get('s2')).toBeUndefined();
    expect(acks.get('s3')).toBeUndefined();
    expect(fakes.get('s2')!.state(commit.txnId)).toBe('PREPARED');
    expect(fakes.get('s3')!.calls.decide).toBe(0);
  });

  it('when not armed, Commit goes to every shard at once', async () => {
    const { sender, fakes, ackedAtMs, commit } = await setup();
    const slowMs = 300;
    fakes.get('s1')!.delayMs.decide = slowMs;
    const startedAtMs = Date.now();
    await sender.deliver(commit, SHARDS);
    expect(ackedAtMs.get('s1')! - startedAtMs).toBeGreaterThanOrEqual(slowMs - 5);
    for (const shard of ['s2', 's3'])
      expect(ackedAtMs.get(shard)! - startedAtMs, shard).toBeLessThan(slowMs / 2);
  });
});
