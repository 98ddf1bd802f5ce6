import { describe, expect, it } from 'vitest';
import {
  PCAPNG_BT_EPB,
  PCAPNG_BT_IDB,
  PCAPNG_BT_SHB,
  PcapngState,
  R_BLOCK_LEN_ALIGN,
  R_BLOCK_LEN_HUGE,
  R_BLOCK_LEN_MISMATCH,
  R_BLOCK_LEN_SHORT,
  R_BLOCK_TOO_SHORT,
  R_BLOCK_TRUNCATED,
  R_EPB_CAPLEN,
  R_NO_SECTION,
  R_OPTION_OVERRUN,
  R_PKT_IFACE,
  R_SHB_BOM,
  R_SHB_VERSION,
  R_SPB_NO_IFACE,
  readPcapngBlock,
} from '../../src/pcap/pcapng.js';
import { R_TRUNCATED_HEADER } from '../../src/pcap/reader.js';
import { CaptureRecord } from '../../src/pcap/record.js';
import { PCAPNG_IDB_USEC_LEN, writePcapngEpb, writePcapngIdb, writePcapngShb } from '../../src/pcap/writer.js';
import { MALFORMED, NEED_MORE, OK } from '../../src/wire/status.js';
import { NgBuilder, concat, hex, parseChunked } from './bytes.js';

const SHB_LE = hex(`
  0a 0d 0d 0a               # block type SHB (the same bytes in both byte orders)
  1c 00 00 00               # block total length 28
  4d 3c 2b 1a               # byte-order magic 1a2b3c4d written little-endian
  01 00 00 00               # version 1.0
  ff ff ff ff ff ff ff ff   # section length -1 (not given)
  1c 00 00 00               # block total length 28
`);

const SHB_BE = hex(`
  0a 0d 0d 0a               # block type SHB
  00 00 00 1c               # block total length 28, big-endian
  1a 2b 3c 4d               # byte-order magic big-endian
  00 01 00 00               # version 1.0
  ff ff ff ff ff ff ff ff   # section length -1
  00 00 00 1c               # block total length 28
`);

const IDB_LE_OPTS = hex(`
  01 00 00 00               # block type 1 (IDB)
  34 00 00 00               # block total length 52
  01 00                     # link type 1 (Ethernet)
  00 00                     # reserved
  ff ff 00 00               # snaplen 65535
  09 00 01 00               # option if_tsresol (9), length 1
  09 00 00 00               #   10^-9 s (nanoseconds) + 3 padding bytes
  0e 00 08 00               # option if_tsoffset (14), length 8
  0a 00 00 00 00 00 00 00   #   +10 seconds (i64 LE)
  0d 00 01 00               # option if_fcslen (13), length 1
  04 00 00 00               #   4 FCS bytes + padding
  00 00 00 00               # opt_endofopt
  34 00 00 00               # block total length 52
`);

const IDB_BE_PLAIN = hex(`
  00 00 00 01               # block type 1 (IDB), big-endian
  00 00 00 14               # block total length 20
  00 65                     # link type 101 (raw IP)
  00 00                     # reserved
  00 00 ff ff               # snaplen 65535
  00 00 00 14               # block total length 20 (no options: default 10^-6)
`);

const EPB_LE = hex(`
  06 00 00 00               # block type 6 (EPB)
  28 00 00 00               # block total length 40 (32 + 5 data bytes padded to 8)
  00 00 00 00               # interface id 0
  85 57 34 16               # timestamp high 0x16345785
  15 cd fb df               # timestamp low 0xdffbcd15: 1600000000123456789 ns
  05 00 00 00               # captured length 5
  40 00 00 00               # original length 64
  01 02 03 04 05 00 00 00   # data + 3 padding bytes
  28 00 00 00               # block total length 40
`);

