/**
 * Runs the real CLI (`node cli/bin.mjs …`) as a child process, as a user's shell would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { vi } from 'vitest';
import { reportError } from '../../cli/exit.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI_BIN = path.join(ROOT, 'cli', 'bin.mjs');
/** A one-shot command (help, a flag error) that takes longer than this is hung. */
const cliRunTimeoutMs = 30_000;

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, TWOPC_FAILPOINTS: '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `twopc ${args.join(' ')} did not finish in ${cliRunTimeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`,
        ),
      );
    }, cliRunTimeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Lines of `text` without the trailing empty one. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l, i, all) => !(l === '' && i === all.length - 1));
}

/** How long a server command may take to print its serving line (tsx start-up on a busy machine). */
export const serveTimeoutMs = 60_000;

export interface RunningCli {
  readonly child: ChildProcess;
  /** What followed "serving on" in the first such line. */
  readonly address: string;
  readonly output: { stdout: string; stderr: string };
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts a long-running command and resolves once it printed `… serving on HOST:PORT`. */
export async function startCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv } = {},
): Promise<RunningCli> {
  const child = spawn(process.execPath, [CLI_BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, TWOPC_FAILPOINTS: '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  child.stderr!.on('data', (c: Buffer) => (output.stderr += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`twopc ${args.join(' ')} did not serve in ${serveTimeoutMs} ms\n${output.stderr}`));
    }, serveTimeoutMs);
    child.stdout!.on('data', (c: Buffer) => {
      output.stdout += c.toString();
      const m = / serving on (\S+)\n/.exec(output.stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(
        new Error(
          `twopc ${args.join(' ')} exited (${code ?? signal}) before serving\n${output.stdout}\n${output.stderr}`,
        ),
      );
    });
  });
  return { child, address, output, exited };
}

/** True while a process with this pid exists (and is not a zombie we could still reap). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs one command module's `run(argv)` in this process (faster than a child process) and returns its
 * exit code, what it wrote to stdout, and the one-line error `reportError` would print.
 */
export async function runInProcess(
  run: (argv: readonly string[]) => Promise<number>,
  argv: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi
    .spyOn(process.stdout, 'write')
    .mockImplementation((chunk) => ((stdout += String(chunk)), true));
  try {
    const code = await run(argv).catch((err: unknown) => reportError(err, (t) => (stderr += t)));
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
  }
}
