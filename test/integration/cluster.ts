/**
 * A real cluster for integration tests: one coordinator and N participants, each a separate OS
 * process started through the CLI (`node cli/bin.mjs …`), on free loopback ports, with data in a
 * temp dir. Processes can be SIGKILLed and restarted on the same address. The coordinator's port is
 * chosen first, so the participants are started with `--coordinator` as any deployment runs them
 * (unless a test asks for participants without it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../helpers/ports.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(ROOT, 'cli', 'bin.mjs');
/** How long a process may take to print its "serving on" line (tsx start-up on a busy 2-core box). */
const startTimeoutMs = 30_000;
/** How long a graceful stop may take before SIGKILL. */
const stopTimeoutMs = 10_000;
/** Ports below this are left to services; the coordinator's port is picked above it. */
const pickedPortMin = 10_000;
/** Random ports tried for the coordinator before falling back to one the kernel chooses. */
const pickedPortAttemptsMax = 20;

export interface ClusterProcess {
  readonly name: string;
  address: string;
  proc: ChildProcess;
  args: string[];
  stderr: string;
}

export interface ClusterOptions {
  readonly shards: readonly string[];
  readonly schemaSql: string;
  /** Extra environment per process name ('coordinator' or a shard name). */
  readonly env?: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly coordinatorArgs?: readonly string[];
  /** Extra CLI flags per shard name, after the standard ones (e.g. `--replica URL --replication sync`). */
  readonly participantArgs?: Readonly<Record<string, readonly string[]>>;
  /**
   * Pass `--coordinator` to the participants (default true). Without it (allowed) a participant
   * asks only its peers about an in-doubt transaction; the coordinator's in-doubt sweep is then
   * what settles one that every shard voted YES on.
   */
  readonly participantsKnowCoordinator?: boolean;
  /** Fills the fresh data dir before any process starts (e.g. with restored shard files and log). */
  readonly prepareDataDir?: (dataDir: string) => void;
  /**
   * Coordinator replicas sharing one decision log (give `--decision-log redis://…` in
   * coordinatorArgs): named 'coordinator', 'coordinator-2', …, each with `--coordinator-id` its
   * name; participants get all their addresses. Default 1.
   */
  readonly coordinatorReplicas?: number;
}

/** The process name of coordinator replica `i` (0-based). */
export function replicaName(i: number): string {
  return i === 0 ? 'coordinator' : `coordinator-${i + 1}`;
}

export class Cluster {
  readonly dataDir: string;
  readonly processes = new Map<string, ClusterProcess>();
  private readonly options: ClusterOptions;

  private constructor(options: ClusterOptions) {
    this.options = options;
    this.dataDir = mkdtempSync(path.join(tmpdir(), 'twopc-it-'));
  }

