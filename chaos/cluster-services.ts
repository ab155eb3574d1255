/**
 * The services under the chaos cluster that the nemesis can take down, each a real process
 * (service-process.ts) with its data in the run dir:
 *
 * - `replica`: an s3rver (the S3 emulator, a dev dependency) the participants ship their WAL to, in
 *   `async` or `sync` mode (`--replication`). Down, async shipping falls behind and catches up; sync
 *   votes and commit acknowledgements wait for it and fail after their bound (the transaction aborts).
 * - `redis`: a redis-server (`--appendonly yes --appendfsync always`, as the coordinator demands)
 *   holding the coordinator's decision log. Down, decisions cannot be forced: transactions abort or end
 *   unknown, never COMMITTED without a forced decision.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { REDIS_TARGET, REPLICA_TARGET, type OutageMode } from './schedule.ts';
import { ServiceProcess } from './service-process.ts';

export const REPLICATION_MODES = ['off', 'async', 'sync'] as const;
export type ChaosReplication = (typeof REPLICATION_MODES)[number];
export const DECISION_LOGS = ['sqlite', 'redis'] as const;
export type ChaosDecisionLog = (typeof DECISION_LOGS)[number];

export const REPLICA_BUCKET = 'twopc-chaos';
/** s3rver accepts only these; the participants and the restore CLI read them like any AWS credentials. */
export const S3RVER_CREDENTIALS: Readonly<Record<string, string>> = Object.freeze({
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
});
/** How often async shipping uploads (shorter than the default 1 s: more uploads meet the outages). */
export const chaosSyncIntervalMs = 200;
const serviceStopTimeoutMs = 5_000;

export interface ServicesSpec {
  readonly runDir: string;
  readonly replication: ChaosReplication;
  readonly decisionLog: ChaosDecisionLog;
}

export class ClusterServices {
  readonly spec: ServicesSpec;
  readonly #services = new Map<string, ServiceProcess>();

  constructor(spec: ServicesSpec) {
    this.spec = spec;
  }

  /** Starts what the spec asks for (nothing for replication off and a SQLite log). */
  async start(): Promise<void> {
    const { runDir } = this.spec;
    mkdirSync(path.join(runDir, 'logs'), { recursive: true });
    if (this.spec.replication !== 'off') {
      const dir = path.join(runDir, 'data', REPLICA_TARGET);
      mkdirSync(dir, { recursive: true });
      const bin = s3rverBin();
      const service = await ServiceProcess.start({
        name: REPLICA_TARGET,
        command: process.execPath,
        // No --openssl-legacy-provider: the S3 backend pages listings in a way s3rver serves without it.
        args: (port) =>
          [bin, '-d', dir, '-a', '127.0.0.1', '-p', String(port), '--silent'].concat([
            '--configure-bucket',
            REPLICA_BUCKET,
          ]),
        logFile: this.logFile(REPLICA_TARGET),
      });
      this.#services.set(REPLICA_TARGET, service);
    }
    if (this.spec.decisionLog === 'redis') {
      const dir = path.join(runDir, 'data', REDIS_TARGET);
      mkdirSync(dir, { recursive: true });
      const persistence = ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
      const service = await ServiceProcess.start({
        name: REDIS_TARGET,
        command: 'redis-server',
        args: (port) => ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, ...persistence],
        logFile: this.logFile(REDIS_TARGET),
      });
      this.#services.set(REDIS_TARGET, service);
    }
  }

  has(name: string): boolean {
    return this.#services.has(name);
  }

  /** The participants' --replica URL (each adds its shard name), if replication is on. */
  replicaUrl(): string | undefined {
    const s = this.#services.get(REPLICA_TARGET);
    if (s === undefined) return undefined;
    return `s3://${REPLICA_BUCKET}/chaos?endpoint=http://127.0.0.1:${s.port}&region=us-east-1`;
  }

  /** The coordinator's --decision-log URL, if it runs on Redis. */
  redisUrl(): string | undefined {
    const s = this.#services.get(REDIS_TARGET);
    return s === undefined ? undefined : `redis://127.0.0.1:${s.port}/0`;
  }

  logFile(name: string): string {
    return path.join(this.spec.runDir, 'logs', `${name}.log`);
  }

  /** Times each service was started (restarts included). */
  starts(): Record<string, number> {
    return Object.fromEntries([...this.#services.values()].map((s) => [s.name, s.starts]));
  }

  /** Takes `name` down: SIGKILL (until heal) or SIGSTOP (at most `boundMs`). */
  outage(name: string, mode: OutageMode, boundMs: number): Promise<void> {
    const s = this.#service(name);
    return mode === 'kill' ? s.kill() : s.pause(boundMs);
  }

  heal(name: string): Promise<void> {
    return this.#service(name).heal();
  }

  async healAll(): Promise<void> {
    await Promise.all([...this.#services.values()].map((s) => s.heal()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#services.values()].map((s) => s.stop(serviceStopTimeoutMs)));
  }

  killAllNow(): void {
    for (const s of this.#services.values()) s.killNow();
  }

  #service(name: string): ServiceProcess {
    const s = this.#services.get(name);
    if (!s) throw new Error(`no service ${name} in this run`);
    return s;
  }
}

/** The s3rver script (a dev dependency: absent from a production install, which cannot run this fault). */
function s3rverBin(): string {
  try {
    const pkg = createRequire(import.meta.url).resolve('s3rver/package.json');
    return path.join(path.dirname(pkg), 'bin', 's3rver.js');
  } catch {
    throw new Error('replica-outage needs s3rver, a dev dependency (npm install --include=dev)');
  }
}
