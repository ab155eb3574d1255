/**
 * A twopc server run as a child process of the CLI (`twopc dev`): started through `cli/bin.mjs`,
 * considered up once it prints its `serving on HOST:PORT` line, its output appended to a log file,
 * stopped with SIGTERM and, after a named timeout, SIGKILL.
 *
 * The child gets its own process group, so Ctrl-C in a terminal reaches only the parent, which then
 * stops the children in order; and an IPC channel, whose closing tells the child that the parent
 * is gone (even after a SIGKILL) so that it shuts down instead of lingering.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI_BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'bin.mjs');

/** Lines of a child's output kept in memory to show when it dies. */
export const logTailLinesMax = 20;

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export function describeExit(status: ExitStatus): string {
  return status.signal !== null ? `killed by ${status.signal}` : `exit code ${status.code}`;
}

export interface SupervisedProcessOptions {
  readonly name: string;
  /** Arguments after `cli/bin.mjs`, e.g. ['participant', '--shard', 'shard-a', …]. */
  readonly args: readonly string[];
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Node flags before `cli/bin.mjs`, e.g. ['--cpu-prof'] (some are refused in NODE_OPTIONS). */
  readonly execArgv?: readonly string[];
}

export class SupervisedProcess {
  readonly name: string;
  readonly logFile: string;
  readonly exited: Promise<ExitStatus>;
  /** Set once the child printed its serving line. */
  address: string | undefined;
  /** Set once the child printed its metrics line (`--metrics`); it comes before the serving line. */
  metricsUrl: string | undefined;
  /** True once stop() was called: an exit after that is expected. */
  stopping = false;
  private readonly child: ChildProcess;
  private readonly log: WriteStream;
  private readonly tailLines: string[] = [];
  private readonly servingWaiters = new Set<(address: string) => void>();
  /** An unfinished last line per stream. */
  private readonly partial = { stdout: '', stderr: '' };
  private status: ExitStatus | undefined;

  constructor(options: SupervisedProcessOptions) {
    this.name = options.name;
    this.logFile = options.logFile;
    this.log = createWriteStream(options.logFile, { flags: 'a' });
    this.child = spawn(process.execPath, [...(options.execArgv ?? []), CLI_BIN, ...options.args], {
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      detached: true,
    });
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': by then the output streams are drained, so nothing is written to the
      // log after it ends.
      this.child.once('close', (code, signal) => {
        this.status = { code, signal };
        resolve(this.status);
      });
      // A spawn failure (ENOENT, EAGAIN) emits 'error' and no 'exit'.
      this.child.once('error', (err) => {
        this.remember(`spawn failed: ${err.message}`);
        this.status = { code: -1, signal: null };
        resolve(this.status);
      });
    });
    void this.exited.then(() => this.log.end());
    this.child.stdout!.on('data', (chunk: Buffer) => this.onOutput('stdout', chunk));
    this.child.stderr!.on('data', (chunk: Buffer) => this.onOutput('stderr', chunk));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** How it ended; undefined while it runs. */
  get exitStatus(): ExitStatus | undefined {
    return this.status;
  }

  /** The last lines the child wrote (stdout and stderr interleaved). */
  tail(): string {
    return this.tailLines.join('\n');
  }

  /** Resolves with the serving address, or rejects if the child exits or is not up in time. */
  waitUntilServing(timeoutMs: number): Promise<string> {
    if (this.address !== undefined) return Promise.resolve(this.address);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name} did not start serving within ${timeoutMs} ms`));
      }, timeoutMs);
      const onServing = (address: string) => {
        cleanup();
        resolve(address);
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.servingWaiters.delete(onServing);
      };
      this.servingWaiters.add(onServing);
      void this.exited.then((status) => {
        if (this.address !== undefined) return;
        cleanup();
        reject(new Error(`${this.name} exited (${describeExit(status)}) before serving`));
      });
    });
  }

  /** SIGTERM, then SIGKILL after `timeoutMs`. Resolves with how it ended and whether it was killed. */
  async stop(timeoutMs: number): Promise<ExitStatus & { readonly killed: boolean }> {
    this.stopping = true;
    if (this.status !== undefined) return { ...this.status, killed: false };
    this.child.kill('SIGTERM');
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      this.child.kill('SIGKILL');
    }, timeoutMs);
    const status = await this.exited;
    clearTimeout(timer);
    return { ...status, killed };
  }

  /** SIGKILL, now. */
  kill(): void {
    this.stopping = true;
    if (this.status === undefined) this.child.kill('SIGKILL');
  }

  private onOutput(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    this.log.write(chunk);
    const lines = (this.partial[stream] + chunk.toString('utf8')).split('\n');
    this.partial[stream] = lines.pop() ?? '';
    for (const line of lines) {
      this.remember(line);
      const metrics = / metrics on (http:\/\/\S+)$/.exec(line);
      if (metrics) this.metricsUrl = metrics[1] as string;
      const m = / serving on (\S+)$/.exec(line);
      if (m && this.address === undefined) {
        this.address = m[1] as string;
        for (const waiter of [...this.servingWaiters]) waiter(this.address);
      }
    }
  }

  private remember(line: string): void {
    this.tailLines.push(line);
    if (this.tailLines.length > logTailLinesMax) this.tailLines.shift();
  }
}
