/**
 * Link layers: Ethernet II with stacked 802.1Q/802.1ad tags, Linux cooked capture v1/v2, raw IP,
 * BSD null/loopback. Each reader sets l2Off, etherType and l3Off (and the VLAN/SLL fields) and
 * stops there; readPacket decides what to do with the EtherType.
 */
import { MALFORMED, OK, UNSUPPORTED, fail, type Status } from './status.js';
import type { PacketView } from './view.js';

// pcap LINKTYPE_* values (https://www.tcpdump.org/linktypes.html).
export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
/** DLT_RAW as some BSD-era files store it instead of LINKTYPE_RAW (12 on most, 14 on OpenBSD). */
export const DLT_RAW_12 = 12;
export const DLT_RAW_14 = 14;
export const LINKTYPE_RAW = 101;
/** OpenBSD loopback: like NULL but the family is always big-endian. */
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_QINQ = 0x88a8;
/** Pre-standard QinQ outer TPID still seen on some switches. */
export const ETHERTYPE_QINQ_9100 = 0x9100;
/** Type/length values below this are 802.3 lengths (LLC follows), not EtherTypes. */
export const ETHERTYPE_MIN = 0x0600;

export const ETH_HDR_LEN = 14;
export const ETH_OFF_DST = 0;
export const ETH_OFF_SRC = 6;
export const ETH_OFF_TYPE = 12;
/** An 802.1Q tag after the TPID: TCI (2) + inner EtherType (2). */
export const VLAN_TAG_LEN = 4;
export const VLAN_ID_MASK = 0x0fff;

export const SLL_HDR_LEN = 16;
export const SLL_OFF_PKT_TYPE = 0;
export const SLL_OFF_ARPHRD = 2;
export const SLL_OFF_ADDR_LEN = 4;
export const SLL_OFF_ADDR = 6;
export const SLL_OFF_PROTOCOL = 14;

export const SLL2_HDR_LEN = 20;
export const SLL2_OFF_PROTOCOL = 0;
export const SLL2_OFF_RESERVED = 2;
export const SLL2_OFF_IFINDEX = 4;
export const SLL2_OFF_ARPHRD = 8;
export const SLL2_OFF_PKT_TYPE = 10;
export const SLL2_OFF_ADDR_LEN = 11;
export const SLL2_OFF_ADDR = 12;
export const SLL_ADDR_MAX = 8;

export const NULL_HDR_LEN = 4;
export const AF_INET = 2;
/** AF_INET6 differs per OS: Linux 10, NetBSD/OpenBSD/BSDI 24, FreeBSD 28, macOS 30. */
export const AF_INET6_LINUX = 10;
export const AF_INET6_BSD = 24;
export const AF_INET6_FREEBSD = 28;
export const AF_INET6_DARWIN = 30;

export const ARPHRD_ETHER = 1;

export const R_ETH_TRUNCATED = 'ethernet header truncated';
export const R_VLAN_TRUNCATED = 'vlan tag truncated';
export const R_LLC_FRAME = '802.3 length field (llc frame)';
export const R_SLL_TRUNCATED = 'linux cooked header truncated';
export const R_SLL2_TRUNCATED = 'linux cooked v2 header truncated';
export const R_NULL_TRUNCATED = 'loopback header truncated';
export const R_NULL_FAMILY = 'loopback family not ip';
export const R_RAW_EMPTY = 'raw ip packet empty';
export const R_RAW_VERSION = 'raw ip version not 4 or 6';
export const R_LINKTYPE = 'unsupported link type';

/**
 * Walks 802.1Q/802.1ad tags after an EtherType field and records the final EtherType.
 * `type` is the EtherType already read; `next` the offset right after it (where a tag's TCI is);
 * `typeOff` where it was read (error location). Each tag is TCI(2, BE: PCP 3 | DEI 1 | VID 12) +
 * EtherType(2, BE). Every tag consumes 4 bytes, so the walk ends within the frame. The tag
 * count and first VLAN id start afresh here, so a view reused frame after frame without
 * resetPacketView (the live path's link-only read) never carries a previous frame's tags.
 */
function readEtherTypeChain(buf: Uint8Array, type: number, typeOff: number, next: number, end: number, out: PacketView): Status {
  out.vlanCount = 0;
  out.vlanId = -1;
  while (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ || type === ETHERTYPE_QINQ_9100) {
    if (next + VLAN_TAG_LEN > end) return fail(out, MALFORMED, typeOff, R_VLAN_TRUNCATED);
    if (out.vlanCount === 0) out.vlanId = ((buf[next]! << 8) | buf[next + 1]!) & VLAN_ID_MASK;
    out.vlanCount++;
    typeOff = next + 2;
    type = (buf[typeOff]! << 8) | buf[typeOff + 1]!;
    next += VLAN_TAG_LEN;
  }
  if (type < ETHERTYPE_MIN) return fail(out, UNSUPPORTED, typeOff, R_LLC_FRAME);
  out.etherType = type;
  out.l3Off = next;
  return OK;
}

