/**
 * Test-only helper: the TCP byte streams of a classic pcap file (Ethernet/VLAN, IPv4), one per
 * direction, reassembled by sequence number (duplicates dropped, stops at the first gap).
 * Deliberately tiny and independent of src/pcap and src/stream, so dcerpc tests do not depend
 * on layers being written in parallel.
 */
import { readFileSync } from 'node:fs';

export interface TcpStream {
  key: string;
  srcPort: number;
  dstPort: number;
  sawSyn: boolean;
  data: Uint8Array;
  /** Capture index (0-based) of the packet that delivered the byte at `offset`. */
  arrivalOf(offset: number): number;
}

interface Seg {
  seq: number;
  data: Uint8Array;
  index: number;
}

export function tcpStreams(path: string): TcpStream[] {
  const f = readFileSync(path);
  const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const magic = dv.getUint32(0, true);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && dv.getUint32(0, false) !== 0xa1b2c3d4 && dv.getUint32(0, false) !== 0xa1b23c4d) throw new Error('not a pcap');
  const linktype = dv.getUint32(20, le);
  if (linktype !== 1) throw new Error(`linktype ${linktype}`);
  const flows = new Map<string, { isn: number; sawSyn: boolean; segs: Seg[]; srcPort: number; dstPort: number }>();
  let off = 24;
  let index = -1;
  while (off + 16 <= f.length) {
    const incl = dv.getUint32(off + 8, le);
    const pkt = f.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    index++;
    let p = 12;
    let etype = (pkt[p]! << 8) | pkt[p + 1]!;
    while (etype === 0x8100 || etype === 0x88a8) {
      p += 4;
      etype = (pkt[p]! << 8) | pkt[p + 1]!;
    }
    p += 2;
    if (etype !== 0x0800 || pkt[p + 9] !== 6) continue;
    const ihl = (pkt[p]! & 15) * 4;
    const totalLen = (pkt[p + 2]! << 8) | pkt[p + 3]!;
    const src = pkt.subarray(p + 12, p + 16).join('.');
    const dst = pkt.subarray(p + 16, p + 20).join('.');
    const t = p + ihl;
    const srcPort = (pkt[t]! << 8) | pkt[t + 1]!;
    const dstPort = (pkt[t + 2]! << 8) | pkt[t + 3]!;
    const seq = ((pkt[t + 4]! << 24) | (pkt[t + 5]! << 16) | (pkt[t + 6]! << 8) | pkt[t + 7]!) >>> 0;
    const doff = (pkt[t + 12]! >> 4) * 4;
    const syn = (pkt[t + 13]! & 0x02) !== 0;
    const payload = pkt.subarray(t + doff, p + totalLen);
    const key = `${src}:${srcPort}>${dst}:${dstPort}`;
    let flow = flows.get(key);
    if (flow === undefined) {
      flow = { isn: syn ? (seq + 1) >>> 0 : seq, sawSyn: syn, segs: [], srcPort, dstPort };
      flows.set(key, flow);
    } else if (syn && !flow.sawSyn) {
      flow.isn = (seq + 1) >>> 0;
      flow.sawSyn = true;
      flow.segs = [];
    }
    if (payload.length > 0) flow.segs.push({ seq: (seq - flow.isn) >>> 0, data: payload.slice(), index });
  }
  const out: TcpStream[] = [];
  for (const [key, flow] of flows) {
    const segs = flow.segs.filter((s) => s.seq < 0x80000000).sort((a, b) => a.seq - b.seq);
    const parts: Uint8Array[] = [];
    const ends: number[] = [];
    const indices: number[] = [];
    let next = 0;
    for (const s of segs) {
      if (s.seq > next) break; // gap
      const end = s.seq + s.data.length;
      if (end <= next) continue; // duplicate
      parts.push(s.data.subarray(next - s.seq));
      next = end;
      ends.push(end);
      indices.push(s.index);
    }
    const data = new Uint8Array(next);
    let o = 0;
    for (const part of parts) {
      data.set(part, o);
      o += part.length;
    }
    const arrivalOf = (offset: number): number => {
      let lo = 0;
      let hi = ends.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ends[mid]! > offset) hi = mid;
        else lo = mid + 1;
      }
      return indices[lo] ?? -1;
    };
    out.push({ key, srcPort: flow.srcPort, dstPort: flow.dstPort, sawSyn: flow.sawSyn, data, arrivalOf });
  }
  return out;
}
