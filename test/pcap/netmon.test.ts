import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CaptureFileError, openCaptureFile } from '../../src/dataplane/capture-file.js';
import {
  NETMON_MAC_ETHERNET,
  NETMON_MAC_NETEVENT,
  NETMON_MAC_NETWORK_INFO_EX,
  NETMON_MAC_PCAP_BASE,
  NetmonHeader,
  R_NETMON_BAD_MAGIC,
  R_NETMON_CAPLEN_BOUND,
  R_NETMON_FRAME_OFFSET,
  R_NETMON_FRAME_TRUNCATED,
  R_NETMON_TABLE_ALIGN,
  R_NETMON_TABLE_RANGE,
  R_NETMON_VERSION,
  netmonLinkType,
  readNetmonFrame,
  readNetmonHeader,
} from '../../src/pcap/netmon.js';
import { CaptureRecord, LINKTYPE_UNKNOWN } from '../../src/pcap/record.js';
import { MALFORMED, NEED_MORE, OK } from '../../src/wire/status.js';
import { haveSharedPcaps, publicPath } from '../helpers/shared.js';
import { concat, hex, snapshot } from './bytes.js';

/** The first 72 bytes of ms-authsod-win2016-netlogon-epm.cap (a real NetMon 2.3 file). */
const REAL_HEADER = hex(`
  47 4d 42 55               # "GMBU"
  03                        # version minor 3 (BCD)
  02                        # version major 2 (BCD)
  01 00                     # media type 1 (Ethernet)
  e0 07 08 00 01 00 08 00   # SYSTEMTIME: year 2016, month 8, day of week 1, day 8
  16 00 13 00 25 00 d8 01   #             22:19:37.472 (host local time)
  ff 65 00 00               # frame table offset 0x65ff = 26111
  18 01 00 00               # frame table length 280 = 70 frames
  00 00 00 00 00 00 00 00   # user data: none
  17 67 00 00 f5 19 00 00   # comment data offset 0x6717, length 0x19f5
  00 00 00 00 00 00 00 00   # process info: none
  0c 81 00 00 0b 00 00 00   # extended info offset 0x810c (non-zero: frames carry UTC stamps), length 11
  00 00 00 00 00 00 00 00   # conversation statistics (unused)
`);
const REAL_FILE_SIZE = 33047;

/** A 2.3 frame: header, 4 data bytes, 15-byte trailer. */
const FRAME_2_3 = hex(`
  84 02 00 00 00 00 00 00   # timestamp: 644 us after the capture start
  3c 00 00 00               # frame length on the wire 60
  04 00 00 00               # bytes available 4
  de ad be ef               # frame bytes
  01 00                     # trailer: media type 1 (Ethernet)
  ff ff ff ff               #          process info index (none)
  95 68 39 01 06 f2 d1 01   #          UTC FILETIME 0x01d1f20601396895 = 2016-08-09 06:19:37.4720149
  ff                        #          time zone index
`);

interface NmFrame {
  mac: number;
  data: number[];
  deltaUs: number;
  /** FILETIME ticks (2.3 files). */
  filetime?: bigint;
}

function u16(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff];
}
function u32(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
}
function u64(v: bigint): number[] {
  return [...u32(Number(v & 0xffffffffn)), ...u32(Number(v >> 32n))];
}

