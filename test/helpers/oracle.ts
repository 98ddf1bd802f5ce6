/** Reads the tshark-derived tower oracles (`<capture>.expect.tsv`) of ../shared/pcaps/public. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export type OracleRow = Record<string, string>;

export function readOracle(file: string): OracleRow[] {
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const header = lines.shift()?.split('\t') ?? [];
  return lines.map((l) => {
    const cells = l.split('\t');
    const row: OracleRow = {};
    header.forEach((h, i) => (row[h] = cells[i] ?? ''));
    return row;
  });
}

/** Mapped ports of the rules publicCaptureRules writes. */
export const CORPUS_PORT_LO = 40000;
export const CORPUS_PORT_HI = 40999;

/**
 * Writes `<dir>/<capture>.rules.json` publishing every EPM server the capture's oracle names (column
 * `server`), each by a rule of its own on 198.51.100.<i + 1>, `interfaces: ["any"]`, lookups allowed;
 * a placeholder rule when it names none. Returns the file and each server's external address.
 */
export function publicCaptureRules(capture: string, oracleFile: string, dir: string): { file: string; externalOf: Map<string, string> } {
  const servers = [...new Set(readOracle(oracleFile).map((o) => o.server!.split(':')[0]!))].sort();
  const externalOf = new Map<string, string>();
  const mappedPorts = `${CORPUS_PORT_LO}-${CORPUS_PORT_HI}`;
  const rules = servers.map((server, i) => {
    externalOf.set(server, `198.51.100.${i + 1}`);
    return { name: `srv${i}`, server, externalAddress: `198.51.100.${i + 1}`, interfaces: ['any'], clients: ['0.0.0.0/0'], mappedPorts, lookup: 'allow' };
  });
  const file = path.join(dir, capture + '.rules.json');
  writeFileSync(file, JSON.stringify({
    gateway: { external: { interface: 'gw-ext', address: '198.51.100.1' }, internal: { interface: 'gw-int', address: '192.0.2.1' } },
    rules: rules.length > 0 ? rules : [{ name: 'none', server: '192.0.2.10', interfaces: ['any'], mappedPorts }],
  }));
  return { file, externalOf };
}
