import { describe, expect, it } from 'vitest';
import {
  PCAP_HDR_LEN,
  PcapHeader,
  R_PCAP_BAD_MAGIC,
  R_PCAP_CAPLEN_BOUND,
  R_PCAP_HDR_TRUNCATED,
  R_PCAP_REC_TRUNCATED,
  R_PCAP_VERSION,
  readPcapHeader,
  readPcapRecord,
} from '../../src/pcap/pcap.js';
import { CaptureRecord, MAX_RECORD_LEN } from '../../src/pcap/record.js';
import { writePcapHeader, writePcapRecordHeader } from '../../src/pcap/writer.js';
import { MALFORMED, NEED_MORE, OK } from '../../src/wire/status.js';
import { concat, hex, parseChunked } from './bytes.js';

const HDR_LE_USEC = hex(`
  d4 c3 b2 a1   # magic a1b2c3d4 stored little-endian: microsecond stamps
  02 00         # version major 2
  04 00         # version minor 4
  00 00 00 00   # thiszone
  00 00 00 00   # sigfigs
  ff ff 00 00   # snaplen 65535
  01 00 00 00   # link type 1 (Ethernet), no FCS bits
`);

const HDR_BE_NSEC = hex(`
  a1 b2 3c 4d   # magic a1b23c4d stored big-endian: nanosecond stamps
  00 02         # version major 2
  00 04         # version minor 4
  00 00 00 00   # thiszone
  00 00 00 00   # sigfigs
  00 04 00 00   # snaplen 262144
  00 00 00 65   # link type 101 (raw IP)
`);

const REC_LE_USEC = hex(`
  00 10 5e 5f   # ts seconds 0x5f5e1000 = 1600000000
  40 e2 01 00   # ts microseconds 123456
  04 00 00 00   # captured length 4
  3c 00 00 00   # original length 60
  de ad be ef   # data
`);

const REC_BE_NSEC = hex(`
  5f 5e 10 00   # ts seconds 1600000000
  3b 9a c9 ff   # ts nanoseconds 999999999
  00 00 00 02   # captured length 2
  00 00 05 dc   # original length 1500
  45 00         # data
`);

describe('pcap file header', () => {
  it('decodes a little-endian microsecond header', () => {
    const h = new PcapHeader();
    expect(readPcapHeader(HDR_LE_USEC, 0, HDR_LE_USEC.length, h)).toBe(OK);
    expect(h).toMatchObject({ bigEndian: false, nanos: false, versionMajor: 2, versionMinor: 4, snaplen: 65535, linkType: 1, fcsLen: 0 });
  });

  it('decodes a big-endian nanosecond header', () => {
    const h = new PcapHeader();
    expect(readPcapHeader(HDR_BE_NSEC, 0, HDR_BE_NSEC.length, h)).toBe(OK);
    expect(h).toMatchObject({ bigEndian: true, nanos: true, versionMajor: 2, versionMinor: 4, snaplen: 262144, linkType: 101, fcsLen: 0 });
  });

  it('masks the FCS bits off the link type and reports the FCS length', () => {
    const v = HDR_LE_USEC.slice();
    // link type field 0x24000001: FCS-present bit (26) set, FCS length 2 x 16-bit words, Ethernet.
    v.set(hex('01 00 00 24'), 20);
    const h = new PcapHeader();
    expect(readPcapHeader(v, 0, v.length, h)).toBe(OK);
    expect(h.linkType).toBe(1);
    expect(h.fcsLen).toBe(4);
    // Without the FCS-present bit the top nibble means nothing.
    v.set(hex('01 00 00 20'), 20);
    expect(readPcapHeader(v, 0, v.length, h)).toBe(OK);
    expect(h.linkType).toBe(1);
    expect(h.fcsLen).toBe(0);
  });

  it('rejects a bad magic, a bad version, and asks for more when short', () => {
    const h = new PcapHeader();
    const bad = concat(new Uint8Array(5), HDR_LE_USEC);
    bad.set(hex('47 45 54 20'), 5); // "GET "
    expect(readPcapHeader(bad, 5, 24, h)).toBe(MALFORMED);
    expect(h.errReason).toBe(R_PCAP_BAD_MAGIC);
    expect(h.errOffset).toBe(5);

    const v3 = HDR_LE_USEC.slice();
    v3[4] = 3;
    expect(readPcapHeader(v3, 0, 24, h)).toBe(MALFORMED);
    expect(h.errReason).toBe(R_PCAP_VERSION);
    expect(h.errOffset).toBe(0);

    expect(readPcapHeader(HDR_LE_USEC, 0, 23, h)).toBe(NEED_MORE);
    expect(h.needed).toBe(24);
    expect(h.errReason).toBe(R_PCAP_HDR_TRUNCATED);
  });
});

