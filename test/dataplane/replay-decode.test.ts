/**
 * Replay decodes an Ethernet IPv4 frame from its IP header on (decodeFrame with ipOnly), skipping
 * readPacket's link stage. Shown here: for any frame — well formed or with bytes flipped anywhere
 * in its headers, cut short, with a TSO length of 0, another ethertype or link type — the status,
 * the skip reason and every field gateway and direct mode read are readPacket's.
 *
 * The engine then takes that decode (Engine.onPacket's `decoded`) when engineCanTakeDecode says it is
 * the engine's own: shown field for field against readRawIpv4Tcp over the same frames, and over
 * gateway-side captures (public captures played through a direct replay, as raw IP and as
 * Ethernet with padding) the output file and every record equal those of the engine decoding
 * again.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeFrame, engineCanTakeDecode, replayCapture, type ReplayRecord } from '../../src/dataplane/replay.js';
import { CaptureFileWriter, openCaptureFile } from '../../src/dataplane/capture-file.js';
import { readRulesFile } from '../../src/cli/rules-file.js';
import { CaptureRecord } from '../../src/pcap/record.js';
import { buildTcpV4Frame, buildUdpV4Frame } from '../../src/wire/build.js';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, PacketView, readPacket, readRawIpv4Tcp } from '../../src/wire/packet.js';
import { OK } from '../../src/wire/status.js';
import { haveSharedPcaps, publicCaptures, publicPath } from '../helpers/shared.js';
import { publicCaptureRules } from '../helpers/oracle.js';

const frameArb = fc
  .record({
    udp: fc.boolean(),
    payload: fc.uint8Array({ maxLength: 60 }),
    tcpOptions: fc.option(fc.uint8Array({ minLength: 1, maxLength: 12 }), { nil: undefined }),
    tso: fc.boolean(),
    flips: fc.array(fc.tuple(fc.nat(70), fc.nat(255)), { maxLength: 3 }),
    cut: fc.oneof(fc.constant(0), fc.nat(80)),
    raw: fc.boolean(),
  })
  .map((r) => {
    const buf = new Uint8Array(200);
    const base = { src: 0xc0000201, dst: 0xc6336401, srcPort: 40000, dstPort: 135, payload: r.payload };
    let len = r.udp ? buildUdpV4Frame(buf, 0, base) : buildTcpV4Frame(buf, 0, { ...base, seq: 1, ack: 2, flags: 0x18, tcpOptions: r.tcpOptions });
    if (r.tso) buf.fill(0, 16, 18);
    for (const [at, x] of r.flips) buf[at] = x;
    len = Math.max(0, len - r.cut);
    return r.raw ? { buf: buf.subarray(14), len: Math.max(0, len - 14), linkType: LINKTYPE_RAW } : { buf, len, linkType: LINKTYPE_ETHERNET };
  });

/** What gateway and direct mode read of a decoded frame (and its skip reason). */
function gatewayFields(st: number, v: PacketView): unknown[] {
  return [st, v.errReason, v.ipVersion, v.l3Off, v.ipTotalLen, v.ipLenFromCapture, v.ipHdrLen, v.dst4, v.src4, v.ipProto, v.isFragment, v.l4Off, v.srcPort, v.dstPort, v.tcpFlags, v.tcpAck];
}

describe('decodeFrame: replay decodes Ethernet IPv4 from the IP header on', () => {
  it('property: status, reason and the fields gateway and direct mode read are readPacket\'s', () => {
    const a = new PacketView();
    const b = new PacketView();
    a.acceptTsoZeroLen = 1;
    b.acceptTsoZeroLen = 1;
    const rec = new CaptureRecord();
    fc.assert(
      fc.property(frameArb, ({ buf, len, linkType }) => {
        rec.data = buf;
        rec.dataOff = 0;
        rec.capLen = len;
        rec.linkType = linkType;
        const sa = readPacket(buf, 0, len, linkType, a);
        const sb = decodeFrame(rec, b, true);
        expect(gatewayFields(sb, b)).toEqual(gatewayFields(sa, a));
      }),
      { numRuns: 5000 },
    );
  });
});

