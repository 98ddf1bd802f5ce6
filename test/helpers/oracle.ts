/** Reads the tshark-derived tower oracles (`<capture>.expect.tsv`) of ../shared/pcaps/public. */
import { readFileSync } from 'node:fs';

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
