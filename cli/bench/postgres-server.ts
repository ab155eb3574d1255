/**
 * A throw-away PostgreSQL server for the bench: `initdb` into a directory of its own, `postgres` on a
 * free loopback port with the settings two-phase commit needs, stopped (fast shutdown) and removed at
 * the end. When the bench runs as root, both run as the `postgres` OS user (PostgreSQL refuses root),
 * and the directory is handed to that user.
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { chownSync, createWriteStream, existsSync, mkdirSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { invalidArgument } from '../../common/errors.ts';

/** Debian/Ubuntu put versioned binaries here; the newest is used unless --pg-bin says otherwise. */
const DEBIAN_PG_ROOT = '/usr/lib/postgresql';
/** initdb writes a few MB and runs the bootstrap backend: seconds on a busy 2-core machine. */
const initdbTimeoutMs = 120_000;
/** From exec to "ready to accept connections". */
const startTimeoutMs = 60_000;
/** Fast shutdown rolls back open sessions and writes a checkpoint; past this it is SIGKILLed. */
const stopTimeoutMs = 15_000;
/** Lines of server output kept to explain a failure. */
const logTailLinesMax = 20;
export const PG_USER = 'bench';

export interface PgBinaries {
  readonly binDir: string;
  readonly version: string;
}

/** The binaries to use, or why there are none (the bench then skips PostgreSQL). */
function findPgBinaries(binDirFlag: string | undefined): PgBinaries | { missing: string } {
  const candidates: string[] = [];
  if (binDirFlag !== undefined) candidates.push(binDirFlag);
  else if (existsSync(DEBIAN_PG_ROOT)) {
    const versions = readdirSync(DEBIAN_PG_ROOT)
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => path.join(DEBIAN_PG_ROOT, v, 'bin')));
  }
  if (binDirFlag === undefined) {
    for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir) candidates.push(dir);
  }
  for (const dir of candidates) {
    const postgres = path.join(dir, 'postgres');
    if (!existsSync(postgres) || !existsSync(path.join(dir, 'initdb'))) continue;
    try {
      const version = execFileSync(postgres, ['--version'], { encoding: 'utf8' }).trim();
      return { binDir: dir, version };
    } catch {
      continue;
    }
  }
  return {
    missing:
      binDirFlag !== undefined
        ? `no postgres and initdb in --pg-bin ${binDirFlag}`
        : `no PostgreSQL binaries (looked in ${DEBIAN_PG_ROOT}/*/bin and PATH); pass --pg-bin DIR`,
  };
}

export interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

/** As root: the `postgres` user's ids (PostgreSQL will not run as root). Otherwise: ourselves. */
function pgRunAs(): { runAs: RunAs | undefined } | { missing: string } {
  if (process.getuid?.() !== 0) return { runAs: undefined };
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { runAs: { uid, gid } };
  } catch {
    return { missing: 'running as root and there is no "postgres" OS user to run PostgreSQL as' };
  }
}

export interface PgSetup {
  readonly binaries: PgBinaries;
  readonly runAs: RunAs | undefined;
}

