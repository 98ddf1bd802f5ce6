import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  ipv4ToString,
  parseIpv4,
  ipv6ToString,
  parseIpv6,
  parseCidr4,
  prefixToMask4,
  cidr4Contains,
  macToString,
} from '../../src/wire/addr.js';
import { hex } from './hex.js';

describe('IPv4 text', () => {
  it('formats unsigned and signed u32 alike', () => {
    expect(ipv4ToString(0xc0a87a11)).toBe('192.168.122.17');
    expect(ipv4ToString(0xc0a87a11 | 0)).toBe('192.168.122.17');
    expect(ipv4ToString(0)).toBe('0.0.0.0');
    expect(ipv4ToString(0xffffffff)).toBe('255.255.255.255');
  });

  it('parses strict dotted quads to unsigned u32', () => {
    expect(parseIpv4('192.168.122.17')).toBe(0xc0a87a11);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(parseIpv4('10.0.0.1')).toBe(0x0a000001);
  });

  it('refuses anything else with -1', () => {
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.04', '01.2.3.4', '1..3.4', '.1.2.3', '1.2.3.4.', ' 1.2.3.4', '1.2.3.4 ', '0x1.2.3.4', '1.2.3.-4', '1234.1.1.1', '1.2.3.4/8']) {
      expect(parseIpv4(bad), bad).toBe(-1);
    }
  });

  it('property: round trip', () => {
    fc.assert(
      fc.property(fc.nat(0xffffffff), (a) => {
        expect(parseIpv4(ipv4ToString(a))).toBe(a);
      }),
    );
  });
});

describe('IPv6 text', () => {
  const cases: [string, string][] = [
    ['20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01', '2001:db8::1'],
    ['00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00', '::'],
    ['00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01', '::1'],
    ['fe 80 00 00 00 00 00 00 00 00 00 00 00 00 00 00', 'fe80::'],
    ['20 01 0d b8 00 00 00 01 00 00 00 00 00 00 00 01', '2001:db8:0:1::1'], // longest run compressed
    ['20 01 0d b8 00 00 00 00 00 01 00 00 00 00 00 01', '2001:db8::1:0:0:1'], // tie: the first run
    ['20 01 0d b8 00 01 00 01 00 01 00 01 00 00 00 01', '2001:db8:1:1:1:1:0:1'], // one zero group stays
    ['00 00 00 00 00 00 00 00 00 00 ff ff c0 a8 00 02', '::ffff:192.168.0.2'], // IPv4-mapped
    ['ff 02 00 00 00 00 00 00 00 00 00 00 00 01 00 03', 'ff02::1:3'],
  ];
  for (const [bytes, text] of cases) {
    it(`${text}`, () => {
      const b = hex(bytes);
      expect(ipv6ToString(b, 0)).toBe(text);
      const out = new Uint8Array(18).fill(0xa5);
      expect(parseIpv6(text, out, 1)).toBe(true);
      expect(out.subarray(1, 17)).toEqual(b);
      expect([out[0], out[17]]).toEqual([0xa5, 0xa5]);
    });
  }

  it('parses long forms, upper case and trailing dotted IPv4', () => {
    const out = new Uint8Array(16);
    expect(parseIpv6('2001:0DB8:0000:0000:0000:0000:0000:0001', out, 0)).toBe(true);
    expect(ipv6ToString(out, 0)).toBe('2001:db8::1');
    expect(parseIpv6('64:ff9b::10.0.0.1', out, 0)).toBe(true);
    expect(ipv6ToString(out, 0)).toBe('64:ff9b::a00:1');
    expect(parseIpv6('1:2:3:4:5:6:7::', out, 0)).toBe(true);
    expect(ipv6ToString(out, 0)).toBe('1:2:3:4:5:6:7:0');
  });

  it('refuses malformed text', () => {
    const out = new Uint8Array(16);
    for (const bad of ['', ':', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'g::1', ':1::', '1::2:', 'fe80::1%eth0', '1.2.3.4::', '::1.2.3', '1:2:3:4:5:6:7::8']) {
      expect(parseIpv6(bad, out, 0), bad).toBe(false);
    }
  });

  it('property: round trip of random addresses', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        const out = new Uint8Array(16);
        expect(parseIpv6(ipv6ToString(b, 0), out, 0)).toBe(true);
        expect(out).toEqual(b);
      }),
    );
  });
});

describe('CIDR', () => {
  it('parses prefixes and bare addresses', () => {
    expect(parseCidr4('10.0.0.0/8')).toEqual({ addr: 0x0a000000, network: 0x0a000000, mask: 0xff000000, prefixLen: 8 });
    expect(parseCidr4('192.168.1.7')).toEqual({ addr: 0xc0a80107, network: 0xc0a80107, mask: 0xffffffff, prefixLen: 32 });
    expect(parseCidr4('0.0.0.0/0')).toEqual({ addr: 0, network: 0, mask: 0, prefixLen: 0 });
    expect(parseCidr4('255.255.255.255/32')?.mask).toBe(0xffffffff);
  });

  it('keeps the written address and clears host bits in network', () => {
    expect(parseCidr4('10.1.2.3/16')).toEqual({ addr: 0x0a010203, network: 0x0a010000, mask: 0xffff0000, prefixLen: 16 });
  });

  it('refuses malformed text with null', () => {
    for (const bad of ['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/08', '10.0.0/8', '10.0.0.0/8/8', '/8', '10.0.0.0/ 8']) {
      expect(parseCidr4(bad), bad).toBeNull();
    }
  });

  it('masks and containment', () => {
    expect([0, 1, 24, 31, 32].map(prefixToMask4)).toEqual([0, 0x80000000, 0xffffff00, 0xfffffffe, 0xffffffff]);
    const c = parseCidr4('172.16.0.0/12')!;
    expect(cidr4Contains(c.network, c.mask, parseIpv4('172.31.255.255'))).toBe(true);
    expect(cidr4Contains(c.network, c.mask, parseIpv4('172.32.0.0'))).toBe(false);
    expect(cidr4Contains(0, 0, 0xffffffff)).toBe(true);
  });
});

describe('MAC text', () => {
  it('formats six bytes at an offset', () => {
    expect(macToString(hex('ff 52 54 00 0a bc de'), 1)).toBe('52:54:00:0a:bc:de');
  });
});
