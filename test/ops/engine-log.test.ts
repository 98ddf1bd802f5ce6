/**
 * Setup warnings in the firewall log: a run of bad checksums, truncated capture frames and send
 * failures are each logged once at warning level with the likely cause, then only counted.
 */
import { describe, it, expect } from 'vitest';
import pino from 'pino';
import { Writable } from 'node:stream';
import { BAD_CHECKSUM_STREAK, engineLog } from '../../src/ops/engine-log.js';
import { DROP_BAD_CHECKSUM, DROP_NO_FLOW } from '../../src/engine/reasons.js';
import { SIDE_EXTERNAL } from '../../src/engine/events.js';
import { PacketView } from '../../src/wire/packet.js';

function logger(): { log: pino.Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line) records.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { log: pino({ level: 'info' }, sink), records };
}

const setup = (records: Record<string, unknown>[]): Record<string, unknown>[] => records.filter((r) => r.event === 'setup-warning');
const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('setup warnings', () => {
  const v = new PacketView();

  it(`warns once after ${BAD_CHECKSUM_STREAK} bad checksums in a row, naming offloads`, async () => {
    const { log, records } = logger();
    let seen = 0;
    const ev = engineLog(log, { packetsSeen: () => seen });
    // Bad checksums scattered between good packets: no warning.
    for (let i = 0; i < 100; i++) {
      seen += 2;
      ev.packetDropped(DROP_BAD_CHECKSUM, SIDE_EXTERNAL, v, i);
    }
    await flush();
    expect(setup(records)).toEqual([]);
    // A run: one warning at the 32nd, none after, even for a second run.
    for (let i = 0; i < BAD_CHECKSUM_STREAK * 3; i++) {
      seen++;
      ev.packetDropped(DROP_BAD_CHECKSUM, SIDE_EXTERNAL, v, 200 + i);
    }
    seen += 5;
    for (let i = 0; i < BAD_CHECKSUM_STREAK; i++) {
      seen++;
      ev.packetDropped(DROP_BAD_CHECKSUM, SIDE_EXTERNAL, v, 400 + i);
    }
    await flush();
    const w = setup(records);
    expect(w).toHaveLength(1);
    expect(w[0]).toMatchObject({ level: 40, cause: 'bad-checksums', inARow: BAD_CHECKSUM_STREAK });
    expect(String(w[0]!.msg)).toMatch(/neither full nor partial — check offloads/);
  });

  it('other drop reasons never count toward the run', async () => {
    const { log, records } = logger();
    let seen = 0;
    const ev = engineLog(log, { packetsSeen: () => seen });
    for (let i = 0; i < 100; i++) {
      seen++;
      ev.packetDropped(i % 2 === 0 ? DROP_BAD_CHECKSUM : DROP_NO_FLOW, SIDE_EXTERNAL, v, i);
    }
    await flush();
    expect(setup(records)).toEqual([]);
  });

  it('warns once about truncated capture frames and once about send failures, with the cause', async () => {
    const { log, records } = logger();
    const ev = engineLog(log);
    const c = { truncatedFrames: 0, sendErrors: 0 } as { truncatedFrames: number; sendErrors: number; lastSendError?: string };
    ev.checkDataplane(c);
    await flush();
    expect(setup(records)).toEqual([]);
    c.truncatedFrames = 3;
    c.sendErrors = 1;
    c.lastSendError = 'Message too long';
    ev.checkDataplane(c);
    c.truncatedFrames = 9;
    c.sendErrors = 7;
    ev.checkDataplane(c);
    await flush();
    const w = setup(records);
    expect(w.map((r) => r.cause)).toEqual(['capture-truncated', 'send-failed']);
    expect(w[0]).toMatchObject({ level: 40, truncatedFrames: 3 });
    expect(String(w[0]!.msg)).toMatch(/capture buffer.*LRO\/GRO/);
    expect(w[1]).toMatchObject({ level: 40, sendErrors: 1, error: 'Message too long' });
    expect(String(w[1]!.msg)).toMatch(/EMSGSIZE.*MTU/);
  });
});
