/**
 * One twopc cluster of the bench: a coordinator and two participants, each its own OS process
 * started through the CLI exactly as a user would (`node cli/bin.mjs participant|coordinator …
 * --listen 127.0.0.1:0 --metrics 127.0.0.1:0`), with the product's defaults (SQLite
 * `synchronous=FULL`, decisions forced to the SQLite log), and the bench's clients sharing ONE gRPC channel through the SDK. The WAL rows
 * run the same cluster with `--replica s3://… --replication async|sync` on the participants.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TwopcClient } from '../../client/twopc-client.ts';
import { SupervisedProcess, describeExit } from '../supervised-process.ts';
import { readRssKb, SingleProcessProbe, type ProcessProbe } from './process-stats.ts';
import { scrapePage, type DeploymentScrape } from './stage-breakdown.ts';
import type { MemoryMark } from './system.ts';
import { SHARDS, balanceInitial, type Shipping } from './workload.ts';

/** tsx compiles on first start and the machine may be busy: generous. */
const startTimeoutMs = 60_000;
/** A graceful stop flushes the decision log (and uploads the last WAL) and writes a CPU profile if asked. */
const stopTimeoutMs = 15_000;
/** Per-transaction deadline at the SDK; far above any healthy latency, so a stuck call shows as an error. */
const callDeadlineMs = 10_000;

export interface TwopcDeploymentOptions {
  readonly dir: string;
  /** Accounts per shard the schema seeds. */
  readonly accounts: number;
  readonly shipping: Shipping;
  /** For `shipping` other than 'none': the replica URL (all shards share it: its layout is per shard). */
  readonly replicaUrl?: string;
  /** Extra environment of the participants (the S3 credentials). */
  readonly participantEnv?: Readonly<Record<string, string>>;
  /** Write V8 CPU profiles of the processes under this directory (one sub-folder each). */
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

export class TwopcDeployment {
  /** '' for the cluster without shipping; 'wal-async' / 'wal-sync' otherwise (log files, memory names). */
  readonly label: string;
  readonly description: Record<string, string | number | boolean> = {};
  private readonly children: SupervisedProcess[] = [];
  private clientValue: TwopcClient | undefined;
  private stopped = false;

  private constructor(private readonly options: TwopcDeploymentOptions) {
    this.label = options.shipping === 'none' ? '' : `wal-${options.shipping}`;
  }

  static async start(options: TwopcDeploymentOptions): Promise<TwopcDeployment> {
    const deployment = new TwopcDeployment(options);
    try {
      await deployment.launchAll();
    } catch (err) {
      await deployment.stop();
      throw err;
    }
    return deployment;
  }

  get client(): TwopcClient {
    if (this.clientValue === undefined) throw new Error('twopc is not started');
    return this.clientValue;
  }

  private launch(
    name: string,
    args: string[],
    extraEnv: Readonly<Record<string, string>> = {},
  ): SupervisedProcess {
    const env: NodeJS.ProcessEnv = { ...process.env, TWOPC_FAILPOINTS: '', ...extraEnv };
    const execArgv: string[] = [];
    const fileName = this.label === '' ? name : `${this.label}-${name}`;
    if (this.options.cpuProfDir !== undefined) {
      const dir = path.resolve(this.options.cpuProfDir, fileName);
      mkdirSync(dir, { recursive: true });
      // Written when the process exits after its graceful stop.
      execArgv.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
    }
    const logFile = path.join(this.options.dir, `${name}.log`);
    const child = new SupervisedProcess({ name, args, logFile, env, execArgv });
    this.children.push(child);
    return child;
  }

  private replicaArgs(): string[] {
    const { shipping, replicaUrl } = this.options;
    if (shipping === 'none') return [];
    if (replicaUrl === undefined) throw new Error(`WAL shipping ${shipping} needs a replica URL`);
    return ['--replica', replicaUrl, '--replication', shipping];
  }

