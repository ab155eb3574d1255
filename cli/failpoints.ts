/**
 * `npx twopc failpoints`: the named places where a test or the chaos harness can crash, fail or
 * stall a process, and how to turn them on. With TWOPC_FAILPOINTS set it also checks that spec.
 */
import { FAILPOINTS, failpointDelayMsMax, parseFailpoints } from '../common/failpoints.ts';
import { EXIT_OK } from './exit.ts';
import { formatUsage, parseFlags } from './args.ts';

const FLAGS = {} as const;

export const summary = 'list the failpoints and how to enable them';

export const usage = formatUsage({
  synopsis: 'npx twopc failpoints',
  summary:
    'Lists the named failpoints with what has happened (and not yet happened) when each fires, and\n' +
    'how to enable them. If TWOPC_FAILPOINTS is set, checks it and shows what it enables.',
  flags: FLAGS,
});

export function failpointList(): string {
  const names = Object.keys(FAILPOINTS) as Array<keyof typeof FAILPOINTS>;
  const width = Math.max(...names.map((n) => n.length)) + 2;
  return names.map((name) => `  ${name.padEnd(width)}${FAILPOINTS[name]}`).join('\n');
}

const HOW_TO = [
  "Enable them in a server process's environment:",
  '  TWOPC_FAILPOINTS="NAME=ACTION;NAME=ACTION" npx twopc coordinator …',
  '',
  'Actions:',
  '  crash       the process kills itself with SIGKILL (no shutdown code runs)',
  '  error       the step throws an INTERNAL error',
  `  delay(MS)   the whole process stalls MS milliseconds (at most ${failpointDelayMsMax})`,
  '  N*ACTION    crash/error fire on the N-th hit only; delay from the N-th hit on',
  '',
  'Example:',
  '  TWOPC_FAILPOINTS="coordinator.after-decision-logged=3*crash" npx twopc coordinator …',
].join('\n');

export async function run(argv: readonly string[]): Promise<number> {
  parseFlags('failpoints', argv, FLAGS);
  const spec = process.env.TWOPC_FAILPOINTS ?? '';
  // Parse first: a bad spec is a usage error (exit 2) before anything is printed.
  const active = parseFailpoints(spec);
  let text = `Failpoints:\n${failpointList()}\n\n${HOW_TO}\n`;
  if (spec.trim() !== '') {
    const lines = [...active].map(([name, a]) => {
      const action = a.kind === 'delay' ? `delay(${a.ms})` : a.kind;
      return `  ${name}=${a.onHit === 1 ? '' : `${a.onHit}*`}${action}`;
    });
    text += `\nTWOPC_FAILPOINTS is set and valid; it enables:\n${lines.join('\n')}\n`;
  }
  process.stdout.write(text);
  return EXIT_OK;
}
