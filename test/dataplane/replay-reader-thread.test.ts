/**
 * Replay's capture reader thread (src/dataplane/replay-reader.ts) against the synchronous reader:
 * the same output file, records and summary, frame for frame — over the public captures (direct
 * mode), a gateway-side capture of Ethernet frames with segmentation-offload lengths, non-IP and
 * undecodable frames (gateway mode, where the replay takes the thread's decode), a file large
 * enough to go round the ring several times with a frame too large for it, a capture cut inside
 * its last record, a corrupt record in the middle (the same error, after the same frames), and a
 * failure inside the thread (an error, no hang).
 *
 * The thread runs from the built files (its script is dist/dataplane/replay-reader-worker.js), so
 * this suite imports dist/ like the CLI tests run it: `npm run build` first.
 */
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveSharedPcaps, projectRoot, publicCaptures, publicPath } from '../helpers/shared.js';
import { readOracle } from '../helpers/oracle.js';
import type * as ReplayModule from '../../src/dataplane/replay.js';
import type * as CaptureFileModule from '../../src/dataplane/capture-file.js';
import type * as RulesFileModule from '../../src/cli/rules-file.js';
import type * as RecordModule from '../../src/pcap/record.js';

const dist = path.join(projectRoot, 'dist');
const { replayCapture } = (await import(path.join(dist, 'dataplane/replay.js'))) as typeof ReplayModule;
const { CaptureFileWriter, openCaptureFile } = (await import(path.join(dist, 'dataplane/capture-file.js'))) as typeof CaptureFileModule;
const { readRulesFile } = (await import(path.join(dist, 'cli/rules-file.js'))) as typeof RulesFileModule;
const { CaptureRecord } = (await import(path.join(dist, 'pcap/record.js'))) as typeof RecordModule;

