/**
 * A stand-in Participant server for failure tests: it speaks the real protocol (proto/ through
 * common/proto.ts) but lets a test decide when and how each Session message is answered, which a
 * real shard store, synchronous by design, cannot do without stalling the whole test process.
 */
import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, loadServices } from '../../common/proto.ts';
import type { Pb } from '../../common/pb-fields.ts';

export interface HeldMessage {
  readonly seq: string;
  readonly body: 'prepare' | 'decision';
  readonly txnId: string;
  reply(body: Pb): void;
}

export interface StubParticipant {
  readonly address: string;
  readonly port: number;
  /** Sizes of the CoordinatorBatches received, in order. */
  readonly batchSizes: number[];
  /** Session streams opened so far. */
  sessions: number;
  kill(): void;
  close(): Promise<void>;
}

/** Answers prepares YES and decisions with the matching state. */
export function answerAll(m: HeldMessage): void {
  if (m.body === 'prepare') m.reply({ vote: { txn_id: m.txnId, vote: 'YES' } });
  else m.reply({ ack: { txn_id: m.txnId, state: 'COMMITTED' } });
}

export async function startStubParticipant(
  onMessage: (m: HeldMessage) => void,
  port = 0,
): Promise<StubParticipant> {
  const server = new grpc.Server(CHANNEL_OPTIONS);
  const batchSizes: number[] = [];
  const stub = { sessions: 0 };
  server.addService(loadServices().participant.service, {
    Session: (call: grpc.ServerDuplexStream<Pb, Pb>) => {
      stub.sessions++;
      call.sendMetadata(new grpc.Metadata());
      call.on('error', () => undefined);
      call.on('end', () => call.end());
      call.on('data', (batch: { messages: Array<Record<string, unknown>> }) => {
        batchSizes.push(batch.messages.length);
        for (const m of batch.messages) {
          const body = m.body as 'prepare' | 'decision';
          const inner = m[body] as { txn_id: string };
          onMessage({
            seq: m.seq as string,
            body,
            txnId: inner.txn_id,
            reply: (reply) => {
              if (!call.cancelled && call.writable) call.write({ messages: [{ seq: m.seq, ...reply }] });
            },
          });
        }
      });
    },
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return Object.assign(stub, {
    address: `127.0.0.1:${bound}`,
    port: bound,
    batchSizes,
    kill: () => server.forceShutdown(),
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  });
}
