import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { R_PCAP_VERSION } from '../../src/pcap/pcap.js';
import {
  CaptureParser,
  R_EMPTY_FILE,
  R_NETMON1,
  R_NETMON_NOT_STREAMED,
  R_TRUNCATED_HEADER,
  R_TRUNCATED_RECORD,
  R_UNKNOWN_MAGIC,
} from '../../src/pcap/reader.js';
import { CaptureRecord } from '../../src/pcap/record.js';
import { writePcapHeader, writePcapRecordHeader, writePcapngEpb, writePcapngIdb, writePcapngShb } from '../../src/pcap/writer.js';
import { MALFORMED, NEED_MORE, OK, UNSUPPORTED } from '../../src/wire/status.js';
import { NgBuilder, concat, hex, parseChunked } from './bytes.js';

/** A pcap file with `n` records of varied sizes (0..~300 bytes) and the offsets where records start. */
function pcapFile(n: number, nanos = false): { file: Uint8Array; starts: number[] } {
  const buf = new Uint8Array(24 + n * (16 + 300));
  let o = writePcapHeader(buf, 0, 1, 65535, nanos);
  const starts: number[] = [];
  for (let i = 0; i < n; i++) {
    starts.push(o);
    const len = (i * 37) % 301;
    o += writePcapRecordHeader(buf, o, 1600000000 + i, nanos ? i * 1001 : i * 7, len, len + i);
    for (let j = 0; j < len; j++) buf[o + j] = (i + j) & 0xff;
    o += len;
  }
  return { file: buf.subarray(0, o), starts };
}

/** A pcapng file mixing skipped blocks, two interfaces and packets; plus packet-block offsets and all block offsets. */
function pcapngFile(): { file: Uint8Array; packetStarts: number[]; blockStarts: number[] } {
  const b = new NgBuilder(false);
  const blocks: Uint8Array[] = [b.shb(), b.idb(1, 0, [[9, [9]]]), b.block(4, [0, 0, 0, 0])];
  const packets: number[] = [];
  blocks.push(b.idb(101, 0));
  for (let i = 0; i < 6; i++) {
    packets.push(blocks.length);
    const data = Array.from({ length: i * 13 }, (_, j) => (i * 31 + j) & 0xff);
    blocks.push(b.epb(i % 2, 0, 1000 + i, data, data.length + 2));
    if (i === 2) blocks.push(b.block(5, new Array(12).fill(1)));
  }
  const blockStarts: number[] = [];
  let o = 0;
  for (const blk of blocks) {
    blockStarts.push(o);
    o += blk.length;
  }
  return { file: concat(...blocks), packetStarts: packets.map((i) => blockStarts[i]!), blockStarts };
}

describe('format detection', () => {
  it('recognises pcap, pcap-ns, pcapng and NetMon by magic', () => {
    expect(parseChunked(pcapFile(1).file).format).toBe('pcap');
    expect(parseChunked(pcapFile(1, true).file).format).toBe('pcap-ns');
    expect(parseChunked(pcapngFile().file).format).toBe('pcapng');
    const p = new CaptureParser();
    p.push(hex('47 4d 42 55 03 02')); // "GMBU", version 2.3
    const out = new CaptureRecord();
    expect(p.next(out)).toBe(UNSUPPORTED);
    expect(p.format).toBe('netmon');
    expect(out.errReason).toBe(R_NETMON_NOT_STREAMED);
    expect(p.end()).toBe(OK);
  });

  it('names unknown files, NetMon 1.x, empty and short files', () => {
    const text = new TextEncoder().encode('hello, world\n');
    const p = new CaptureParser();
    p.push(text);
    const out = new CaptureRecord();
    expect(p.next(out)).toBe(MALFORMED);
    expect(out).toMatchObject({ errReason: R_UNKNOWN_MAGIC, errOffset: 0 });
    expect(p.magic).toBe(0x6c6c6568); // "hell" little-endian
    expect(parseChunked(hex('52 54 53 53 00 00'))).toMatchObject({ status: MALFORMED, errReason: R_NETMON1 });
    expect(parseChunked(new Uint8Array(0))).toMatchObject({ status: MALFORMED, errReason: R_EMPTY_FILE, errOffset: 0 });
    expect(parseChunked(hex('d4 c3'))).toMatchObject({ status: MALFORMED, errReason: R_TRUNCATED_HEADER, errOffset: 0 });
    expect(parseChunked(pcapFile(0).file.subarray(0, 23))).toMatchObject({ status: MALFORMED, errReason: R_TRUNCATED_HEADER });
  });

  it('reports a bad pcap version as a file-header error', () => {
    const f = pcapFile(1).file.slice();
    f[4] = 1;
    expect(parseChunked(f)).toMatchObject({ status: MALFORMED, errReason: R_PCAP_VERSION, errOffset: 0, records: [] });
  });

  it('an empty capture (header only) ends cleanly with no records', () => {
    expect(parseChunked(pcapFile(0).file)).toMatchObject({ status: OK, records: [] });
  });
});

