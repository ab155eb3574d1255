/**
 * One process of the chaos cluster (the coordinator or a participant), started through the CLI
 * (`cli/bin.mjs`) as often as the nemesis likes, always on the port it got the first time.
 *
 * Every lifecycle step (start, kill, pause, continue, heal) runs in one queue (process-lifecycle.ts), so
 * an automatic restart after a crash and a nemesis action never race. A process that exits without being asked to
 * (a crash failpoint firing, or a crash: a bug) is reported through `onUnexpectedExit` and started again,
 * clean, after `crashRestartDelayMs`.
 */
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { killEvenIfStopped } from './pause.ts';
import { ProcessLifecycle, type ProcessState } from './process-lifecycle.ts';
import { SupervisedProcess, describeExit } from '../cli/supervised-process.ts';

/** tsx compiles on the first start; on a busy 2-core machine that takes a while. */
export const startTimeoutMs = 60_000;
/** A process that died on its own is started again after this pause. */
export const crashRestartDelayMs = 300;
/** Attempts at starting a process (a port may still be held for a moment after a kill). */
export const startAttemptsMax = 3;

export type { ProcessState };

/** A process exit the nemesis did not cause with a kill. */
export interface ProcessExit {
  readonly name: string;
  readonly pid: number | undefined;
  readonly atMs: number;
  readonly status: string;
  /** The failpoint that crashed it, if that is why it died (an expected exit). */
  readonly failpoint?: string;
  /** Its last output lines (for a report on a real crash). */
  readonly tail: string;
}

export interface ClusterProcessOptions {
  readonly name: string;
  /** CLI arguments without --listen. */
  readonly args: readonly string[];
  readonly logFile: string;
  /** Environment of every start, over the harness's own. */
  readonly env: Readonly<Record<string, string>>;
  readonly clockMs: () => number;
  onServing(address: string): void;
  onUnexpectedExit(exit: ProcessExit): void;
}

export class ClusterProcess {
  readonly name: string;
  /** 0 until the first start (then the kernel's choice, kept for every restart). */
  port = 0;
  /** Times started (restarts included). */
  starts = 0;
  /** TWOPC_FAILPOINTS of the running incarnation, until they fire or it is restarted clean. */
  armedFailpoints: string | undefined;
  readonly #options: ClusterProcessOptions;
  #proc: SupervisedProcess | undefined;
  /** The next exit is one we asked for (kill, stop). */
  #exitRequested = false;
  #stopping = false;
  /** Between spawning and the serving line: an exit then is a failed start, not a crash. */
  #starting = false;
  #failpointExits = 0;
  readonly #life = new ProcessLifecycle(() => this.#proc?.pid);

  constructor(options: ClusterProcessOptions) {
    this.name = options.name;
    this.#options = options;
  }

  get state(): ProcessState {
    return this.#life.state;
  }

