/**
 * The life of a server command (`coordinator`, `participant`): start, announce, wait for SIGINT or
 * SIGTERM, close gracefully. The announcement is one human line on stdout,
 * `twopc <what> serving on HOST:PORT`, printed only once the server accepts calls, so scripts and
 * tests can wait for it (with --metrics, `twopc <what> metrics on http://HOST:PORT/metrics` comes just
 * before it); everything else goes to the JSON log on stderr.
 *
 * A process started by `twopc dev` has an IPC channel to it; when that channel closes (the parent
 * died, even by SIGKILL) the server shuts down too instead of lingering as an orphan.
 */
import type { Logger } from '../common/log.ts';
import { EXIT_FAILURE, EXIT_OK } from './exit.ts';

/** How long close() may take (draining calls, flushing the log) before the process gives up on it. */
export const shutdownTimeoutMs = 15_000;

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

export interface RunningServer {
  readonly address: string;
  /** The metrics endpoint's HOST:PORT, if the server has one (announced on a line of its own). */
  readonly metricsAddress?: string | undefined;
  close(): Promise<void>;
}

type StopReason = (typeof STOP_SIGNALS)[number] | 'parent-exited';

/** Resolves with the first stop request; the second one resolves `forced`. */
function listenForStop(): { first: Promise<StopReason>; forced: Promise<StopReason>; dispose(): void } {
  let count = 0;
  let resolveFirst!: (r: StopReason) => void;
  let resolveForced!: (r: StopReason) => void;
  const first = new Promise<StopReason>((r) => (resolveFirst = r));
  const forced = new Promise<StopReason>((r) => (resolveForced = r));
  const onStop = (reason: StopReason) => {
    count++;
    if (count === 1) resolveFirst(reason);
    else resolveForced(reason);
  };
  const handlers = STOP_SIGNALS.map((signal) => [signal, () => onStop(signal)] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  const onDisconnect = () => onStop('parent-exited');
  if (process.channel) {
    process.on('disconnect', onDisconnect);
    // The channel alone must not keep the process alive once the server is closed.
    process.channel.unref();
  }
  return {
    first,
    forced,
    dispose: () => {
      for (const [signal, handler] of handlers) process.off(signal, handler);
      process.off('disconnect', onDisconnect);
    },
  };
}

/**
 * Starts the server, prints the serving line, and resolves with the exit code once it has been
 * stopped: 0 after a graceful close, 1 if close() failed, timed out or a second signal cut it short.
 * A start-up failure rejects (the caller prints it).
 */
export async function serveUntilStopped(
  what: string,
  logger: Logger,
  start: () => Promise<RunningServer>,
): Promise<number> {
  // Listen before starting: a signal during start-up still gets a graceful close afterwards.
  const stop = listenForStop();
  try {
    const server = await start();
    // The metrics line first: whoever waits for "serving on" has both lines by then.
    if (server.metricsAddress !== undefined)
      process.stdout.write(`twopc ${what} metrics on http://${server.metricsAddress}/metrics\n`);
    process.stdout.write(`twopc ${what} serving on ${server.address}\n`);
    const reason = await stop.first;
    logger.info('shutting down', { reason, pid: process.pid });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), shutdownTimeoutMs);
    });
    const closed = server.close().then(
      () => 'closed' as const,
      (err: unknown) => {
        logger.error('close failed', { err });
        return 'failed' as const;
      },
    );
    const result = await Promise.race([closed, timedOut, stop.forced.then(() => 'forced' as const)]);
    clearTimeout(timer);
    if (result === 'closed') return EXIT_OK;
    logger.error('shutdown incomplete', { result, shutdownTimeoutMs });
    return EXIT_FAILURE;
  } finally {
    stop.dispose();
  }
}