describe('streaming', () => {
  const { file: pcap } = pcapFile(40);
  const { file: ng } = pcapngFile();
  const wholePcap = parseChunked(pcap);
  const wholeNg = parseChunked(ng);

  it('fed whole: every record, in order, with file offsets', () => {
    expect(wholePcap.status).toBe(OK);
    expect(wholePcap.records.length).toBe(40);
    expect(wholePcap.records[3]).toMatchObject({ tsSec: 1600000003, tsNsec: 21000, capLen: 111, origLen: 114 });
    expect(wholeNg.status).toBe(OK);
    expect(wholeNg.records.map((r) => r.interfaceId)).toEqual([0, 1, 0, 1, 0, 1]);
    expect(wholeNg.records.map((r) => r.linkType)).toEqual([1, 101, 1, 101, 1, 101]);
    expect(wholeNg.records.map((r) => r.fileOffset)).toEqual(pcapngFile().packetStarts);
  });

  it('fed one byte at a time gives the same records', () => {
    expect(parseChunked(pcap, [1])).toEqual(wholePcap);
    expect(parseChunked(ng, [1])).toEqual(wholeNg);
  });

  it('any chunking gives the same records (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 20 }), (sizes) => {
        expect(parseChunked(pcap, sizes)).toEqual(wholePcap);
        expect(parseChunked(ng, sizes)).toEqual(wholeNg);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps only unconsumed bytes: memory stays bounded on a long stream', () => {
    const p = new CaptureParser();
    const out = new CaptureRecord();
    let n = 0;
    for (let round = 0; round < 200; round++) {
      p.push(round === 0 ? pcap : pcap.subarray(24)); // header once, then the same records again
      while (p.next(out) === OK) n++;
    }
    expect(n).toBe(40 * 200);
    expect(p.buffered).toBe(0);
    expect(p.capacity).toBeLessThanOrEqual(2 * pcap.length + 64 * 1024);
    expect(p.fileOffset).toBe(pcap.length + 199 * (pcap.length - 24));
  });

  it('reserve/commit reads straight into the parser', () => {
    const p = new CaptureParser();
    const out = new CaptureRecord();
    let off = 0;
    let n = 0;
    while (off < pcap.length) {
      const len = Math.min(1000, pcap.length - off);
      const buf = p.reserve(len);
      buf.set(pcap.subarray(off, off + len), p.tail);
      p.commit(len);
      off += len;
      while (p.next(out) === OK) n++;
    }
    expect(n).toBe(40);
    expect(p.end()).toBe(OK);
  });
});