  static async start(options: ClusterOptions): Promise<Cluster> {
    const cluster = new Cluster(options);
    try {
      const schemaPath = path.join(cluster.dataDir, 'schema.sql');
      writeFileSync(schemaPath, options.schemaSql);
      options.prepareDataDir?.(cluster.dataDir);
      const knowsCoordinator = options.participantsKnowCoordinator !== false;
      // The participants must know the coordinator's address before it can bind (it needs theirs):
      // pick its port first. With no one to tell, port 0 has no race at all.
      const replicas = options.coordinatorReplicas ?? 1;
      const listens: string[] = [];
      for (let i = 0; i < replicas; i++) listens.push(`127.0.0.1:${knowsCoordinator ? await coordinatorPort() : 0}`);
      const coordinatorFlag = knowsCoordinator ? ['--coordinator', listens.join(',')] : [];
      await Promise.all(
        options.shards.map((shard) =>
          cluster.launch(shard, [
            'participant',
            '--shard',
            shard,
            '--listen',
            '127.0.0.1:0',
            '--data-dir',
            path.join(cluster.dataDir, shard),
            '--schema',
            schemaPath,
            ...coordinatorFlag,
            ...(options.participantArgs?.[shard] ?? []),
          ]),
        ),
      );
      const participantFlags = options.shards.flatMap((shard) => [
        '--participant',
        `${shard}=${cluster.address(shard)}`,
      ]);
      // One after the other: replica i takes a higher epoch than replica i-1, so a test that kills a
      // later replica checks the harder takeover, by a replica whose own epoch is lower.
      for (const [i, listen] of listens.entries()) {
        await cluster.launch(replicaName(i), [
          'coordinator',
          '--listen',
          listen,
          '--data-dir',
          path.join(cluster.dataDir, replicaName(i)),
          ...participantFlags,
          ...(replicas > 1 ? ['--coordinator-id', replicaName(i)] : []),
          ...(options.coordinatorArgs ?? []),
        ]);
      }
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  address(name: string): string {
    const p = this.processes.get(name);
    if (!p) throw new Error(`no process ${name}`);
    return p.address;
  }

  get coordinatorAddress(): string {
    return this.address('coordinator');
  }

  shardFile(shard: string): string {
    return path.join(this.dataDir, shard, `${shard}.db`);
  }

  /** SIGKILL: no shutdown code runs, as in a power cut (minus the page cache). */
  async kill(name: string): Promise<void> {
    const p = this.processes.get(name);
    if (!p || p.proc.exitCode !== null || p.proc.signalCode !== null) return;
    const exited = new Promise((resolve) => p.proc.once('exit', resolve));
    p.proc.kill('SIGKILL');
    await exited;
  }

  /** Sends `signal` (e.g. SIGSTOP / SIGCONT) to a running process. */
  signal(name: string, signal: NodeJS.Signals): void {
    const p = this.processes.get(name);
    if (!p) throw new Error(`no process ${name}`);
    p.proc.kill(signal);
  }

  /** Starts a stopped or killed process again on the same address. */
  async restart(name: string, env: Readonly<Record<string, string>> = {}): Promise<void> {
    const p = this.processes.get(name);
    if (!p) throw new Error(`no process ${name}`);
    await this.kill(name);
    // A process that never served has no address yet: it binds what it was first given.
    const args = p.args.map((a, i) => (p.args[i - 1] === '--listen' && p.address !== '' ? p.address : a));
    await this.launch(name, args, env);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.processes.values()].map((p) => stopProcess(p.proc)));
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  private async launch(name: string, args: string[], extraEnv: Readonly<Record<string, string>> = {}): Promise<void> {
    const env = { ...process.env, TWOPC_LOG_LEVEL: 'warn', ...this.options.env?.[name], ...extraEnv };
    const proc = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    // Keeps the address of the incarnation before: if this one dies before serving, a restart must
    // still bind the old address, not `--listen ''`.
    const address = this.processes.get(name)?.address ?? '';
    const entry: ClusterProcess = { name, address, proc, args, stderr: '' };
    this.processes.set(name, entry);
    proc.stderr!.on('data', (chunk: Buffer) => {
      entry.stderr = (entry.stderr + chunk.toString()).slice(-20_000);
    });
    entry.address = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`${name} did not start in ${startTimeoutMs} ms:\n${entry.stderr}`)), startTimeoutMs);
      proc.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const m = /serving on (\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1] as string);
        }
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code ?? signal}) before serving:\n${entry.stderr}`));
      });
    });
  }
}

/**
 * A port for the coordinator to bind a few seconds later. Picked below the kernel's ephemeral range:
 * the kernel hands ports from that range to every port-0 listener and outgoing connection (this
 * suite opens many), so a port free there now is often taken by the time the coordinator binds. A
 * clash left over fails loudly at bind (EADDRINUSE), it does not pass wrongly.
 */
async function coordinatorPort(): Promise<number> {
  const ephemeralMin = ephemeralPortMin();
  for (let attempt = 0; attempt < pickedPortAttemptsMax && ephemeralMin > pickedPortMin; attempt++) {
    const port = randomInt(pickedPortMin, ephemeralMin);
    try {
      return await freePort(port);
    } catch {
      // taken: try another
    }
  }
  return freePort();
}

/** Linux's /proc/sys/net/ipv4/ip_local_port_range low end; 32768 (Linux's default) elsewhere. */
function ephemeralPortMin(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isSafeInteger(low) && low > 0 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), stopTimeoutMs);
  await exited;
  clearTimeout(timer);
}

export const ACCOUNTS_SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (
  id INTEGER PRIMARY KEY,
  owner TEXT NOT NULL,
  balance INTEGER NOT NULL CHECK (balance >= 0)
);
CREATE TABLE IF NOT EXISTS ledger (
  transfer_id TEXT PRIMARY KEY,
  amount INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
`;

export function writeFile(dir: string, name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}
