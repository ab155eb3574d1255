/**
 * The simulated network's request/response: answers after a round trip of virtual time, deadlines on
 * blackholed links, refused connections to a node that is down, errors travelling as themselves,
 * replies lost when the target crashes, and duplicated requests answered once.
 */
import { describe, expect, it } from 'vitest';
import { TwopcError } from '../../common/errors.ts';
import { seededRandom } from '../../common/random.ts';
import { Incarnation } from '../../chaos/simulation/incarnation.ts';
import { ConnectionRefusedError, HEALTHY_LINK, SimNetwork } from '../../chaos/simulation/network.ts';
import { NodeClock } from '../../chaos/simulation/node-clock.ts';
import { Scheduler } from '../../chaos/simulation/scheduler.ts';

function setup(duplicateRate = 0) {
  const scheduler = new Scheduler(10_000);
  const network = new SimNetwork(scheduler, seededRandom(7), { ...HEALTHY_LINK, duplicateRate, slowRate: 0 });
  let server: Incarnation | undefined = new Incarnation('server', 1);
  network.register('server', () => (server?.alive ? server : undefined));
  const client = new NodeClock(scheduler, new Incarnation('client', 1));
  const settle = <T>(p: Promise<T>) => {
    const box: { value?: T; error?: unknown; done: boolean } = { done: false };
    p.then(
      (value) => Object.assign(box, { value, done: true }),
      (error: unknown) => Object.assign(box, { error, done: true }),
    );
    return box;
  };
  const run = () => scheduler.run(() => false, scheduler.elapsedUs + 60_000_000);
  return {
    scheduler,
    network,
    client,
    settle,
    run,
    crashServer: () => server && (server.alive = false),
    stopServer: () => (server = undefined),
  };
}

describe('SimNetwork.call', () => {
  it('answers after a round trip of virtual time', async () => {
    const t = setup();
    const reply = t.settle(t.network.call(t.client, 'server', 'Ping', 1_000, () => 'pong'));
    await t.run();
    expect(reply).toMatchObject({ done: true, value: 'pong' });
    expect(t.network.stats.sent).toBe(2);
  });

  it('times out on a blackholed link, after exactly its deadline', async () => {
    const t = setup();
    t.network.block('client', 'server');
    let failedAtUs = 0;
    const reply = t.settle(
      t.network
        .call(t.client, 'server', 'Ping', 1_000, () => 'pong')
        .finally(() => (failedAtUs = t.scheduler.elapsedUs)),
    );
    await t.run();
    expect((reply.error as TwopcError).code).toBe('DEADLINE_EXCEEDED');
    expect(failedAtUs).toBe(1_000_000);
  });

  it('refuses the connection to a node that is down (the request was never delivered)', async () => {
    const t = setup();
    t.stopServer();
    let handled = false;
    const reply = t.settle(t.network.call(t.client, 'server', 'Ping', 1_000, () => (handled = true)));
    await t.run();
    expect(reply.error).toBeInstanceOf(ConnectionRefusedError);
    expect(handled).toBe(false);
  });

  it('carries a TwopcError back as itself, and anything else as INTERNAL, noted as a bug', async () => {
    const t = setup();
    const known = t.settle(
      t.network.call(t.client, 'server', 'A', 1_000, () => {
        throw new TwopcError('INVALID_ARGUMENT', 'bad');
      }),
    );
    const bug = t.settle(
      t.network.call(t.client, 'server', 'B', 1_000, () => {
        throw new TypeError('oops');
      }),
    );
    await t.run();
    expect((known.error as TwopcError).code).toBe('INVALID_ARGUMENT');
    expect((bug.error as TwopcError).code).toBe('INTERNAL');
    expect(t.network.bugs).toEqual(['B at server#1: oops']);
  });

  it('loses the reply when the target crashes while answering', async () => {
    const t = setup();
    const reply = t.settle(
      t.network.call(t.client, 'server', 'Slow', 1_000, () => {
        t.crashServer();
        return 'never seen';
      }),
    );
    await t.run();
    expect((reply.error as TwopcError).code).toBe('DEADLINE_EXCEEDED');
  });

  it('delivers a duplicated request twice and answers the caller once', async () => {
    const t = setup(1);
    let handled = 0;
    const reply = t.settle(t.network.call(t.client, 'server', 'Dup', 1_000, () => ++handled));
    await t.run();
    expect(handled).toBe(2);
    expect(reply.value).toBe(1);
    expect(t.network.stats.duplicated).toBeGreaterThanOrEqual(1);
  });
});