/*
 * Ethernet II (big-endian):
 *   0..5   destination MAC
 *   6..11  source MAC
 *   12..13 EtherType, or TPID 0x8100/0x88a8/0x9100 followed by TCI(2) + EtherType(2), repeated
 * No FCS is expected (captures strip it); bytes after the IP packet are treated as padding.
 */
export function readEthernet(buf: Uint8Array, off: number, len: number, out: PacketView): Status {
  if (len < ETH_HDR_LEN) return fail(out, MALFORMED, off, R_ETH_TRUNCATED);
  out.l2Off = off;
  const typeOff = off + ETH_OFF_TYPE;
  const type = (buf[typeOff]! << 8) | buf[typeOff + 1]!;
  return readEtherTypeChain(buf, type, typeOff, off + ETH_HDR_LEN, off + len, out);
}

/*
 * Linux cooked capture v1, LINKTYPE_LINUX_SLL (113), 16 bytes, big-endian:
 *   0..1   packet type (0 host, 1 broadcast, 2 multicast, 3 other host, 4 outgoing)
 *   2..3   ARPHRD_ type
 *   4..5   link-layer address length
 *   6..13  link-layer address (first 8 bytes, zero padded)
 *   14..15 protocol (EtherType for ARPHRD_ETHER and most others)
 */
export function readSll(buf: Uint8Array, off: number, len: number, out: PacketView): Status {
  if (len < SLL_HDR_LEN) return fail(out, MALFORMED, off, R_SLL_TRUNCATED);
  out.l2Off = off;
  out.linkPktType = (buf[off + SLL_OFF_PKT_TYPE]! << 8) | buf[off + SLL_OFF_PKT_TYPE + 1]!;
  const typeOff = off + SLL_OFF_PROTOCOL;
  const type = (buf[typeOff]! << 8) | buf[typeOff + 1]!;
  return readEtherTypeChain(buf, type, typeOff, off + SLL_HDR_LEN, off + len, out);
}

/*
 * Linux cooked capture v2, LINKTYPE_LINUX_SLL2 (276), 20 bytes, big-endian:
 *   0..1   protocol (EtherType)
 *   2..3   reserved (must be zero; not checked)
 *   4..7   interface index
 *   8..9   ARPHRD_ type
 *   10     packet type
 *   11     link-layer address length
 *   12..19 link-layer address (first 8 bytes, zero padded)
 */
export function readSll2(buf: Uint8Array, off: number, len: number, out: PacketView): Status {
  if (len < SLL2_HDR_LEN) return fail(out, MALFORMED, off, R_SLL2_TRUNCATED);
  out.l2Off = off;
  out.ifIndex =
    ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0;
  out.linkPktType = buf[off + SLL2_OFF_PKT_TYPE]!;
  const type = (buf[off]! << 8) | buf[off + 1]!;
  return readEtherTypeChain(buf, type, off + SLL2_OFF_PROTOCOL, off + SLL2_HDR_LEN, off + len, out);
}

/*
 * BSD loopback, LINKTYPE_NULL (0): a 4-byte address family in the *capturing host's* byte order,
 * then the IP packet. LINKTYPE_LOOP (108): the same, always big-endian. Families are small, so
 * for NULL two leading zero bytes mean big-endian.
 */
export function readNull(buf: Uint8Array, off: number, len: number, bigEndian: boolean, out: PacketView): Status {
  if (len < NULL_HDR_LEN) return fail(out, MALFORMED, off, R_NULL_TRUNCATED);
  out.l2Off = off;
  const be = bigEndian || (buf[off] === 0 && buf[off + 1] === 0);
  const family = be ? (buf[off + 2]! << 8) | buf[off + 3]! : buf[off]! | (buf[off + 1]! << 8);
  if (family === AF_INET) out.etherType = ETHERTYPE_IPV4;
  else if (
    family === AF_INET6_LINUX ||
    family === AF_INET6_BSD ||
    family === AF_INET6_FREEBSD ||
    family === AF_INET6_DARWIN
  ) {
    out.etherType = ETHERTYPE_IPV6;
  } else return fail(out, UNSUPPORTED, off, R_NULL_FAMILY);
  out.l3Off = off + NULL_HDR_LEN;
  return OK;
}