const work = mkdtempSync(path.join(tmpdir(), 'rpcgw-replay-thread-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const LINKTYPE_ETHERNET = 1;

function rulesFor(capture: string): string {
  const servers = [...new Set(readOracle(publicPath(capture + '.expect.tsv')).map((o) => o.server!.split(':')[0]!))].sort();
  const rules = servers.map((server, i) => ({
    name: `srv${i}`, server, externalAddress: `198.51.100.${i + 1}`, interfaces: ['any'], clients: ['0.0.0.0/0'], mappedPorts: '40000-40999', lookup: 'allow',
  }));
  const file = path.join(work, capture + '.rules.json');
  writeFileSync(file, JSON.stringify({
    gateway: { external: { interface: 'gw-ext', address: '198.51.100.1' }, internal: { interface: 'gw-int', address: '192.0.2.1' } },
    rules: rules.length > 0 ? rules : [{ name: 'none', server: '192.0.2.10', interfaces: ['any'], mappedPorts: '40000-40999' }],
  }));
  return file;
}

interface Run {
  out: string;
  records: string[];
  report: string;
  error: string | null;
}

function replay(capture: string, rulesFile: string, mode: 'direct' | 'gateway' | 'auto', thread: boolean, name: string, failAfter?: number): Run {
  const out = path.join(work, `${name}.${thread ? 'thread' : 'sync'}.pcapng`);
  const records: string[] = [];
  let report = '';
  let error: string | null = null;
  try {
    const { output: _o, ...rest } = replayCapture({
      capture, rules: readRulesFile(rulesFile).rules, rulesFile, out, mode, onRecord: (r) => void records.push(JSON.stringify(r)),
      readerThread: thread, readerThreadFailAfter: failAfter,
    });
    report = JSON.stringify(rest);
  } catch (e) {
    error = (e as Error).message;
  }
  return { out: readFileSync(out).toString('hex'), records, report, error };
}

function expectSame(a: Run, b: Run): void {
  expect(a.error).toBe(b.error);
  expect(a.records.length).toBe(b.records.length);
  expect(a.records).toEqual(b.records);
  expect(a.report).toBe(b.report);
  // Byte for byte (hex, so a failure shows where).
  expect(a.out.length).toBe(b.out.length);
  expect(a.out === b.out).toBe(true);
}

describe.skipIf(!haveSharedPcaps)('replay reader thread: the public captures, direct mode', () => {
  it.each(publicCaptures())('%s: output, records and summary as the synchronous reader gives them', (capture) => {
    const rules = rulesFor(capture);
    const a = replay(publicPath(capture), rules, 'direct', true, capture);
    const b = replay(publicPath(capture), rules, 'direct', false, capture);
    expect(a.error).toBe(null);
    expectSame(a, b);
  });
});

/**
 * A gateway-side capture in Ethernet frames, repeated until the file is several times the reader's
 * 16 MiB ring: what a direct replay of smb-netlogon-drsuapi showed on both interfaces, each copy a
 * day later; every 7th IPv4 frame with IPv4 length 0 (as captured under segmentation offload),
 * every 11th an ARP frame, every 13th an IPv4 frame cut short (undecodable), every 17th IPv6; the others with an Ethernet trailer;
 * and one 5 MiB frame (larger than a quarter of the ring: a buffer of its own) after the first copy.
 */
describe.skipIf(!haveSharedPcaps)('replay reader thread: a large gateway-side capture', () => {
  const capture = 'smb-netlogon-drsuapi-epm.pcap';
  let rules = '';
  let big = '';
  let bigNg = '';

  beforeAll(() => {
    rules = rulesFor(capture);
    const gw = path.join(work, 'gw.pcapng');
    replayCapture({ capture: publicPath(capture), rules: readRulesFile(rules).rules, rulesFile: rules, out: gw, mode: 'direct', readerThread: false });
    const frames: { sec: number; nsec: number; bytes: Uint8Array }[] = [];
    const r = openCaptureFile(gw);
    const rec = new CaptureRecord();
    while (r.next(rec)) frames.push({ sec: rec.tsSec, nsec: rec.tsNsec, bytes: rec.data.slice(rec.dataOff, rec.dataOff + rec.capLen) });
    r.close();
    expect(frames.length).toBeGreaterThan(1000);
    big = path.join(work, 'big.pcap');
    bigNg = path.join(work, 'big.pcapng');
    const writers = [CaptureFileWriter.create(big, 'pcap-ns', LINKTYPE_ETHERNET), CaptureFileWriter.create(bigNg, 'pcapng', LINKTYPE_ETHERNET)];
    const eth = new Uint8Array(14 + 65535 + 1200);
    eth.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2], 0);
    let k = 0;
    let bytes = 0;
    for (let copy = 0; bytes < 56 << 20; copy++) {
      for (const f of frames) {
        k++;
        let len = 14 + f.bytes.length;
        eth.set(f.bytes, 14);
        eth[12] = 0x08;
        eth[13] = 0x00;
        // An Ethernet trailer of 1,200 bytes: the ring then holds fewer frames than there are descriptors.
        eth.fill(0x5a, len, len + 1200);
        len += 1200;
        if (k % 7 === 0) {
          len -= 1200;
          eth[16] = 0;
          eth[17] = 0;
        } else if (k % 11 === 0) {
          eth[13] = 0x06; // ARP
        } else if (k % 13 === 0) {
          len = 14 + 30; // IPv4 header whose length says more than was captured
        } else if (k % 17 === 0) {
          // IPv6, no next header, payload length what follows its 40-byte header
          eth[12] = 0x86;
          eth[13] = 0xdd;
          eth.set([0x60, 0, 0, 0, (f.bytes.length - 40) >>> 8, (f.bytes.length - 40) & 0xff, 59, 64], 14);
        }
        for (const w of writers) w.write(f.sec + copy * 86400, f.nsec, eth, 0, len);
        bytes += 16 + len;
      }
      if (copy === 0) {
        const huge = new Uint8Array(5 << 20).fill(0xa5);
        for (const w of writers) w.write(frames.at(-1)!.sec, 999_999_999, huge, 0, huge.length);
        bytes += huge.length;
      }
    }
    for (const w of writers) w.close();
    expect(statSync(big).size).toBeGreaterThan(48 << 20);
  });

  it('gateway mode, pcap and pcapng: output, records and summary as the synchronous reader gives them', () => {
    for (const file of [big, bigNg]) {
      const a = replay(file, rules, 'gateway', true, path.basename(file));
      const b = replay(file, rules, 'gateway', false, path.basename(file));
      expect(a.error).toBe(null);
      expect(Object.keys(JSON.parse(a.report).skipped).sort()).toEqual([
        'not IPv4', 'not addressed to the gateway', 'undecodable frame: ip packet truncated by capture', 'undecodable frame: not an ip packet',
      ]);
      expect(JSON.parse(a.report).packetsIn.external).toBeGreaterThan(10000);
      expectSame(a, b);
    }
  });

  it('a capture cut inside its last record: the frames before it, and truncatedAtEnd', () => {
    const cut = path.join(work, 'cut.pcap');
    writeFileSync(cut, readFileSync(big));
    truncateSync(cut, statSync(big).size - 20);
    const a = replay(cut, rules, 'auto', true, 'cut');
    const b = replay(cut, rules, 'auto', false, 'cut');
    expect(a.error).toBe(null);
    expect(JSON.parse(a.report).truncatedAtEnd).toBe(true);
    expectSame(a, b);
  });

  it('a corrupt record in the middle: the same located error after the same frames', () => {
    const bad = path.join(work, 'bad.pcap');
    const bytes = readFileSync(big);
    // Walk to the record that starts past 30 MiB and give it a captured length above the bound.
    let off = 24;
    while (off < 30 << 20) off += 16 + bytes.readUInt32LE(off + 8);
    bytes.writeUInt32LE(0x7fffffff, off + 8);
    writeFileSync(bad, bytes);
    const a = replay(bad, rules, 'gateway', true, 'bad');
    const b = replay(bad, rules, 'gateway', false, 'bad');
    expect(a.error).toBe(`${bad}: pcap record captured length exceeds 256 MiB sanity bound at byte ${off}`);
    expectSame(a, b);
  });

  it('a failure inside the reader thread ends the replay with an error, not a hang', () => {
    const a = replay(big, rules, 'gateway', true, 'fail', 50_000);
    expect(a.error).toMatch(/the capture reader thread failed: failing after 50000 frames/);
    const frames = JSON.parse(a.records.at(-1) ?? '{"frame":0}').frame as number;
    expect(frames).toBeLessThanOrEqual(50_000);
  });
});