/** Builds a NetMon 2.x file: header, frames in file order, then the frame table in `tableOrder`. */
function netmonFile(minor: number, frames: NmFrame[], tableOrder = frames.map((_, i) => i)): Uint8Array {
  const body: number[] = [];
  const offsets: number[] = [];
  for (const f of frames) {
    offsets.push(72 + body.length);
    body.push(...u64(BigInt(f.deltaUs)), ...u32(f.data.length + 10), ...u32(f.data.length), ...f.data);
    if (minor >= 1) body.push(...u16(f.mac));
    if (minor >= 2) body.push(0xff, 0xff, 0xff, 0xff);
    if (minor >= 3) body.push(...u64(f.filetime ?? 0n), 0xff);
  }
  const tableOff = 72 + body.length;
  const table = tableOrder.flatMap((i) => u32(offsets[i]!));
  const hdr = [
    ...[0x47, 0x4d, 0x42, 0x55, minor, 2],
    ...u16(NETMON_MAC_ETHERNET),
    ...[2016, 8, 1, 8, 22, 19, 37, 472].flatMap(u16),
    ...u32(tableOff),
    ...u32(table.length),
    ...new Array(24).fill(0),
    ...u32(minor >= 3 ? tableOff : 0), // extended info offset: non-zero enables UTC stamps
    ...new Array(12).fill(0),
  ];
  return new Uint8Array([...hdr, ...body, ...table]);
}

/** FILETIME ticks for a Unix time. */
function filetime(sec: number, ns: number): bigint {
  return (BigInt(sec) + 11644473600n) * 10_000_000n + BigInt(Math.floor(ns / 100));
}

describe('NetMon header and frames (pure)', () => {
  it('decodes the header of a real 2.3 capture', () => {
    const h = new NetmonHeader();
    expect(readNetmonHeader(REAL_HEADER, 0, 72, REAL_FILE_SIZE, h)).toBe(OK);
    expect(h).toMatchObject({
      versionMajor: 2,
      versionMinor: 3,
      macType: 1,
      startSec: 1470694777, // 2016-08-08 22:19:37 taken as UTC
      startNsec: 472000000,
      frameTableOffset: 26111,
      frameTableLength: 280,
      frameCount: 70,
      extendedInfoOffset: 0x810c,
      trailerLen: 15,
      utcTrailer: true,
    });
  });

  it('decodes a 2.3 frame with its UTC trailer', () => {
    const h = new NetmonHeader();
    readNetmonHeader(REAL_HEADER, 0, 72, REAL_FILE_SIZE, h);
    const buf = concat(new Uint8Array(5), FRAME_2_3);
    const r = new CaptureRecord();
    expect(readNetmonFrame(buf, 5, FRAME_2_3.length, h, r)).toBe(OK);
    expect(r).toMatchObject({ linkType: 1, tsSec: 1470723577, tsNsec: 472014900, capLen: 4, origLen: 60, dataOff: 21 });
    expect(r.data).toBe(buf);
  });

  it('without extended info (or before 2.3) uses start time + microsecond delta', () => {
    const h = new NetmonHeader();
    const noExt = REAL_HEADER.slice();
    noExt.set([0, 0, 0, 0], 56);
    readNetmonHeader(noExt, 0, 72, REAL_FILE_SIZE, h);
    expect(h.utcTrailer).toBe(false);
    const r = new CaptureRecord();
    expect(readNetmonFrame(FRAME_2_3, 0, FRAME_2_3.length, h, r)).toBe(OK);
    expect([r.tsSec, r.tsNsec]).toEqual([1470694777, 472644000]);
  });

  it('asks for header + data + trailer, and bounds the captured length', () => {
    const h = new NetmonHeader();
    readNetmonHeader(REAL_HEADER, 0, 72, REAL_FILE_SIZE, h);
    const r = new CaptureRecord();
    expect(readNetmonFrame(FRAME_2_3, 0, 15, h, r)).toBe(NEED_MORE);
    expect(r.needed).toBe(16);
    expect(readNetmonFrame(FRAME_2_3, 0, FRAME_2_3.length - 1, h, r)).toBe(NEED_MORE);
    expect(r).toMatchObject({ needed: 16 + 4 + 15, errReason: R_NETMON_FRAME_TRUNCATED });
    const huge = FRAME_2_3.slice();
    huge.set(u32(0x10000001), 12);
    expect(readNetmonFrame(huge, 0, huge.length, h, r)).toBe(MALFORMED);
    expect(r).toMatchObject({ errReason: R_NETMON_CAPLEN_BOUND, errOffset: 0 });
  });

  it('rejects bad headers', () => {
    const h = new NetmonHeader();
    const cases: Array<[(v: Uint8Array) => void, string, number]> = [
      [(v) => v.set([0x52, 0x54, 0x53, 0x53], 0), R_NETMON_BAD_MAGIC, REAL_FILE_SIZE],
      [(v) => (v[5] = 3), R_NETMON_VERSION, REAL_FILE_SIZE],
      [(v) => v.set(u32(281), 28), R_NETMON_TABLE_ALIGN, REAL_FILE_SIZE],
      [() => undefined, R_NETMON_TABLE_RANGE, 26111 + 279],
      [(v) => v.set(u32(40), 24), R_NETMON_TABLE_RANGE, REAL_FILE_SIZE],
    ];
    for (const [mutate, reason, size] of cases) {
      const v = REAL_HEADER.slice();
      mutate(v);
      expect(readNetmonHeader(v, 0, 72, size, h)).toBe(MALFORMED);
      expect(h.errReason).toBe(reason);
      expect(h.errOffset).toBe(0);
    }
    expect(readNetmonHeader(REAL_HEADER, 0, 71, REAL_FILE_SIZE, h)).toBe(NEED_MORE);
  });

  it('maps media types to link types; NetMon records are LINKTYPE_UNKNOWN', () => {
    expect(netmonLinkType(NETMON_MAC_ETHERNET)).toBe(1);
    expect(netmonLinkType(NETMON_MAC_PCAP_BASE + 113)).toBe(113);
    expect(netmonLinkType(NETMON_MAC_NETEVENT)).toBe(LINKTYPE_UNKNOWN);
    expect(netmonLinkType(NETMON_MAC_NETWORK_INFO_EX)).toBe(LINKTYPE_UNKNOWN);
    expect(netmonLinkType(0)).toBe(LINKTYPE_UNKNOWN);
  });
});

