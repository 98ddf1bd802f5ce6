/**
 * The checksum of bytes in a checksumBytes buffer (WebAssembly SIMD for the aligned middle) is
 * the checksum of the same bytes anywhere else: the same folded sum at any offset, any length,
 * any alignment, and the same verdict and field on a real TCP segment.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checksumBytes, wasmSumOf } from '../../src/wire/checksum-wasm.js';
import { finishTcpChecksumV4, fold, l4ChecksumOk, onesSum } from '../../src/wire/checksum.js';
import { PacketView, readPacket } from '../../src/wire/packet.js';
import { LINKTYPE_RAW } from '../../src/wire/link.js';
import { OK } from '../../src/wire/status.js';

/** Folded ones'-complement sum by arithmetic mod 0xffff (0 only for all-zero data): no word tricks. */
function refFolded(bytes: Uint8Array, off: number, len: number): number {
  let sum = 0;
  for (let i = 0; i < len; i += 2) sum += (bytes[off + i]! << 8) | (i + 1 < len ? bytes[off + i + 1]! : 0);
  if (sum === 0) return 0;
  const r = sum % 0xffff;
  return r === 0 ? 0xffff : r;
}

describe('checksum over a checksumBytes buffer (WebAssembly SIMD)', () => {
  it('the buffer is backed by wasm memory with a sum function (Node 20 has SIMD): the fast path is what the tests below run', () => {
    const b = checksumBytes(1000);
    expect(b.length).toBe(1000);
    expect(b.every((x) => x === 0)).toBe(true);
    expect(wasmSumOf(b.buffer)).not.toBeNull();
    expect(wasmSumOf(new Uint8Array(1000).buffer)).toBeNull();
  });

  it('property: fold(onesSum) is the reference and the plain-buffer result, at any offset, length and initial sum', () => {
    const wasm = checksumBytes(70_000);
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 3000 }), fc.nat(4096), fc.nat(0xffffffff),
        fc.constantFrom(0, 0xff, 0x55),
        (data, at, initial, fill) => {
          // Mostly random bytes, sometimes runs of one value (sums that are multiples of 0xffff).
          const bytes = fill === 0 ? data : data.map((x, i) => (i % 7 === 0 ? x : fill));
          wasm.set(bytes, at);
          const plain = new Uint8Array(at + bytes.length + 3);
          plain.set(bytes, at + 3); // another alignment of the same bytes
          const got = fold(onesSum(wasm, at, bytes.length, initial));
          expect(got).toBe(fold(onesSum(plain, at + 3, bytes.length, initial)));
          expect(got).toBe(fold(refFolded(bytes, 0, bytes.length) + fold(initial)));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('a view at a byteOffset into the wasm buffer sums the same as the whole buffer at that offset', () => {
    const wasm = checksumBytes(5000);
    for (let i = 0; i < wasm.length; i++) wasm[i] = (i * 131 + 7) & 0xff;
    for (const off of [0, 1, 2, 3, 5, 17]) {
      const view = new Uint8Array(wasm.buffer, off, 4000);
      expect(fold(onesSum(view, 9, 1500, 0))).toBe(refFolded(wasm, off + 9, 1500));
    }
  });

  it('a TCP segment of 1460 bytes in a checksumBytes arena: finished, verified, then one flipped payload bit refused', () => {
    const arena = checksumBytes(4096);
    const at = 1001; // odd: the IP header is not aligned
    const ip = arena.subarray(at, at + 1500);
    ip.set([0x45, 0, 1500 >> 8, 1500 & 0xff, 0, 1, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 1, 198, 51, 100, 1]);
    ip.set([0x30, 0x39, 0, 135, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0], 20);
    for (let i = 40; i < 1500; i++) ip[i] = (i * 37) & 0xff;
    const v = new PacketView();
    expect(readPacket(arena, at, 1500, LINKTYPE_RAW, v)).toBe(OK);
    finishTcpChecksumV4(arena, v.l3Off, v.l4Off, v.l4Len);
    const plain = arena.slice(at, at + 1500);
    const pv = new PacketView();
    expect(readPacket(plain, 0, 1500, LINKTYPE_RAW, pv)).toBe(OK);
    expect(l4ChecksumOk(plain, pv)).toBe(true);
    expect(l4ChecksumOk(arena, v)).toBe(true);
    arena[at + 700] = arena[at + 700]! ^ 0x10;
    expect(l4ChecksumOk(arena, v)).toBe(false);
  });
});
