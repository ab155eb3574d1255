#!/usr/bin/env node
// A cross-shard transfer using nothing from this repository but proto/twopc/v1/transactions.proto:
// any gRPC client can do the same from that file alone.
//
//   node examples/transfer.mjs [AMOUNT]      (default 10; TWOPC_ADDR defaults to 127.0.0.1:7400)
//
// Moves AMOUNT from account 1 on shard-a to account 1 on shard-b in one transaction (the demo
// cluster of `npx twopc dev`), then prints the outcome and both balances. Exits 0 if it committed,
// 1 if it aborted (e.g. CONSTRAINT: the balance would go negative) or failed.
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const address = process.env.TWOPC_ADDR || '127.0.0.1:7400';
const amountArg = process.argv[2] ?? '10';
if (!/^\d+$/.test(amountArg)) {
  console.error(`usage: node examples/transfer.mjs [AMOUNT]  (AMOUNT a whole number, got "${amountArg}")`);
  process.exit(2);
}
const amount = BigInt(amountArg);
const from = { shard: 'shard-a', id: 1n };
const to = { shard: 'shard-b', id: 1n };
const callDeadlineMs = 10_000;

const protoDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'proto');
const definition = protoLoader.loadSync('twopc/v1/transactions.proto', {
  includeDirs: [protoDir],
  longs: String, // int64 values as decimal strings, so they stay exact
  enums: String, // enum values by name: 'COMMITTED', 'ADD'
  defaults: true,
  oneofs: true, // Value.kind names which member is set
});
const { twopc } = grpc.loadPackageDefinition(definition);
const client = new twopc.v1.Transactions(address, grpc.credentials.createInsecure());

function call(method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + callDeadlineMs }, (err, response) =>
      err ? reject(err) : resolve(response),
    );
  });
}

const int = (n) => ({ intValue: n.toString() });
const addBalance = (account, delta) => ({
  shard: account.shard,
  table: 'accounts',
  kind: 'ADD',
  key: { id: int(account.id) },
  values: { balance: int(delta) },
});

async function balance(account) {
  const response = await call('Query', {
    shard: account.shard,
    sql: 'SELECT balance FROM accounts WHERE id = ?',
    params: [int(account.id)],
  });
  const value = response.rows[0]?.columns.balance;
  return value ? value[value.kind] : '(no such account)';
}

try {
  const result = await call('Execute', {
    ops: [addBalance(from, -amount), addBalance(to, amount)],
    // The same key makes a retry of this request safe: it can never apply twice.
    idempotencyKey: `transfer-${randomUUID()}`,
  });
  console.log(
    `transfer of ${amount} from ${from.shard}/${from.id} to ${to.shard}/${to.id}: ${result.outcome} (txn ${result.txnId})`,
  );
  if (result.outcome !== 'COMMITTED') console.log(`  aborted: ${result.abortReason} ${result.reason}`);
  console.log(`  ${from.shard} account ${from.id} balance: ${await balance(from)}`);
  console.log(`  ${to.shard} account ${to.id} balance: ${await balance(to)}`);
  process.exitCode = result.outcome === 'COMMITTED' ? 0 : 1;
} catch (err) {
  console.error(`transfer failed: ${grpc.status[err.code] ?? 'error'}: ${err.details ?? err.message}`);
  process.exitCode = 1;
} finally {
  client.close();
}