/** Well-formed TCP frames, Ethernet (with trailing padding up to 40 bytes captured) or raw. */
const tcpFrameArb = fc
  .record({
    payload: fc.uint8Array({ maxLength: 60 }),
    // None, MSS 1460, MSS + NOP + window scale 7 + SACK permitted + 2 NOPs.
    tcpOptions: fc.constantFrom(undefined, Uint8Array.of(2, 4, 5, 0xb4), Uint8Array.of(2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2, 1, 1)),
    pad: fc.nat(40),
    raw: fc.boolean(),
    vlan: fc.boolean(),
  })
  .map((r) => {
    const buf = new Uint8Array(240);
    const base = { src: 0xc0000201, dst: 0xc6336401, srcPort: 40000, dstPort: 135, payload: r.payload };
    const len = buildTcpV4Frame(buf, 0, { ...base, seq: 0x89abcdef, ack: 2, flags: 0x18, tcpOptions: r.tcpOptions }) + r.pad;
    if (r.raw) return { buf: buf.subarray(14), len: len - 14, linkType: LINKTYPE_RAW };
    if (!r.vlan) return { buf, len, linkType: LINKTYPE_ETHERNET };
    // An 802.1Q tag (VLAN 5) before the IPv4 ethertype: readPacket walks it, the IP header is 4 bytes further.
    const tagged = new Uint8Array(244);
    tagged.set(buf.subarray(0, 12));
    tagged.set([0x81, 0x00, 0x00, 0x05], 12);
    tagged.set(buf.subarray(12), 16);
    return { buf: tagged, len: len + 4, linkType: LINKTYPE_ETHERNET };
  });

/** Every field of a view but the input option acceptTsoZeroLen. */
function allFields(v: PacketView): Record<string, unknown> {
  const { acceptTsoZeroLen: _a, ...rest } = v;
  return rest;
}

describe('the engine takes gateway mode\'s decode only when it is the engine\'s own', () => {
  it('property: engineCanTakeDecode → every field is readRawIpv4Tcp(buf, l3Off, ipTotalLen)\'s', () => {
    const b = new PacketView();
    b.acceptTsoZeroLen = 1;
    const rec = new CaptureRecord();
    let taken = 0;
    fc.assert(
      fc.property(fc.oneof(frameArb, tcpFrameArb), ({ buf, len, linkType }) => {
        rec.data = buf;
        rec.dataOff = 0;
        rec.capLen = len;
        rec.linkType = linkType;
        if (decodeFrame(rec, b, true) !== OK || !engineCanTakeDecode(b)) return;
        taken++;
        const e = new PacketView();
        expect(readRawIpv4Tcp(buf, b.l3Off, b.ipTotalLen, e)).toBe(OK);
        expect(allFields(b)).toEqual(allFields(e));
      }),
      { numRuns: 5000 },
    );
    expect(taken).toBeGreaterThan(1000);
  });
});

