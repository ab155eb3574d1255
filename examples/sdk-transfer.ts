/**
 * The transfer of examples/transfer.mjs with the TypeScript SDK, plus an interactive transaction.
 *
 *   npx tsx examples/sdk-transfer.ts [AMOUNT]     (TWOPC_ADDR defaults to 127.0.0.1:7400)
 */
import { randomUUID } from 'node:crypto';
import { TwopcClient } from '../client/twopc-client.ts';

const client = new TwopcClient(process.env.TWOPC_ADDR || '127.0.0.1:7400');
const amount = BigInt(process.argv[2] ?? '10');

async function balance(shard: string, id: bigint): Promise<unknown> {
  const { rows } = await client.query(shard, 'SELECT balance FROM accounts WHERE id = ?', [id]);
  return rows[0]?.balance ?? '(no such account)';
}

try {
  // One-shot: both ADDs commit, or neither does (the CHECK (balance >= 0) refuses an overdraft).
  const result = await client.execute(
    [
      { shard: 'shard-a', table: 'accounts', kind: 'ADD', key: { id: 1n }, values: { balance: -amount } },
      { shard: 'shard-b', table: 'accounts', kind: 'ADD', key: { id: 1n }, values: { balance: amount } },
    ],
    { idempotencyKey: `transfer-${randomUUID()}` },
  );
  console.log(
    `transfer of ${amount}: ${result.outcome}${result.abortReason ? ` (${result.abortReason}: ${result.reason})` : ''}`,
  );
  console.log(`  shard-a account 1 balance: ${await balance('shard-a', 1n)}`);
  console.log(`  shard-b account 1 balance: ${await balance('shard-b', 1n)}`);

  // Interactive: read, decide, write; validated at commit and retried if another transaction got
  // in between (a CONFLICT abort).
  const moved = await client.transaction(async (tx) => {
    const source = await tx.read('shard-c', 'accounts', { id: 2n });
    const half = ((source.row.balance as bigint | undefined) ?? 0n) / 2n;
    tx.write(
      { shard: 'shard-c', table: 'accounts', kind: 'ADD', key: { id: 2n }, values: { balance: -half } },
      { shard: 'shard-a', table: 'accounts', kind: 'ADD', key: { id: 2n }, values: { balance: half } },
    );
    return half;
  });
  console.log(`moved half of shard-c account 2 (${moved}) to shard-a account 2`);
  process.exitCode = result.outcome === 'COMMITTED' ? 0 : 1;
} finally {
  client.close();
}
