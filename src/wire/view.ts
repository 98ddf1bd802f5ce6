/**
 * The reusable output of readPacket: offsets and fields of one decoded frame.
 *
 * The view holds offsets into the caller's buffer, never a copy: it is valid only as long as the
 * frame bytes are (cap reuses one buffer for every packet). Every field is a number initialised
 * here so V8 keeps one hidden class; absent offsets are -1.
 *
 * A leaf module (it imports only status.ts), so every header decoder can fill the view without
 * importing packet.ts, which imports them all.
 */
import { DecodeResult } from './status.js';

export const R_BUFFER_RANGE = 'offset/length outside the buffer';
export const R_NOT_IP = 'not an ip packet';

export class PacketView extends DecodeResult {
  /**
   * Input option, set once by the view's owner and kept by resetPacketView: 1 accepts an IPv4
   * total length / IPv6 payload length of 0 as "the rest of the capture" (frames captured before
   * segmentation offload, as Windows LSO and Linux TSO captures show; tshark does the same).
   * Replay of such captures only: the live path runs with offloads off.
   */
  acceptTsoZeroLen = 0;
  // --- link ---
  /** LINKTYPE_* the frame was decoded as. */
  linkType = 0;
  /** Absolute offset of the frame (link header start). */
  l2Off = 0;
  /** SLL/SLL2 packet type (0 host, 1 broadcast, 2 multicast, 3 other host, 4 outgoing); -1 otherwise. */
  linkPktType = -1;
  /** SLL2 interface index; -1 otherwise. */
  ifIndex = -1;
  /** Number of 802.1Q/802.1ad tags walked. */
  vlanCount = 0;
  /** VLAN id (12 bits) of the outermost tag, -1 when untagged. */
  vlanId = -1;
  /** EtherType after the VLAN tags (set to 0x0800/0x86dd for raw-IP and loopback link types). */
  etherType = 0;
  // --- network ---
  /** Absolute offset of the IP header, -1 before it is known. */
  l3Off = -1;
  /** 4 or 6; 0 when the frame is not IP. */
  ipVersion = 0;
  /** IPv4: IHL*4. IPv6: 40 + every extension header walked (so l4Off = l3Off + ipHdrLen). */
  ipHdrLen = 0;
  /** Whole IP packet length as the header declares it (v6: 40 + payload length); trailer padding excluded. */
  ipTotalLen = 0;
  /** IPv4 protocol, or the last IPv6 next-header reached (6, 17, 58, 50 ESP, 59 none...). */
  ipProto = 0;
  /** IPv4 TTL / IPv6 hop limit. */
  ttl = 0;
  /** IPv4 identification; IPv6 fragment header identification (u32), 0 without one. */
  ipId = 0;
  /** 1 when ipTotalLen was taken from the capture because the header said 0 (see acceptTsoZeroLen). */
  ipLenFromCapture = 0;
  /** 1 when this packet is part of a fragmented datagram (MF set or offset != 0), else 0. */
  isFragment = 0;
  /** Fragment offset in bytes (0 for the first fragment and unfragmented packets). */
  fragOffset = 0;
  /** 1 when more fragments follow (MF / M flag). */
  moreFrags = 0;
  /** IPv4 source/destination as unsigned u32 (0 for IPv6). */
  src4 = 0;
  dst4 = 0;
  /** Absolute offsets of the 16-byte IPv6 source/destination addresses, -1 for IPv4. */
  src6Off = -1;
  dst6Off = -1;
  // --- transport ---
  /** Absolute offset of the L4 header; -1 for non-first fragments and non-IP. */
  l4Off = -1;
  /** L4 header + payload bytes, bounded by the IP length (UDP: by the UDP length). */
  l4Len = 0;
  srcPort = 0;
  dstPort = 0;
  /** TCP sequence / acknowledgment numbers, unsigned u32. */
  tcpSeq = 0;
  tcpAck = 0;
  /** TCP flag byte (TCP_FIN..TCP_CWR). */
  tcpFlags = 0;
  /** TCP data offset * 4. */
  tcpHdrLen = 0;
  /** Raw (unscaled) TCP window. */
  tcpWindow = 0;
  /** MSS option value, -1 when absent. */
  tcpMss = -1;
  /** Window-scale option shift count as sent (not clamped to 14), -1 when absent. */
  tcpWscale = -1;
  /** 1 when the SACK-permitted option is present. */
  tcpSackOk = 0;
  /** Absolute offset and length of the L4 payload (the IP payload for non-TCP/UDP and fragments); -1/0 if none. */
  payloadOff = -1;
  payloadLen = 0;
}

/** Puts every output field back to its initial value (readPacket does this first); options are kept. */
export function resetPacketView(v: PacketView): void {
  v.errOffset = 0;
  v.errReason = '';
  v.needed = 0;
  v.linkType = 0;
  v.l2Off = 0;
  v.linkPktType = -1;
  v.ifIndex = -1;
  v.vlanCount = 0;
  v.vlanId = -1;
  v.etherType = 0;
  v.l3Off = -1;
  v.ipVersion = 0;
  v.ipHdrLen = 0;
  v.ipTotalLen = 0;
  v.ipLenFromCapture = 0;
  v.ipProto = 0;
  v.ttl = 0;
  v.ipId = 0;
  v.isFragment = 0;
  v.fragOffset = 0;
  v.moreFrags = 0;
  v.src4 = 0;
  v.dst4 = 0;
  v.src6Off = -1;
  v.dst6Off = -1;
  v.l4Off = -1;
  v.l4Len = 0;
  v.srcPort = 0;
  v.dstPort = 0;
  v.tcpSeq = 0;
  v.tcpAck = 0;
  v.tcpFlags = 0;
  v.tcpHdrLen = 0;
  v.tcpWindow = 0;
  v.tcpMss = -1;
  v.tcpWscale = -1;
  v.tcpSackOk = 0;
  v.payloadOff = -1;
  v.payloadLen = 0;
}
