/**
 * A worker's SDK client, replaceable by a fresh one — what a Jepsen client does after a connection
 * error: close it and open another.
 *
 * Why it matters here: grpc-js shares one connection (subchannel) between channels to the same target
 * with "equal" credentials, and after a failed connection it waits out a reconnect backoff (1 s growing
 * to 120 s by default; the SDK does not configure it) during which every call fails at once without
 * being sent. After a coordinator kill, clients would then sit idle for seconds after the restart and
 * the nemesis would be hitting an idle cluster. Giving each client credentials that are equal only to
 * themselves gives it its own connection, and a renewed client starts with no backoff.
 */
import * as grpc from '@grpc/grpc-js';
import { TwopcClient } from '../../client/twopc-client.ts';

/** A client is renewed at most this often (a flapping link must not cost a connection per op). */
export const renewIntervalMsMin = 250;

export class ClientSlot {
  readonly #address: string;
  readonly #deadlineMs: number;
  #client: TwopcClient;
  #renewedAtMs = 0;
  renewals = 0;

  constructor(address: string, deadlineMs: number) {
    this.#address = address;
    this.#deadlineMs = deadlineMs;
    this.#client = this.#open();
  }

  get client(): TwopcClient {
    return this.#client;
  }

  /** Closes the client and opens a new one (unless one was opened very recently). */
  renew(): void {
    const nowMs = Date.now();
    if (nowMs - this.#renewedAtMs < renewIntervalMsMin) return;
    this.#renewedAtMs = nowMs;
    this.renewals++;
    this.#client.close();
    this.#client = this.#open();
  }

  close(): void {
    this.#client.close();
  }

  #open(): TwopcClient {
    const credentials = grpc.credentials.createInsecure();
    credentials._equals = (other) => other === credentials;
    return new TwopcClient(this.#address, { deadlineMs: this.#deadlineMs, credentials });
  }
}
