/**
 * `rpcgw inspect --json` against tshark: for every capture of the public corpus, the towers we
 * report equal the rows of the tshark-derived oracle (frame, interface, version, protocol, ip,
 * port, endpoint, opnum, status, call id, EPM transfer syntax, client and server).
 */
import { describe, expect, it } from 'vitest';
import { haveSharedPcaps, publicCaptures, publicPath } from '../helpers/shared.js';
import { jsonLines, runCli } from '../helpers/cli.js';
import { readOracle } from '../helpers/oracle.js';

interface Tower {
  interface: string;
  version: string;
  protocol: string;
  ip: string;
  port: number | null;
  endpoint: string;
}

function hex32(n: number): string {
  return '0x' + (n >>> 0).toString(16).padStart(8, '0');
}

function ours(capture: string): string[] {
  const r = runCli(['inspect', '--json', publicPath(capture)]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const rows: string[] = [];
  for (const rec of jsonLines(r.stdout)) {
    if (rec.type !== 'epm-call' || rec.fault) continue;
    const base = [rec.frame, '', '', '', '', '', '', rec.opnum, hex32(rec.status as number), rec.callId, rec.server, rec.client, rec.syntax];
    const towers = rec.towers as Tower[];
    if (towers.length === 0) rows.push([...base.slice(0, 2), 'none', ...base.slice(3)].join('|'));
    for (const t of towers) {
      rows.push([rec.frame, t.interface, t.protocol, t.ip, t.port ?? '', t.version, t.endpoint, rec.opnum, hex32(rec.status as number), rec.callId, rec.server, rec.client, rec.syntax].join('|'));
    }
  }
  return rows.sort();
}

function oracle(capture: string): string[] {
  return readOracle(publicPath(capture + '.expect.tsv'))
    .map((o) =>
      [o.frame, o.interface_uuid, o.protocol, o.ip, o.port, o.if_version, o.pipe_or_host, o.opnum, o.epm_rc, o.call_id, o.server, o.client, o.epm_ndr_syntax].join('|'),
    )
    .sort();
}

describe.skipIf(!haveSharedPcaps)('rpcgw inspect agrees with the tshark oracle', () => {
  const captures = publicCaptures();
  it('finds the corpus', () => {
    expect(captures.length).toBeGreaterThanOrEqual(15);
  });
  for (const capture of captures) {
    it(capture, () => {
      expect(ours(capture)).toEqual(oracle(capture));
    });
  }
});
