/**
 * Direct-mode replay recomputes each readdressed segment's checksums, then tells the engine so
 * (it skips its own verification of those bytes). Shown here: over the whole public corpus the
 * output and every record are byte-for-byte those of the engine verifying again; and what the
 * capture's checksums were does not matter (bad or partial ones are recomputed, as documented:
 * direct mode plays the two ends, it does not re-judge the capturing host's offloads).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CaptureFileWriter, openCaptureFile } from '../../src/dataplane/capture-file.js';
import { replayCapture, type ReplayRecord, type ReplayReport } from '../../src/dataplane/replay.js';
import { readRulesFile } from '../../src/cli/rules-file.js';
import { CaptureRecord } from '../../src/pcap/record.js';
import { IPPROTO_TCP, PacketView, readPacket } from '../../src/wire/packet.js';
import { OK } from '../../src/wire/status.js';
import { finishIpv4Checksum } from '../../src/wire/checksum.js';
import { TCP_ACK, TCP_PSH, TCP_SYN } from '../../src/wire/tcp.js';
import { haveSharedPcaps, publicCaptures, publicPath } from '../helpers/shared.js';
import { publicCaptureRules } from '../helpers/oracle.js';
import { tcpPacket } from '../helpers/engine-harness.js';
import { withPartialChecksum, writeRawPcap } from '../helpers/inet-checksum.js';

const work = mkdtempSync(path.join(tmpdir(), 'rpcgw-replay-csum-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));


interface Run {
  out: Buffer;
  records: string[];
  report: Omit<ReplayReport, 'output' | 'input'>;
}

function replay(capture: string, rulesFile: string, name: string, verifyRecomputed: boolean): Run {
  const out = path.join(work, `${name}.pcapng`);
  const records: string[] = [];
  const onRecord = (r: ReplayRecord): void => void records.push(JSON.stringify(r));
  const { output: _o, input: _i, ...report } = replayCapture({
    capture, rules: readRulesFile(rulesFile).rules, rulesFile, out, mode: 'direct', onRecord, verifyRecomputed,
  });
  return { out: readFileSync(out), records, report };
}

/** A copy of `src` with every TCP checksum changed (XOR 0x5a5a): all bad on the wire. */
function withBadTcpChecksums(src: string, dst: string): number {
  const r = openCaptureFile(src);
  const rec = new CaptureRecord();
  const v = new PacketView();
  let w: CaptureFileWriter | null = null;
  let spoiled = 0;
  try {
    while (r.next(rec)) {
      w ??= CaptureFileWriter.create(dst, 'pcap-ns', rec.linkType);
      const copy = rec.data.slice(rec.dataOff, rec.dataOff + rec.capLen);
      if (readPacket(copy, 0, copy.length, rec.linkType, v) === OK && v.ipProto === IPPROTO_TCP && v.l4Off >= 0 && !v.isFragment) {
        copy[v.l4Off + 16]! ^= 0x5a;
        copy[v.l4Off + 17]! ^= 0x5a;
        spoiled++;
      }
      w.write(rec.tsSec, rec.tsNsec, copy, 0, copy.length, rec.origLen);
    }
  } finally {
    r.close();
    w?.close();
  }
  return spoiled;
}

