/**
 * Every capture of the public corpus, read by our readers and compared with capinfos (computed
 * here, never hard-coded): record count, first and last timestamps. capinfos reports the
 * earliest and latest stamps; every corpus file is in strict time order (capinfos -o), so those
 * are the first and last records.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openCaptureFile } from '../../src/dataplane/capture-file.js';
import { CaptureRecord } from '../../src/pcap/record.js';
import { OK } from '../../src/wire/status.js';
import { haveSharedPcaps, publicPath, publicPcapDir } from '../helpers/shared.js';
import { parseChunked } from './bytes.js';

const captures = haveSharedPcaps ? readdirSync(publicPcapDir).filter((f) => !f.endsWith('.tsv') && !f.endsWith('.md')).sort() : [];
const haveCapinfos = spawnSync('capinfos', ['-h'], { stdio: 'ignore' }).status === 0;
if (haveSharedPcaps && !haveCapinfos) console.warn('[rpcgw tests] capinfos not on PATH: corpus counts/timestamps are NOT compared (reading is still tested)');

interface Summary {
  count: number;
  first: string;
  last: string;
}

/** "1470723577.472014900" style: seconds, a dot, then as many fraction digits as the file's precision. */
function stamp(sec: number, nsec: number, digits: number): string {
  return `${sec}.${String(nsec).padStart(9, '0').slice(0, digits)}`;
}

function readWithOurs(file: string, digits: number): Summary & { formats: string; truncated: boolean } {
  const rd = openCaptureFile(publicPath(file));
  const r = new CaptureRecord();
  let count = 0;
  let first = '';
  let last = '';
  while (rd.next(r)) {
    count++;
    const s = stamp(r.tsSec, r.tsNsec, digits);
    if (count === 1) first = s;
    last = s;
    expect(rd.frameNumber).toBe(count);
  }
  rd.close();
  return { count, first, last, formats: rd.format, truncated: rd.truncatedAtEnd };
}

function capinfos(file: string): Summary {
  const line = execFileSync('capinfos', ['-T', '-r', '-c', '-a', '-e', '-S', '-M', publicPath(file)], { encoding: 'utf8' }).trim();
  const cols = line.split('\t');
  return { count: Number(cols[1]), first: cols[2]!, last: cols[3]! };
}

describe.skipIf(!haveSharedPcaps)('public capture corpus', () => {
  it('has captures to read', () => {
    expect(captures.length).toBeGreaterThanOrEqual(17);
  });

  for (const file of captures) {
    it.skipIf(!haveCapinfos)(`${file}: record count and first/last timestamps equal capinfos`, () => {
      const expected = capinfos(file);
      const digits = expected.first.split('.')[1]?.length ?? 0;
      const ours = readWithOurs(file, digits);
      expect(ours.truncated).toBe(false);
      expect({ count: ours.count, first: ours.first, last: ours.last }).toEqual(expected);
    });

    it(`${file}: reads to the end, and the streaming parser agrees with the file adapter`, () => {
      const ours = readWithOurs(file, 9);
      expect(ours.count).toBeGreaterThan(0);
      expect(ours.truncated).toBe(false);
      if (ours.formats !== 'netmon') {
        const res = parseChunked(new Uint8Array(readFileSync(publicPath(file))), [4093]);
        expect(res.status).toBe(OK);
        expect(res.records.length).toBe(ours.count);
      }
    });
  }
});