describe('NetMon through openCaptureFile', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rpcgw-netmon-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function readAll(file: Uint8Array): { recs: ReturnType<typeof snapshot>[]; truncated: boolean; format: string } {
    const p = path.join(dir, `f${Math.random().toString(36).slice(2)}.cap`);
    writeFileSync(p, file);
    const rd = openCaptureFile(p);
    const out = new CaptureRecord();
    const recs = [];
    while (rd.next(out)) {
      expect(rd.frameNumber).toBe(recs.length + 1);
      recs.push(snapshot(out));
    }
    rd.close();
    return { recs, truncated: rd.truncatedAtEnd, format: rd.format };
  }

  it('numbers frames in frame-table order and maps per-frame media types', () => {
    const frames: NmFrame[] = [
      { mac: NETMON_MAC_ETHERNET, data: [1, 2, 3], deltaUs: 0, filetime: filetime(1600000000, 100) },
      { mac: NETMON_MAC_NETEVENT, data: [9, 9], deltaUs: 5, filetime: filetime(1600000001, 0) },
      { mac: NETMON_MAC_PCAP_BASE + 101, data: [0x45], deltaUs: 9, filetime: filetime(1600000002, 999999900) },
    ];
    // The table lists the third frame first: tshark's frame 1 is the table's first entry.
    const { recs, truncated, format } = readAll(netmonFile(3, frames, [2, 0, 1]));
    expect(format).toBe('netmon');
    expect(truncated).toBe(false);
    expect(recs.map((r) => [r.linkType, r.bytes, r.tsSec, r.tsNsec, r.origLen])).toEqual([
      [101, '45', 1600000002, 999999900, 11],
      [1, '010203', 1600000000, 100, 13],
      [LINKTYPE_UNKNOWN, '0909', 1600000001, 0, 12],
    ]);
  });

  it('reads 2.0 (no trailer) and 2.1 files', () => {
    const frames: NmFrame[] = [
      { mac: NETMON_MAC_ETHERNET, data: [1], deltaUs: 1_500_000 },
      { mac: NETMON_MAC_NETEVENT, data: [2], deltaUs: 2_000_001 },
    ];
    const v20 = readAll(netmonFile(0, frames)).recs;
    // 2.0: every frame has the header's media type; time = start (22:19:37.472 as UTC) + delta.
    expect(v20.map((r) => [r.linkType, r.tsSec, r.tsNsec])).toEqual([
      [1, 1470694778, 972000000],
      [1, 1470694779, 472001000],
    ]);
    const v21 = readAll(netmonFile(1, frames)).recs;
    expect(v21.map((r) => r.linkType)).toEqual([1, LINKTYPE_UNKNOWN]);
  });

  it('reports a frame-table entry outside the file with the entry offset', () => {
    const f = netmonFile(3, [{ mac: 1, data: [1], deltaUs: 0 }]);
    const tableOff = f.length - 4;
    f.set(u32(f.length + 100), tableOff);
    const p = path.join(dir, 'bad-entry.cap');
    writeFileSync(p, f);
    const rd = openCaptureFile(p);
    expect(() => rd.next(new CaptureRecord())).toThrow(new CaptureFileError(p, tableOff, R_NETMON_FRAME_OFFSET));
    rd.close();
  });

  it('a header pointing its frame table past the end is a clear error', () => {
    const f = netmonFile(3, [{ mac: 1, data: [1], deltaUs: 0 }]);
    const p = path.join(dir, 'cut.cap');
    writeFileSync(p, f.subarray(0, f.length - 2));
    expect(() => openCaptureFile(p)).toThrow(`${p}: ${R_NETMON_TABLE_RANGE} at byte 0`);
  });
});

