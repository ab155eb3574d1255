/**
 * The chaos cluster: a coordinator and one participant per shard (cluster-process.ts), each a real OS
 * process started through the CLI, wired through the Network's proxies, with data and logs in the run
 * dir (`data/NAME/`, `logs/NAME.log`, every incarnation appended).
 *
 * Nothing is left behind: processes are killed by PID on stop(), on `killAllNow()` (the CLI calls it on
 * SIGINT), and on this process's exit; children also get an IPC channel whose closing makes them quit
 * (cli/supervised-process.ts). A paused process cannot notice that, so every SIGSTOP comes with a
 * detached watchdog that sends SIGCONT after the pause's bound, even if the harness has died.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ClusterProcess, type ProcessExit, type ProcessState } from './cluster-process.ts';
import { chaosSyncIntervalMs, type ClusterServices } from './cluster-services.ts';
import { COORDINATOR, type Network } from './network.ts';

export type { ProcessExit, ProcessState };

/** SIGTERM, then SIGKILL after this long. */
export const stopTimeoutMs = 10_000;

export interface ClusterSpec {
  readonly runDir: string;
  readonly shards: readonly string[];
  readonly schemaSql: string;
  readonly network: Network;
  readonly txnTimeoutMs: number;
  /** Environment for every process (TWOPC_MUTATION…), over the harness's own. */
  readonly env: Readonly<Record<string, string>>;
  readonly clockMs: () => number;
  /** The replica store and Redis, already started: the processes are pointed at them. */
  readonly services: ClusterServices;
}

export class ClusterRunner {
  readonly spec: ClusterSpec;
  /** Exits nobody asked for, in order (failpoint crashes included: they name the failpoint). */
  readonly exits: ProcessExit[] = [];
  readonly #processes = new Map<string, ClusterProcess>();
  readonly #onExit = () => this.killAllNow();

  constructor(spec: ClusterSpec) {
    this.spec = spec;
    const schemaPath = path.join(spec.runDir, 'schema.sql');
    const replicaUrl = spec.services.replicaUrl();
    const shipping =
      replicaUrl === undefined
        ? []
        : ['--replica', replicaUrl, '--replication', spec.services.spec.replication].concat([
            '--sync-interval',
            String(chaosSyncIntervalMs),
          ]);
    for (const shard of spec.shards) {
      this.#add(shard, [
        ...['participant', '--shard', shard, '--data-dir', this.dataDir(shard), '--schema', schemaPath],
        ...['--coordinator', spec.network.coordinatorAddressFor(shard)],
        ...shipping,
      ]);
    }
    const redisUrl = spec.services.redisUrl();
    this.#add(COORDINATOR, [
      ...['coordinator', '--data-dir', this.dataDir(COORDINATOR)],
      ...(redisUrl === undefined ? [] : ['--decision-log', redisUrl]),
      ...['--txn-timeout-ms', String(spec.txnTimeoutMs)],
      ...spec.shards.flatMap((s) => ['--participant', `${s}=${spec.network.participantAddressFor(s)}`]),
    ]);
  }

  /** Participants first, then the coordinator; the proxies learn the real addresses. */
  async start(): Promise<void> {
    mkdirSync(path.join(this.spec.runDir, 'logs'), { recursive: true });
    writeFileSync(path.join(this.spec.runDir, 'schema.sql'), this.spec.schemaSql);
    process.on('exit', this.#onExit);
    await Promise.all(this.spec.shards.map((s) => this.#process(s).start()));
    await this.#process(COORDINATOR).start();
  }

  names(): string[] {
    return [...this.#processes.keys()];
  }

  state(name: string): ProcessState {
    return this.#process(name).state;
  }

  /** The real address (not through a proxy): for the harness's own look-ups after the heal. */
  address(name: string): string {
    return `127.0.0.1:${this.#process(name).port}`;
  }

  dataDir(name: string): string {
    return path.join(this.spec.runDir, 'data', name);
  }

  shardFile(shard: string): string {
    return path.join(this.dataDir(shard), `${shard}.db`);
  }

  logFile(name: string): string {
    return path.join(this.spec.runDir, 'logs', `${name}.log`);
  }

  /** Times each process was started (restarts included). */
  starts(): Record<string, number> {
    return Object.fromEntries([...this.#processes.values()].map((p) => [p.name, p.starts]));
  }

  kill(name: string): Promise<void> {
    return this.#process(name).kill();
  }

  /** Starts a process again on its port (killing it first if it runs). */
  restart(name: string, env: Readonly<Record<string, string>> = {}): Promise<void> {
    return this.#process(name).start(env);
  }

  pause(name: string, boundMs: number): Promise<void> {
    return this.#process(name).pause(boundMs);
  }

  /** Restarts the process with TWOPC_FAILPOINTS=`spec`; when one crashes it, it restarts clean. */
  armFailpoints(name: string, spec: string): Promise<void> {
    return this.#process(name).start({ TWOPC_FAILPOINTS: spec });
  }

  /** True if failpoints armed on `name` have not fired yet. */
  armed(name: string): boolean {
    return this.#process(name).armedFailpoints !== undefined;
  }

  heal(name: string): Promise<void> {
    return this.#process(name).heal();
  }

  /** The services first (a coordinator on Redis cannot start without it), then every process. */
  async healAll(): Promise<void> {
    await this.spec.services.healAll();
    await Promise.all([...this.#processes.values()].map((p) => p.heal()));
  }

  /**
   * Graceful stop, coordinator first (so it does not drive decisions to shards already gone). With
   * `killParticipants` the participants are SIGKILLed instead: no closing flush of their WAL shipping,
   * so what their replica holds is what it held while they ran (sync mode's promise). The services
   * keep running (the replica is read after this).
   */
  async stop(options: { readonly killParticipants?: boolean } = {}): Promise<void> {
    await this.#process(COORDINATOR).stop(stopTimeoutMs);
    await Promise.all(
      this.spec.shards.map((s) =>
        options.killParticipants ? this.#process(s).kill() : this.#process(s).stop(stopTimeoutMs),
      ),
    );
    process.off('exit', this.#onExit);
  }

  /** Synchronous last resort (SIGINT, exit): SIGCONT and SIGKILL every process we started, by PID. */
  killAllNow(): void {
    for (const p of this.#processes.values()) p.killNow();
    this.spec.services.killAllNow();
    process.off('exit', this.#onExit);
  }

  #add(name: string, args: string[]): void {
    const process = new ClusterProcess({
      name,
      args,
      logFile: this.logFile(name),
      env: this.spec.env,
      clockMs: this.spec.clockMs,
      onServing: (address) => {
        if (name === COORDINATOR) this.spec.network.setCoordinatorTarget(address);
        else this.spec.network.setParticipantTarget(name, address);
      },
      onUnexpectedExit: (exit) => this.exits.push(exit),
    });
    this.#processes.set(name, process);
  }

  #process(name: string): ClusterProcess {
    const p = this.#processes.get(name);
    if (!p) throw new Error(`no process ${name}`);
    return p;
  }
}