const EPB_BE = hex(`
  00 00 00 06               # block type 6 (EPB), big-endian
  00 00 00 24               # block total length 36
  00 00 00 00               # interface id 0
  00 05 af 31               # timestamp high
  07 a5 e2 40               # timestamp low: 1600000000123456 us
  00 00 00 04               # captured length 4
  00 00 00 04               # original length 4
  45 00 00 14               # data (4 bytes, no padding)
  00 00 00 24               # block total length 36
`);

function decodeAll(file: Uint8Array): { st: PcapngState; recs: CaptureRecord[]; status: number; out: CaptureRecord } {
  const st = new PcapngState();
  const recs: CaptureRecord[] = [];
  let off = 0;
  let out = new CaptureRecord();
  while (off < file.length) {
    const s = readPcapngBlock(file, off, file.length - off, st, out);
    if (s !== OK) return { st, recs, status: s, out };
    off += st.blockLen;
    if (st.isPacket) {
      recs.push(out);
      out = new CaptureRecord();
    }
  }
  return { st, recs, status: OK, out };
}

describe('pcapng blocks', () => {
  it('decodes a little-endian SHB, an IDB with options and an EPB', () => {
    const { st, recs, status } = decodeAll(concat(SHB_LE, IDB_LE_OPTS, EPB_LE));
    expect(status).toBe(OK);
    expect(st).toMatchObject({ bigEndian: false, versionMajor: 1, versionMinor: 0, sectionCount: 1, ifCount: 1 });
    expect(st.ifTsResol[0]).toBe(9);
    expect(st.ifTsOffset[0]).toBe(10);
    expect(recs.length).toBe(1);
    const r = recs[0]!;
    // 1600000000.123456789 + if_tsoffset 10 s
    expect(r).toMatchObject({ linkType: 1, interfaceId: 0, tsSec: 1600000010, tsNsec: 123456789, capLen: 5, origLen: 64, fcsLen: 4 });
    expect(r.dataOff).toBe(28 + 52 + 28);
    expect(Array.from(r.data.subarray(r.dataOff, r.dataOff + r.capLen))).toEqual([1, 2, 3, 4, 5]);
  });

  it('decodes a big-endian section with the default microsecond resolution', () => {
    const { st, recs, status } = decodeAll(concat(SHB_BE, IDB_BE_PLAIN, EPB_BE));
    expect(status).toBe(OK);
    expect(st.bigEndian).toBe(true);
    expect(recs[0]).toMatchObject({ linkType: 101, tsSec: 1600000000, tsNsec: 123456000, capLen: 4, origLen: 4, fcsLen: 0 });
  });

  it('converts binary, decimal and sub-nanosecond resolutions exactly', () => {
    const b = new NgBuilder(false);
    const file = concat(
      b.shb(),
      b.idb(1, 0, [[9, [0x8a]]]), // 2^-10 s
      b.idb(1, 0, [[9, [12]]]), // 10^-12 s: the BigInt path
      b.idb(1, 0, [[9, [0]]]), // whole seconds
      b.idb(1, 0, [[9, [0x9e]], [14, b.i64(-100)]]), // 2^-30 s, if_tsoffset -100 s
      b.epb(0, 0x17d, 0x78400200, [0]), // 1600000000 * 1024 + 512
      b.epb(1, 0xde0b6d0, 0x65fd1a14, [0]), // 10^18 + 123456789012 ps
      b.epb(2, 0, 1600000000, [0]),
      b.epb(3, 0x17d78400, 0x10000000, [0]), // 1600000000 * 2^30 + 2^28 (a quarter second)
    );
    const { recs, status } = decodeAll(file);
    expect(status).toBe(OK);
    expect(recs.map((r) => [r.tsSec, r.tsNsec])).toEqual([
      [1600000000, 500000000],
      [1000000, 123456789],
      [1600000000, 0],
      [1600000000 - 100, 250000000],
    ]);
  });

  it('skips NRB, ISB, DSB, custom and unknown blocks by their length', () => {
    const b = new NgBuilder(false);
    const file = concat(
      b.shb(),
      b.block(4, [1, 0, 8, 0, 10, 0, 0, 1, 0x61, 0x62, 0x63, 0, 0, 0, 0, 0]), // NRB
      b.idb(1, 0),
      b.block(5, new Array(20).fill(0)), // ISB
      b.block(0x0a, new Array(12).fill(7)), // DSB
      b.block(0xbad, [1, 2, 3, 4, 5]), // custom
      b.block(0x12345678, []), // unknown, body-less
      b.epb(0, 0, 1, [9, 9]),
    );
    const { recs, status } = decodeAll(file);
    expect(status).toBe(OK);
    expect(recs.length).toBe(1);
    expect(recs[0]!.capLen).toBe(2);
  });

  it('gives SPB frames the snaplen of interface 0 and no timestamp', () => {
    const b = new NgBuilder(true);
    const { recs, status } = decodeAll(concat(b.shb(), b.idb(1, 4), b.spb(6, [1, 2, 3, 4]), b.idb(1, 0), b.spb(3, [7, 8, 9])));
    expect(status).toBe(OK);
    expect(recs.map((r) => [r.capLen, r.origLen, r.tsSec, r.tsNsec, r.interfaceId])).toEqual([
      [4, 6, 0, 0, 0],
      [3, 3, 0, 0, 0],
    ]);
  });

  it('asks for the whole block when short', () => {
    const st = new PcapngState();
    const out = new CaptureRecord();
    expect(readPcapngBlock(SHB_LE, 0, 7, st, out)).toBe(NEED_MORE);
    expect(out.needed).toBe(8);
    expect(readPcapngBlock(SHB_LE, 0, 11, st, out)).toBe(NEED_MORE);
    expect(out.needed).toBe(12);
    expect(readPcapngBlock(SHB_LE, 0, 27, st, out)).toBe(NEED_MORE);
    expect(out.needed).toBe(28);
    expect(out.errReason).toBe(R_BLOCK_TRUNCATED);
  });
});

