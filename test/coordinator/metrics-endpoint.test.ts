/**
 * The /metrics pages of a real coordinator and real participants (in process, gRPC on port 0): each
 * transaction is counted once, on the path it took, with its abort reason; the stage histograms
 * count the stages a transaction went through; a participant shows an undecided YES vote while it
 * waits, and stops showing it once decided.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TwopcClient } from '../../client/twopc-client.ts';
import type { OpInput } from '../../client/ops.ts';
import type { CoordinatorServer } from '../../coordinator/coordinator-server.ts';
import type { ParticipantServer } from '../../participant/participant-server.ts';
import { startCoordinatorFor, startParticipants } from '../helpers/servers.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0));
INSERT OR IGNORE INTO accounts (id, balance) VALUES (1, 100), (2, 100);
`;

/** 50 ms each: how long the test waits for a background Abort to arrive. */
const abortWaitRounds = 100;

let dir: string;
let participants: ParticipantServer[];
let coordinator: CoordinatorServer;
let client: TwopcClient;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'twopc-metrics-'));
  participants = await startParticipants(dir, ['s1', 's2'], SCHEMA, { metrics: true });
  coordinator = await startCoordinatorFor(participants, path.join(dir, 'coordinator'), { metrics: true });
  client = new TwopcClient(coordinator.address);
});

afterAll(async () => {
  client?.close();
  await coordinator?.close();
  await Promise.all((participants ?? []).map((p) => p.close()));
  rmSync(dir, { recursive: true, force: true });
});

/** Every sample of a page, by its series (name and labels as printed). */
async function scrape(address: string | undefined): Promise<Map<string, number>> {
  expect(address).toBeDefined();
  const res = await fetch(`http://${address}/metrics`);
  expect(res.status).toBe(200);
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** Scrapes until `series` reads `value` (a background Abort arriving), at most abortWaitRounds times. */
async function scrapeUntil(address: string | undefined, series: string, value: number) {
  let page = await scrape(address);
  for (let i = 0; i < abortWaitRounds && page.get(series) !== value; i++) {
    await new Promise((r) => setTimeout(r, 50));
    page = await scrape(address);
  }
  return page;
}

const add = (shard: string, id: number, delta: bigint): OpInput => ({
  shard,
  table: 'accounts',
  kind: 'ADD',
  key: { id: BigInt(id) },
  values: { balance: delta },
});

describe('metrics', () => {
  it('counts each transaction once, by path, outcome and abort reason, and times its stages', async () => {
    expect((await client.execute([add('s1', 1, -10n), add('s2', 1, 10n)])).outcome).toBe('COMMITTED');
    expect((await client.execute([add('s1', 2, -1n), add('s1', 1, 1n)])).outcome).toBe('COMMITTED');
    const overdraft = await client.execute([add('s1', 1, -1_000n), add('s2', 1, 1_000n)]);
    expect(overdraft.outcome).toBe('ABORTED');

    const c = await scrape(coordinator.metricsAddress);
    expect(c.get('twopc_txns_committed_total{path="two_phase"}')).toBe(1);
    expect(c.get('twopc_txns_committed_total{path="one_phase"}')).toBe(1);
    expect(c.get('twopc_txns_aborted_total{reason="CONSTRAINT"}')).toBe(1);
    expect(c.get('twopc_txns_aborted_total{reason="CONFLICT"}')).toBe(0);
    expect(c.get('twopc_txns_in_flight')).toBe(0);
    // Stages are timed for the transaction that committed: the overdraft's refused vote is not a
    // complete prepare. One COMMIT, forced alone.
    expect(c.get('twopc_stage_duration_seconds_count{stage="prepare"}')).toBe(1);
    expect(c.get('twopc_stage_duration_seconds_count{stage="decision"}')).toBe(1);
    expect(c.get('twopc_stage_duration_seconds_count{stage="commit"}')).toBe(1);
    expect(c.get('twopc_stage_duration_seconds_sum{stage="decision"}')).toBeGreaterThan(0);
    expect(c.get('twopc_protocol_duration_seconds_count{shards="several",result="committed"}')).toBe(1);
    expect(c.get('twopc_protocol_duration_seconds_count{shards="several",result="aborted"}')).toBe(1);
    expect(c.get('twopc_protocol_duration_seconds_count{shards="one",result="committed"}')).toBe(1);
    expect(c.get('twopc_participant_sessions_opened_total{shard="s1"}')).toBe(1);
    expect(c.get('twopc_decision_log_forced_batches_total')).toBe(1);
    expect(c.get('twopc_participant_sessions_broken_total{shard="s1"}')).toBe(0);
    expect(c.get('process_resident_memory_bytes')).toBeGreaterThan(0);

    // s1: three prepares (one of them one-phase), a Commit and an Abort. The Abort is sent after the
    // answer (nothing waits for it), so wait for it here.
    const s1 = await scrapeUntil(participants[0]!.metricsAddress, 'twopc_decisions_total{shard="s1"}', 2);
    // s2 voted YES on the overdraft: its Abort arrives after the answer too. Wait for it, so the
    // next test sees only its own prepare.
    await scrapeUntil(participants[1]!.metricsAddress, 'twopc_prepared_txns{shard="s2"}', 0);
    expect(s1.get('twopc_prepares_total{shard="s1"}')).toBe(3);
    expect(s1.get('twopc_decisions_total{shard="s1"}')).toBe(2);
    const flushes = ['prepare', 'decision', 'shared'].map(
      (kind) => s1.get(`twopc_flush_duration_seconds_count{shard="s1",kind="${kind}"}`) ?? 0,
    );
    const flushCounts = ['prepare', 'decision', 'shared'].map(
      (kind) => s1.get(`twopc_flushes_total{shard="s1",kind="${kind}"}`) ?? 0,
    );
    expect(flushes).toEqual(flushCounts);
    expect(flushes.reduce((a, b) => a + b)).toBeGreaterThanOrEqual(3);
    expect(s1.get('twopc_prepared_txns{shard="s1"}')).toBe(0);
    expect(s1.get('twopc_in_doubt_contradictions_total{shard="s1"}')).toBe(0);
  });

  it('shows an undecided YES vote and its age while it waits, and not once decided', async () => {
    const s2 = participants[1]!;
    const txnId = `tx_${Date.now().toString(16).padStart(12, '0')}${'7'.padStart(20, '0')}`;
    const vote = await s2.batcher.prepare({
      txnId,
      ops: [{ table: 'accounts', kind: 'ADD', key: { id: 2n }, values: { balance: 1n } }],
      reads: [],
      onePhase: false,
      readOnlyOk: false,
      peers: [],
      coordinatorId: 'metrics-test',
      epoch: 1n,
      deadlineMs: Date.now() + 60_000,
    });
    expect(vote.vote).toBe('YES');
    await new Promise((r) => setTimeout(r, 20));
    const waiting = await scrape(s2.metricsAddress);
    expect(waiting.get('twopc_prepared_txns{shard="s2"}')).toBe(1);
    expect(waiting.get('twopc_prepared_oldest_age_seconds{shard="s2"}')).toBeGreaterThanOrEqual(0.02);
    await s2.batcher.decide({ txnId, commit: false, decisionSeq: 0n, epoch: 1n });
    const decided = await scrape(s2.metricsAddress);
    expect(decided.get('twopc_prepared_txns{shard="s2"}')).toBe(0);
    expect(decided.get('twopc_prepared_oldest_age_seconds{shard="s2"}')).toBe(0);
  });
});
