/**
 * `rpcgw replay` as a user runs it (the built dist/cli/main.js): deterministic output files and
 * reports, gateway-mode replay of a direct-mode replay's output, and one-line errors.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { type GatheredReport, parseReplayReport, readReplayReport } from '../helpers/replay-report.js';
import { haveSharedPcaps, publicPath } from '../helpers/shared.js';
import {
  CLIENT, EMSMDB, EXT, EngineHarness, GW, SERVER, SIDE_EXTERNAL, TcpConn, epmBind, epmConversations, epmSession, ip, mapCall,
  rulesDoc, tcpPacket, tcpTower,
} from '../helpers/engine-harness.js';
import { CaptureFileWriter, openCaptureFile } from '../../src/dataplane/capture-file.js';
import { CaptureRecord } from '../../src/pcap/record.js';
import { LINKTYPE_RAW, PacketView, readPacket, TCP_SYN } from '../../src/wire/packet.js';
import { writeIpv4Header } from '../../src/wire/ipv4.js';
import { buildUdpV4Frame } from '../../src/wire/build.js';
import { ipv4ToString } from '../../src/wire/addr.js';
import { OK } from '../../src/wire/status.js';

const work = mkdtempSync(path.join(tmpdir(), 'rpcgw-engine-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A rules file publishing every EPM server of a capture on the gateway's external address. */
function rulesFileFor(capture: string): string {
  const servers = [...new Set(epmConversations(publicPath(capture)).map((c) => c.server))].sort();
  const more = servers.slice(1).map((server, i) => ({
    name: `srv${i + 1}`, server, externalAddress: `198.51.100.${i + 2}`, interfaces: ['any'], mappedPorts: '40000-40999', lookup: 'allow',
  }));
  const file = path.join(work, `${capture}.rules.json`);
  writeFileSync(file, JSON.stringify(rulesDoc({ name: 'srv0', server: servers[0] ?? SERVER }, { more })));
  return file;
}

