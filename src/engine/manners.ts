/**
 * A router's manners on the packets the gateway forwards: the TTL and DF checks of Linux's
 * ip_forward (answered with ICMP time exceeded / fragmentation needed, rate-limited), and ICMP
 * errors about a carried connection translated both ways (RFC 5508), so Path MTU discovery and
 * traceroute work through the gateway. Egress fitting to the MTU is the output's (output.ts).
 */
import { IPPROTO_TCP } from '../wire/packet.js';
import type { PacketView } from '../wire/packet.js';
import { decrementTtl, setIpv4Dst, setIpv4Src } from '../wire/rewrite.js';
import { IPV4_FLAG_DF, IPV4_OFF_FRAG, IPV4_OFF_SRC } from '../wire/ipv4.js';
import { l4ChecksumOk } from '../wire/checksum.js';
import { TCP_OFF_SEQ } from '../wire/tcp.js';
import {
  finishIcmpChecksum, ICMP_CODE_FRAG_NEEDED, ICMP_CODE_TTL_EXCEEDED, ICMP_DEST_UNREACH, ICMP_ERROR_MAX, ICMP_OFF_MTU, ICMP_TIME_EXCEEDED,
  IcmpQuoteView, readIcmpError, rewriteIcmpQuote, rewriteIcmpQuoteSeq, writeIcmpError,
} from '../wire/icmp.js';
import { OK } from '../wire/status.js';
import { serverSideAck } from '../stream/seqadj.js';
import type { FlowTable } from '../nat/flow-table.js';
import type { Conns } from './conn.js';
import type { Output } from './output.js';
import { SIDE_INTERNAL } from './events.js';
import { DROP_BAD_CHECKSUM, DROP_ICMP_NO_FLOW, DROP_ICMP_NOT_TRANSLATED, DROP_TOO_BIG, DROP_TTL_EXCEEDED } from './reasons.js';

/** DF in the IPv4 header's flags byte (flags | fragment offset high bits). */
const IP_FLAG_DF_BYTE = IPV4_FLAG_DF >>> 8;

export class Manners {
  private readonly quote = new IcmpQuoteView();
  private readonly icmpBuf = new Uint8Array(ICMP_ERROR_MAX);
  private icmpId = 0;
  /** Token bucket for generated ICMP errors: at most `icmpRate` a second, bursts of as many. */
  private icmpTokens: number;
  private icmpRefillMs = -1;

  constructor(
    private readonly out: Output,
    private readonly flows: FlowTable,
    private readonly conns: Conns,
    private readonly gwIp: number,
    private readonly icmpRate: number,
  ) {
    this.icmpTokens = icmpRate;
  }

  /**
   * A router's checks on a packet about to be forwarded from `side`, in Linux's ip_forward order
   * and before any rewrite, so that an error quotes the packet as it was received: the TTL, then
   * DF against the egress MTU; then the TTL is decremented. A packet longer than the MTU it came
   * in by is not a datagram anyone sent but an offload merge (GRO, a neighbour's TSO): send()
   * re-segments it. False when the packet was dropped (and answered from `local`, the gateway's
   * address on the arrival side, as int32 or u32: callers pass int32, since a u32 above 2^31
   * handed to a call is a heap number, one a packet).
   */
  forwardable(side: number, buf: Uint8Array, off: number, len: number, v: PacketView, local: number): boolean {
    if (v.ttl <= 1) {
      this.out.drop(DROP_TTL_EXCEEDED, side, v);
      this.sendIcmpError(side, local >>> 0, ICMP_TIME_EXCEEDED, ICMP_CODE_TTL_EXCEEDED, 0, buf, off, len);
      return false;
    }
    const egressMtu = this.out.mtuOf(side ^ 1);
    if (len > egressMtu && len <= this.out.mtuOf(side) && (buf[off + IPV4_OFF_FRAG]! & IP_FLAG_DF_BYTE) !== 0) {
      this.out.drop(DROP_TOO_BIG, side, v);
      this.sendIcmpError(side, local >>> 0, ICMP_DEST_UNREACH, ICMP_CODE_FRAG_NEEDED, egressMtu, buf, off, len);
      return false;
    }
    decrementTtl(buf, v);
    return true;
  }