const work = mkdtempSync(path.join(tmpdir(), 'rpcgw-replay-decode-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));


/** The raw-IP frames of `src` as Ethernet frames (IPv4 ethertype), padded to 60 bytes as a NIC sends them. */
function asEthernet(src: string, dst: string): void {
  const r = openCaptureFile(src);
  const rec = new CaptureRecord();
  const w = CaptureFileWriter.create(dst, 'pcap-ns', LINKTYPE_ETHERNET);
  try {
    while (r.next(rec)) {
      const frame = new Uint8Array(Math.max(60, 14 + rec.capLen)).fill(0xa5);
      frame.fill(2, 0, 12);
      frame[12] = 0x08;
      frame[13] = 0x00;
      frame.set(rec.data.subarray(rec.dataOff, rec.dataOff + rec.capLen), 14);
      w.write(rec.tsSec, rec.tsNsec, frame, 0, frame.length);
    }
  } finally {
    r.close();
    w.close();
  }
}

describe.skipIf(!haveSharedPcaps)('gateway-mode replay: the engine taking the decode changes no output', () => {
  const captures = ['scapy-drsuapi-krb5-privacy-epm.pcapng', 'pcapattack-impacket-rpcdump-lookup.pcapng', 'pcapattack-zerologon-441-epm-maps.pcapng', 'exchange-outlook-mapi-epm.pcap'];
  it.each(captures)('%s: output file and records equal the engine decoding again (raw IP and Ethernet)', (capture) => {
    const rulesFile = publicCaptureRules(capture, publicPath(capture + '.expect.tsv'), work).file;
    const rules = readRulesFile(rulesFile).rules;
    const gwRaw = path.join(work, capture + '.gw.pcapng');
    replayCapture({ capture: publicPath(capture), rules, rulesFile, out: gwRaw, mode: 'direct' });
    const gwEth = path.join(work, capture + '.gw-eth.pcap');
    asEthernet(gwRaw, gwEth);
    for (const input of [gwRaw, gwEth]) {
      const run = (engineDecodes: boolean): { out: Buffer; records: string[]; report: unknown } => {
        const out = path.join(work, `${path.basename(input)}.${engineDecodes ? 'plain' : 'taken'}.pcapng`);
        const records: string[] = [];
        const { output: _o, ...report } = replayCapture({
          capture: input, rules, rulesFile, out, mode: 'gateway', engineDecodes, onRecord: (r: ReplayRecord) => void records.push(JSON.stringify(r)),
        });
        return { out: readFileSync(out), records, report };
      };
      const plain = run(true);
      const taken = run(false);
      expect(plain.records.length).toBeGreaterThan(0);
      expect(taken.report).toEqual(plain.report);
      expect(taken.records).toEqual(plain.records);
      expect(taken.out.equals(plain.out)).toBe(true);
    }
  });
});

/*
 * Direct mode decodes each frame the same way and readdresses the bytes (destination address and
 * port, the client's ACK number), writing each field it changes into the view as well: the engine
 * then takes that view instead of decoding the readdressed bytes again. Over every public capture
 * (and the README's sample) the output file, every record and the summary equal those of the
 * engine decoding again; with the whole output kept (inbound frames too) and with emitted-only.
 */
describe('direct-mode replay: the engine taking the readdressed decode changes no output', () => {
  const sample = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'samples', 'exchange-epm.pcap');
  const inputs: Array<[string, string, () => string]> = [
    ['samples/exchange-epm.pcap', sample, () => path.join(path.dirname(sample), '..', 'rules', 'exchange.json')],
    ...(haveSharedPcaps ? publicCaptures() : []).map((c): [string, string, () => string] => [c, publicPath(c), () => publicCaptureRules(c, publicPath(c + '.expect.tsv'), work).file]),
  ];
  it.each(inputs)('%s: output file, records and summary equal the engine decoding again', (_name, input, rulesOf) => {
    const rulesFile = rulesOf();
    const rules = readRulesFile(rulesFile).rules;
    for (const emittedOnly of [false, true]) {
      const run = (engineDecodes: boolean): { out: Buffer; records: string[]; report: unknown } => {
        const out = path.join(work, `${path.basename(input)}.direct.${emittedOnly ? 'e' : 'a'}.${engineDecodes ? 'plain' : 'taken'}.pcapng`);
        const records: string[] = [];
        const { output: _o, ...report } = replayCapture({
          capture: input, rules, rulesFile, out, mode: 'direct', emittedOnly, engineDecodes, onRecord: (r: ReplayRecord) => void records.push(JSON.stringify(r)),
        });
        return { out: readFileSync(out), records, report };
      };
      const plain = run(true);
      const taken = run(false);
      expect(taken.report).toEqual(plain.report);
      expect(taken.records).toEqual(plain.records);
      expect(taken.out.equals(plain.out)).toBe(true);
    }
  });
});
