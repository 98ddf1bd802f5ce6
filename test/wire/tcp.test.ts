import { describe, it, expect } from 'vitest';
import { readTcp, writeTcpHeader, TCP_SYN, TCP_ACK } from '../../src/wire/tcp.js';
import { PacketView } from '../../src/wire/packet.js';
import { OK, MALFORMED } from '../../src/wire/status.js';
import { finishTcpChecksumV4 } from '../../src/wire/checksum.js';
import { filled, hex, placed } from './hex.js';
import * as V from './vectors.js';

/** TCP SYN segment (40-byte header with options) of the SYN vector. */
const SYN_TCP = V.ethIpv4TcpSyn.subarray(34);

function decode(bytes: Uint8Array, off = 0, len = bytes.length): { st: number; v: PacketView } {
  const buf = placed(bytes, off, 4);
  const v = new PacketView();
  return { st: readTcp(buf, off, len, v), v };
}

/** A bare TCP header (ports 1 -> 2, ACK) carrying `options`, header length padded to 4. */
function withOptions(options: Uint8Array): Uint8Array {
  const buf = new Uint8Array(60);
  const n = writeTcpHeader(buf, 0, { srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: TCP_ACK, window: 5, options });
  return buf.subarray(0, n);
}

describe('readTcp', () => {
  it('decodes the SYN vector: fields and MSS / window scale / SACK-permitted', () => {
    const { st, v } = decode(SYN_TCP, 5);
    expect(st).toBe(OK);
    expect(v).toMatchObject({
      srcPort: 51818, dstPort: 135, tcpSeq: 0x27ba0db8, tcpAck: 0, tcpFlags: TCP_SYN, tcpHdrLen: 40,
      tcpWindow: 64240, tcpMss: 1460, tcpWscale: 7, tcpSackOk: 1, payloadOff: 45, payloadLen: 0,
    });
  });

  it('option walk: EOL stops, unknown kinds are skipped, odd lengths of known kinds are ignored', () => {
    const cases: [string, string, number, number, number][] = [
      // name, option bytes, mss, wscale, sackOk
      ['EOL hides what follows', '02 04 05 b4 00 03 03 07', 1460, -1, 0],
      ['unknown kind 30 skipped by its length', '1e 04 aa bb 03 03 0e 00', -1, 14, 0],
      ['MSS with length 3 ignored', '02 03 05 01', -1, -1, 0],
      ['window scale 32 kept as sent', '01 03 03 20', -1, 32, 0],
      ['SACK-permitted with length 3 ignored', '04 03 00 04 02 00', -1, -1, 1],
      ['only NOPs', '01 01 01 01', -1, -1, 0],
    ];
    for (const [name, opts, mss, wscale, sackOk] of cases) {
      const { st, v } = decode(withOptions(hex(opts)));
      expect(st, name).toBe(OK);
      expect([v.tcpMss, v.tcpWscale, v.tcpSackOk], name).toEqual([mss, wscale, sackOk]);
    }
  });

  it('malformed headers and options report status, reason and the offending byte', () => {
    const seg = (opts: string): Uint8Array => withOptions(hex(opts));
    const doff4 = SYN_TCP.slice();
    doff4[12] = 0x40;
    const doff0 = SYN_TCP.slice();
    doff0[12] = 0x01; // data offset 0, AE bit set
    const cases: [string, Uint8Array, number, string, number][] = [
      ['data offset 4', doff4, 40, 'tcp data offset < 5', 12],
      ['data offset 0', doff0, 40, 'tcp data offset < 5', 12],
      ['data offset 10 (40 bytes) with 39 in the segment', SYN_TCP, 39, 'tcp header beyond data', 12],
      ['option length 0', seg('02 00 00 00'), 24, 'tcp option length invalid', 21],
      ['option length 1', seg('01 08 01 01'), 24, 'tcp option length invalid', 22],
      ['option length past the header', seg('08 0a 00 00'), 24, 'tcp option length invalid', 21],
      ['option kind in the last header byte', seg('01 01 01 02'), 24, 'tcp option truncated', 23],
    ];
    for (const [name, bytes, len, reason, errOff] of cases) {
      const { st, v } = decode(bytes, 7, len);
      expect([st, v.errReason, v.errOffset - 7], name).toEqual([MALFORMED, reason, errOff]);
    }
  });

  it('every truncation below 20 bytes is MALFORMED at the header start', () => {
    const v = new PacketView();
    for (let cut = 0; cut < 20; cut++) {
      expect(readTcp(SYN_TCP, 0, cut, v)).toBe(MALFORMED);
      expect([v.errReason, v.errOffset]).toEqual(['tcp header truncated', 0]);
    }
  });

  it('the AE (ex-NS) bit does not change the header length', () => {
    const b = SYN_TCP.slice();
    b[12] = 0xa1;
    const { st, v } = decode(b);
    expect(st).toBe(OK);
    expect([v.tcpHdrLen, v.tcpFlags]).toEqual([40, TCP_SYN]);
  });
});

describe('writeTcpHeader', () => {
  it('writes the SYN vector segment byte for byte once the checksum is finished', () => {
    const frame = V.ethIpv4TcpSyn;
    const buf = filled(frame.length + 2);
    buf.set(frame.subarray(0, 34), 0); // Ethernet + IPv4 header from the vector
    const n = writeTcpHeader(buf, 34, {
      srcPort: 51818, dstPort: 135, seq: 0x27ba0db8, ack: 0, flags: TCP_SYN, window: 64240,
      options: hex('02 04 05 b4 04 02 08 0a 00 01 e2 40 00 00 00 00 01 03 03 07'),
    });
    expect(n).toBe(40);
    expect([buf[34 + 16], buf[34 + 17]]).toEqual([0, 0]);
    finishTcpChecksumV4(buf, 14, 34, 40);
    expect(buf.subarray(0, frame.length)).toEqual(frame);
    expect([buf[74], buf[75]]).toEqual([0xa5, 0xa5]);
  });

  it('pads options with EOL up to an explicit header length', () => {
    const buf = filled(40);
    expect(writeTcpHeader(buf, 0, { srcPort: 1, dstPort: 2, seq: 0, ack: 0, flags: 0, window: 0, hdrLen: 32, options: hex('01 01 01 01 02') })).toBe(32);
    expect(Array.from(buf.subarray(20, 33))).toEqual([1, 1, 1, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0xa5]);
    expect(buf[12]).toBe(0x80);
  });

  it('round trip: decode the QinQ vector segment, encode the fields, same header bytes', () => {
    const frame = V.ethQinqIpv4Tcp;
    const { st, v } = decode(frame.subarray(42), 0, 25);
    expect(st).toBe(OK);
    const buf = new Uint8Array(20);
    writeTcpHeader(buf, 0, { srcPort: v.srcPort, dstPort: v.dstPort, seq: v.tcpSeq, ack: v.tcpAck, flags: v.tcpFlags, window: v.tcpWindow });
    const expected = frame.slice(42, 62);
    expected[16] = 0;
    expected[17] = 0;
    expect(buf).toEqual(expected);
  });
});
