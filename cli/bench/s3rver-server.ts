/**
 * The S3-compatible store of the WAL shipping rows: its own throw-away s3rver (a Node S3 emulator,
 * a dev dependency) on a free loopback port with its data in the run directory, one bucket created
 * at start. The participants reach it through `s3://BUCKET/PREFIX?endpoint=…` and s3rver's fixed
 * credentials, exactly as they would reach MinIO or S3.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './postgres-server.ts';
import { canConnect } from '../../common/ports.ts';

export const S3RVER_BUCKET = 'twopc-bench';
/** s3rver accepts only these; the participants read them like any AWS credentials. */
export const S3RVER_CREDENTIALS: Readonly<Record<string, string>> = Object.freeze({
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
});
/** s3rver loads in well under a second; a busy machine gets room. */
const startTimeoutMs = 30_000;
const stopTimeoutMs = 5_000;
const connectPollMs = 50;

/** The s3rver command, or why it is not there (it is a dev dependency: absent from a production install). */
export function findS3rver(): { bin: string } | { missing: string } {
  try {
    const pkg = createRequire(import.meta.url).resolve('s3rver/package.json');
    return { bin: path.join(path.dirname(pkg), 'bin', 's3rver.js') };
  } catch {
    return { missing: 's3rver is not installed (npm install --include=dev)' };
  }
}

export class S3rverServer {
  readonly port: number;
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;
  private status: string | undefined;

  private constructor(child: ChildProcess, port: number) {
    this.child = child;
    this.port = port;
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.status = signal ?? `exit code ${code}`;
        resolve();
      });
      child.once('error', (err) => {
        this.status = `spawn failed: ${err.message}`;
        resolve();
      });
    });
  }

  static async start(options: { bin: string; dir: string }): Promise<S3rverServer> {
    mkdirSync(options.dir, { recursive: true });
    const port = await freePort();
    // No --openssl-legacy-provider: the S3 backend pages listings in a way s3rver serves without it.
    const args = [options.bin, '-d', options.dir, '-a', '127.0.0.1', '-p', String(port)];
    const child = spawn(process.execPath, [...args, '--silent', '--configure-bucket', S3RVER_BUCKET], {
      // Own process group: Ctrl-C reaches the bench, which then stops it in order.
      detached: true,
      stdio: 'ignore',
    });
    const server = new S3rverServer(child, port);
    try {
      await server.waitReady();
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** How it ended; undefined while it runs. */
  get exitStatus(): string | undefined {
    return this.status;
  }

  /** The replica URL of `prefix` in the bench's bucket. */
  url(prefix: string): string {
    return `s3://${S3RVER_BUCKET}/${prefix}?endpoint=http://127.0.0.1:${this.port}&region=us-east-1`;
  }

  private async waitReady(): Promise<void> {
    const until = Date.now() + startTimeoutMs;
    while (!(await canConnect(this.port))) {
      if (this.status !== undefined) throw new Error(`s3rver exited (${this.status}) before listening`);
      if (Date.now() > until)
        throw new Error(`s3rver did not listen on ${this.port} within ${startTimeoutMs} ms`);
      await sleep(connectPollMs);
    }
  }

  /** SIGTERM, SIGKILL after `stopTimeoutMs`. Never throws. */
  async stop(): Promise<void> {
    if (this.status !== undefined) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), stopTimeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}
