/**
 * A bare gRPC client for the public API, loaded from proto/ only, so integration tests exercise the
 * wire contract rather than the SDK. Calls resolve with the decoded response or reject with the
 * grpc-js ServiceError (its `code` is the gRPC status).
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const PROTO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'proto');
/** Every test call has a deadline so a hung server fails the test instead of the suite timeout. */
const callDeadlineMs = 20_000;

export type Unary = (request: object) => Promise<Record<string, unknown>>;

export interface RawClient {
  call(method: string, request: object): Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  close(): void;
}

export function rawClient(address: string): RawClient {
  const def = protoLoader.loadSync('twopc/v1/transactions.proto', {
    includeDirs: [PROTO],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  const client = new pkg.twopc.v1.Transactions(address, grpc.credentials.createInsecure());
  return {
    call: (method, request) =>
      new Promise((resolve, reject) => {
        client[method](request, { deadline: Date.now() + callDeadlineMs }, (err: Error | null, res: unknown) =>
          err ? reject(err) : resolve(res),
        );
      }),
    close: () => client.close(),
  };
}

export const int = (n: number | bigint) => ({ int_value: n.toString() });
export const text = (s: string) => ({ text_value: s });

/** Every row of `sql` on a shard, as plain JS (ints as bigint). */
export async function queryRows(client: RawClient, shard: string, sql: string): Promise<Record<string, unknown>[]> {
  const res = await client.call('Query', { shard, sql, params: [] });
  return (res.rows as Array<{ columns: Record<string, Record<string, unknown>> }>).map((r) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r.columns)) {
      const kind = v.kind as string;
      out[k] = kind === 'int_value' ? BigInt(v.int_value as string) : kind === 'null_value' ? null : v[kind];
    }
    return out;
  });
}
