/**
 * Helpers for the capture-format tests: annotated hex vectors and a tiny pcapng builder that can
 * write either byte order (our writer only writes little-endian).
 */
import { CaptureParser } from '../../src/pcap/reader.js';
import { CaptureRecord } from '../../src/pcap/record.js';
import { OK } from '../../src/wire/status.js';

/** Parses hex with `#` comments and any whitespace: `hex('0a 0d # type')`. */
export function hex(text: string): Uint8Array {
  const digits = text.replace(/#[^\n]*/g, '').replace(/\s+/g, '');
  if (digits.length % 2 !== 0 || /[^0-9a-fA-F]/.test(digits)) throw new Error(`bad hex vector: ${digits}`);
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Builds pcapng blocks in a chosen byte order. */
export class NgBuilder {
  constructor(readonly big: boolean) {}

  u16(v: number): number[] {
    return this.big ? [(v >>> 8) & 0xff, v & 0xff] : [v & 0xff, (v >>> 8) & 0xff];
  }

  u32(v: number): number[] {
    const b = [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
    return this.big ? b.reverse() : b;
  }

  /** A block with `body` padded to 4 and both length fields. */
  block(type: number, body: number[] | Uint8Array): Uint8Array {
    const b = Array.from(body);
    while (b.length % 4 !== 0) b.push(0);
    const total = 12 + b.length;
    return new Uint8Array([...this.u32(type), ...this.u32(total), ...b, ...this.u32(total)]);
  }

  shb(): Uint8Array {
    return this.block(0x0a0d0d0a, [...this.u32(0x1a2b3c4d), ...this.u16(1), ...this.u16(0), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  }

  /** IDB with options given as [code, value bytes] pairs (padded, then opt_endofopt). */
  idb(linkType: number, snaplen: number, options: Array<[number, number[]]> = []): Uint8Array {
    const body = [...this.u16(linkType), 0, 0, ...this.u32(snaplen)];
    for (const [code, value] of options) {
      body.push(...this.u16(code), ...this.u16(value.length), ...value);
      while (body.length % 4 !== 0) body.push(0);
    }
    if (options.length > 0) body.push(0, 0, 0, 0);
    return this.block(1, body);
  }

  epb(ifId: number, tsHi: number, tsLo: number, data: number[], origLen = data.length): Uint8Array {
    return this.block(6, [...this.u32(ifId), ...this.u32(tsHi), ...this.u32(tsLo), ...this.u32(data.length), ...this.u32(origLen), ...data]);
  }

  spb(origLen: number, data: number[]): Uint8Array {
    return this.block(3, [...this.u32(origLen), ...data]);
  }

  /** i64 in this byte order, for if_tsoffset. */
  i64(v: number): number[] {
    const hi = Math.floor(v / 4294967296);
    const lo = v - hi * 4294967296;
    return this.big ? [...this.u32(hi >>> 0), ...this.u32(lo)] : [...this.u32(lo), ...this.u32(hi >>> 0)];
  }
}

/** A plain copy of the fields a test compares. */
export interface Rec {
  linkType: number;
  interfaceId: number;
  tsSec: number;
  tsNsec: number;
  capLen: number;
  origLen: number;
  fileOffset: number;
  bytes: string;
}

export function snapshot(r: CaptureRecord): Rec {
  const bytes = Buffer.from(r.data.subarray(r.dataOff, r.dataOff + r.capLen)).toString('hex');
  return { linkType: r.linkType, interfaceId: r.interfaceId, tsSec: r.tsSec, tsNsec: r.tsNsec, capLen: r.capLen, origLen: r.origLen, fileOffset: r.fileOffset, bytes };
}

export interface ParseResult {
  records: Rec[];
  /** Status of the last next() that was not OK/NEED_MORE, or of end(). */
  status: number;
  errOffset: number;
  errReason: string;
  format: string;
}

/**
 * Feeds `file` to a fresh parser in chunks whose sizes come from `sizes` (cycled; [] = whole),
 * draining records after each push, then calls end().
 */
export function parseChunked(file: Uint8Array, sizes: number[] = []): ParseResult {
  const p = new CaptureParser();
  const out = new CaptureRecord();
  const records: Rec[] = [];
  let off = 0;
  let k = 0;
  const drain = (): ParseResult | undefined => {
    for (let guard = 0; guard < 1_000_000; guard++) {
      const st = p.next(out);
      if (st === OK) {
        records.push(snapshot(out));
        continue;
      }
      if (st === 1) return undefined; // NEED_MORE
      return { records, status: st, errOffset: out.errOffset, errReason: out.errReason, format: p.format };
    }
    throw new Error('parser did not stop');
  };
  while (off < file.length) {
    const n = sizes.length === 0 ? file.length : Math.max(1, sizes[k++ % sizes.length]!);
    p.push(file.subarray(off, Math.min(file.length, off + n)));
    off += n;
    const r = drain();
    if (r) return r;
  }
  const r = drain();
  if (r) return r;
  const st = p.end();
  return { records, status: st, errOffset: p.errOffset, errReason: st === OK ? '' : p.errReason, format: p.format };
}
