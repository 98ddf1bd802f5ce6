/**
 * Port reservation against stand-in sysctl files: owned ranges inside ip_local_port_range are
 * added to ip_local_reserved_ports (merged with what the administrator reserved), the others
 * left alone; release takes out only what was added, even after someone else changed the list.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { formatPortList, parsePortList, releasePorts, reservePorts } from '../../src/dataplane/port-reserve.js';

describe('port lists', () => {
  it('round-trips the kernel format, merging adjacent runs', () => {
    expect(formatPortList(parsePortList('8080,40000-40999,41000,7'))).toBe('7,8080,40000-41000');
    expect(formatPortList(parsePortList(''))).toBe('');
    expect(formatPortList(parsePortList('65535'))).toBe('65535');
  });
});

describe('reservePorts / releasePorts', () => {
  let dir = '';
  let paths = { range: '', reserved: '' };
  const reserved = (): string => readFileSync(paths.reserved, 'utf8').trim();

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'rpcgw-ports-'));
    paths = { range: path.join(dir, 'range'), reserved: path.join(dir, 'reserved') };
    writeFileSync(paths.range, '32768\t60999\n');
    writeFileSync(paths.reserved, '8080,50000\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reserves the ranges that overlap the ephemeral range, keeps the others out, and gives back only its own', () => {
    const res = reservePorts([
      { lo: 61000, hi: 65535, what: 'gateway.natPorts' },
      { lo: 40000, hi: 40999, what: 'rule exchange mappedPorts' },
      { lo: 49990, hi: 50010, what: 'gateway.notificationRelayPorts' },
    ], paths);
    expect(res.reserved.map((r) => r.what)).toEqual(['rule exchange mappedPorts', 'gateway.notificationRelayPorts']);
    expect(res.outside.map((r) => r.what)).toEqual(['gateway.natPorts']);
    expect(res.before).toBe('8080,50000');
    expect(reserved()).toBe('8080,40000-40999,49990-50010');
    // Someone else reserves a port meanwhile; release keeps it and the administrator's own.
    writeFileSync(paths.reserved, reserved() + ',9000\n');
    releasePorts(res, paths.reserved);
    expect(reserved()).toBe('8080,9000,50000');
  });

  it('changes nothing when nothing overlaps', () => {
    const res = reservePorts([{ lo: 61000, hi: 65535, what: 'gateway.natPorts' }], paths);
    expect(res.reserved).toEqual([]);
    expect(reserved()).toBe('8080,50000');
  });

  it('refuses with a clear error when the sysctl does not exist', () => {
    const p = { range: paths.range, reserved: path.join(dir, 'missing', 'reserved') };
    expect(() => reservePorts([{ lo: 40000, hi: 40999, what: 'rule exchange mappedPorts' }], p)).toThrow(/cannot read .*reserved: ENOENT/);
  });
});
