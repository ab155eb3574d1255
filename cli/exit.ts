/**
 * Exit codes and the one place the CLI turns an error into what the user sees: a single line
 * `twopc: <message>` on stderr (plus `hint: …` when the error carries one), never a stack trace
 * (unless TWOPC_LOG_LEVEL=debug, for bug reports).
 */
import { TwopcError, describeError } from '../common/errors.ts';

export const EXIT_OK = 0;
/** Something failed while running: a server could not start, a child died, a request failed. */
export const EXIT_FAILURE = 1;
/** The command line (or the environment it reads, like TWOPC_FAILPOINTS) was wrong; nothing ran. */
export const EXIT_USAGE = 2;

/** Newlines inside messages (SQLite errors, gRPC details) would break the one-line contract. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

export function exitCodeFor(err: unknown): number {
  return err instanceof TwopcError && err.code === 'INVALID_ARGUMENT' ? EXIT_USAGE : EXIT_FAILURE;
}

/** Prints `err` for a human and returns the exit code it deserves. */
export function reportError(
  err: unknown,
  write: (text: string) => void = (t) => process.stderr.write(t),
): number {
  let text = `twopc: ${oneLine(describeError(err))}\n`;
  if (err instanceof TwopcError && err.hint) text += `hint: ${oneLine(err.hint)}\n`;
  if (
    !(err instanceof TwopcError) &&
    process.env.TWOPC_LOG_LEVEL === 'debug' &&
    err instanceof Error &&
    err.stack
  ) {
    text += `${err.stack}\n`;
  }
  write(text);
  return exitCodeFor(err);
}
