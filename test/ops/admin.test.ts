/**
 * The admin socket as instance lock and as an event stream; sd_notify's datagram; the journald
 * priority prefix of the daemon's log lines.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { mkdtempSync, openSync, closeSync, fstatSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { InstanceLockError, adminRequest, adminStream, serveAdmin } from '../../src/ops/admin.js';
import { EventHub, RuleStats, engineLog, splitEndpoint } from '../../src/ops/engine-log.js';
import { sdNotify } from '../../src/ops/sd-notify.js';
import { daemonLogger, syslogPriority } from '../../src/ops/logger.js';
import pino from 'pino';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'rpcgw-admin-test-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('admin socket', () => {
  it('is the instance lock: a second daemon is refused while the first answers; a stale socket file is taken over', async () => {
    const sock = path.join(tmp(), 'admin.sock');
    const first = await serveAdmin(sock, () => ({ ok: 1 }));
    await expect(serveAdmin(sock, () => ({}))).rejects.toBeInstanceOf(InstanceLockError);
    expect(await adminRequest(sock, { cmd: 'status' })).toEqual({ ok: 1 });
    // A socket file nobody listens on (a daemon killed with SIGKILL leaves one): taken over.
    await new Promise<void>((r) => first.close(() => r()));
    const stale = net.createServer();
    await new Promise<void>((r) => stale.listen(sock, () => r()));
    // Close the listener but keep the file, as a killed process does.
    (stale as unknown as { _handle: { close(): void } | null })._handle?.close();
    const second = await serveAdmin(sock, () => ({ ok: 2 }));
    expect(await adminRequest(sock, { cmd: 'status' })).toEqual({ ok: 2 });
    await new Promise<void>((r) => second.close(() => r()));
  });

  it('answers a command that completes later (a flush waiting for nftables) when it completes, or with its error', async () => {
    const sock = path.join(tmp(), 'admin.sock');
    let done = false;
    const server = await serveAdmin(sock, (req) => (req.cmd === 'flush'
      ? new Promise((r) => setTimeout(() => { done = true; r({ flushedKernel: { pinholes: 2, connections: 1 } }); }, 50))
      : Promise.reject(new Error('nft channel closed'))));
    expect(await adminRequest(sock, { cmd: 'flush' })).toEqual({ flushedKernel: { pinholes: 2, connections: 1 } });
    expect(done).toBe(true);
    expect(await adminRequest(sock, { cmd: 'status' })).toEqual({ error: 'nft channel closed' });
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('streams events to a subscriber with its filters until it goes away', async () => {
    const sock = path.join(tmp(), 'admin.sock');
    const hub = new EventHub();
    const stats = new RuleStats();
    const ev = engineLog(pino({ level: 'silent' }), { hub, stats });
    const server = await serveAdmin(sock, (req) => ({ stream: (w: (r: unknown) => void) => hub.subscribe({ ...(req.rule ? { rule: req.rule } : {}), ...(req.type ? { type: req.type } : {}) }, w) }));
    const got: Record<string, unknown>[] = [];
    const ac = new AbortController();
    const done = adminStream(sock, { cmd: 'events', rule: 'a', type: 'refused' }, (r) => {
      got.push(r);
      if (got.length === 1) ac.abort();
    }, ac.signal);
    while (!hub.listening) await new Promise((r) => setTimeout(r, 5));
    const refusal = { flow: 1, client: '203.0.113.5:5000', server: '192.0.2.10:135', reason: 'interface-not-published', detail: 'x', interface: 'u@1.0' };
    ev.connectionRefused({ ...refusal, rule: 'b' }, 0); // other rule: filtered out
    ev.connectionOpened({ flow: 2, kind: 'epm', rule: 'a', client: '203.0.113.5:5001', external: '198.51.100.1:135', gateway: '192.0.2.1:10000', server: '192.0.2.10:135' }, 0);
    ev.connectionRefused({ ...refusal, rule: 'a' }, 0);
    await done;
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ event: 'refused', rule: 'a', client_ip: '203.0.113.5', client_port: 5000, server_ip: '192.0.2.10', server_port: 135, level: 40, levelName: 'warning' });
    // Unsubscribed when the client left.
    for (let i = 0; i < 50 && hub.listening; i++) await new Promise((r) => setTimeout(r, 10));
    expect(hub.listening).toBe(false);
    expect(stats.refusalsOf('a')).toBe(1);
    expect(stats.refusalsOf('b')).toBe(1);
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('splits endpoints into address and port fields', () => {
    expect(splitEndpoint('client', '203.0.113.25:49152')).toEqual({ client_ip: '203.0.113.25', client_port: 49152 });
    expect(splitEndpoint('client', '203.0.113.25')).toEqual({ client_ip: '203.0.113.25' });
  });
});

describe('sd_notify', () => {
  it('sends READY=1 as one datagram to NOTIFY_SOCKET, and nothing without it', async () => {
    const dir = tmp();
    const at = path.join(dir, 'notify');
    const dgram = createRequire(import.meta.url)('unix-dgram') as {
      createSocket(t: 'unix_dgram', cb: (msg: Buffer) => void): { bind(p: string): void; close(): void };
    };
    const got: string[] = [];
    const rx = dgram.createSocket('unix_dgram', (m) => got.push(m.toString()));
    rx.bind(at);
    try {
      expect(await sdNotify('READY=1', { NOTIFY_SOCKET: at })).toBe(true);
      for (let i = 0; i < 100 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(got).toEqual(['READY=1']);
      expect(await sdNotify('READY=1', {})).toBe(false);
    } finally {
      rx.close();
    }
  });
});

describe('journald priorities', () => {
  it('prefixes each line with its syslog priority when stdout is the journal stream', () => {
    const file = path.join(tmp(), 'journal');
    writeFileSync(file, '');
    const fd = openSync(file, 'a');
    const st = fstatSync(fd);
    const log = daemonLogger('info', fd, { JOURNAL_STREAM: `${st.dev}:${st.ino}` });
    log.info({ event: 'connection-open' }, 'opened');
    log.warn({ event: 'refused' }, 'refused');
    log.error({ event: 'reload-refused' }, 'refused');
    log.fatal({ event: 'start-failed' }, 'failed');
    closeSync(fd);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.map((l) => l.slice(0, 3))).toEqual(['<6>', '<4>', '<3>', '<2>']);
    const recs = lines.map((l) => JSON.parse(l.slice(3)) as Record<string, unknown>);
    expect(recs.map((r) => r.levelName)).toEqual(['info', 'warning', 'error', 'fatal']);
    expect(recs[1]).toMatchObject({ event: 'refused', level: 40 });
  });

  it('writes plain JSON lines when stdout is not the journal', () => {
    const file = path.join(tmp(), 'plain');
    writeFileSync(file, '');
    const fd = openSync(file, 'a');
    daemonLogger('info', fd, { JOURNAL_STREAM: '1:2' }).warn({ event: 'refused' }, 'x');
    closeSync(fd);
    expect(readFileSync(file, 'utf8').startsWith('{"level":40,')).toBe(true);
  });

  it('maps pino levels to syslog priorities', () => {
    expect([10, 20, 30, 40, 50, 60].map(syslogPriority)).toEqual([7, 7, 6, 4, 3, 2]);
  });
});
