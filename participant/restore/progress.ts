/**
 * A progress bar on stderr for long CLI operations: redrawn in place on a terminal, silent
 * otherwise (logs and CI output stay clean; the command prints a summary line at the end).
 */
export interface ProgressSink {
  add(bytes: number): void;
  finish(): void;
}

export const silentProgress: ProgressSink = Object.freeze({ add: () => {}, finish: () => {} });

/** Redraws at most this often: a terminal cannot show more, and each redraw costs a write. */
const redrawIntervalMs = 100;
const barWidth = 30;

export function progressBar(
  label: string,
  totalBytes: number,
  stream: NodeJS.WriteStream = process.stderr,
): ProgressSink {
  if (!stream.isTTY) return silentProgress;
  const startMs = Date.now();
  let done = 0;
  let lastDrawMs = 0;
  const draw = (force: boolean) => {
    const now = Date.now();
    if (!force && now - lastDrawMs < redrawIntervalMs) return;
    lastDrawMs = now;
    const fraction = totalBytes === 0 ? 1 : Math.min(1, done / totalBytes);
    const filled = Math.round(fraction * barWidth);
    const seconds = Math.max(0.001, (now - startMs) / 1000);
    const line =
      `${label} [${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ` +
      `${mb(done)}/${mb(totalBytes)} MB ${mb(done / seconds)} MB/s`;
    stream.write(`\r${line}\x1b[K`);
  };
  return {
    add(bytes) {
      done += bytes;
      draw(false);
    },
    finish() {
      draw(true);
      stream.write('\n');
    },
  };
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}
