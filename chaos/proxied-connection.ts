/**
 * One connection through a FaultProxy: the dialer's socket, the upstream socket, and a Pipe for each
 * direction that forwards, delays or holds chunks according to the link's current fault.
 */
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Direction, LinkFault } from './fault-proxy.ts';

/** Bytes held (delayed or blackholed) per connection direction before the sender is paused. */
export const heldBytesMax = 4 * 1024 * 1024;

export interface ConnectionHooks {
  fault(direction: Direction): LinkFault;
  counted(direction: Direction, bytes: number): void;
  onReset(): void;
  onClosed(c: Connection): void;
}

/** One proxied connection: two pipes, and the rule that an error on one side resets the other. */
export class Connection {
  readonly #sockets: readonly [net.Socket, net.Socket];
  readonly #pipes: Record<Direction, Pipe>;
  readonly #hooks: ConnectionHooks;
  #closed = false;

  constructor(client: net.Socket, upstream: net.Socket, hooks: ConnectionHooks) {
    this.#hooks = hooks;
    this.#sockets = [client, upstream];
    this.#pipes = {
      up: new Pipe(
        client,
        upstream,
        () => hooks.fault('up'),
        (n) => hooks.counted('up', n),
      ),
      down: new Pipe(
        upstream,
        client,
        () => hooks.fault('down'),
        (n) => hooks.counted('down', n),
      ),
    };
    for (const [socket, other] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      // A refused or reset side resets the other: the dialer must see the failure, not a hang.
      socket.on('error', () => resetSocket(other));
      socket.on('close', () => this.#onClose());
    }
  }

  pump(direction: Direction): void {
    this.#pipes[direction].pump();
  }

  reset(): void {
    this.#hooks.onReset();
    for (const s of this.#sockets) resetSocket(s);
  }

  destroy(): void {
    for (const s of this.#sockets) s.destroy();
  }

  #onClose(): void {
    const [a, b] = this.#sockets;
    if (!a.destroyed || !b.destroyed) return;
    if (this.#closed) return;
    this.#closed = true;
    this.#pipes.up.discard();
    this.#pipes.down.discard();
    this.#hooks.onClosed(this);
  }
}

/** One direction of a connection: forwards, delays or holds chunks, in order. */
class Pipe {
  readonly #source: net.Socket;
  readonly #sink: net.Socket;
  readonly #fault: () => LinkFault;
  readonly #counted: (bytes: number) => void;
  readonly #queue: { chunk: Buffer; dueMs: number }[] = [];
  #heldBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #sourceEnded = false;
  #sinkFull = false;

  constructor(source: net.Socket, sink: net.Socket, fault: () => LinkFault, counted: (n: number) => void) {
    this.#source = source;
    this.#sink = sink;
    this.#fault = fault;
    this.#counted = counted;
    source.on('data', (chunk: Buffer) => this.#push(chunk));
    source.on('end', () => {
      this.#sourceEnded = true;
      this.pump();
    });
    sink.on('drain', () => {
      this.#sinkFull = false;
      this.#updateFlow();
    });
  }

  /** Delivers what is due; schedules the rest. Called on every chunk and every fault change. */
  pump(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const fault = this.#fault();
    if (fault.kind === 'blackhole' || fault.kind === 'drop') return;
    const nowMs = performance.now();
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      if (head.dueMs > nowMs) {
        this.#timer = setTimeout(() => this.pump(), Math.ceil(head.dueMs - nowMs));
        break;
      }
      this.#queue.shift();
      this.#heldBytes -= head.chunk.length;
      this.#write(head.chunk);
    }
    if (this.#queue.length === 0 && this.#sourceEnded && !this.#sink.destroyed) this.#sink.end();
    this.#updateFlow();
  }

  discard(): void {
    clearTimeout(this.#timer);
    this.#queue.length = 0;
    this.#heldBytes = 0;
  }

  #push(chunk: Buffer): void {
    const fault = this.#fault();
    if (fault.kind === 'pass' && this.#queue.length === 0) {
      this.#write(chunk);
      return;
    }
    const last = this.#queue.at(-1)?.dueMs ?? 0;
    const delayMs = fault.kind === 'latency' ? fault.ms : 0;
    // Held (blackholed) chunks are due at once when the fault heals; delayed ones keep their order.
    this.#queue.push({ chunk, dueMs: Math.max(performance.now() + delayMs, last) });
    this.#heldBytes += chunk.length;
    this.pump();
  }

  #write(chunk: Buffer): void {
    if (this.#sink.destroyed) return;
    this.#counted(chunk.length);
    if (!this.#sink.write(chunk)) this.#sinkFull = true;
  }

  #updateFlow(): void {
    const pause = this.#sinkFull || this.#heldBytes > heldBytesMax;
    if (pause && !this.#source.isPaused()) this.#source.pause();
    else if (!pause && this.#source.isPaused()) this.#source.resume();
  }
}

/**
 * RST if the socket can send one cleanly; a plain destroy otherwise. resetAndDestroy() on a socket
 * that is still connecting, or whose graceful shutdown (end()) is already under way, can leave its
 * native handle referenced, and the process then spins forever at exit in Node's handle cleanup.
 */
export function resetSocket(s: net.Socket): void {
  if (s.destroyed) return;
  if (s.connecting || s.writableEnded) s.destroy();
  else s.resetAndDestroy();
}
