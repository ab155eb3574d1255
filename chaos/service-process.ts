/**
 * A service the chaos cluster depends on but does not own the code of — the S3-compatible store the
 * participants ship their WAL to (s3rver) or the redis-server holding the coordinator's decision log —
 * run as a real process on a fixed port with a fixed directory, so the nemesis can take it down
 * (SIGKILL, or SIGSTOP) and bring it back where everyone expects it.
 *
 * The port is picked below the kernel's ephemeral range: a port freed there stays free while the
 * service is down (a port from the ephemeral range is soon reused by some outgoing connection, and the
 * restart would fail with EADDRINUSE). Its state, step queue and pauses are process-lifecycle.ts's, as
 * for the cluster's own processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { killEvenIfStopped } from './pause.ts';
import { ProcessLifecycle, type ProcessState } from './process-lifecycle.ts';
import { canConnect, canListen } from '../common/ports.ts';

/** How long a service may take to accept connections (redis replays its AOF first). */
export const serviceReadyTimeoutMs = 20_000;
/** Attempts at starting it again (the port may still be held for a moment after a kill). */
export const serviceStartAttemptsMax = 5;
const connectPollMs = 50;
/** Random ports tried below the ephemeral range before giving up. */
const portAttemptsMax = 40;
const portMin = 10_000;

export interface ServiceSpec {
  readonly name: string;
  readonly command: string;
  /** Its arguments, given the port. */
  readonly args: (port: number) => readonly string[];
  /** stdout and stderr of every incarnation are appended here. */
  readonly logFile: string;
  readonly env?: Readonly<Record<string, string>>;
}

export class ServiceProcess {
  readonly name: string;
  /** Times started (restarts included). */
  starts = 0;
  readonly #spec: ServiceSpec;
  readonly #port: number;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  readonly #life = new ProcessLifecycle(() => this.#child?.pid);
  #stopping = false;

  private constructor(spec: ServiceSpec, port: number) {
    this.name = spec.name;
    this.#spec = spec;
    this.#port = port;
  }

  /** Picks its port and starts it. */
  static async start(spec: ServiceSpec): Promise<ServiceProcess> {
    const service = new ServiceProcess(spec, await restartablePort());
    await service.#life.serial(() => service.#launch());
    return service;
  }

  get state(): ProcessState {
    return this.#life.state;
  }

  get port(): number {
    return this.#port;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** SIGKILL; it stays down until heal(). */
  kill(): Promise<void> {
    return this.#life.serial(() => this.#kill());
  }

  /** SIGSTOP for at most `boundMs` (a detached watchdog sends SIGCONT then, whatever happens to us). */
  pause(boundMs: number): Promise<void> {
    return this.#life.pause(boundMs);
  }

  /** Continued if paused, started again (same port, same directory) if down. */
  heal(): Promise<void> {
    return this.#life.serial(async () => {
      this.#life.continue();
      if (this.state === 'down') await this.#launch();
    });
  }

  /** SIGCONT then SIGTERM; SIGKILL after `timeoutMs`. Nothing is started after this. */
  async stop(timeoutMs: number): Promise<void> {
    this.#stopping = true;
    await this.#life.drained();
    this.#life.continue();
    const child = this.#child;
    if (child === undefined || this.state === 'down') return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await this.#exited;
    clearTimeout(timer);
    this.#life.state = 'down';
  }

  /** Synchronous last resort: SIGCONT and SIGKILL by PID. */
  killNow(): void {
    this.#stopping = true;
    this.#life.watchdog.end();
    const pid = this.#child?.pid;
    if (pid === undefined || this.state === 'down') return;
    killEvenIfStopped(pid);
  }

  async #kill(): Promise<void> {
    this.#life.watchdog.end();
    const child = this.#child;
    if (child === undefined || this.state === 'down') return;
    child.kill('SIGKILL');
    await this.#exited;
    this.#life.state = 'down';
  }

  async #launch(): Promise<void> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= serviceStartAttemptsMax; attempt++) {
      if (this.#stopping) return;
      try {
        await this.#launchOnce();
        return;
      } catch (err) {
        lastError = err;
        await sleep(200 * attempt);
      }
    }
    throw new Error(`${this.name} did not start (${serviceStartAttemptsMax} attempts): ${String(lastError)}`);
  }

  async #launchOnce(): Promise<void> {
    const { logFile, command } = this.#spec;
    appendFileSync(logFile, `--- chaos: start #${this.starts + 1} on port ${this.#port} ---\n`);
    const fd = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(command, [...this.#spec.args(this.#port)], {
        stdio: ['ignore', fd, fd],
        env: { ...process.env, ...this.#spec.env },
      });
    } finally {
      closeSync(fd);
    }
    let status: string | undefined;
    this.#exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        status = signal ?? `exit code ${code}`;
        if (this.#child === child) this.#life.state = 'down';
        resolve();
      });
      child.once('error', (err) => {
        status = `spawn failed: ${err.message}`;
        if (this.#child === child) this.#life.state = 'down';
        resolve();
      });
    });
    this.#child = child;
    this.starts++;
    const until = Date.now() + serviceReadyTimeoutMs;
    while (!(await canConnect(this.#port))) {
      if (status !== undefined) throw new Error(`${this.name} exited (${status}) before listening`);
      if (Date.now() > until) {
        child.kill('SIGKILL');
        await this.#exited;
        throw new Error(`${this.name} did not listen on ${this.#port} within ${serviceReadyTimeoutMs} ms`);
      }
      await sleep(connectPollMs);
    }
    this.#life.state = 'running';
  }
}

/** A free port below the kernel's ephemeral range (see the header for why). */
async function restartablePort(): Promise<number> {
  let ephemeralMin = 32_768;
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isSafeInteger(low) && low > portMin) ephemeralMin = low;
  } catch {
    // Not Linux: keep the usual default.
  }
  for (let i = 0; i < portAttemptsMax; i++) {
    const port = portMin + Math.floor(Math.random() * (ephemeralMin - portMin));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port below ${ephemeralMin} after ${portAttemptsMax} attempts`);
}
