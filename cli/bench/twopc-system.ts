/**
 * twopc under test: one cluster (twopc-deployment.ts) per kind of WAL shipping the chosen scenarios
 * need — none, async, sync — and, for the WAL ones, a throw-away s3rver (s3rver-server.ts) as their
 * replica. Every cluster is a coordinator and two participants started through the CLI with the
 * product's defaults; the WAL clusters differ only by `--replica s3://… --replication MODE`.
 */
import path from 'node:path';
import type { OpInput } from '../../client/ops.ts';
import { COMMITTED, type TxnFn, type TxnResult } from './closed-loop.ts';
import { SingleProcessProbe, type ProcessProbe } from './process-stats.ts';
import type { RestoreTarget } from './restore-speed.ts';
import { S3RVER_CREDENTIALS, S3rverServer, findS3rver } from './s3rver-server.ts';
import type { DeploymentScrape } from './stage-breakdown.ts';
import type { MemoryMark, SystemUnderTest } from './system.ts';
import { TwopcDeployment } from './twopc-deployment.ts';
import {
  SCENARIO_SPECS,
  SHARDS,
  accountsFor,
  transferAccounts,
  type Scenario,
  type Shipping,
} from './workload.ts';

export interface TwopcSystemOptions {
  readonly dir: string;
  readonly clientsMax: number;
  /** The scenarios the run will ask for: they decide which clusters start. */
  readonly scenarios: readonly Scenario[];
  /** Write V8 CPU profiles of the twopc processes under this directory (one sub-folder each). */
  readonly cpuProfDir?: string;
  /** Progress lines (a skipped WAL row says why). */
  readonly progress?: (line: string) => void;
}

function add(shard: string, id: number, delta: bigint): OpInput {
  return { shard, table: 'accounts', kind: 'ADD', key: { id: BigInt(id) }, values: { balance: delta } };
}

export class TwopcSystem implements SystemUnderTest {
  readonly name = 'twopc' as const;
  readonly description: Record<string, string | number | boolean> = {};
  private readonly deployments = new Map<Shipping, TwopcDeployment>();
  private s3rver: S3rverServer | undefined;
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

  private async launchAll(): Promise<void> {
    const { dir, scenarios } = this.options;
    const accounts = accountsFor(this.options.clientsMax);
    const wanted = new Set(scenarios.map((s) => SCENARIO_SPECS[s].shipping));
    const walModes = (['async', 'sync'] as const).filter((m) => wanted.has(m));
    let replicaUrl: ((prefix: string) => string) | undefined;
    if (walModes.length > 0) {
      const found = findS3rver();
      if ('missing' in found) {
        this.description.walShipping = `skipped: ${found.missing}`;
        this.options.progress?.(`twopc WAL rows: skipped, ${found.missing}`);
      } else {
        const s3rver = await S3rverServer.start({ bin: found.bin, dir: path.join(dir, 's3rver') });
        this.s3rver = s3rver;
        replicaUrl = (prefix) => s3rver.url(prefix);
        this.description.s3rver = `127.0.0.1:${s3rver.port} (pid ${s3rver.pid})`;
      }
    }
    const shippings: Shipping[] = [
      ...(wanted.has('none') ? (['none'] as const) : []),
      ...(replicaUrl === undefined ? [] : walModes),
    ];
    // One after the other: six CLI processes compiling at once would crowd a 2-core machine for minutes.
    for (const shipping of shippings) {
      const deployment = await TwopcDeployment.start({
        dir: shipping === 'none' ? dir : path.join(dir, `wal-${shipping}`),
        accounts,
        shipping,
        ...(shipping === 'none' || replicaUrl === undefined
          ? {}
          : { replicaUrl: replicaUrl(`wal-${shipping}`), participantEnv: S3RVER_CREDENTIALS }),
        // (the prefix is the cluster's label: restoreTargets() relies on it)
        ...(this.options.cpuProfDir === undefined ? {} : { cpuProfDir: this.options.cpuProfDir }),
      });
      this.deployments.set(shipping, deployment);
      for (const [k, v] of Object.entries(deployment.description))
        this.description[deployment.label === '' ? k : `${k} (${deployment.label})`] = v;
    }
    Object.assign(this.description, {
      sqliteSynchronous: 'FULL (default)',
      decisionLog: 'sqlite (default), forced',
      grpcChannels: 1,
      dataDir: dir,
    });
  }

