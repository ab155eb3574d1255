/**
 * PostgreSQL under test: its native two-phase commit driven by the bench as a small coordinator.
 *
 * Two databases (`shard_a`, `shard_b`) in one throw-away server. Each client owns one connection to
 * each. A 2-shard transfer sends `BEGIN; UPDATE …; PREPARE TRANSACTION 'gid'` to both databases at
 * once (one round trip each: the strongest simple driver, no per-statement waits), then
 * `COMMIT PREPARED` to both at once. A 1-shard transfer is a plain local transaction,
 * `BEGIN; UPDATE; UPDATE; COMMIT`, in one round trip. GIDs are unique across the server.
 *
 * Not included, in PostgreSQL's favour: the bench-as-coordinator keeps no durable decision log
 * (twopc forces one before answering), so its crash between the two COMMIT PREPAREDs would leave an
 * in-doubt transaction nobody can resolve from a record.
 */
import pg from 'pg';
import { COMMITTED, type TxnFn, type TxnResult } from './closed-loop.ts';
import { PG_USER, PgServer, type PgSetup } from './postgres-server.ts';
import { ProcessTreeProbe, readRssKb, type ProcessProbe } from './process-stats.ts';
import type { MemoryMark, SystemUnderTest } from './system.ts';
import { SCENARIO_SPECS, accountsFor, balanceInitial, transferAccounts, type Scenario } from './workload.ts';

const DATABASES = ['shard_a', 'shard_b'] as const;
/** Connections opened at once at start-up (the postmaster forks a backend per connection). */
const connectParallelMax = 16;
/** Room for the admin connection and superuser_reserved_connections (3). */
const connectionsSpare = 10;
/** PostgreSQL's default max_connections is 100; the brief asks for at least 200 prepared slots. */
const preparedTxnsMin = 200;

export interface PostgresSystemOptions extends PgSetup {
  readonly dir: string;
  readonly clientsMax: number;
}

type Result = pg.QueryResult;

/** A multi-statement simple query resolves with one result per statement. */
function results(r: Result | Result[]): Result[] {
  return Array.isArray(r) ? r : [r];
}

export class PostgresSystem implements SystemUnderTest {
  readonly name = 'postgres' as const;
  readonly description: Record<string, string | number | boolean> = {};
  /** Per client: [connection to shard_a, connection to shard_b]. */
  private readonly connections: Array<[pg.Client, pg.Client]> = [];
  private gidSeq = 0;
  private stopped = false;

  private constructor(private readonly server: PgServer) {}

  static async start(options: PostgresSystemOptions): Promise<PostgresSystem> {
    const server = await PgServer.start({
      binaries: options.binaries,
      runAs: options.runAs,
      dir: options.dir,
      connectionsMax: 2 * options.clientsMax + connectionsSpare,
      preparedTxnsMax: Math.max(preparedTxnsMin, 2 * options.clientsMax + connectionsSpare),
    });
    const system = new PostgresSystem(server);
    try {
      await system.setUp(options.clientsMax);
    } catch (err) {
      await system.stop();
      throw err;
    }
    Object.assign(system.description, {
      version: options.binaries.version,
      address: `127.0.0.1:${server.port} (TCP)`,
      settings: 'fsync=on synchronous_commit=on full_page_writes=on',
      maxPreparedTransactions: Math.max(preparedTxnsMin, 2 * options.clientsMax + connectionsSpare),
      dataDir: options.dir,
      driver: 'pg (node-postgres, pure JS), one connection per client per database',
    });
    return system;
  }

  private connect(database: string): pg.Client {
    const client = new pg.Client({
      host: '127.0.0.1',
      port: this.server.port,
      user: PG_USER,
      database,
      application_name: 'twopc-bench',
    });
    // A connection that breaks (server stopped) must not crash the bench; the next query fails instead.
    client.on('error', () => {});
    return client;
  }

  private async setUp(clientsMax: number): Promise<void> {
    const admin = this.connect('postgres');
    await admin.connect();
    try {
      for (const db of DATABASES) await admin.query(`CREATE DATABASE ${db}`);
    } finally {
      await admin.end();
    }
    const accounts = accountsFor(clientsMax);
    for (const db of DATABASES) {
      const c = this.connect(db);
      await c.connect();
      try {
        await c.query(
          'CREATE TABLE accounts (id integer PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0))',
        );
        await c.query(
          `INSERT INTO accounts SELECT g, ${balanceInitial} FROM generate_series(1, ${accounts}) g`,
        );
        await c.query('VACUUM ANALYZE accounts');
      } finally {
        await c.end();
      }
    }
    for (let i = 0; i < clientsMax; i += connectParallelMax) {
      const batch: Array<Promise<[pg.Client, pg.Client]>> = [];
      for (let c = i; c < Math.min(clientsMax, i + connectParallelMax); c++) {
        const pair: [pg.Client, pg.Client] = [this.connect(DATABASES[0]), this.connect(DATABASES[1])];
        this.connections.push(pair);
        batch.push(Promise.all(pair.map((p) => p.connect())).then(() => pair));
      }
      await Promise.all(batch);
    }
  }