  private async launchAll(): Promise<void> {
    const dir = this.options.dir;
    mkdirSync(dir, { recursive: true });
    const schemaPath = path.join(dir, 'schema.sql');
    writeFileSync(schemaPath, schemaSql(this.options.accounts));
    const participants = SHARDS.map((shard) =>
      this.launch(
        shard,
        [
          ...['participant', '--shard', shard, '--listen', '127.0.0.1:0', '--metrics', '127.0.0.1:0'],
          ...['--data-dir', path.join(dir, shard), '--schema', schemaPath],
          ...this.replicaArgs(),
        ],
        this.options.participantEnv,
      ),
    );
    const addresses = await Promise.all(participants.map((p) => p.waitUntilServing(startTimeoutMs)));
    const coordinator = this.launch('coordinator', [
      ...['coordinator', '--listen', '127.0.0.1:0', '--metrics', '127.0.0.1:0'],
      ...['--data-dir', path.join(dir, 'coordinator')],
      ...SHARDS.flatMap((shard, i) => ['--participant', `${shard}=${addresses[i]}`]),
    ]);
    const address = await coordinator.waitUntilServing(startTimeoutMs);
    this.clientValue = new TwopcClient(address, { deadlineMs: callDeadlineMs });
    Object.assign(this.description, {
      coordinator: `${address} (pid ${coordinator.pid})`,
      participants: SHARDS.map((s, i) => `${s}=${addresses[i]} (pid ${participants[i]?.pid})`).join(', '),
      ...(this.options.shipping === 'none'
        ? {}
        : { walShipping: `${this.options.shipping} to ${this.options.replicaUrl}` }),
    });
  }

  /**
   * Every process's /metrics page now (stage-breakdown.ts). Rejects if a page cannot be read; the
   * caller then leaves the breakdown out.
   */
  async scrape(): Promise<DeploymentScrape> {
    const atMs = performance.now();
    const processes = await Promise.all(
      this.children.map(async (c) => {
        if (c.metricsUrl === undefined) throw new Error(`${c.name} announced no metrics endpoint`);
        return { name: c.name, page: await scrapePage(c.metricsUrl) };
      }),
    );
    return { atMs, processes };
  }

  /** Coordinator first, then the shards. */
  probes(): ProcessProbe[] {
    const ordered = [...this.children].sort(
      (a, b) => Number(b.name === 'coordinator') - Number(a.name === 'coordinator'),
    );
    return ordered.map((c) => new SingleProcessProbe(c.name, c.pid ?? -1));
  }

  checkAlive(): void {
    for (const child of this.children) {
      const status = child.exitStatus;
      if (status === undefined) continue;
      throw new Error(
        `twopc ${this.label === '' ? '' : `(${this.label}) `}${child.name} (pid ${child.pid}) exited during ` +
          `the bench (${describeExit(status)}); last output (log: ${child.logFile}):\n${child.tail()}`,
      );
    }
  }

  /** Names carry the label, so the clusters' processes stay apart in the memory record. */
  memory(): MemoryMark[] {
    return this.children.map((c) => ({
      name: this.label === '' ? c.name : `${c.name} (${this.label})`,
      pid: c.pid ?? -1,
      rssKb: (c.pid !== undefined ? readRssKb(c.pid) : undefined) ?? Number.NaN,
    }));
  }

  /** Coordinator first (so it is not left driving decisions to a stopped participant), then both shards. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clientValue?.close();
    const coordinator = this.children.filter((c) => c.name === 'coordinator');
    const participants = this.children.filter((c) => c.name !== 'coordinator');
    for (const group of [coordinator, participants]) {
      await Promise.all(group.map((c) => c.stop(stopTimeoutMs)));
    }
  }

  livePids(): number[] {
    return this.children.filter((c) => c.exitStatus === undefined && c.pid !== undefined).map((c) => c.pid!);
  }
}
