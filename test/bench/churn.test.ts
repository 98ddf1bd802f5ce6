/**
 * The churn workload of the bench (bench/churn.ts): a public capture multiplied over client
 * addresses. Checks what the measurement relies on: every copy is the source's traffic from its
 * own client, in time order, with valid checksums, and a replay of K copies does K times what a
 * replay of one does. No timing is judged.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CHURN_SOURCE, churnClient, oracleServers, writeChurnCapture, writeChurnRules } from '../../bench/churn.js';
import { openCaptureFile } from '../../src/dataplane/capture-file.js';
import { CaptureRecord } from '../../src/pcap/record.js';
import { PacketView, readPacket } from '../../src/wire/packet.js';
import { ipv4ToString } from '../../src/wire/addr.js';
import { OK } from '../../src/wire/status.js';
import { runCli } from '../helpers/cli.js';
import { readReplayReport } from '../helpers/replay-report.js';
import { haveSharedPcaps, publicPath } from '../helpers/shared.js';
import { badChecksumFrames, haveTshark } from '../helpers/tshark.js';

const work = mkdtempSync(path.join(tmpdir(), 'rpcgw-churn-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('churn client addresses', () => {
  it('are distinct, never .0 or .255, from the documentation ranges first', () => {
    expect(ipv4ToString(churnClient(0))).toBe('198.51.100.1');
    expect(ipv4ToString(churnClient(253))).toBe('198.51.100.254');
    expect(ipv4ToString(churnClient(254))).toBe('203.0.113.1');
    expect(ipv4ToString(churnClient(508))).toBe('100.64.0.1');
    const seen = new Set<number>();
    for (let i = 0; i < 5000; i++) {
      const a = churnClient(i);
      expect(a & 255).not.toBe(0);
      expect(a & 255).not.toBe(255);
      seen.add(a);
    }
    expect(seen.size).toBe(5000);
  });
});

describe.skipIf(!haveSharedPcaps)(`churn workload from ${CHURN_SOURCE}`, () => {
  const servers = oracleServers(CHURN_SOURCE);
  const rules = path.join(work, 'churn.rules.json');
  writeChurnRules(rules, servers);

  it('x3: every copy from its own client, staggered, in time order, checksums valid', () => {
    const file = path.join(work, 'x3.pcap');
    const c = writeChurnCapture(publicPath(CHURN_SOURCE), file, 3, servers);
    expect(c.frames).toBe(3 * c.framesPerCopy);
    const r = openCaptureFile(file);
    const rec = new CaptureRecord();
    const v = new PacketView();
    const perClient = new Map<string, number>();
    let last = -1;
    try {
      while (r.next(rec)) {
        const t = rec.tsSec * 1e9 + rec.tsNsec;
        expect(t).toBeGreaterThanOrEqual(last);
        last = t;
        expect(readPacket(rec.data, rec.dataOff, rec.capLen, rec.linkType, v)).toBe(OK);
        const server = servers.includes(v.src4) ? v.src4 : v.dst4;
        const client = server === v.src4 ? v.dst4 : v.src4;
        expect(servers).toContain(server);
        const k = ipv4ToString(client);
        perClient.set(k, (perClient.get(k) ?? 0) + 1);
      }
    } finally {
      r.close();
    }
    expect([...perClient.keys()].sort()).toEqual([0, 1, 2].map((i) => ipv4ToString(churnClient(i))).sort());
    for (const n of perClient.values()) expect(n).toBe(c.framesPerCopy);
    expect(c.spanSeconds).toBeGreaterThan(2 * (c.staggerMs / 1000));
    if (haveTshark) expect(badChecksumFrames(file)).toEqual([]);
  });

  it('a direct replay of x3 does three times what a replay of one copy does, refusing and dropping nothing', () => {
    const counts = (copies: number): { records: Record<string, number>; drops: Record<string, number>; out: number } => {
      const file = path.join(work, `r${copies}.pcap`);
      writeChurnCapture(publicPath(CHURN_SOURCE), file, copies, servers);
      const report = path.join(work, `r${copies}.jsonl`);
      const res = runCli(['replay', file, '--rules', rules, '--out', path.join(work, `r${copies}.out.pcap`), '--mode', 'direct', '--emitted-only', '--report', report]);
      expect(res.code).toBe(0);
      const rep = readReplayReport(report);
      return { records: rep.records, drops: rep.drops, out: Object.values(rep.packetsOut).reduce((a, b) => a + b, 0) };
    };
    const one = counts(1);
    const three = counts(3);
    expect(one.records.connection).toBeGreaterThan(0);
    expect(one.records.rewrite).toBeGreaterThan(0);
    for (const k of ['connection', 'rewrite', 'mapping'] as const) expect(three.records[k]).toBe(3 * one.records[k]!);
    expect(three.out).toBe(3 * one.out);
    expect(three.records.refusal).toBe(0);
    expect(three.drops).toEqual({});
  });
});