function replay(capture: string, rules: string, out: string, extra: string[] = []): { report: GatheredReport; stdout: string; reportText: string } {
  const reportFile = out + '.report.jsonl';
  const r = runCli(['replay', capture, '--rules', rules, '--out', out, '--report', reportFile, ...extra]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const reportText = readFileSync(reportFile, 'utf8');
  return { report: parseReplayReport(reportText), stdout: r.stdout, reportText };
}

/** The packets of an output capture, split by direction: outbound = sent by the gateway (source E or G). */
function packetsByDirection(file: string, externals: Set<string>): { inbound: string[]; outbound: string[] } {
  const reader = openCaptureFile(file);
  const rec = new CaptureRecord();
  const v = new PacketView();
  const inbound: string[] = [];
  const outbound: string[] = [];
  try {
    while (reader.next(rec)) {
      expect(readPacket(rec.data, rec.dataOff, rec.capLen, rec.linkType, v)).toBe(OK);
      const src = ipv4ToString(v.src4);
      const bytes = `${rec.interfaceId}:${Buffer.from(rec.data.subarray(rec.dataOff, rec.dataOff + rec.capLen)).toString('hex')}`;
      const isOut = rec.interfaceId === 0 ? externals.has(src) : src === GW;
      (isOut ? outbound : inbound).push(bytes);
    }
  } finally {
    reader.close();
  }
  return { inbound, outbound };
}

const CAPTURES = ['exchange-outlook-mapi-epm.pcap', 'ms-adod-ws2019-domain-join-epm.pcapng', 'pcapattack-impacket-rpcdump-lookup.pcapng', 'zerologon-netlogon-epm-map.pcap'];

describe.skipIf(!haveSharedPcaps)('rpcgw replay is deterministic', () => {
  for (const capture of CAPTURES.slice(0, 3)) {
    it(`${capture}: twice → byte-identical output and identical report`, () => {
      const rules = rulesFileFor(capture);
      const out = path.join(work, `${capture}.det.pcapng`);
      const a = replay(publicPath(capture), rules, out);
      const bytesA = readFileSync(out);
      const b = replay(publicPath(capture), rules, out);
      const bytesB = readFileSync(out);
      expect(bytesA.length).toBeGreaterThan(1000);
      expect(Buffer.compare(bytesA, bytesB)).toBe(0);
      expect(b.reportText).toBe(a.reportText);
      expect(b.stdout).toBe(a.stdout);
      expect(a.report.rewrites.length).toBeGreaterThan(0);
    });
  }

  it('the report is JSON lines: the schema first, each record with its frame in input order, the summary last', () => {
    const capture = CAPTURES[0]!;
    const { report, reportText } = replay(publicPath(capture), rulesFileFor(capture), path.join(work, 'lines.pcapng'));
    const lines = reportText.trimEnd().split('\n').map((l) => JSON.parse(l) as { record: string; frame?: number });
    const frames = lines.slice(1, -1).map((l) => l.frame!);
    expect(frames.length).toBe(Object.values(report.records).reduce((a, b) => a + b, 0));
    expect(frames.every((f, i) => Number.isInteger(f) && f >= 1 && f <= report.frames && (i === 0 || f >= frames[i - 1]!))).toBe(true);
    expect(report.records.connection).toBeGreaterThan(0);
    expect(report.connections.every((c) => c.client !== '' && c.server !== '')).toBe(true);
  });

  it('the same with --seed given explicitly, and a classic pcap output', () => {
    const capture = CAPTURES[0]!;
    const rules = rulesFileFor(capture);
    const out = path.join(work, 'det.pcap');
    replay(publicPath(capture), rules, out, ['--seed', '99']);
    const a = readFileSync(out);
    replay(publicPath(capture), rules, out, ['--seed', '99']);
    expect(Buffer.compare(a, readFileSync(out))).toBe(0);
  });
});

describe.skipIf(!haveSharedPcaps)('a direct-mode replay\'s output replayed in gateway mode gives the same emitted packets', () => {
  for (const capture of CAPTURES) {
    it(capture, () => {
      const rules = rulesFileFor(capture);
      const externals = new Set((JSON.parse(readFileSync(rules, 'utf8')) as { rules: { externalAddress?: string }[] }).rules.map((r) => r.externalAddress ?? EXT));
      const direct = path.join(work, `${capture}.direct.pcapng`);
      const gateway = path.join(work, `${capture}.gateway.pcapng`);
      const d = replay(publicPath(capture), rules, direct, ['--mode', 'direct']);
      const g = replay(direct, rules, gateway, ['--mode', 'gateway']);
      expect(d.report.mode).toBe('direct');
      expect(g.report.mode).toBe('gateway');
      const dp = packetsByDirection(direct, externals);
      const gp = packetsByDirection(gateway, externals);
      expect(dp.outbound.length).toBeGreaterThan(0);
      // What arrived is what the direct replay fed in; what left is identical, in order.
      expect(gp.inbound).toEqual(dp.inbound);
      expect(gp.outbound.length).toBe(dp.outbound.length);
      expect(gp.outbound).toEqual(dp.outbound);
      expect(g.report.rewrites.length).toBe(d.report.rewrites.length);
      expect(g.report.rewrites.map((r) => [r.original, r.rewritten, r.interface])).toEqual(d.report.rewrites.map((r) => [r.original, r.rewritten, r.interface]));
      const refusal = (x: { reason: string; detail: string }): string => `${x.reason}: ${x.detail}`;
      expect(g.report.refusals.map(refusal)).toEqual(d.report.refusals.map(refusal));
      expect(g.report.packetsOut).toEqual(d.report.packetsOut);
    });
  }
});

describe('rpcgw replay errors: non-zero exit, one line naming the file and the problem, no stack', () => {
  const goodRules = path.join(work, 'good.rules.json');
  writeFileSync(goodRules, JSON.stringify(rulesDoc()));
  const someCapture = path.join(work, 'tiny.pcap');
  {
    const w = CaptureFileWriter.create(someCapture, 'pcap', LINKTYPE_RAW);
    const p = tcpPacket({ src: CLIENT, dst: EXT, sport: 50000, dport: 135, seq: 1, ack: 0, flags: TCP_SYN });
    w.write(1, 0, p, 0, p.length);
    w.close();
  }

  function expectOneLineError(args: string[], ...mentions: (string | RegExp)[]): string {
    const r = runCli(['replay', ...args]);
    expect(r.code).not.toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    expect(lines.length, r.stderr).toBe(1);
    const line = lines[0]!;
    expect(line).not.toMatch(/^\s+at |\bat .*\.js:\d+/);
    for (const m of mentions) expect(line).toMatch(typeof m === 'string' ? new RegExp(m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : m);
    return line;
  }

  it('a capture that does not exist', () => {
    const missing = path.join(work, 'no-such.pcap');
    expectOneLineError([missing, '--rules', goodRules, '--out', path.join(work, 'x.pcapng')], missing, /no such file|ENOENT/i);
  });

  it('a text file given as the capture', () => {
    const text = path.join(work, 'notes.txt');
    writeFileSync(text, 'this is not a capture file\n');
    expectOneLineError([text, '--rules', goodRules, '--out', path.join(work, 'x.pcapng')], text, /not a capture|magic/i, /byte 0|offset 0/);
  });

  it('a capture cut short inside its header', () => {
    const short = path.join(work, 'short.pcap');
    writeFileSync(short, readFileSync(someCapture).subarray(0, 10));
    expectOneLineError([short, '--rules', goodRules, '--out', path.join(work, 'x.pcapng')], short);
  });

  it('a rules file with a bad field names the file, the rule and the field', () => {
    const bad = path.join(work, 'bad.rules.json');
    writeFileSync(bad, JSON.stringify(rulesDoc({ pinholeTimeoutSeconds: -5 }), null, 2));
    expectOneLineError([someCapture, '--rules', bad, '--out', path.join(work, 'x.pcapng')], bad, /pinholeTimeoutSeconds/, /r0|rules\/0|rules\[0\]/);
  });

  it('a rules file with a misspelt field', () => {
    const bad = path.join(work, 'typo.rules.json');
    const doc = rulesDoc();
    const rule = (doc.rules as Record<string, unknown>[])[0]!;
    rule.mapedPorts = rule.mappedPorts;
    delete rule.mappedPorts;
    writeFileSync(bad, JSON.stringify(doc, null, 2));
    // Two problems (the required field is missing, an unknown one is present): a line each.
    const r = runCli(['replay', someCapture, '--rules', bad, '--out', path.join(work, 'x.pcapng')]);
    expect(r.code).not.toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l !== '');
    expect(lines.length).toBeLessThanOrEqual(2);
    for (const l of lines) {
      expect(l).toContain(bad);
      expect(l).not.toMatch(/^\s+at /);
    }
    expect(r.stderr).toMatch(/unknown property "mapedPorts" \(did you mean "mappedPorts"\?\)/);
  });

  it('a rules file that is not JSON names the line', () => {
    const bad = path.join(work, 'broken.rules.json');
    writeFileSync(bad, '{\n  "gateway": {,\n}\n');
    expectOneLineError([someCapture, '--rules', bad, '--out', path.join(work, 'x.pcapng')], bad, /line 2/);
  });

  it('a rules file that does not exist', () => {
    const missing = path.join(work, 'missing.rules.json');
    expectOneLineError([someCapture, '--rules', missing, '--out', path.join(work, 'x.pcapng')], missing);
  });
});

describe('a capture with malformed traffic replays: exit 0, the drops in the report', () => {
  it('fragments, UDP, unpublished ports, a malformed bind on 135, junk frames', () => {
    // Gateway-side capture: packets as they reach the gateway's two interfaces (raw IP).
    const h = new EngineHarness(rulesDoc(), { recordInput: true });
    const good = epmSession(h);
    mapCall(good, [tcpTower(EMSMDB, 0, 81, SERVER, 1032)]);
    const bad = new TcpConn(h, { cport: 50001 });
    bad.open();
    const bind = epmBind();
    bind[0] = 4; // rpc_vers 4
    bad.clientSend(bind);
    const frames = h.injected.map((p) => ({ ...p }));
    const frag = tcpPacket({ src: CLIENT, dst: EXT, sport: 50002, dport: 135, seq: 1, ack: 0, flags: TCP_SYN });
    frag[6] = 0x20; // MF
    writeIpv4Header(frag, 0, { src: ip(CLIENT), dst: ip(EXT), proto: 6, totalLen: frag.length, moreFragments: true });
    const udpFrame = new Uint8Array(100);
    const udp = udpFrame.slice(14, buildUdpV4Frame(udpFrame, 0, { src: ip(CLIENT), dst: ip(EXT), srcPort: 50003, dstPort: 135, payload: new Uint8Array(8) }));
    const unpublished = tcpPacket({ src: CLIENT, dst: EXT, sport: 50004, dport: 3389, seq: 1, ack: 0, flags: TCP_SYN });
    const junkIp = Uint8Array.of(0x45, 0, 0, 60, 1, 2, 3); // header cut short
    frames.push(
      { side: SIDE_EXTERNAL, pkt: frag, nowMs: h.nowMs },
      { side: SIDE_EXTERNAL, pkt: udp, nowMs: h.nowMs },
      { side: SIDE_EXTERNAL, pkt: unpublished, nowMs: h.nowMs },
      { side: SIDE_EXTERNAL, pkt: junkIp, nowMs: h.nowMs },
    );
    const capture = path.join(work, 'malformed.pcap');
    const w = CaptureFileWriter.create(capture, 'pcap', LINKTYPE_RAW);
    for (const f of frames) w.write(Math.floor(f.nowMs / 1000), (f.nowMs % 1000) * 1e6, f.pkt, 0, f.pkt.length);
    w.close();
    const rules = path.join(work, 'malformed.rules.json');
    writeFileSync(rules, JSON.stringify(rulesDoc()));
    const out = path.join(work, 'malformed.out.pcapng');
    const r = runCli(['replay', capture, '--rules', rules, '--out', out, '--report', out + '.jsonl', '--mode', 'gateway']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = readReplayReport(out + '.jsonl');
    expect(report.rewrites.length).toBe(1);
    expect(report.refusals.map((x) => x.reason)).toEqual(['malformed-rpc']);
    expect(report.drops).toMatchObject({ 'ip-fragment': 1, 'unsupported-protocol': 1, 'port-not-published': 1, 'malformed-rpc': 1 });
    expect(Object.keys(report.skipped).join(' ')).toMatch(/undecodable/);
    expect(r.stdout).toMatch(/refused/);
    expect(r.stdout).toMatch(/dropped/);
  });
});
