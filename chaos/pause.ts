/**
 * SIGSTOP with a safety net, for every process the nemesis pauses (cluster processes and the services
 * under them): a detached watchdog sends SIGCONT after the pause's bound plus a slack, even if the
 * harness itself dies meanwhile, so no process is left stopped forever.
 */
import { spawn } from 'node:child_process';

/** Added to a pause's bound before the watchdog continues the process: it must never cut a pause short. */
export const pauseWatchdogSlackMs = 5_000;

/** The pause of one process at a time, and its watchdog. */
export class PauseWatchdog {
  #pid: number | undefined;

  /** SIGSTOPs `pid` and starts a watchdog that SIGCONTs it after `boundMs` plus the slack. */
  stop(pid: number, boundMs: number): void {
    this.end();
    process.kill(pid, 'SIGSTOP');
    const seconds = ((boundMs + pauseWatchdogSlackMs) / 1000).toFixed(1);
    const watchdog = spawn('sh', ['-c', `sleep ${seconds}; kill -CONT ${pid} 2>/dev/null`], {
      detached: true,
      stdio: 'ignore',
    });
    watchdog.unref();
    this.#pid = watchdog.pid;
  }

  /** SIGCONTs `pid`; the watchdog is not needed any more. */
  resume(pid: number): void {
    process.kill(pid, 'SIGCONT');
    this.end();
  }

  /** Ends the watchdog and its sleep (the process group it leads), if one is running. */
  end(): void {
    if (this.#pid !== undefined) signal(-this.#pid, 'SIGKILL');
    this.#pid = undefined;
  }
}

/** SIGKILL that also works on a stopped process (SIGCONT first); never throws. */
export function killEvenIfStopped(pid: number): void {
  signal(pid, 'SIGCONT');
  signal(pid, 'SIGKILL');
}

/** `process.kill` for a process (or, negative, a process group) that may already be gone. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}
