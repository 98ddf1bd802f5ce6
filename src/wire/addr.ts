/**
 * Address text <-> numbers. For configuration and reporting only: these build or parse strings
 * and must never be called by a decoder on the packet path.
 */

/** "a.b.c.d" for an unsigned (or signed) 32-bit address. */
export function ipv4ToString(addr: number): string {
  return `${(addr >>> 24) & 0xff}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/**
 * Parses strict dotted-quad text to an unsigned u32, or -1. Exactly four decimal parts 0..255;
 * leading zeros are refused ("010" is octal to inet_aton, decimal to others: ambiguous).
 */
export function parseIpv4(str: string): number {
  let addr = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= str.length; i++) {
    const c = i < str.length ? str.charCodeAt(i) : 0x2e; // a virtual '.' ends the last part
    if (c >= 0x30 && c <= 0x39) {
      if (digits === 1 && part === 0) return -1;
      part = part * 10 + (c - 0x30);
      if (++digits > 3 || part > 255) return -1;
    } else if (c === 0x2e) {
      if (digits === 0 || parts === 4) return -1;
      addr = addr * 256 + part;
      parts++;
      part = 0;
      digits = 0;
    } else {
      return -1;
    }
  }
  return parts === 4 ? addr : -1;
}

/** RFC 5952 text of the 16 bytes at off: lower case, longest zero run (>= 2 groups) as "::", IPv4-mapped dotted. */
export function ipv6ToString(buf: Uint8Array, off: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(((buf[off + 2 * i] ?? 0) << 8) | (buf[off + 2 * i + 1] ?? 0));
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    const v4 = (((g[6] ?? 0) << 16) | (g[7] ?? 0)) >>> 0;
    return `::ffff:${ipv4ToString(v4)}`;
  }
  let bestStart = -1;
  let bestLen = 1; // a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string =>
    g
      .slice(from, to)
      .map((x) => x.toString(16))
      .join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

function parseHexGroup(s: string): number {
  if (s.length < 1 || s.length > 4) return -1;
  let v = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let d: number;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
    else if (c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
    else return -1;
    v = (v << 4) | d;
  }
  return v;
}

/** Groups of one side of "::"; the last group may be dotted IPv4 when `v4Allowed`. Null if invalid. */
function parseGroups(s: string, v4Allowed: boolean): number[] | null {
  if (s === '') return [];
  const parts = s.split(':');
  const out: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (v4Allowed && i === parts.length - 1 && p.includes('.')) {
      const v4 = parseIpv4(p);
      if (v4 < 0) return null;
      out.push(v4 >>> 16, v4 & 0xffff);
    } else {
      const v = parseHexGroup(p);
      if (v < 0) return null;
      out.push(v);
    }
  }
  return out;
}

/** Parses IPv6 text (with "::" and a trailing dotted IPv4 allowed; no zone id) into 16 bytes at off. */
export function parseIpv6(str: string, out: Uint8Array, off: number): boolean {
  const dbl = str.indexOf('::');
  let groups: number[];
  if (dbl < 0) {
    const all = parseGroups(str, true);
    if (all === null || all.length !== 8) return false;
    groups = all;
  } else {
    if (str.indexOf('::', dbl + 1) >= 0) return false;
    const tailStr = str.slice(dbl + 2);
    const head = parseGroups(str.slice(0, dbl), false);
    const tail = parseGroups(tailStr, true);
    if (head === null || tail === null || head.length + tail.length > 7) return false;
    groups = head.concat(new Array<number>(8 - head.length - tail.length).fill(0), tail);
  }
  for (let i = 0; i < 8; i++) {
    out[off + 2 * i] = groups[i]! >>> 8;
    out[off + 2 * i + 1] = groups[i]! & 0xff;
  }
  return true;
}

export interface Cidr4 {
  /** The address as written. */
  addr: number;
  /** addr with the host bits cleared. */
  network: number;
  /** Unsigned netmask (0 for /0, 0xffffffff for /32). */
  mask: number;
  prefixLen: number;
}

/** Netmask of a prefix length 0..32 as an unsigned u32. */
export function prefixToMask4(prefixLen: number): number {
  return prefixLen <= 0 ? 0 : prefixLen >= 32 ? 0xffffffff : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/** "a.b.c.d/len" of a network and its contiguous mask (the prefix is the mask's leading ones). */
export function cidr4ToString(network: number, mask: number): string {
  return `${ipv4ToString(network)}/${Math.clz32(~mask >>> 0)}`;
}

/**
 * Parses "a.b.c.d/len" (or a bare address, as /32). Host bits are allowed and cleared in
 * `network`; compare with `addr` to refuse them. Null if invalid.
 */
export function parseCidr4(str: string): Cidr4 | null {
  const slash = str.indexOf('/');
  const addr = parseIpv4(slash < 0 ? str : str.slice(0, slash));
  if (addr < 0) return null;
  let prefixLen = 32;
  if (slash >= 0) {
    const p = str.slice(slash + 1);
    if (!/^(?:0|[1-9][0-9]?)$/.test(p)) return null;
    prefixLen = Number(p);
    if (prefixLen > 32) return null;
  }
  const mask = prefixToMask4(prefixLen);
  return { addr, network: (addr & mask) >>> 0, mask, prefixLen };
}

/** True when the unsigned address is inside network/mask. */
export function cidr4Contains(network: number, mask: number, addr: number): boolean {
  return ((addr & mask) >>> 0) === network;
}

/** "aa:bb:cc:dd:ee:ff" of the 6 bytes at off. */
export function macToString(buf: Uint8Array, off: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push((buf[off + i] ?? 0).toString(16).padStart(2, '0'));
  return parts.join(':');
}
