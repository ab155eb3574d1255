/**
 * Real redis-server processes for tests, each on its own free loopback port with its own directory.
 * Never the shared Redis on 6379. Durable by default (`--appendonly yes --appendfsync always`, no RDB
 * snapshots); `durable: false` starts one with no persistence at all, for the refusal tests. A server
 * is stopped by its PID (SIGKILL, or SIGTERM for a clean stop) and can be started again on the same
 * port and directory, where it replays its AOF.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '../helpers/ports.ts';

/** How long a redis-server may take to say it accepts connections (it replays the AOF first). */
const readyTimeoutMs = 20_000;

export interface RedisServerOptions {
  readonly durable?: boolean;
  readonly extraArgs?: readonly string[];
  /** Reuse a directory (and so an AOF); default a new temp dir, removed by `cleanup`. */
  readonly dir?: string;
  readonly port?: number;
}

export class RedisServer {
  private proc: ChildProcess | undefined;
  private output = '';

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly args: readonly string[],
    private readonly readyLine: RegExp = /Ready to accept connections/,
  ) {}

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const port = options.port ?? (await freePort());
    const dir = options.dir ?? mkdtempSync(path.join(tmpdir(), 'twopc-redis-'));
    const persistence =
      options.durable === false
        ? ['--appendonly', 'no', '--save', '']
        : ['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''];
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      ...persistence,
      '--daemonize',
      'no',
      '--loglevel',
      'notice',
      ...(options.extraArgs ?? []),
    ];
    const server = new RedisServer(port, dir, args);
    await server.launch();
    return server;
  }

  /**
   * A Sentinel (quorum 1) watching the master on `masterPort` under `masterName`, with a short
   * down-after so a failover starts quickly.
   */
  static async startSentinel(masterName: string, masterPort: number): Promise<RedisServer> {
    const port = await freePort();
    const dir = mkdtempSync(path.join(tmpdir(), 'twopc-sentinel-'));
    const conf = path.join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 1`,
        `sentinel down-after-milliseconds ${masterName} 1000`,
        `sentinel failover-timeout ${masterName} 10000`,
        '',
      ].join('\n'),
    );
    const server = new RedisServer(port, dir, [conf, '--sentinel'], /\+monitor master/);
    await server.launch();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Kills the process by its PID and waits for it to exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.proc;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    await exited;
  }

  /** Starts the server again on the same port and directory (it replays its AOF). */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  /** redis-cli against this server, synchronously; returns stdout. */
  cli(...args: string[]): string {
    const out = spawnSync('redis-cli', ['-p', String(this.port), ...args], { encoding: 'utf8' });
    if (out.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed: ${out.stderr}`);
    return out.stdout.trim();
  }

  async cleanup(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private launch(): Promise<void> {
    this.output = '';
    const proc = spawn('redis-server', [...this.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`redis-server on ${this.port} not ready in ${readyTimeoutMs} ms:\n${this.output}`),
          ),
        readyTimeoutMs,
      );
      const onData = (chunk: Buffer) => {
        this.output = (this.output + chunk.toString()).slice(-10_000);
        if (this.readyLine.test(this.output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout!.on('data', onData);
      proc.stderr!.on('data', onData);
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`redis-server on ${this.port} exited (${code ?? signal}):\n${this.output}`));
      });
    });
  }
}