  /** An ICMP error from `src` to the sender of `orig`, back out on `side`, within the rate limit. */
  private sendIcmpError(side: number, src: number, type: number, code: number, mtu: number, orig: Uint8Array, off: number, len: number): void {
    const dst = readU32(orig, off + IPV4_OFF_SRC);
    // Not to "this network", multicast or broadcast sources (RFC 1812 4.3.2.7).
    if (dst === 0 || dst >>> 28 === 0xe || dst === 0xffffffff) return;
    if (!this.icmpToken()) {
      this.out.counters.icmpRateLimited++;
      return;
    }
    this.icmpId = (this.icmpId + 1) & 0xffff;
    const n = writeIcmpError(this.icmpBuf, 0, src, dst, type, code, mtu, this.icmpId, orig, off, len);
    this.out.counters.icmpErrorsSent++;
    this.out.send(side, this.icmpBuf, 0, n);
  }

  /** Token bucket on the packets' clock: `icmpRate` tokens a second, at most `icmpRate` saved. */
  private icmpToken(): boolean {
    const nowMs = this.out.nowMs;
    const elapsed = this.icmpRefillMs < 0 ? 0 : nowMs - this.icmpRefillMs;
    if (elapsed > 0) this.icmpTokens = Math.min(this.icmpRate, this.icmpTokens + (elapsed * this.icmpRate) / 1000);
    this.icmpRefillMs = nowMs;
    if (this.icmpTokens < 1) return false;
    this.icmpTokens--;
    return true;
  }

  /**
   * An ICMP error about a packet of a carried connection, translated both ways (RFC 5508): from
   * inside it quotes G:gp → S:Q and goes to the client from E, quoting client:cp → E:P; from
   * outside it quotes E:P → client:cp and goes to the server from G, quoting S:Q → G:gp. The
   * next-hop MTU of fragmentation-needed is kept, so Path MTU discovery works end to end.
   */
  icmpFrom(side: number, buf: Uint8Array, off: number, len: number, v: PacketView): void {
    const q = this.quote;
    const out = this.out;
    if (readIcmpError(buf, v.l4Off, v.l4Len, q) !== OK || q.proto !== IPPROTO_TCP) return out.drop(DROP_ICMP_NOT_TRANSLATED, side, v);
    if (!l4ChecksumOk(buf, v)) return out.drop(DROP_BAD_CHECKSUM, side, v);
    const fl = this.flows;
    let flow = -1;
    if (side === SIDE_INTERNAL) {
      if (v.dst4 === this.gwIp) flow = fl.lookupInternal(q.dst4, q.dstPort, q.src4, q.srcPort);
    } else {
      flow = fl.lookupExternal(q.dst4, q.dstPort, q.src4, q.srcPort);
      if (flow >= 0 && fl.extIp(flow) !== v.dst4) flow = -1;
    }
    if (flow < 0) return out.drop(DROP_ICMP_NO_FLOW, side, v);
    // An ICMP error is never answered with one (RFC 1812 4.3.2.7): an expiring one is just dropped.
    if (v.ttl <= 1) return out.drop(DROP_TTL_EXCEEDED, side, v);
    decrementTtl(buf, v);
    if (side === SIDE_INTERNAL) {
      setIpv4Src(buf, v, fl.extIp(flow));
      setIpv4Dst(buf, v, fl.clientIp(flow));
      rewriteIcmpQuote(buf, q, 0, fl.clientIp(flow), fl.clientPort(flow));
      rewriteIcmpQuote(buf, q, 1, fl.extIp(flow), fl.extPort(flow));
    } else {
      setIpv4Src(buf, v, this.gwIp);
      setIpv4Dst(buf, v, fl.serverIp(flow));
      rewriteIcmpQuote(buf, q, 0, fl.serverIp(flow), fl.serverPort(flow));
      rewriteIcmpQuote(buf, q, 1, this.gwIp, fl.gwPort(flow));
      // After a length change (lookup: published) the server numbers its bytes differently.
      const edits = this.conns.edits(flow);
      if (edits !== undefined && edits !== null) rewriteIcmpQuoteSeq(buf, q, serverSideAck(edits, readU32(buf, q.l4Off + TCP_OFF_SEQ)));
    }
    finishIcmpChecksum(buf, v.l4Off, v.l4Len);
    if (q.type === ICMP_DEST_UNREACH && q.code === ICMP_CODE_FRAG_NEEDED) {
      const at = v.l4Off + ICMP_OFF_MTU;
      out.limitPath(flow, side === SIDE_INTERNAL, (buf[at]! << 8) | buf[at + 1]!);
    }
    out.counters.icmpTranslated++;
    out.send(side ^ 1, buf, off, len);
  }
}

function readU32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}
