/** Placeholder until the CLI lands: prints usage. */
export async function main(argv: readonly string[]): Promise<number> {
  process.stdout.write(`twopc: no commands yet (${argv.join(' ')})\n`);
  return 0;
}