describe.skipIf(!haveSharedPcaps)('direct-mode replay: recomputed checksums are not verified twice', () => {
  for (const capture of publicCaptures()) {
    it(`${capture}: same output, records and counters as with the engine verifying them again`, () => {
      const rules = publicCaptureRules(capture, publicPath(capture + '.expect.tsv'), work).file;
      const fast = replay(publicPath(capture), rules, `${capture}.fast`, false);
      const slow = replay(publicPath(capture), rules, `${capture}.slow`, true);
      expect(fast.report.packetsIn).toEqual(slow.report.packetsIn);
      expect(fast.report).toEqual(slow.report);
      expect(fast.records).toEqual(slow.records);
      expect(fast.out.equals(slow.out)).toBe(true);
    });
  }

  it('a capture whose TCP checksums are all bad replays as the intact one (direct mode recomputes them)', () => {
    const capture = 'smbexec-svcctl-epm.pcap';
    const rules = publicCaptureRules(capture, publicPath(capture + '.expect.tsv'), work).file;
    const spoiledFile = path.join(work, 'spoiled.pcap');
    expect(withBadTcpChecksums(publicPath(capture), spoiledFile)).toBeGreaterThan(10);
    const intact = replay(publicPath(capture), rules, 'intact', false);
    const spoiled = replay(spoiledFile, rules, 'spoiled', false);
    expect(spoiled.report.drops).toEqual(intact.report.drops);
    expect(spoiled.report.drops['bad-checksum']).toBeUndefined();
    expect(spoiled.records).toEqual(intact.records);
    expect(spoiled.report.records.rewrite).toBeGreaterThan(0);
    expect(spoiled.out.equals(intact.out)).toBe(true);
  });
});

describe('direct-mode replay of segments whose length or checksum comes from the capture', () => {
  it('total length 0 (segmentation offload), partial and bad checksums: same as the engine verifying them again', () => {
    const rulesFile = path.join(work, 'tso.rules.json');
    writeFileSync(rulesFile, JSON.stringify({
      gateway: { external: { interface: 'gw-ext', address: '198.51.100.1' }, internal: { interface: 'gw-int', address: '192.0.2.1' } },
      rules: [{ name: 'srv', server: '192.0.2.10', externalAddress: '198.51.100.1', interfaces: ['any'], clients: ['0.0.0.0/0'], mappedPorts: '40000-40999' }],
    }));
    const c = { src: '203.0.113.5', dst: '192.0.2.10', sport: 50000, dport: 135 };
    const s = { src: '192.0.2.10', dst: '203.0.113.5', sport: 135, dport: 50000 };
    const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff);
    /** Total length 0 in the header, as a capture of an offloading sender shows it. */
    const tso = (p: Uint8Array): Uint8Array => {
      p[2] = 0;
      p[3] = 0;
      finishIpv4Checksum(p, 0, 20);
      return p;
    };
    const bad = (p: Uint8Array): Uint8Array => {
      p[36]! ^= 0xff;
      return p;
    };
    const packets = [
      tcpPacket({ ...c, seq: 1000, ack: 0, flags: TCP_SYN }),
      tcpPacket({ ...s, seq: 5000, ack: 1001, flags: TCP_SYN | TCP_ACK }),
      tcpPacket({ ...c, seq: 1001, ack: 5001, flags: TCP_ACK }),
      tso(tcpPacket({ ...c, seq: 1001, ack: 5001, flags: TCP_ACK | TCP_PSH, payload: bytes(3000) })),
      withPartialChecksum(tcpPacket({ ...s, seq: 5001, ack: 4001, flags: TCP_ACK })),
      tso(tcpPacket({ ...c, seq: 4001, ack: 5001, flags: TCP_ACK | TCP_PSH, payload: bytes(70_000) })),
      bad(tcpPacket({ ...s, seq: 5001, ack: 74001, flags: TCP_ACK })),
    ];
    const capture = path.join(work, 'tso.pcap');
    writeRawPcap(capture, packets);
    const fast = replay(capture, rulesFile, 'tso.fast', false);
    const slow = replay(capture, rulesFile, 'tso.slow', true);
    expect(fast.report.frames).toBe(packets.length);
    // Past 65535 bytes an IPv4 length cannot be written back: decoding skips that frame.
    expect(Object.values(fast.report.skipped)).toEqual([1]);
    expect(fast.report.packetsIn.external).toBe(3);
    expect(fast.report).toEqual(slow.report);
    expect(fast.records).toEqual(slow.records);
    expect(fast.out.equals(slow.out)).toBe(true);
  });
});