  /** One shard of each WAL cluster, for the restore-speed measurement (restore-speed.ts). */
  restoreTargets(): RestoreTarget[] {
    const s3rver = this.s3rver;
    if (s3rver === undefined) return [];
    return [...this.deployments.values()]
      .filter((d) => d.label !== '')
      .map((d) => ({
        cluster: d.label,
        replicaUrl: s3rver.url(d.label),
        shard: SHARDS[0],
        env: S3RVER_CREDENTIALS,
      }));
  }

  runs(scenario: Scenario): boolean {
    return this.deployments.has(SCENARIO_SPECS[scenario].shipping);
  }

  method(scenario: Scenario): string {
    const { transfer, shipping } = SCENARIO_SPECS[scenario];
    const base =
      transfer === '2shard'
        ? 'Execute: ADD on 2 shards, 2PC, decision forced'
        : 'Execute: 2 ADDs on 1 shard, one-phase commit';
    return shipping === 'none' ? base : `${base}; participants --replica s3://… --replication ${shipping}`;
  }

  /** Every process's /metrics page now, for the row's stage breakdown. */
  scrape(scenario: Scenario): Promise<DeploymentScrape> {
    return this.deployment(scenario).scrape();
  }

  /** The processes of the scenario's cluster, coordinator first; s3rver too for a WAL row. */
  probes(scenario: Scenario): ProcessProbe[] {
    const shipping = SCENARIO_SPECS[scenario].shipping;
    const probes = this.deployment(scenario).probes();
    if (shipping !== 'none' && this.s3rver !== undefined)
      probes.push(new SingleProcessProbe('s3rver', this.s3rver.pid ?? -1));
    return probes;
  }

  clients(scenario: Scenario, clients: number): TxnFn[] {
    const client = this.deployment(scenario).client;
    const { transfer } = SCENARIO_SPECS[scenario];
    const fns: TxnFn[] = [];
    for (let c = 0; c < clients; c++) {
      let seq = 0;
      fns.push(async (): Promise<TxnResult> => {
        const { from, to } = transferAccounts(c, seq++);
        const ops =
          transfer === '2shard'
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
    for (const d of this.deployments.values()) d.checkAlive();
    const status = this.s3rver?.exitStatus;
    if (status !== undefined)
      throw new Error(`s3rver (pid ${this.s3rver?.pid}) exited during the bench (${status})`);
  }

  memory(): MemoryMark[] {
    return [...this.deployments.values()].flatMap((d) => d.memory());
  }

  /** The processes of the scenario's cluster only (what the soak samples). */
  memoryOf(scenario: Scenario): MemoryMark[] {
    return this.deployment(scenario).memory();
  }

  /** The clusters (coordinator first, then the shards, in each), then s3rver. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const d of this.deployments.values()) await d.stop();
    await this.s3rver?.stop();
  }

  /** Pids of the processes still running: the last-resort SIGKILL list if the bench is torn down. */
  livePids(): number[] {
    const s3 = this.s3rver;
    return [
      ...[...this.deployments.values()].flatMap((d) => d.livePids()),
      ...(s3 !== undefined && s3.exitStatus === undefined && s3.pid !== undefined ? [s3.pid] : []),
    ];
  }

  private deployment(scenario: Scenario): TwopcDeployment {
    const d = this.deployments.get(SCENARIO_SPECS[scenario].shipping);
    if (d === undefined) throw new Error(`twopc does not run ${scenario} in this bench`);
    return d;
  }
}
