/**
 * `rpcgw replay` on every capture of the public corpus, each EPM server published by a rule with
 * `interfaces: ["any"]`. Checked with tshark on the output: every ncacn_ip_tcp tower the oracle
 * lists reaches its client rewritten to the rule's external address and a port of mappedPorts,
 * no tower sent to a client names a server, no checksum is bad; and the report lists exactly as
 * many rewrites as the oracle has ncacn_ip_tcp towers.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { haveSharedPcaps, publicCaptures, publicPath } from '../helpers/shared.js';
import { runCli } from '../helpers/cli.js';
import { readReplayReport } from '../helpers/replay-report.js';
import { CORPUS_PORT_HI as PORT_HI, CORPUS_PORT_LO as PORT_LO, publicCaptureRules, readOracle } from '../helpers/oracle.js';
import { badChecksumFrames, haveTshark, tshark } from '../helpers/tshark.js';

const work = mkdtempSync(path.join(tmpdir(), 'rpcgw-replay-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const GW_INTERNAL = '192.0.2.1';


describe.skipIf(!haveSharedPcaps || !haveTshark)('rpcgw replay of the public corpus, checked with tshark', () => {
  for (const capture of publicCaptures()) {
    it(capture, () => {
      const oracle = readOracle(publicPath(capture + '.expect.tsv'));
      const tcpTowers = oracle.filter((o) => o.protocol === 'ncacn_ip_tcp');
      const { file: rules, externalOf } = publicCaptureRules(capture, publicPath(capture + '.expect.tsv'), work);
      const out = path.join(work, capture + '.out.pcapng');
      const reportFile = path.join(work, capture + '.report.jsonl');
      const r = runCli(['replay', publicPath(capture), '--rules', rules, '--out', out, '--report', reportFile]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const report = readReplayReport(reportFile);
      expect(report.refusals).toEqual([]);
      expect(report.rewrites.length).toBe(tcpTowers.length);

      // What reached the clients, as tshark reads it: EPM responses not addressed to the gateway.
      const rows = tshark(['-r', out, '-Y', `epm && dcerpc.pkt_type == 2 && ip.dst != ${GW_INTERNAL}`, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=;',
        '-e', 'ip.src', '-e', 'epm.proto.ip', '-e', 'epm.proto.tcp_port']);
      let towersToClients = 0;
      const externals = new Set(externalOf.values());
      for (const row of rows) {
        const [src, ips, ports] = row.split('\t');
        expect(externals.has(src!)).toBe(true);
        for (const ip of (ips ?? '').split(';').filter((x) => x !== '')) {
          expect(externals.has(ip)).toBe(true); // never a server's address
        }
        for (const p of (ports ?? '').split(';').filter((x) => x !== '')) {
          towersToClients++;
          expect(Number(p)).toBeGreaterThanOrEqual(PORT_LO);
          expect(Number(p)).toBeLessThanOrEqual(PORT_HI);
        }
      }
      expect(towersToClients).toBe(tcpTowers.length);
      expect(badChecksumFrames(out)).toEqual([]);
    });
  }
});
