/**
 * Free loopback ports for tests: listen on port 0, read the port the kernel chose, close. Another
 * process can take the port between close and use; that race is rare on loopback and a test that
 * loses it fails loudly (bind error), it does not pass wrongly.
 */
import net from 'node:net';

/** How many random ranges `freePortRange` tries before giving up. */
const rangeAttemptsMax = 50;

/** Resolves with a port that was free a moment ago (port 0 = let the kernel choose). */
export function freePort(port = 0, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port, host, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`unexpected listen address ${String(address)}`));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

async function isFree(port: number): Promise<boolean> {
  try {
    await freePort(port);
    return true;
  } catch {
    return false;
  }
}

/** `count` consecutive free ports; returns the first (for commands that take a base port). */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < rangeAttemptsMax; attempt++) {
    const base = await freePort();
    if (base + count - 1 > 65_535) continue;
    let ok = true;
    for (let p = base + 1; p < base + count && ok; p++) ok = await isFree(p);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports after ${rangeAttemptsMax} attempts`);
}
