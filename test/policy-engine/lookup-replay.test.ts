/**
 * ept_lookup under each `lookup` policy, through `rpcgw replay` (the built CLI) on real captures
 * and the bundled sample, with tshark as the independent reader of the output:
 *   deny      → the connection is refused (lookup-denied), no lookup response on the external side;
 *   allow     → every ncacn_ip_tcp tower rewritten to the external address and a mapped port;
 *   published → on the external side every lookup response decodes without expert warnings or
 *               malformed packets and lists only the published interfaces' tcp towers, rewritten;
 *               the length change leaves no TCP analysis flags and no bad checksums there;
 *               the internal side (server numbering) keeps the server's original responses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { haveSharedPcaps, projectRoot, publicPath } from '../helpers/shared.js';
import { haveTshark, tshark } from '../helpers/tshark.js';
import { readOracle } from '../helpers/oracle.js';
import { removeReplayDir, replayWith } from '../helpers/policy-harness.js';

afterAll(removeReplayDir);

const EXT = '198.51.100.1';
const GW = '192.0.2.1';
const NDR = '8a885d04-1ceb-11c9-9fe8-08002b104860';
const NDR64 = '71710533-beba-4937-8319-b5dbef9ccc36';
const SAMR = '12345778-1234-abcd-ef00-0123456789ac';
const SVCCTL = '367abb81-9844-35f1-ad32-98f038001003';
const NETLOGON = '12345678-1234-abcd-ef00-01234567cffb';
const SAMPLE = path.join(projectRoot, 'samples', 'exchange-epm.pcap');
const SAMPLE_SERVER = '192.0.2.10';
const EXCHANGE_UUIDS = [
  'a4f1db00-ca47-1067-b31f-00dd010662da', '5261574a-4572-206e-b268-6b199213b4e4', 'f5cc5a18-4264-101a-8c59-08002b2f8426', '1544f5e0-613c-11d1-93df-00c04fd7bd09',
];

/** A rules document publishing `server` on EXT with the given interfaces and lookup policy. */
function doc(server: string, lookup: string, interfaces: string[]): Record<string, unknown> {
  return {
    gateway: { external: { interface: 'gw-ext', address: EXT }, internal: { interface: 'gw-int', address: GW } },
    rules: [{ name: 'pub', server, interfaces, mappedPorts: '40000-40999', lookup }],
  };
}

/** One output frame as tshark reads it (all occurrences of repeated fields). */
interface Frame {
  n: number;
  side: string;
  src: string;
  dst: string;
  rst: boolean;
  ptypes: string[];
  opnum: string;
  numEnts: number[];
  uuids: string[];
  ips: string[];
  ports: number[];
  analysis: boolean;
  severity: number;
  malformed: boolean;
  badChecksum: boolean;
}

const FIELDS = [
  'frame.number', 'frame.interface_name', 'ip.src', 'ip.dst', 'tcp.flags.reset', 'dcerpc.pkt_type', 'epm.opnum', 'epm.num_ents', 'epm.uuid', 'epm.proto.ip',
  'epm.proto.tcp_port', 'tcp.analysis.flags', '_ws.expert.severity', '_ws.malformed', 'tcp.checksum.status', 'ip.checksum.status',
];
/** Wireshark's PI_WARN severity; PI_ERROR is above it. */
const SEVERITY_WARNING = 0x600000;