  /** Its own WAL is not shipped anywhere: no WAL rows. */
  runs(scenario: Scenario): boolean {
    return SCENARIO_SPECS[scenario].shipping === 'none';
  }

  method(scenario: Scenario): string {
    return SCENARIO_SPECS[scenario].transfer === '2shard'
      ? 'PREPARE TRANSACTION on 2 databases, COMMIT PREPARED'
      : 'local transaction on 1 database';
  }

  probes(): ProcessProbe[] {
    return [new ProcessTreeProbe('postgres', this.server.pid ?? -1)];
  }

  clients(scenario: Scenario, clients: number): TxnFn[] {
    if (clients > this.connections.length) {
      throw new Error(`postgres: ${clients} clients asked, ${this.connections.length} connections open`);
    }
    const fns: TxnFn[] = [];
    for (let c = 0; c < clients; c++) {
      const [a, b] = this.connections[c]!;
      let seq = 0;
      fns.push(
        SCENARIO_SPECS[scenario].transfer === '2shard'
          ? () => this.transfer2(a, b, transferAccounts(c, seq++))
          : () => this.transfer1(a, transferAccounts(c, seq++)),
      );
    }
    return fns;
  }

  private async transfer1(a: pg.Client, { from, to }: { from: number; to: number }): Promise<TxnResult> {
    const r = results(
      await a.query(
        `BEGIN; UPDATE accounts SET balance = balance - 1 WHERE id = ${from}; ` +
          `UPDATE accounts SET balance = balance + 1 WHERE id = ${to}; COMMIT`,
      ),
    );
    if (r[1]?.rowCount !== 1 || r[2]?.rowCount !== 1) throw new Error('postgres: a transfer row is missing');
    return COMMITTED;
  }

  private async transfer2(
    a: pg.Client,
    b: pg.Client,
    { from, to }: { from: number; to: number },
  ): Promise<TxnResult> {
    const gid = `bench-${++this.gidSeq}`;
    const legs = [
      { conn: a, gid: `${gid}-a`, sql: `UPDATE accounts SET balance = balance - 1 WHERE id = ${from}` },
      { conn: b, gid: `${gid}-b`, sql: `UPDATE accounts SET balance = balance + 1 WHERE id = ${to}` },
    ];
    const votes = await Promise.allSettled(
      legs.map((l) => l.conn.query(`BEGIN; ${l.sql}; PREPARE TRANSACTION '${l.gid}'`)),
    );
    const yes = votes.map((v) => v.status === 'fulfilled' && results(v.value)[1]?.rowCount === 1);
    if (yes.every(Boolean)) {
      await Promise.all(legs.map((l) => l.conn.query(`COMMIT PREPARED '${l.gid}'`)));
      return COMMITTED;
    }
    // Abort: roll back what was prepared, and end the failed block on the other connection.
    await Promise.all(
      legs.map((l, i) =>
        votes[i]!.status === 'fulfilled'
          ? l.conn.query(`ROLLBACK PREPARED '${l.gid}'`)
          : l.conn.query('ROLLBACK'),
      ),
    );
    const failed = votes.find((v): v is PromiseRejectedResult => v.status === 'rejected');
    const reason = failed ? String((failed.reason as Error).message ?? failed.reason) : 'row missing';
    return { committed: false, reason };
  }

  checkAlive(): void {
    const status = this.server.exitStatus;
    if (status === undefined) return;
    throw new Error(
      `postgres (pid ${this.server.pid}) exited during the bench (${status}); ` +
        `last output (log: ${this.server.logFile}):\n${this.server.tail()}`,
    );
  }

  memory(): MemoryMark[] {
    const pid = this.server.pid ?? -1;
    return [{ name: 'postmaster', pid, rssKb: readRssKb(pid) ?? Number.NaN }];
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.connections.flat().map((c) => c.end().catch(() => {})));
    await this.server.stop();
  }

  livePids(): number[] {
    return this.server.exitStatus === undefined && this.server.pid !== undefined ? [this.server.pid] : [];
  }
}
