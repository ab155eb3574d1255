/**
 * twopc under test: a coordinator and two participants, each its own OS process started through the
 * CLI exactly as a user would (`node cli/bin.mjs participant|coordinator … --listen 127.0.0.1:0`),
 * with the product's defaults (SQLite `synchronous=FULL`, decisions forced to the SQLite log), and the
 * bench's clients sharing ONE gRPC channel through the SDK, as one application process would.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TwopcClient } from '../../client/twopc-client.ts';
import type { OpInput } from '../../client/ops.ts';
import { COMMITTED, type TxnFn, type TxnResult } from './closed-loop.ts';
import { SingleProcessProbe, readRssKb, type ProcessProbe } from './process-stats.ts';
import type { MemoryMark, SystemUnderTest } from './system.ts';
import { SHARDS, accountsFor, balanceInitial, transferAccounts, type Scenario } from './workload.ts';
import { SupervisedProcess, describeExit } from '../supervised-process.ts';

/** tsx compiles on first start and the machine may be busy: generous. */
const startTimeoutMs = 60_000;
/** A graceful stop flushes the decision log and writes a CPU profile if asked. */
const stopTimeoutMs = 15_000;
/** Per-transaction deadline at the SDK; far above any healthy latency, so a stuck call shows as an error. */
const callDeadlineMs = 10_000;

export interface TwopcSystemOptions {
  readonly dir: string;
  readonly clientsMax: number;
  /** Write V8 CPU profiles of the three processes under this directory (one sub-folder each). */
  readonly cpuProfDir?: string;
}

function schemaSql(accounts: number): string {
  return [
    'CREATE TABLE IF NOT EXISTS accounts (',
    '  id INTEGER PRIMARY KEY,',
    '  balance INTEGER NOT NULL CHECK (balance >= 0)',
    ');',
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${accounts})`,
    `INSERT OR IGNORE INTO accounts (id, balance) SELECT i, ${balanceInitial} FROM n;`,
    '',
  ].join('\n');
}

function add(shard: string, id: number, delta: bigint): OpInput {
  return { shard, table: 'accounts', kind: 'ADD', key: { id: BigInt(id) }, values: { balance: delta } };
}

export class TwopcSystem implements SystemUnderTest {
  readonly name = 'twopc' as const;
  readonly description: Record<string, string | number | boolean> = {};
  private readonly children: SupervisedProcess[] = [];
  private client: TwopcClient | undefined;
  private stopped = false;

  private constructor(private readonly options: TwopcSystemOptions) {}

  static async start(options: TwopcSystemOptions): Promise<TwopcSystem> {
    const system = new TwopcSystem(options);
    try {
      await system.launchAll();
    } catch (err) {
      await system.stop();
      throw err;
    }
    return system;
  }

  private launch(name: string, args: string[]): SupervisedProcess {
    const env: NodeJS.ProcessEnv = { ...process.env, TWOPC_FAILPOINTS: '' };
    const execArgv: string[] = [];
    if (this.options.cpuProfDir !== undefined) {
      const dir = path.resolve(this.options.cpuProfDir, name);
      mkdirSync(dir, { recursive: true });
      // Written when the process exits after its graceful stop.
      execArgv.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
    }
    const logFile = path.join(this.options.dir, `${name}.log`);
    const child = new SupervisedProcess({ name, args, logFile, env, execArgv });
    this.children.push(child);
    return child;
  }

  private async launchAll(): Promise<void> {
    const dir = this.options.dir;
    mkdirSync(dir, { recursive: true });
    const schemaPath = path.join(dir, 'schema.sql');
    writeFileSync(schemaPath, schemaSql(accountsFor(this.options.clientsMax)));
    const participants = SHARDS.map((shard) =>
      this.launch(shard, [
        ...['participant', '--shard', shard, '--listen', '127.0.0.1:0'],
        ...['--data-dir', path.join(dir, shard), '--schema', schemaPath],
      ]),
    );
    const addresses = await Promise.all(participants.map((p) => p.waitUntilServing(startTimeoutMs)));
    const coordinator = this.launch('coordinator', [
      ...['coordinator', '--listen', '127.0.0.1:0', '--data-dir', path.join(dir, 'coordinator')],
      ...SHARDS.flatMap((shard, i) => ['--participant', `${shard}=${addresses[i]}`]),
    ]);
    const address = await coordinator.waitUntilServing(startTimeoutMs);
    this.client = new TwopcClient(address, { deadlineMs: callDeadlineMs });
    Object.assign(this.description, {
      coordinator: `${address} (pid ${coordinator.pid})`,
      participants: SHARDS.map((s, i) => `${s}=${addresses[i]} (pid ${participants[i]?.pid})`).join(', '),
      sqliteSynchronous: 'FULL (default)',
      decisionLog: 'sqlite (default), forced',
      grpcChannels: 1,
      dataDir: dir,
    });
  }

  method(scenario: Scenario): string {
    return scenario === '2shard'
      ? 'Execute: ADD on 2 shards, 2PC, decision forced'
      : 'Execute: 2 ADDs on 1 shard, one-phase commit';
  }

  /** Coordinator first, then the shards. */
  probes(): ProcessProbe[] {
    const ordered = [...this.children].sort(
      (a, b) => Number(b.name === 'coordinator') - Number(a.name === 'coordinator'),
    );
    return ordered.map((c) => new SingleProcessProbe(c.name, c.pid ?? -1));
  }

  clients(scenario: Scenario, clients: number): TxnFn[] {
    const client = this.client;
    if (client === undefined) throw new Error('twopc is not started');
    const fns: TxnFn[] = [];
    for (let c = 0; c < clients; c++) {
      let seq = 0;
      fns.push(async (): Promise<TxnResult> => {
        const { from, to } = transferAccounts(c, seq++);
        const ops =
          scenario === '2shard'
            ? [add(SHARDS[0], from, -1n), add(SHARDS[1], to, 1n)]
            : [add(SHARDS[0], from, -1n), add(SHARDS[0], to, 1n)];
        const outcome = await client.execute(ops);
        if (outcome.outcome === 'COMMITTED') return COMMITTED;
        return { committed: false, reason: outcome.abortReason ?? 'UNSPECIFIED' };
      });
    }
    return fns;
  }

  checkAlive(): void {
    for (const child of this.children) {
      const status = child.exitStatus;
      if (status === undefined) continue;
      throw new Error(
        `twopc ${child.name} (pid ${child.pid}) exited during the bench (${describeExit(status)}); ` +
          `last output (log: ${child.logFile}):\n${child.tail()}`,
      );
    }
  }

  memory(): MemoryMark[] {
    return this.children.map((c) => ({
      name: c.name,
      pid: c.pid ?? -1,
      rssKb: (c.pid !== undefined ? readRssKb(c.pid) : undefined) ?? Number.NaN,
    }));
  }

  /** Coordinator first (so it is not left driving decisions to a stopped participant), then both shards. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.client?.close();
    const coordinator = this.children.filter((c) => c.name === 'coordinator');
    const participants = this.children.filter((c) => c.name !== 'coordinator');
    for (const group of [coordinator, participants]) {
      await Promise.all(group.map((c) => c.stop(stopTimeoutMs)));
    }
  }

  /** Pids of the processes still running: the last-resort SIGKILL list if the bench is torn down. */
  livePids(): number[] {
    return this.children.filter((c) => c.exitStatus === undefined && c.pid !== undefined).map((c) => c.pid!);
  }
}