describe.skipIf(!haveSharedPcaps)('real NetMon capture against its pcapng conversion', () => {
  it('every frame: same Ethernet bytes, lengths and timestamp (to the microsecond)', () => {
    const cap = openCaptureFile(publicPath('ms-authsod-win2016-netlogon-epm.cap'));
    const ng = openCaptureFile(publicPath('ms-authsod-win2016-netlogon-epm.converted.pcapng'));
    expect(cap.format).toBe('netmon');
    expect(ng.format).toBe('pcapng');
    const a = new CaptureRecord();
    const b = new CaptureRecord();
    let n = 0;
    for (;;) {
      const more = cap.next(a);
      expect(ng.next(b)).toBe(more);
      if (!more) break;
      n++;
      expect(cap.frameNumber).toBe(n);
      const at = `frame ${n}`;
      expect(a.linkType, at).toBe(1);
      expect(b.linkType, at).toBe(1);
      expect([a.capLen, a.origLen], at).toEqual([b.capLen, b.origLen]);
      expect(Buffer.from(a.data.subarray(a.dataOff, a.dataOff + a.capLen)).equals(Buffer.from(b.data.subarray(b.dataOff, b.dataOff + b.capLen))), at).toBe(true);
      expect([a.tsSec, Math.floor(a.tsNsec / 1000)], at).toEqual([b.tsSec, Math.floor(b.tsNsec / 1000)]);
    }
    expect(n).toBe(70);
    expect(cap.truncatedAtEnd).toBe(false);
    cap.close();
    ng.close();
  });

  it('frame 1 (a frame carrying a NetMon comment, encap 188 in tshark) is plain Ethernet at its table offset', () => {
    const cap = openCaptureFile(publicPath('ms-authsod-win2016-netlogon-epm.cap'));
    const r = new CaptureRecord();
    expect(cap.next(r)).toBe(true);
    expect(r).toMatchObject({ linkType: 1, capLen: 213, origLen: 213, fileOffset: 72, tsSec: 1470723577, tsNsec: 472014900 });
    // Ethernet: dst 00:15:5d:8e:39:84, EtherType IPv4.
    expect(Buffer.from(r.data.subarray(r.dataOff, r.dataOff + 14)).toString('hex')).toBe('00155d8e398400155d8e39860800');
    cap.close();
  });
});