describe('pcap record', () => {
  const le = new PcapHeader();
  readPcapHeader(HDR_LE_USEC, 0, 24, le);
  const be = new PcapHeader();
  readPcapHeader(HDR_BE_NSEC, 0, 24, be);

  it('decodes a little-endian microsecond record, pointing into the buffer', () => {
    const buf = concat(new Uint8Array(3), REC_LE_USEC);
    const r = new CaptureRecord();
    expect(readPcapRecord(buf, 3, REC_LE_USEC.length, le, r)).toBe(OK);
    expect(r).toMatchObject({ linkType: 1, interfaceId: 0, tsSec: 1600000000, tsNsec: 123456000, capLen: 4, origLen: 60, dataOff: 19 });
    expect(r.data).toBe(buf);
    expect(Array.from(buf.subarray(r.dataOff, r.dataOff + r.capLen))).toEqual([0xde, 0xad, 0xbe, 0xef]);
  });

  it('decodes a big-endian nanosecond record', () => {
    const r = new CaptureRecord();
    expect(readPcapRecord(REC_BE_NSEC, 0, REC_BE_NSEC.length, be, r)).toBe(OK);
    expect(r).toMatchObject({ linkType: 101, tsSec: 1600000000, tsNsec: 999999999, capLen: 2, origLen: 1500, dataOff: 16 });
  });

  it('carries a microsecond fraction of a full second into the seconds', () => {
    const v = REC_LE_USEC.slice();
    v.set(hex('40 42 0f 00'), 4); // 1000000 us
    const r = new CaptureRecord();
    expect(readPcapRecord(v, 0, v.length, le, r)).toBe(OK);
    expect(r.tsSec).toBe(1600000001);
    expect(r.tsNsec).toBe(0);
  });

  it('asks for the whole record when short', () => {
    const r = new CaptureRecord();
    expect(readPcapRecord(REC_LE_USEC, 0, 15, le, r)).toBe(NEED_MORE);
    expect(r.needed).toBe(16);
    expect(readPcapRecord(REC_LE_USEC, 0, 19, le, r)).toBe(NEED_MORE);
    expect(r.needed).toBe(20);
    expect(r.errReason).toBe(R_PCAP_REC_TRUNCATED);
  });

  it('rejects a captured length above the 256 MiB sanity bound (and accepts exactly the bound)', () => {
    const r = new CaptureRecord();
    const v = concat(new Uint8Array(7), REC_LE_USEC);
    v.set(hex('01 00 00 10'), 7 + 8); // 0x10000001 = 256 MiB + 1
    expect(readPcapRecord(v, 7, 20, le, r)).toBe(MALFORMED);
    expect(r.errReason).toBe(R_PCAP_CAPLEN_BOUND);
    expect(r.errOffset).toBe(7);
    v.set(hex('00 00 00 10'), 7 + 8); // exactly 256 MiB
    expect(readPcapRecord(v, 7, 20, le, r)).toBe(NEED_MORE);
    expect(r.needed).toBe(16 + MAX_RECORD_LEN);
  });
});

describe('pcap encoders', () => {
  it('writes the file header at an offset, touching nothing else', () => {
    const buf = new Uint8Array(40).fill(0xa5);
    expect(writePcapHeader(buf, 3, 1, 65535, false)).toBe(PCAP_HDR_LEN);
    expect(buf.subarray(3, 27)).toEqual(HDR_LE_USEC);
    expect(buf.subarray(0, 3).every((b) => b === 0xa5)).toBe(true);
    expect(buf.subarray(27).every((b) => b === 0xa5)).toBe(true);
    writePcapHeader(buf, 3, 101, 262144, true);
    expect(Array.from(buf.subarray(3, 7))).toEqual([0x4d, 0x3c, 0xb2, 0xa1]); // a1b23c4d little-endian
  });

  it('writes a record header at an offset', () => {
    const buf = new Uint8Array(30).fill(0xa5);
    expect(writePcapRecordHeader(buf, 5, 1600000000, 123456, 4, 60)).toBe(16);
    expect(buf.subarray(5, 21)).toEqual(REC_LE_USEC.subarray(0, 16));
    expect(buf[4]).toBe(0xa5);
    expect(buf[21]).toBe(0xa5);
  });
});

describe('pcap through the parser', () => {
  it('reads both byte orders and re-encodes the same bytes', () => {
    const file = concat(HDR_LE_USEC, REC_LE_USEC, REC_LE_USEC);
    const res = parseChunked(file);
    expect(res.status).toBe(OK);
    expect(res.format).toBe('pcap');
    expect(res.records.map((r) => r.fileOffset)).toEqual([24, 44]);
    // decode -> encode -> same bytes
    const again = new Uint8Array(file.length);
    let o = writePcapHeader(again, 0, 1, 65535, false);
    for (const r of res.records) {
      o += writePcapRecordHeader(again, o, r.tsSec, r.tsNsec / 1000, r.capLen, r.origLen);
      again.set(Buffer.from(r.bytes, 'hex'), o);
      o += r.capLen;
    }
    expect(again).toEqual(file);

    const beRes = parseChunked(concat(HDR_BE_NSEC, REC_BE_NSEC));
    expect(beRes.format).toBe('pcap-ns');
    expect(beRes.records).toEqual([{ linkType: 101, interfaceId: 0, tsSec: 1600000000, tsNsec: 999999999, capLen: 2, origLen: 1500, fileOffset: 24, bytes: '4500' }]);
  });

  it('reports the file offset of a record over the sanity bound, after the good ones', () => {
    const bad = REC_LE_USEC.slice();
    bad.set(hex('00 00 00 20'), 8); // 512 MiB
    const res = parseChunked(concat(HDR_LE_USEC, REC_LE_USEC, bad));
    expect(res.records.length).toBe(1);
    expect(res.status).toBe(MALFORMED);
    expect(res.errReason).toBe(R_PCAP_CAPLEN_BOUND);
    expect(res.errOffset).toBe(44);
  });
});