describe('truncation at every offset', () => {
  it('pcap: clean end at record boundaries, else truncated record at the record start', () => {
    const { file, starts } = pcapFile(5);
    const whole = parseChunked(file).records;
    for (let cut = 0; cut < file.length; cut++) {
      const res = parseChunked(file.subarray(0, cut), [7]);
      const complete = starts.filter((_s, i) => (starts[i + 1] ?? file.length) <= cut).length;
      expect(res.records).toEqual(whole.slice(0, complete));
      if (cut === 0) expect(res).toMatchObject({ status: MALFORMED, errReason: R_EMPTY_FILE });
      else if (cut < 24) expect(res).toMatchObject({ status: MALFORMED, errReason: R_TRUNCATED_HEADER, errOffset: 0 });
      else if (cut === 24 || starts.includes(cut)) expect(res.status).toBe(OK);
      else expect(res).toMatchObject({ status: MALFORMED, errReason: R_TRUNCATED_RECORD, errOffset: starts[complete] });
    }
  });

  it('pcapng: the same, with the first SHB as the file header', () => {
    const { file, blockStarts } = pcapngFile();
    const whole = parseChunked(file).records;
    const packets = pcapngFile().packetStarts;
    for (let cut = 0; cut < file.length; cut++) {
      const res = parseChunked(file.subarray(0, cut), [5]);
      const blockEnd = (start: number): number => blockStarts[blockStarts.indexOf(start) + 1] ?? file.length;
      const complete = packets.filter((s) => blockEnd(s) <= cut).length;
      expect(res.records).toEqual(whole.slice(0, complete));
      if (cut === 0) expect(res).toMatchObject({ status: MALFORMED, errReason: R_EMPTY_FILE });
      else if (cut < 28) expect(res).toMatchObject({ status: MALFORMED, errReason: R_TRUNCATED_HEADER, errOffset: 0 });
      else if (blockStarts.includes(cut)) expect(res.status).toBe(OK);
      else {
        const blockStart = Math.max(...blockStarts.filter((s) => s < cut));
        expect(res).toMatchObject({ status: MALFORMED, errReason: R_TRUNCATED_RECORD, errOffset: blockStart });
      }
    }
  });
});

describe('robustness', () => {
  it('errors are sticky', () => {
    const p = new CaptureParser();
    p.push(new TextEncoder().encode('not a capture'));
    const out = new CaptureRecord();
    expect(p.next(out)).toBe(MALFORMED);
    p.push(pcapFile(2).file);
    expect(p.next(out)).toBe(MALFORMED);
    expect(out.errReason).toBe(R_UNKNOWN_MAGIC);
    expect(p.end()).toBe(MALFORMED);
  });

  it('random bytes after a valid magic never throw nor loop (fast-check)', () => {
    const heads = [pcapFile(0).file.subarray(0, 24), new NgBuilder(false).shb(), new NgBuilder(true).shb(), concat(new NgBuilder(false).shb(), new NgBuilder(false).idb(1, 0))];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: heads.length - 1 }),
        fc.uint8Array({ maxLength: 400 }),
        fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 8 }),
        (h, tail, sizes) => {
          const res = parseChunked(concat(heads[h]!, tail), sizes);
          expect([OK, MALFORMED]).toContain(res.status);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('random mutations of a valid pcapng file never throw (fast-check)', () => {
    const { file } = pcapngFile();
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(file.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(file.length), (muts, cut) => {
        const f = file.slice(0, cut);
        for (const [i, v] of muts) if (i < f.length) f[i] = v;
        const res = parseChunked(f, [17]);
        expect([OK, MALFORMED]).toContain(res.status);
        if (res.status === MALFORMED) expect(res.errOffset).toBeLessThanOrEqual(f.length);
      }),
      { numRuns: 500 },
    );
  });

  it('NEED_MORE reports the whole size the pending record needs', () => {
    const p = new CaptureParser();
    const out = new CaptureRecord();
    const { file } = pcapFile(3);
    p.push(file.subarray(0, 24 + 16 + 10)); // record 1: 10 of its 16 header bytes
    expect(p.next(out)).toBe(OK); // record 0 has no data
    expect(p.next(out)).toBe(NEED_MORE);
    expect(out.needed).toBe(16);
    p.push(file.subarray(24 + 16 + 10, 24 + 16 + 16 + 10)); // the rest of its header and 10 of its 37 data bytes
    expect(p.next(out)).toBe(NEED_MORE);
    expect(out.needed).toBe(16 + 37);
    expect(out.errOffset).toBe(24 + 16);
  });
});

describe('writer output read back', () => {
  it('pcapng from the encoders, with a packet at a non-zero data offset', () => {
    const buf = new Uint8Array(200);
    let o = writePcapngShb(buf, 0);
    o += writePcapngIdb(buf, o, 1, 0, true);
    const data = new Uint8Array([9, 8, 7, 6, 5, 4, 3]);
    o += writePcapngEpb(buf, o, 0, 4000000000, 999999999, data, 2, 5, 60, true);
    const res = parseChunked(buf.subarray(0, o));
    expect(res.records).toEqual([{ linkType: 1, interfaceId: 0, tsSec: 4000000000, tsNsec: 999999999, capLen: 5, origLen: 60, fileOffset: 60, bytes: '0706050403' }]);
  });
});
