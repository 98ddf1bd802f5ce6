import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CAPTURE_IO_CHUNK, CaptureFileError, CaptureFileWriter, openCaptureFile, type CaptureWriteFormat } from '../../src/dataplane/capture-file.js';
import { R_BLOCK_LEN_MISMATCH } from '../../src/pcap/pcapng.js';
import { R_EMPTY_FILE, R_TRUNCATED_HEADER } from '../../src/pcap/reader.js';
import { CaptureRecord } from '../../src/pcap/record.js';
import { snapshot, type Rec } from './bytes.js';

const dir = mkdtempSync(path.join(tmpdir(), 'rpcgw-capfile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const haveCapinfos = spawnSync('capinfos', ['-h'], { stdio: 'ignore' }).status === 0;

/** Frame i: length varies 60..(60+1499), bytes derived from i. */
function frame(i: number): Uint8Array {
  const len = 60 + ((i * 7919) % 1500);
  const f = new Uint8Array(len);
  for (let j = 0; j < len; j++) f[j] = (i * 13 + j) & 0xff;
  return f;
}

function readAll(p: string): { recs: Rec[]; format: string; truncated: boolean } {
  const rd = openCaptureFile(p);
  const out = new CaptureRecord();
  const recs: Rec[] = [];
  while (rd.next(out)) recs.push(snapshot(out));
  expect(rd.next(out)).toBe(false); // stays at end
  rd.close();
  return { recs, format: rd.format, truncated: rd.truncatedAtEnd };
}

describe('CaptureFileWriter then openCaptureFile', () => {
  const N = 3000; // about 2.4 MB: several 1 MiB reads and writer flushes

  for (const format of ['pcap', 'pcap-ns', 'pcapng'] as CaptureWriteFormat[]) {
    it(`${format}: ${N} frames come back identical, across chunk boundaries`, () => {
      const p = path.join(dir, `rt.${format}`);
      const w = CaptureFileWriter.create(p, format, 1);
      for (let i = 0; i < N; i++) {
        const f = frame(i);
        w.write(1700000000 + i, (i * 1234567) % 1e9, f, 0, f.length, f.length + (i % 3));
      }
      w.close();
      w.close(); // idempotent
      expect(readFileSync(p).length).toBeGreaterThan(2 * CAPTURE_IO_CHUNK);
      const { recs, format: got, truncated } = readAll(p);
      expect(got).toBe(format);
      expect(truncated).toBe(false);
      expect(recs.length).toBe(N);
      for (const i of [0, 1, 1337, N - 1]) {
        const f = frame(i);
        const ns = (i * 1234567) % 1e9;
        expect(recs[i]).toMatchObject({
          linkType: 1,
          tsSec: 1700000000 + i,
          tsNsec: format === 'pcap' ? Math.floor(ns / 1000) * 1000 : ns,
          capLen: f.length,
          origLen: f.length + (i % 3),
          bytes: Buffer.from(f).toString('hex'),
        });
      }
      if (haveCapinfos) {
        const out = spawnSync('capinfos', ['-T', '-r', '-c', p], { encoding: 'utf8' });
        expect(out.status).toBe(0);
        expect(out.stdout.trim().split('\t')[1]).toBe(String(N));
      }
    });
  }

  it('pcapng with two interfaces of different link types', () => {
    const p = path.join(dir, 'two.pcapng');
    const w = CaptureFileWriter.create(p, 'pcapng', 1);
    expect(w.addInterface(101)).toBe(1);
    w.write(1, 2, new Uint8Array([0x45, 0, 0, 20]), 0, 4, 4, 1);
    w.write(3, 4, new Uint8Array([0xff, 1, 2, 3]), 1, 3);
    expect(() => w.write(5, 6, new Uint8Array(1), 0, 1, 1, 2)).toThrow(/interface 2 not declared/);
    w.close();
    expect(readAll(p).recs.map((r) => [r.interfaceId, r.linkType, r.tsSec, r.tsNsec, r.bytes])).toEqual([
      [1, 101, 1, 2, '45000014'],
      [0, 1, 3, 4, '010203'],
    ]);
    const pc = CaptureFileWriter.create(path.join(dir, 'one.pcap'), 'pcap', 1);
    expect(() => pc.addInterface(101)).toThrow(/single link type/);
    pc.close();
  });

  it('a frame larger than the write buffer', () => {
    const big = new Uint8Array(CAPTURE_IO_CHUNK + 12345).map((_, i) => i & 0xff);
    for (const format of ['pcap', 'pcapng'] as CaptureWriteFormat[]) {
      const p = path.join(dir, `big.${format}`);
      const w = CaptureFileWriter.create(p, format, 1);
      w.write(1, 0, new Uint8Array([1, 2, 3]), 0, 3);
      w.write(2, 0, big, 0, big.length);
      w.write(3, 0, new Uint8Array([4]), 0, 1);
      w.close();
      const { recs } = readAll(p);
      expect(recs.map((r) => r.capLen)).toEqual([3, big.length, 1]);
      expect(recs[1]!.bytes).toBe(Buffer.from(big).toString('hex'));
    }
  });

  it('frames that fill, straddle or exceed the first (short) and the later write buffers', () => {
    const sizes = [60, (1 << 16) - 16 - 24 - 16, 1, 1 << 16, 70_000, 200_000, CAPTURE_IO_CHUNK - 16, 3, CAPTURE_IO_CHUNK + 1, 1514];
    const bytesOf = (k: number): Uint8Array => new Uint8Array(sizes[k]!).map((_, i) => (i * 31 + k) & 0xff);
    for (const format of ['pcap', 'pcap-ns', 'pcapng'] as CaptureWriteFormat[]) {
      const p = path.join(dir, `edges.${format}`);
      const w = CaptureFileWriter.create(p, format, 1);
      sizes.forEach((_, k) => w.write(10 + k, k * 1000, bytesOf(k), 0, sizes[k]!));
      w.close();
      const { recs, truncated } = readAll(p);
      expect(truncated).toBe(false);
      expect(recs.map((r) => [r.tsSec, r.capLen])).toEqual(sizes.map((n, k) => [10 + k, n]));
      recs.forEach((r, k) => expect(r.bytes).toBe(Buffer.from(bytesOf(k)).toString('hex')));
    }
  });
});

describe('openCaptureFile errors', () => {
  it('nonexistent path', () => {
    const p = path.join(dir, 'nope.pcap');
    expect(() => openCaptureFile(p)).toThrow(new CaptureFileError(p, 0, 'no such file or directory (ENOENT)'));
    try {
      openCaptureFile(p);
    } catch (e) {
      expect(e).toBeInstanceOf(CaptureFileError);
      expect((e as CaptureFileError).message).toBe(`${p}: no such file or directory (ENOENT) at byte 0`);
      expect((e as CaptureFileError).fileOffset).toBe(0);
    }
  });

  it('a text file: says which magic it found', () => {
    const p = path.join(dir, 'notes.txt');
    writeFileSync(p, 'hello, this is text\n');
    expect(() => openCaptureFile(p)).toThrow(`${p}: not a capture file: first bytes 68 65 6c 6c ("hell")`);
  });

  it('a directory, an empty file, a truncated file header', () => {
    const d = path.join(dir, 'adir');
    mkdirSync(d);
    expect(() => openCaptureFile(d)).toThrow(`${d}: is a directory at byte 0`);
    const e = path.join(dir, 'empty.pcap');
    writeFileSync(e, new Uint8Array(0));
    expect(() => openCaptureFile(e)).toThrow(`${e}: ${R_EMPTY_FILE} at byte 0`);
    const t = path.join(dir, 'short.pcap');
    writeFileSync(t, new Uint8Array([0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]));
    expect(() => openCaptureFile(t)).toThrow(`${t}: ${R_TRUNCATED_HEADER} at byte 0`);
  });

  it('a capture cut inside its last record: the records before, then false with truncatedAtEnd', () => {
    const p = path.join(dir, 'cut.pcapng');
    const w = CaptureFileWriter.create(p, 'pcapng', 1);
    for (let i = 0; i < 5; i++) w.write(i, 0, frame(i), 0, 100);
    w.close();
    const whole = readFileSync(p);
    writeFileSync(p, whole.subarray(0, whole.length - 7));
    const { recs, truncated } = readAll(p);
    expect(recs.length).toBe(4);
    expect(truncated).toBe(true);
  });

  it('a corrupt block in the middle throws with its file offset', () => {
    const p = path.join(dir, 'corrupt.pcapng');
    const w = CaptureFileWriter.create(p, 'pcapng', 1);
    for (let i = 0; i < 5; i++) w.write(i, 0, frame(i), 0, 100);
    w.close();
    const bytes = new Uint8Array(readFileSync(p));
    // SHB 28 + IDB 32, then EPBs of 132 bytes: break the trailing length of the third.
    const third = 60 + 2 * 132;
    bytes[third + 131] = bytes[third + 131]! ^ 0xff;
    writeFileSync(p, bytes);
    const rd = openCaptureFile(p);
    const out = new CaptureRecord();
    expect(rd.next(out)).toBe(true);
    expect(rd.next(out)).toBe(true);
    expect(rd.frameNumber).toBe(2);
    expect(() => rd.next(out)).toThrow(`${p}: ${R_BLOCK_LEN_MISMATCH} at byte ${third}`);
    rd.close();
  });
});