describe('pcapng sections and interfaces', () => {
  it('reads two interfaces with different link types in a big-endian section, then a little-endian section', () => {
    const be = new NgBuilder(true);
    const le = new NgBuilder(false);
    const file = concat(
      be.shb(),
      be.idb(101, 65535), // interface 0: raw IP, microseconds
      be.idb(1, 65535, [[9, [9]]]), // interface 1: Ethernet, nanoseconds
      be.epb(1, 0x16345785, 0xdffbcd15, [0xaa, 0xbb, 0xcc]),
      be.epb(0, 0x0005af31, 0x07a5e240, [0x45, 0, 0, 0x14]),
      le.shb(), // new section: interfaces start again, little-endian now
      le.idb(113, 0),
      le.epb(0, 0x0005af31, 0x07a5e240, [1, 2], 100),
    );
    const res = parseChunked(file);
    expect(res.status).toBe(OK);
    expect(res.format).toBe('pcapng');
    expect(res.records.map((r) => ({ lt: r.linkType, ifc: r.interfaceId, s: r.tsSec, ns: r.tsNsec, bytes: r.bytes, orig: r.origLen }))).toEqual([
      { lt: 1, ifc: 1, s: 1600000000, ns: 123456789, bytes: 'aabbcc', orig: 3 },
      { lt: 101, ifc: 0, s: 1600000000, ns: 123456000, bytes: '45000014', orig: 4 },
      { lt: 113, ifc: 0, s: 1600000000, ns: 123456000, bytes: '0102', orig: 100 },
    ]);
  });

  it('forgets the previous section interfaces at a new SHB', () => {
    const b = new NgBuilder(false);
    const file = concat(b.shb(), b.idb(1, 0), b.idb(1, 0), b.shb(), b.idb(1, 0), b.epb(1, 0, 0, [1]));
    const res = parseChunked(file);
    expect(res.status).toBe(MALFORMED);
    expect(res.errReason).toBe(R_PKT_IFACE);
    expect(res.errOffset).toBe(28 + 20 + 20 + 28 + 20);
  });
});