/** Raw IP (LINKTYPE_RAW, DLT 12/14): the version nibble of the first byte picks IPv4 or IPv6. */
export function readRawIp(buf: Uint8Array, off: number, len: number, out: PacketView): Status {
  if (len < 1) return fail(out, MALFORMED, off, R_RAW_EMPTY);
  out.l2Off = off;
  const version = buf[off]! >> 4;
  if (version === 4) out.etherType = ETHERTYPE_IPV4;
  else if (version === 6) out.etherType = ETHERTYPE_IPV6;
  else return fail(out, MALFORMED, off, R_RAW_VERSION);
  out.l3Off = off;
  return OK;
}

/** Dispatches on the capture's link type; on OK, view.etherType and view.l3Off are set. */
export function readLink(buf: Uint8Array, off: number, len: number, linkType: number, out: PacketView): Status {
  switch (linkType) {
    case LINKTYPE_ETHERNET:
      return readEthernet(buf, off, len, out);
    case LINKTYPE_LINUX_SLL:
      return readSll(buf, off, len, out);
    case LINKTYPE_LINUX_SLL2:
      return readSll2(buf, off, len, out);
    case LINKTYPE_RAW:
    case DLT_RAW_12:
    case DLT_RAW_14:
      return readRawIp(buf, off, len, out);
    case LINKTYPE_IPV4:
      out.l2Off = off;
      out.etherType = ETHERTYPE_IPV4;
      out.l3Off = off;
      return OK;
    case LINKTYPE_IPV6:
      out.l2Off = off;
      out.etherType = ETHERTYPE_IPV6;
      out.l3Off = off;
      return OK;
    case LINKTYPE_NULL:
      return readNull(buf, off, len, false, out);
    case LINKTYPE_LOOP:
      return readNull(buf, off, len, true, out);
    default:
      return fail(out, UNSUPPORTED, off, R_LINKTYPE);
  }
}

/** Writes an Ethernet II header; returns 14. */
export function writeEthernet(buf: Uint8Array, off: number, dstMac: Uint8Array, srcMac: Uint8Array, etherType: number): number {
  for (let i = 0; i < 6; i++) {
    buf[off + ETH_OFF_DST + i] = dstMac[i] ?? 0;
    buf[off + ETH_OFF_SRC + i] = srcMac[i] ?? 0;
  }
  buf[off + ETH_OFF_TYPE] = etherType >>> 8;
  buf[off + ETH_OFF_TYPE + 1] = etherType;
  return ETH_HDR_LEN;
}

/**
 * Writes one VLAN tag body (TCI + inner EtherType) after a TPID already written as the
 * preceding EtherType; returns 4. `tci` = PCP << 13 | DEI << 12 | VID.
 */
export function writeVlanTag(buf: Uint8Array, off: number, tci: number, innerEtherType: number): number {
  buf[off] = tci >>> 8;
  buf[off + 1] = tci;
  buf[off + 2] = innerEtherType >>> 8;
  buf[off + 3] = innerEtherType;
  return VLAN_TAG_LEN;
}

function writeSllAddr(buf: Uint8Array, at: number, addr: Uint8Array): void {
  for (let i = 0; i < SLL_ADDR_MAX; i++) buf[at + i] = i < addr.length ? addr[i]! : 0;
}

/** Writes a Linux cooked v1 header (16 bytes); the address is truncated/zero-padded to 8 bytes. */
export function writeSll(
  buf: Uint8Array,
  off: number,
  pktType: number,
  arphrd: number,
  addr: Uint8Array,
  protocol: number,
): number {
  buf[off] = pktType >>> 8;
  buf[off + 1] = pktType;
  buf[off + 2] = arphrd >>> 8;
  buf[off + 3] = arphrd;
  buf[off + 4] = addr.length >>> 8;
  buf[off + 5] = addr.length;
  writeSllAddr(buf, off + SLL_OFF_ADDR, addr);
  buf[off + SLL_OFF_PROTOCOL] = protocol >>> 8;
  buf[off + SLL_OFF_PROTOCOL + 1] = protocol;
  return SLL_HDR_LEN;
}

/** Writes a Linux cooked v2 header (20 bytes). */
export function writeSll2(
  buf: Uint8Array,
  off: number,
  protocol: number,
  ifIndex: number,
  arphrd: number,
  pktType: number,
  addr: Uint8Array,
): number {
  buf[off] = protocol >>> 8;
  buf[off + 1] = protocol;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  buf[off + 4] = ifIndex >>> 24;
  buf[off + 5] = ifIndex >>> 16;
  buf[off + 6] = ifIndex >>> 8;
  buf[off + 7] = ifIndex;
  buf[off + 8] = arphrd >>> 8;
  buf[off + 9] = arphrd;
  buf[off + SLL2_OFF_PKT_TYPE] = pktType;
  buf[off + SLL2_OFF_ADDR_LEN] = addr.length;
  writeSllAddr(buf, off + SLL2_OFF_ADDR, addr);
  return SLL2_HDR_LEN;
}