function readFrames(file: string): Frame[] {
  const args = ['-r', file, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,'];
  for (const f of FIELDS) args.push('-e', f);
  const list = (s: string | undefined): string[] => (s === undefined || s === '' ? [] : s.split(','));
  return tshark(args).map((line) => {
    const c = line.split('\t');
    return {
      n: Number(c[0]), side: c[1] ?? '', src: c[2] ?? '', dst: c[3] ?? '', rst: c[4] === '1', ptypes: list(c[5]), opnum: c[6] ?? '',
      numEnts: list(c[7]).map(Number), uuids: list(c[8]), ips: list(c[9]), ports: list(c[10]).map(Number), analysis: (c[11] ?? '') !== '',
      severity: Math.max(0, ...list(c[12]).map(Number)), malformed: (c[13] ?? '') !== '',
      badChecksum: list(c[14]).includes('0') || list(c[15]).includes('0'),
    };
  });
}

/** Lookup responses (ptype 2, opnum 2) on one side. */
const lookupResponses = (frames: Frame[], side: string): Frame[] => frames.filter((f) => f.side === side && f.opnum.split(',').includes('2') && f.ptypes.includes('2') && f.numEnts.length > 0);

/** Lookup requests the gateway sent to the server (internal side, from G). */
const lookupRequestsToServer = (frames: Frame[]): Frame[] => frames.filter((f) => f.side === 'internal' && f.src === GW && f.opnum.split(',').includes('2') && f.ptypes.includes('0'));

interface Capture {
  file: string;
  server: string;
  /** Oracle: every tower row (interface, protocol). */
  towers: { iface: string; protocol: string }[];
  lookups: number;
}

function corpus(name: string): Capture {
  const rows = readOracle(publicPath(name) + '.expect.tsv');
  const server = (rows[0]?.server ?? '').split(':')[0]!;
  return {
    file: publicPath(name), server,
    towers: rows.filter((r) => r.protocol !== 'none').map((r) => ({ iface: r.interface_uuid!, protocol: r.protocol! })),
    lookups: new Set(rows.map((r) => r.frame)).size,
  };
}

const CAPTURES: [string, string][] = [
  ['pcapattack-impacket-rpcdump-lookup.pcapng', '10.0.2.16'],
  ['pcapattack-epm-lookup-scan.pcapng', '10.0.2.18'],
];

describe.skipIf(!haveSharedPcaps || !haveTshark)('ept_lookup policies on the public corpus (rpcgw replay + tshark)', () => {
  for (const [name, expectServer] of CAPTURES) {
    describe(name, () => {
      // Read when the first test runs (the corpus may be absent: then the suite is skipped).
      let cap: Capture = { file: '', server: '', towers: [], lookups: 0 };
      let tcpTowers: Capture['towers'] = [];
      beforeAll(() => {
        cap = corpus(name);
        tcpTowers = cap.towers.filter((t) => t.protocol === 'ncacn_ip_tcp');
      });

      it('the oracle says what the brief says (server, tcp towers)', () => {
        expect(cap.server).toBe(expectServer);
        expect(tcpTowers.length).toBe(13);
      });

      it('lookup: deny → the connection is refused (lookup-denied), no lookup reaches the server, no response reaches the client', () => {
        const { report, out } = replayWith(cap.file, doc(cap.server, 'deny', ['any']), `${name}-deny`);
        expect(report.mode).toBe('direct');
        expect(report.refusals.map((r) => r.reason)).toEqual(['lookup-denied']);
        expect(report.refusals[0]!.detail).toBe('ept_lookup denied by rule "pub" (lookup: deny)');
        expect(report.rewrites).toEqual([]);
        expect(report.resetsSent).toBe(2);
        const frames = readFrames(out);
        expect(lookupResponses(frames, 'external')).toEqual([]);
        expect(lookupRequestsToServer(frames)).toEqual([]);
        const rsts = frames.filter((f) => f.rst && (f.src === EXT || f.src === GW));
        expect(rsts.map((f) => f.side)).toEqual(['external', 'internal']);
      });

      it('lookup: allow → every ncacn_ip_tcp tower rewritten to the external address and a mapped port', () => {
        const { report, out } = replayWith(cap.file, doc(cap.server, 'allow', ['any']), `${name}-allow`);
        expect(report.refusals).toEqual([]);
        expect(report.rewrites.length).toBe(tcpTowers.length);
        expect(report.rewrites.every((r) => r.op === 'ept_lookup' && r.rewritten.startsWith(`${EXT}:`))).toBe(true);
        const frames = readFrames(out);
        const ext = lookupResponses(frames, 'external');
        expect(ext.length).toBe(cap.lookups);
        const ips = ext.flatMap((f) => f.ips);
        const ports = ext.flatMap((f) => f.ports);
        expect(ips.length).toBe(tcpTowers.length);
        expect(ips.every((a) => a === EXT)).toBe(true);
        expect(ports.every((p) => p >= 40000 && p <= 40999)).toBe(true);
        // Allow does not filter: the client gets as many entries as the server sent.
        const sum = (fs: Frame[]): number => fs.reduce((n, f) => n + f.numEnts.reduce((a, b) => a + b, 0), 0);
        expect(sum(ext)).toBe(sum(lookupResponses(frames, 'internal')));
        expect(frames.filter((f) => f.badChecksum)).toEqual([]);
      });

      it('lookup: published (samr, svcctl, netlogon) → only their tcp towers, rewritten; clean PDUs and TCP on the external side', () => {
        const published = [`${SAMR}@1.0`, `${SVCCTL}@2.0`, `${NETLOGON}@1.0`];
        const { report, out } = replayWith(cap.file, doc(cap.server, 'published', published), `${name}-published`);
        expect(report.refusals).toEqual([]);
        const expected = tcpTowers.filter((t) => t.iface === SAMR || t.iface === SVCCTL).map((t) => t.iface).sort();
        expect(expected).toEqual([SAMR, SVCCTL]);
        expect(report.rewrites.map((r) => r.interface).sort()).toEqual(expected);
        const frames = readFrames(out);
        const ext = lookupResponses(frames, 'external');
        expect(ext.length).toBe(cap.lookups);
        // Only published interfaces (floor 1) and NDR syntaxes (floor 2); each entry a rewritten tcp tower.
        const floor1 = ext.flatMap((f) => f.uuids.filter((u) => u !== NDR && u !== NDR64));
        expect(floor1.sort()).toEqual(expected);
        for (const f of ext) {
          const ents = f.numEnts.reduce((a, b) => a + b, 0);
          expect([f.n, ents]).toEqual([f.n, f.ports.length]);
          expect([f.n, f.ips.every((a) => a === EXT), f.ports.every((p) => p >= 40000 && p <= 40999)]).toEqual([f.n, true, true]);
        }
        // The external side decodes cleanly: no expert warning or error, nothing malformed,
        // no TCP analysis flags (the shifted numbering is consistent), no bad checksum.
        const externalFrames = frames.filter((f) => f.side === 'external');
        expect(externalFrames.filter((f) => f.severity >= SEVERITY_WARNING || f.malformed).map((f) => f.n)).toEqual([]);
        expect(externalFrames.filter((f) => f.analysis).map((f) => f.n)).toEqual([]);
        expect(frames.filter((f) => f.badChecksum).map((f) => f.n)).toEqual([]);
        // The internal side keeps the server's responses, as the server sent them.
        const internal = lookupResponses(frames, 'internal');
        expect(internal.length).toBe(cap.lookups);
        expect(internal.every((f) => f.src === cap.server)).toBe(true);
        expect(internal.flatMap((f) => f.ips).length).toBe(tcpTowers.length);
        expect(internal.flatMap((f) => f.ips).every((a) => a === cap.server)).toBe(true);
        expect(internal.reduce((n, f) => n + f.numEnts.reduce((a, b) => a + b, 0), 0)).toBe(cap.towers.length);
      });
    });
  }

  it('the one-lookup capture under published: a single re-encoded PDU of 2 entries replaces 11 fragments of 346', () => {
    const cap = corpus(CAPTURES[0]![0]);
    const { out } = replayWith(cap.file, doc(cap.server, 'published', [`${SAMR}@1.0`, `${SVCCTL}@2.0`]), 'rpcdump-published-one');
    const frames = readFrames(out);
    expect(lookupResponses(frames, 'internal').map((f) => f.numEnts)).toEqual([[346]]);
    const ext = lookupResponses(frames, 'external');
    expect(ext.map((f) => f.numEnts)).toEqual([[2]]);
    // Every frame the gateway sent to the client for that call is one DCE/RPC PDU (no fragment list).
    expect(ext[0]!.ptypes).toEqual(['2']);
  });
});

describe.skipIf(!haveTshark)('ept_lookup policies on samples/exchange-epm.pcap', () => {
  /** The sample's lookup lists these tcp endpoints: EMSMDB ×2, NSPI, RFR, MTA, System Attendant. */
  const EXCHANGE_TCP = 4;

  it('deny: the enumeration connection is refused, nothing of its answer goes out; the ept_maps still work', () => {
    const { report, out } = replayWith(SAMPLE, doc(SAMPLE_SERVER, 'deny', ['exchange']), 'sample-deny');
    expect(report.refusals.map((r) => r.reason)).toContain('lookup-denied');
    expect(report.refusals.filter((r) => r.reason === 'lookup-denied').length).toBe(1);
    expect(report.rewrites.filter((r) => r.op === 'ept_lookup')).toEqual([]);
    expect(report.rewrites.filter((r) => r.op === 'ept_map').length).toBeGreaterThan(0);
    const frames = readFrames(out);
    expect(lookupResponses(frames, 'external')).toEqual([]);
    expect(lookupRequestsToServer(frames)).toEqual([]);
  });

  it('allow: every tcp tower of the lookup rewritten', () => {
    const { report, out } = replayWith(SAMPLE, doc(SAMPLE_SERVER, 'allow', ['exchange']), 'sample-allow');
    const frames = readFrames(out);
    const internal = lookupResponses(frames, 'internal');
    const ext = lookupResponses(frames, 'external');
    expect([internal.length, ext.length]).toEqual([1, 1]);
    const serverTcp = internal[0]!.ips.length;
    expect(serverTcp).toBeGreaterThan(EXCHANGE_TCP);
    expect(internal[0]!.ips.every((a) => a === SAMPLE_SERVER)).toBe(true);
    expect(ext[0]!.ips).toEqual(new Array(serverTcp).fill(EXT));
    expect(ext[0]!.numEnts).toEqual(internal[0]!.numEnts);
    expect(report.rewrites.filter((r) => r.op === 'ept_lookup').length).toBe(serverTcp);
  });

  it('published (exchange): only EMSMDB, NSPI and RFR tcp towers, rewritten; the PDU decodes cleanly', () => {
    const { report, out } = replayWith(SAMPLE, doc(SAMPLE_SERVER, 'published', ['exchange']), 'sample-published');
    const frames = readFrames(out);
    const ext = lookupResponses(frames, 'external');
    expect(ext.length).toBe(1);
    const f = ext[0]!;
    expect(f.numEnts).toEqual([EXCHANGE_TCP]);
    expect(f.ips).toEqual(new Array(EXCHANGE_TCP).fill(EXT));
    expect(f.uuids.filter((u) => u !== NDR && u !== NDR64).every((u) => EXCHANGE_UUIDS.includes(u))).toBe(true);
    expect([f.severity < SEVERITY_WARNING, f.malformed, f.analysis]).toEqual([true, false, false]);
    expect(report.rewrites.filter((r) => r.op === 'ept_lookup').map((r) => r.interface).sort()).toEqual(
      [EXCHANGE_UUIDS[0], EXCHANGE_UUIDS[0], EXCHANGE_UUIDS[2], EXCHANGE_UUIDS[3]].sort(),
    );
    // The connection carrying the lookup shows no TCP analysis flag on the external side.
    expect(frames.filter((x) => x.side === 'external' && x.analysis && x.ptypes.length > 0).map((x) => x.n)).toEqual([]);
  });
});