describe('pcapng malformed blocks (through the parser: errOffset is the bad block file offset)', () => {
  const b = new NgBuilder(false);
  const head = concat(b.shb(), b.idb(1, 0)); // 48 bytes
  const at = head.length;

  function run(bad: Uint8Array): ReturnType<typeof parseChunked> {
    return parseChunked(concat(head, b.epb(0, 0, 1, [1, 2, 3, 4]), bad));
  }

  it('block total length not a multiple of 4', () => {
    const bad = b.epb(0, 0, 0, [1, 2, 3, 4]);
    bad.set(b.u32(41), 4);
    const res = run(bad);
    expect(res).toMatchObject({ status: MALFORMED, errReason: R_BLOCK_LEN_ALIGN, errOffset: at + 36 });
    expect(res.records.length).toBe(1);
  });

  it('block total length below 12', () => {
    const res = run(new Uint8Array([...b.u32(6), ...b.u32(8)]));
    expect(res).toMatchObject({ status: MALFORMED, errReason: R_BLOCK_LEN_SHORT, errOffset: at + 36 });
  });

  it('block total length over the sanity bound', () => {
    const res = run(new Uint8Array([...b.u32(6), ...b.u32(0x7ffffffc)]));
    expect(res).toMatchObject({ status: MALFORMED, errReason: R_BLOCK_LEN_HUGE, errOffset: at + 36 });
  });

  it('trailing block total length differs from the leading one', () => {
    const bad = b.epb(0, 0, 0, [1, 2, 3, 4]);
    bad.set(b.u32(32), bad.length - 4);
    expect(run(bad)).toMatchObject({ status: MALFORMED, errReason: R_BLOCK_LEN_MISMATCH, errOffset: at + 36 });
  });

  it('EPB captured length larger than its block (and exactly filling it is fine)', () => {
    const bad = b.epb(0, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8]); // 40 bytes, room for 8
    bad.set(b.u32(9), 20);
    expect(run(bad)).toMatchObject({ status: MALFORMED, errReason: R_EPB_CAPLEN, errOffset: at + 36 });
    bad.set(b.u32(8), 20);
    expect(run(bad)).toMatchObject({ status: OK });
  });

  it('block shorter than its type needs', () => {
    const bad = b.block(PCAPNG_BT_EPB, new Array(16).fill(0)); // 28 < 32
    expect(run(bad)).toMatchObject({ status: MALFORMED, errReason: R_BLOCK_TOO_SHORT, errOffset: at + 36 });
  });

  it('packet for an interface that was never described', () => {
    expect(run(b.epb(1, 0, 0, [1]))).toMatchObject({ status: MALFORMED, errReason: R_PKT_IFACE, errOffset: at + 36 });
  });

  it('IDB option running past the block', () => {
    const idb = b.idb(1, 0, [[9, [6]]]);
    idb.set(b.u16(200), 16 + 2); // option length 200
    expect(run(idb)).toMatchObject({ status: MALFORMED, errReason: R_OPTION_OVERRUN, errOffset: at + 36 });
  });

  it('SPB in a section without interfaces', () => {
    const res = parseChunked(concat(b.shb(), b.spb(4, [1, 2, 3, 4])));
    expect(res).toMatchObject({ status: MALFORMED, errReason: R_SPB_NO_IFACE, errOffset: 28 });
  });

  it('second SHB with a bad byte-order magic or version', () => {
    const shb = b.shb();
    shb.set([1, 2, 3, 4], 8);
    expect(run(shb)).toMatchObject({ status: MALFORMED, errReason: R_SHB_BOM, errOffset: at + 36 });
    const v2 = b.shb();
    v2.set(b.u16(2), 12);
    expect(run(v2)).toMatchObject({ status: MALFORMED, errReason: R_SHB_VERSION, errOffset: at + 36 });
  });

  it('bad first SHB is a file-header error at offset 0', () => {
    const v2 = b.shb();
    v2.set(b.u16(2), 12);
    expect(parseChunked(v2)).toMatchObject({ status: MALFORMED, errReason: R_SHB_VERSION, errOffset: 0, records: [] });
    expect(parseChunked(SHB_LE.subarray(0, 20))).toMatchObject({ status: MALFORMED, errReason: R_TRUNCATED_HEADER, errOffset: 0 });
  });

  it('a block before any SHB (pure decoder) is refused', () => {
    const st = new PcapngState();
    const out = new CaptureRecord();
    expect(readPcapngBlock(EPB_LE, 0, EPB_LE.length, st, out)).toBe(MALFORMED);
    expect(out.errReason).toBe(R_NO_SECTION);
  });
});

