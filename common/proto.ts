/**
 * Loads the .proto files (the source of truth; no generated code) with the options every part of
 * twopc uses: field names as written (snake_case), 64-bit ints as decimal strings, enums as names,
 * oneofs with a virtual field naming the member set.
 */
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const PROTO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'proto');

export const LOADER_OPTIONS: protoLoader.Options = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
});

/** Largest gRPC message accepted; bigger ones fail in grpc-js with RESOURCE_EXHAUSTED. */
export const grpcMessageBytesMax = 16 * 1024 * 1024;

export const CHANNEL_OPTIONS: grpc.ChannelOptions = Object.freeze({
  'grpc.max_receive_message_length': grpcMessageBytesMax,
  'grpc.max_send_message_length': grpcMessageBytesMax,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  // gRPC's defaults back off from 1 s to 120 s between reconnects, so a client whose server restarted
  // keeps failing for seconds after the server is back. twopc's servers restart in about a second
  // after a crash; reconnecting within half a second of that is what callers (SDK, recovery CLI, in-doubt
  // lookups) need, and a handful of connection attempts a second to a dead address costs nothing.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 500,
});

type ServiceCtor = grpc.ServiceClientConstructor;

let cached: { transactions: ServiceCtor; participant: ServiceCtor } | undefined;

export function loadServices(): { transactions: ServiceCtor; participant: ServiceCtor } {
  if (cached) return cached;
  const def = protoLoader.loadSync(
    ['twopc/v1/transactions.proto', 'twopc/v1/participant.proto'],
    LOADER_OPTIONS,
  );
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    twopc: { v1: { Transactions: ServiceCtor }; internal: { v1: { Participant: ServiceCtor } } };
  };
  cached = { transactions: pkg.twopc.v1.Transactions, participant: pkg.twopc.internal.v1.Participant };
  return cached;
}
