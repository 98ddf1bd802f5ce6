/**
 * A reference Internet checksum for tests, written the plainest way (RFC 1071, 16-bit words,
 * end-around carry) and independent of src/wire/checksum.ts, plus the partial form an offloading
 * sender leaves in a TCP/UDP header and a raw-IP pcap writer for tshark.
 */
import { writeFileSync } from 'node:fs';

/** The ones'-complement sum of `bytes` folded to 16 bits (not complemented). */
export function refSum(bytes: Uint8Array, initial = 0): number {
  let s = initial;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i]! << 8) | (i + 1 < bytes.length ? bytes[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The IPv4 pseudo-header sum (folded) of the TCP/UDP packet `pkt` (IP header at 0). */
export function refPseudo(pkt: Uint8Array): number {
  const ihl = (pkt[0]! & 15) * 4;
  const total = (pkt[2]! << 8) | pkt[3]!;
  const ph = new Uint8Array(12);
  ph.set(pkt.subarray(12, 20), 0);
  ph[9] = pkt[9]!;
  ph[10] = (total - ihl) >> 8;
  ph[11] = (total - ihl) & 0xff;
  return refSum(ph);
}

/** The full TCP/UDP checksum of `pkt` computed from scratch (the field itself counted as 0). */
export function refL4Checksum(pkt: Uint8Array): number {
  const ihl = (pkt[0]! & 15) * 4;
  const total = (pkt[2]! << 8) | pkt[3]!;
  const l4 = pkt.slice(ihl, total);
  const at = pkt[9] === 6 ? 16 : 6;
  l4[at] = 0;
  l4[at + 1] = 0;
  const c = ~refSum(l4, refPseudo(pkt)) & 0xffff;
  return pkt[9] === 17 && c === 0 ? 0xffff : c;
}

/** The IPv4 header checksum of `pkt` computed from scratch. */
export function refIpChecksum(pkt: Uint8Array, at = 0): number {
  const ihl = (pkt[at]! & 15) * 4;
  const h = pkt.slice(at, at + ihl);
  h[10] = 0;
  h[11] = 0;
  return ~refSum(h) & 0xffff;
}

export const get16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;

/** A copy of the TCP (or UDP) packet with its checksum field replaced by the partial form. */
export function withPartialChecksum(pkt: Uint8Array): Uint8Array {
  const p = pkt.slice();
  const at = ((p[0]! & 15) * 4) + (p[9] === 6 ? 16 : 6);
  const s = refPseudo(p);
  p[at] = s >> 8;
  p[at + 1] = s & 0xff;
  return p;
}

/** Writes raw IPv4 packets to a classic pcap (LINKTYPE_RAW 101) for tshark. */
export function writeRawPcap(path: string, packets: Uint8Array[]): void {
  const parts: Buffer[] = [];
  const gh = Buffer.alloc(24);
  gh.writeUInt32LE(0xa1b2c3d4, 0);
  gh.writeUInt16LE(2, 4);
  gh.writeUInt16LE(4, 6);
  gh.writeUInt32LE(262144, 16);
  gh.writeUInt32LE(101, 20);
  parts.push(gh);
  packets.forEach((p, i) => {
    const rh = Buffer.alloc(16);
    rh.writeUInt32LE(1_700_000_000 + i, 0);
    rh.writeUInt32LE(p.length, 8);
    rh.writeUInt32LE(p.length, 12);
    parts.push(rh, Buffer.from(p));
  });
  writeFileSync(path, Buffer.concat(parts));
}
