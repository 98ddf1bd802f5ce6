/**
 * The checksum's word sum with WebAssembly SIMD, for bytes that already live in wasm memory.
 *
 * WebAssembly reads only its own memory, and copying a packet in costs a view object per packet
 * (`set(subarray())`) and most of the gain. So the fast path is for buffers made here: a
 * `checksumBytes(n)` array is backed by a WebAssembly.Memory of its own (never grown, so never
 * detached), with a module instance over it; checksum.ts asks `wasmSumOf(buffer)` once per buffer
 * change and sums the 16-byte-aligned middle of a region with it. Any other buffer keeps the JS
 * loop. Measured (docs/performance.md, "Checksum in WebAssembly"): 432 bytes in cache 17 ns
 * against 110-128 ns for the JS loop; from memory the sum is bound by the memory read either way.
 *
 * The function, written out below as bytes (no toolchain at build time):
 *   (func (export "sum") (param $p i32) (param $blocks i32) (result i32)
 *     (local $lo v128) (local $hi v128) (local $x v128) (local $t i64)
 *     (loop                                 ;; blocks >= 1: the caller checks
 *       (local.set $x (v128.load align=16 (local.get $p)))
 *       (local.set $lo (i64x2.add (i64x2.extend_low_i32x4_u (local.get $x)) (local.get $lo)))
 *       (local.set $hi (i64x2.add (i64x2.extend_high_i32x4_u (local.get $x)) (local.get $hi)))
 *       (local.set $p (i32.add (local.get $p) (i32.const 16)))
 *       (br_if 0 (local.tee $blocks (i32.sub (local.get $blocks) (i32.const 1)))))
 *     (local.set $x (i64x2.add (local.get $lo) (local.get $hi)))
 *     (local.set $t (i64.add (i64x2.extract_lane 0 (local.get $x)) (i64x2.extract_lane 1 (local.get $x))))
 *     (local.set $t (i64.add (i64.shr_u (local.get $t) (i64.const 32)) (i64.and (local.get $t) (i64.const 0xffffffff))))
 *     (i32.wrap_i64 (i64.add (i64.shr_u (local.get $t) (i64.const 16)) (i64.and (local.get $t) (i64.const 0xffff)))))
 * The exact sum of the little-endian u32 words of [p, p + 16 * blocks) folded twice (2^32 and
 * 2^16 are 1 mod 0xffff): below 2^18, so an int32 comes back (an f64 result is a heap number a
 * call), congruent to the sum mod 0xffff and 0 only when the sum is 0 — all checksum.ts needs of
 * the words its JS loop adds up as doubles.
 */

/** A function summing `blocks` 16-byte blocks of u32 words from byte `p` of its memory (folded, see above). */
export type WasmWordSum = (p: number, blocks: number) => number;

const SIMD = 0xfd;
const V128_LOAD = [SIMD, 0x00, 4, 0];
const I64X2_EXTEND_LOW_I32X4_U = [SIMD, 0xc9, 0x01];
const I64X2_EXTEND_HIGH_I32X4_U = [SIMD, 0xca, 0x01];
const I64X2_ADD = [SIMD, 0xce, 0x01];
const I64X2_EXTRACT_LANE = [SIMD, 0x1d];
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const LOCAL_TEE = 0x22;
const P = 0;
const BLOCKS = 1;
const LO = 2;
const HI = 3;
const X = 4;
const T = 5;
const I64_CONST = 0x42;
const I64_ADD = 0x7c;
const I64_AND = 0x83;
const I64_SHR_U = 0x88;

const BODY = [
  2, 3, 0x7b, 1, 0x7e, // three v128 locals, one i64
  0x03, 0x40, // loop
  LOCAL_GET, P, ...V128_LOAD, LOCAL_SET, X,
  LOCAL_GET, X, ...I64X2_EXTEND_LOW_I32X4_U, LOCAL_GET, LO, ...I64X2_ADD, LOCAL_SET, LO,
  LOCAL_GET, X, ...I64X2_EXTEND_HIGH_I32X4_U, LOCAL_GET, HI, ...I64X2_ADD, LOCAL_SET, HI,
  LOCAL_GET, P, 0x41, 16, 0x6a, LOCAL_SET, P, // p += 16
  LOCAL_GET, BLOCKS, 0x41, 1, 0x6b, LOCAL_TEE, BLOCKS, 0x0d, 0, // br_if 0 (--blocks)
  0x0b, // end loop
  LOCAL_GET, LO, LOCAL_GET, HI, ...I64X2_ADD, LOCAL_TEE, X,
  ...I64X2_EXTRACT_LANE, 0, LOCAL_GET, X, ...I64X2_EXTRACT_LANE, 1, I64_ADD, LOCAL_SET, T,
  LOCAL_GET, T, I64_CONST, 32, I64_SHR_U, LOCAL_GET, T, I64_CONST, 0xff, 0xff, 0xff, 0xff, 0x0f, I64_AND, I64_ADD, LOCAL_SET, T,
  LOCAL_GET, T, I64_CONST, 16, I64_SHR_U, LOCAL_GET, T, I64_CONST, 0xff, 0xff, 0x03, I64_AND, I64_ADD,
  0xa7, // i32.wrap_i64
  0x0b,
];

function section(id: number, bytes: number[]): number[] {
  return [id, bytes.length, ...bytes]; // every section here is shorter than 128 bytes
}

const MODULE_BYTES = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
  ...section(1, [1, 0x60, 2, 0x7f, 0x7f, 1, 0x7f]), // type (i32, i32) -> i32
  ...section(2, [1, 3, 0x65, 0x6e, 0x76, 3, 0x6d, 0x65, 0x6d, 2, 0, 1]), // import env.mem (memory, min 1 page)
  ...section(3, [1, 0]),
  ...section(7, [1, 3, 0x73, 0x75, 0x6d, 0, 0]), // export "sum"
  ...section(10, [1, BODY.length, ...BODY]),
]);

const WASM_PAGE = 65536;

let module: WebAssembly.Module | null | undefined;
/** The sum function of each buffer made by checksumBytes (weak: a dropped buffer takes it along). */
const sums = new WeakMap<ArrayBufferLike, WasmWordSum>();

/** The compiled module, or null where WebAssembly SIMD is not available (then no buffer gets the path). */
function compiled(): WebAssembly.Module | null {
  if (module === undefined) {
    try {
      module = new WebAssembly.Module(MODULE_BYTES);
    } catch {
      module = null;
    }
  }
  return module;
}

/**
 * `n` zeroed bytes whose checksums take the SIMD sum: a long-lived buffer that packets are read
 * into (a capture arena, a receive buffer). Where WebAssembly SIMD is missing, a plain array.
 */
export function checksumBytes(n: number): Uint8Array<ArrayBuffer> {
  const m = compiled();
  if (m === null) return new Uint8Array(n);
  let memory: WebAssembly.Memory;
  try {
    // V8 reserves ~10 GiB of address space (guard regions) per memory, not RSS: under an address
    // space limit (ulimit -v) this fails, and the buffer is a plain one.
    memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(n / WASM_PAGE)) });
  } catch {
    return new Uint8Array(n);
  }
  const instance = new WebAssembly.Instance(m, { env: { mem: memory } });
  sums.set(memory.buffer, instance.exports['sum'] as WasmWordSum);
  return new Uint8Array(memory.buffer, 0, n);
}

/** The SIMD sum over `ab` if checksumBytes made it, else null. Asked once per buffer change. */
export function wasmSumOf(ab: ArrayBufferLike): WasmWordSum | null {
  return sums.get(ab) ?? null;
}
