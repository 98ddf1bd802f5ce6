/**
 * systemd readiness (Type=notify): one "READY=1" datagram to $NOTIFY_SOCKET once capture, guard
 * and admin socket are up, so `systemctl start` returns only then (and fails if start-up fails).
 * Sent from the daemon's own pid through unix-dgram (Node has no AF_UNIX datagram sockets):
 * `systemd-notify` run as a child would need NotifyAccess=all and races its own exit (systemd 252
 * can drop the message once the sender is gone). Without NOTIFY_SOCKET this does nothing.
 */
import { createRequire } from 'node:module';

interface DgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, cb?: (err?: Error) => void): void;
  close(): void;
  on(ev: 'error', cb: (e: Error) => void): void;
}

/** Sends `state` ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...") to systemd; resolves false when not supervised or on failure. */
export function sdNotify(state: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const target = env.NOTIFY_SOCKET;
  if (target === undefined || target === '') return Promise.resolve(false);
  // An abstract socket ("@name") is "\0name" on the wire.
  const path = target.startsWith('@') ? '\0' + target.slice(1) : target;
  return new Promise((resolve) => {
    let sock: DgramSocket;
    try {
      const require = createRequire(import.meta.url);
      const dgram = require('unix-dgram') as { createSocket(type: 'unix_dgram'): DgramSocket };
      sock = dgram.createSocket('unix_dgram');
    } catch {
      resolve(false);
      return;
    }
    sock.on('error', () => {
      sock.close();
      resolve(false);
    });
    const buf = Buffer.from(state);
    sock.send(buf, 0, buf.length, path, (err) => {
      sock.close();
      resolve(err === undefined || err === null);
    });
  });
}
