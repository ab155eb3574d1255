/**
 * The fault proxy against a tiny echo server over real loopback sockets: each fault, each direction.
 */
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FaultProxy } from '../../chaos/fault-proxy.ts';

/** Long enough to be sure nothing arrives on a loaded 2-core machine, short enough for a unit test. */
const silenceMs = 300;

interface Echo {
  readonly address: string;
  /** Bytes the server has received so far. */
  received(): number;
  close(): Promise<void>;
}

async function startEcho(): Promise<Echo> {
  let received = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('data', (d) => {
      received += d.length;
      s.write(d);
    });
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    received: () => received,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

interface Client {
  readonly socket: net.Socket;
  /** Everything echoed back so far. */
  text(): string;
  /** Resolves once `n` bytes came back; rejects after `ms`. */
  waitFor(n: number, ms: number): Promise<number>;
  readonly closed: Promise<string>;
}

async function dial(address: string): Promise<Client> {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(':')),
    Number(address.slice(address.lastIndexOf(':') + 1)),
  ];
  const socket = net.connect({ host, port });
  let data = '';
  const closed = new Promise<string>((resolve) => {
    let error = '';
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    socket.on('close', () => resolve(error || 'closed'));
  });
  socket.on('data', (d) => (data += d.toString()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const startedAt = Date.now();
  return {
    socket,
    text: () => data,
    closed,
    waitFor: async (n, ms) => {
      while (data.length < n) {
        if (Date.now() - startedAt > ms) throw new Error(`only ${data.length}/${n} bytes after ${ms} ms`);
        await new Promise((r) => setTimeout(r, 5));
      }
      return Date.now() - startedAt;
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('FaultProxy', () => {
  let echo: Echo;
  let proxy: FaultProxy;
  beforeEach(async () => {
    echo = await startEcho();
    proxy = new FaultProxy('test');
    await proxy.listen();
    proxy.setTarget(echo.address);
  });
  afterEach(async () => {
    await proxy.close();
    await echo.close();
  });

  it('passes bytes both ways', async () => {
    const c = await dial(proxy.address);
    c.socket.write('hello');
    await c.waitFor(5, 5_000);
    expect(c.text()).toBe('hello');
    expect(proxy.stats()).toMatchObject({ accepted: 1, bytesUp: 5, bytesDown: 5 });
    c.socket.destroy();
  });

  it.each(['up', 'down'] as const)('adds latency on %s only, keeping the order of chunks', async (dir) => {
    proxy.set(dir, { kind: 'latency', ms: 250 });
    const c = await dial(proxy.address);
    const sentAt = Date.now();
    for (const part of ['a', 'b', 'c', 'd']) {
      c.socket.write(part);
      await sleep(20);
    }
    await c.waitFor(4, 10_000);
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(250);
    expect(c.text()).toBe('abcd');
    // The other direction is untouched: the echo server saw the bytes early when only `down` is delayed.
    if (dir === 'down') expect(echo.received()).toBe(4);
    c.socket.destroy();
  });

  it('blackholes up: the server gets nothing until the heal, then everything in order', async () => {
    const c = await dial(proxy.address);
    proxy.set('up', { kind: 'blackhole' });
    c.socket.write('one');
    c.socket.write('two');
    await sleep(silenceMs);
    expect(echo.received()).toBe(0);
    expect(c.text()).toBe('');
    proxy.heal();
    await c.waitFor(6, 5_000);
    expect(c.text()).toBe('onetwo');
    c.socket.destroy();
  });

  it('blackholes down: the server receives, the client hears nothing until the heal', async () => {
    const c = await dial(proxy.address);
    proxy.set('down', { kind: 'blackhole' });
    c.socket.write('ping');
    await sleep(silenceMs);
    expect(echo.received()).toBe(4);
    expect(c.text()).toBe('');
    proxy.set('down', { kind: 'pass' });
    await c.waitFor(4, 5_000);
    expect(c.text()).toBe('ping');
    c.socket.destroy();
  });

  it.each(['up', 'down'] as const)(
    'drop on %s resets open connections and refuses new ones until healed',
    async (dir) => {
      const c = await dial(proxy.address);
      c.socket.write('x');
      await c.waitFor(1, 5_000);
      proxy.set(dir, { kind: 'drop' });
      expect(await c.closed).toBe('ECONNRESET');
      const refused = await dial(proxy.address).then(
        (c2) => c2.closed,
        (err: NodeJS.ErrnoException) => err.code ?? 'error',
      );
      expect(refused).toBe('ECONNRESET');
      proxy.heal();
      const c3 = await dial(proxy.address);
      c3.socket.write('back');
      await c3.waitFor(4, 5_000);
      expect(c3.text()).toBe('back');
      c3.socket.destroy();
    },
  );

  it('resets the client when the target refuses (a killed process)', async () => {
    await echo.close();
    const c = await dial(proxy.address);
    expect(await c.closed).toBe('ECONNRESET');
    echo = await startEcho();
    proxy.setTarget(echo.address);
  });
});