  /** Starts it (killing the running incarnation first, if any) with `env` on top of the usual. */
  start(env: Readonly<Record<string, string>> = {}): Promise<void> {
    return this.#life.serial(async () => {
      await this.#kill();
      await this.#launch(env);
    });
  }

  /** SIGKILL: no shutdown code runs. */
  kill(): Promise<void> {
    return this.#life.serial(() => this.#kill());
  }

  /** SIGSTOP for at most `boundMs`: a detached watchdog sends SIGCONT then, whatever happens to us. */
  pause(boundMs: number): Promise<void> {
    return this.#life.pause(boundMs);
  }

  /** Back to normal: continued if paused, restarted clean if failpoints are armed, started if down. */
  heal(): Promise<void> {
    return this.#life.serial(async () => {
      this.#life.continue();
      if (this.armedFailpoints !== undefined) await this.#kill();
      if (this.state === 'down') await this.#launch({});
    });
  }

  /** Graceful: SIGCONT, SIGTERM, SIGKILL after `timeoutMs`. Nothing is started after this. */
  async stop(timeoutMs: number): Promise<void> {
    this.#stopping = true;
    const proc = this.#proc;
    if (!proc) return;
    this.#life.continue();
    this.#exitRequested = true;
    await proc.stop(timeoutMs);
    this.#life.state = 'down';
  }

  /** Synchronous last resort: SIGCONT and SIGKILL by PID; nothing is started after this. */
  killNow(): void {
    this.#stopping = true;
    this.#life.watchdog.end();
    const pid = this.#proc?.pid;
    if (pid === undefined || this.#proc?.exitStatus !== undefined) return;
    this.#exitRequested = true;
    killEvenIfStopped(pid);
  }

  async #kill(): Promise<void> {
    this.armedFailpoints = undefined;
    this.#life.watchdog.end();
    const proc = this.#proc;
    if (!proc || proc.exitStatus !== undefined) {
      this.#life.state = 'down';
      return;
    }
    this.#exitRequested = true;
    proc.kill();
    await proc.exited;
    this.#life.state = 'down';
  }

  async #launch(env: Readonly<Record<string, string>>): Promise<void> {
    let lastError: unknown;
    let startEnv = env;
    for (let attempt = 1; attempt <= startAttemptsMax; attempt++) {
      if (this.#stopping) return;
      const exitsBefore = this.#failpointExits;
      try {
        await this.#launchOnce(startEnv);
        this.armedFailpoints = startEnv.TWOPC_FAILPOINTS || undefined;
        return;
      } catch (err) {
        lastError = err;
        // A failpoint that fired during start-up (recovery work) did its job: start clean now.
        if (this.#failpointExits > exitsBefore) startEnv = {};
        await sleep(200 * attempt);
      }
    }
    throw new Error(`${this.name} did not start (${startAttemptsMax} attempts): ${String(lastError)}`);
  }

  async #launchOnce(env: Readonly<Record<string, string>>): Promise<void> {
    const { logFile, clockMs } = this.#options;
    const note = Object.keys(env).length > 0 ? ` ${JSON.stringify(env)}` : '';
    appendFileSync(logFile, `--- chaos: start #${this.starts + 1} at ${clockMs()} ms${note} ---\n`);
    const proc = new SupervisedProcess({
      name: this.name,
      args: [...this.#options.args, '--listen', `127.0.0.1:${this.port}`],
      logFile,
      env: {
        ...process.env,
        TWOPC_LOG_LEVEL: process.env.TWOPC_LOG_LEVEL ?? 'warn',
        TWOPC_FAILPOINTS: '',
        ...this.#options.env,
        ...env,
      },
    });
    this.#proc = proc;
    this.#exitRequested = false;
    this.#starting = true;
    this.starts++;
    void proc.exited.then((status) => this.#onExited(proc, describeExit(status)));
    let address: string;
    try {
      address = await proc.waitUntilServing(startTimeoutMs);
    } catch (err) {
      // A start that failed is #launch's to retry, not a crash.
      this.#exitRequested = true;
      proc.kill();
      await proc.exited;
      throw err;
    } finally {
      this.#starting = false;
    }
    this.port = Number(address.slice(address.lastIndexOf(':') + 1));
    this.#life.state = 'running';
    this.#options.onServing(address);
  }

  #onExited(proc: SupervisedProcess, status: string): void {
    if (this.#proc !== proc) return;
    this.#life.state = 'down';
    if (this.#exitRequested || this.#stopping) return;
    const fired = /failpoint (\S+) fired/.exec(proc.tail());
    if (fired) this.#failpointExits++;
    // A start that fails for another reason is retried by #launch, and reported if it never works.
    if (this.#starting && !fired) return;
    this.armedFailpoints = undefined;
    this.#options.onUnexpectedExit({
      name: this.name,
      pid: proc.pid,
      atMs: this.#options.clockMs(),
      status,
      ...(fired ? { failpoint: fired[1] as string } : {}),
      tail: proc.tail(),
    });
    if (this.#starting) return;
    // Started clean again, after every step queued before (a nemesis action waits behind this one).
    void this.#life
      .serial(async () => {
        await sleep(crashRestartDelayMs);
        if (this.state === 'down' && this.#proc === proc) await this.#launch({});
      })
      .catch(() => {});
  }
}