describe('pcapng encoders', () => {
  it('writes an SHB at an offset', () => {
    const buf = new Uint8Array(34).fill(0xa5);
    expect(writePcapngShb(buf, 3)).toBe(28);
    expect(buf.subarray(3, 31)).toEqual(SHB_LE);
    expect([buf[2], buf[31]]).toEqual([0xa5, 0xa5]);
  });

  it('writes IDBs with and without if_tsresol', () => {
    const buf = new Uint8Array(40).fill(0xa5);
    expect(writePcapngIdb(buf, 1, 1, 65535, true)).toBe(32);
    expect(buf.subarray(1, 33)).toEqual(
      hex(`
        01 00 00 00  20 00 00 00   # IDB, length 32
        01 00 00 00  ff ff 00 00   # Ethernet, reserved, snaplen 65535
        09 00 01 00  09 00 00 00   # if_tsresol = 9 (ns), padded
        00 00 00 00                # opt_endofopt
        20 00 00 00                # length 32
      `),
    );
    expect([buf[0], buf[33]]).toEqual([0xa5, 0xa5]);
    const plain = new Uint8Array(20);
    expect(writePcapngIdb(plain, 0, 101, 65535, false)).toBe(PCAPNG_IDB_USEC_LEN);
    const { st } = decodeAll(concat(SHB_LE, plain));
    expect(st.ifLinkType[0]).toBe(101);
    expect(st.ifTsResol[0]).toBe(6);
  });

  it('writes an EPB at an offset, padding with zeros', () => {
    const buf = new Uint8Array(48).fill(0xa5);
    const data = new Uint8Array([0xff, 1, 2, 3, 4, 5, 0xff]);
    expect(writePcapngEpb(buf, 4, 0, 1600000000, 123456789, data, 1, 5, 64, true)).toBe(40);
    expect(buf.subarray(4, 44)).toEqual(EPB_LE);
    expect([buf[3], buf[44]]).toEqual([0xa5, 0xa5]);
    // Microsecond interface: the fraction is truncated to microseconds.
    const us = new Uint8Array(36);
    writePcapngEpb(us, 0, 0, 1600000000, 123456999, new Uint8Array([0x45, 0, 0, 0x14]), 0, 4, 4, false);
    expect(Array.from(us.subarray(12, 20))).toEqual([0x31, 0xaf, 0x05, 0x00, 0x40, 0xe2, 0xa5, 0x07]);
  });

  it('round-trips decode -> encode -> same bytes', () => {
    // An IDB without if_tsoffset, so re-encoding the decoded stamp needs no offset arithmetic.
    const idb = new Uint8Array(32);
    writePcapngIdb(idb, 0, 1, 65535, true);
    const src = concat(SHB_LE, idb, EPB_LE);
    const { recs } = decodeAll(src);
    const r = recs[0]!;
    const again = new Uint8Array(src.length);
    let o = writePcapngShb(again, 0);
    o += writePcapngIdb(again, o, 1, 65535, true);
    o += writePcapngEpb(again, o, r.interfaceId, r.tsSec, r.tsNsec, r.data, r.dataOff, r.capLen, r.origLen, true);
    expect(o).toBe(src.length);
    expect(again).toEqual(src);
  });

  it('block type constants match the vectors', () => {
    expect([PCAPNG_BT_SHB, PCAPNG_BT_IDB, PCAPNG_BT_EPB]).toEqual([0x0a0d0d0a, 1, 6]);
  });
});
