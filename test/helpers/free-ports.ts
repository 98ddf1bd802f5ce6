/**
 * Loopback ports for tests that need a port number before anything listens on it (a rules document
 * names its listeners' ports), or that check nothing listens on one.
 *
 * The ports are drawn below the kernel's ephemeral range: a socket bound to port 0 anywhere on the
 * host (another test file's server, an outgoing connection) is given a port from that range, so it
 * can never take one of these between the draw and the test's use of it. Each is checked free by
 * binding it; all n are held at once while drawing, so they are distinct.
 */
import net from 'node:net';
import { localPortRange } from '../../src/dataplane/port-reserve.js';

/** The low end of the host's ephemeral range (the kernel's default when unreadable or too low to leave room below). */
function ephemeralLow(): number {
  const low = localPortRange()?.[0] ?? 32768;
  return low > 12000 ? low : 32768;
}

function tryListen(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(undefined));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(s));
  });
}

/** n distinct loopback ports, free when returned, outside the ephemeral range. */
export async function freeLoopbackPorts(n: number): Promise<number[]> {
  const low = 10000;
  const high = ephemeralLow() - 1;
  const held: net.Server[] = [];
  const ports: number[] = [];
  try {
    for (let tries = 0; ports.length < n; tries++) {
      if (tries > 200) throw new Error(`no ${n} free loopback ports found in ${low}-${high} after 200 tries`);
      const port = low + Math.floor(Math.random() * (high - low + 1));
      if (ports.includes(port)) continue;
      const s = await tryListen(port);
      if (!s) continue;
      held.push(s);
      ports.push(port);
    }
  } finally {
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  }
  return ports;
}