/** Binaries and the OS user to run them as, or why PostgreSQL cannot run here (then it is skipped). */
export function findPostgres(binDirFlag: string | undefined): PgSetup | { missing: string } {
  const binaries = findPgBinaries(binDirFlag);
  if ('missing' in binaries) return binaries;
  const user = pgRunAs();
  if ('missing' in user) return user;
  return { binaries, runAs: user.runAs };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

export interface PgServerOptions {
  readonly binaries: PgBinaries;
  readonly runAs: RunAs | undefined;
  /** Created; holds the cluster and the server log. Removed by the caller. */
  readonly dir: string;
  readonly connectionsMax: number;
  readonly preparedTxnsMax: number;
}

export class PgServer {
  readonly port: number;
  readonly logFile: string;
  private readonly child: ChildProcess;
  private readonly tailLines: string[] = [];
  private status: string | undefined;
  readonly exited: Promise<void>;

  private constructor(child: ChildProcess, port: number, logFile: string) {
    this.child = child;
    this.port = port;
    this.logFile = logFile;
    const log = createWriteStream(logFile, { flags: 'a' });
    const remember = (chunk: Buffer) => {
      log.write(chunk);
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        this.tailLines.push(line);
        if (this.tailLines.length > logTailLinesMax) this.tailLines.shift();
      }
    };
    child.stdout?.on('data', remember);
    child.stderr?.on('data', remember);
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.status = signal !== null ? `killed by ${signal}` : `exit code ${code}`;
        log.end();
        resolve();
      });
      child.once('error', (err) => {
        this.status = `spawn failed: ${err.message}`;
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** How the server ended; undefined while it runs. */
  get exitStatus(): string | undefined {
    return this.status;
  }

  tail(): string {
    return this.tailLines.join('\n');
  }

  static async start(options: PgServerOptions): Promise<PgServer> {
    const { binaries, runAs, dir } = options;
    mkdirSync(dir, { recursive: true });
    if (runAs) {
      chownSync(dir, runAs.uid, runAs.gid);
      checkReachable(dir, runAs);
    }
    const dataDir = path.join(dir, 'data');
    await runToEnd(
      path.join(binaries.binDir, 'initdb'),
      [
        '-D',
        dataDir,
        '-U',
        PG_USER,
        '--auth=trust',
        '-E',
        'UTF8',
        '--no-locale',
        '--no-sync',
        '--no-instructions',
      ],
      { cwd: dir, runAs, timeoutMs: initdbTimeoutMs },
    );
    const port = await freePort();
    const settings = {
      listen_addresses: '127.0.0.1',
      port: String(port),
      // TCP only, like twopc's gRPC: no socket file (and no socket path length limit).
      unix_socket_directories: '',
      max_connections: String(options.connectionsMax),
      max_prepared_transactions: String(options.preparedTxnsMax),
      fsync: 'on',
      synchronous_commit: 'on',
      full_page_writes: 'on',
    };
    const args = ['-D', dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    const child = spawn(path.join(binaries.binDir, 'postgres'), args, {
      cwd: dir,
      // Own process group: Ctrl-C reaches the bench, which then stops the server in order.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
    });
    const server = new PgServer(child, port, path.join(dir, 'server.log'));
    try {
      await server.waitReady();
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  private waitReady(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        done();
        reject(new Error(`postgres did not accept connections within ${startTimeoutMs} ms:\n${this.tail()}`));
      }, startTimeoutMs);
      const onData = (chunk: Buffer) => {
        if (!chunk.toString('utf8').includes('ready to accept connections')) return;
        done();
        resolve();
      };
      const done = () => {
        clearTimeout(timer);
        this.child.stderr?.off('data', onData);
      };
      this.child.stderr?.on('data', onData);
      void this.exited.then(() => {
        done();
        reject(new Error(`postgres exited (${this.status}) before accepting connections:\n${this.tail()}`));
      });
    });
  }

  /** Fast shutdown (SIGINT), SIGKILL after `stopTimeoutMs`. Never throws. */
  async stop(): Promise<void> {
    if (this.status !== undefined) return;
    this.child.kill('SIGINT');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), stopTimeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Fails clearly if the `postgres` user cannot write `dir` (a parent directory it cannot traverse). */
function checkReachable(dir: string, runAs: RunAs): void {
  const probe = spawnSync('test', ['-w', dir, '-a', '-x', dir], { uid: runAs.uid, gid: runAs.gid });
  if (probe.status === 0) return;
  throw invalidArgument(
    `--dir: the postgres OS user cannot reach ${dir}`,
    'PostgreSQL runs as "postgres" (it refuses root): choose a --dir whose parents everyone may traverse (chmod o+x), such as /tmp',
  );
}

/** Runs a command to completion; rejects with its output if it fails or takes too long. */
function runToEnd(
  file: string,
  args: readonly string[],
  options: { cwd: string; runAs: RunAs | undefined; timeoutMs: number },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.runAs ? { uid: options.runAs.uid, gid: options.runAs.gid } : {}),
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${path.basename(file)}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(
          new Error(`${path.basename(file)} failed (${signal ?? `exit code ${code}`}):\n${output.trim()}`),
        );
    });
  });
}
