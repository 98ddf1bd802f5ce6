/**
 * New-mail notifications (EMSMDB push-notification callbacks): the mapped leg's registration
 * callbacks — the client's callback address rewritten to a relay port on the gateway, or the
 * rule's pinhole opened for an encrypted registration — and the server's UDP datagrams relayed
 * back to the client through them. It is the mapped leg's host: each callback is handed the
 * leg's connection (flow id).
 */
import type { PacketView } from '../wire/packet.js';
import { setDstPort, setIpv4Dst, setIpv4Src } from '../wire/rewrite.js';
import type { FlowTable } from '../nat/flow-table.js';
import type { NotifyRelay } from '../nat/notify-relay.js';
import type { Conns } from './conn.js';
import type { Manners } from './manners.js';
import type { MappedLegHost } from './mapped-leg.js';
import type { Output } from './output.js';
import type { RuleSlots } from './rule-slots.js';
import { NOTIFY_DROPPED, NOTIFY_NOT_REWRITTEN, NOTIFY_PINHOLE, NOTIFY_REWRITTEN, SIDE_EXTERNAL, SIDE_INTERNAL } from './events.js';
import { fillConnection } from './records.js';
import { DROP_NO_NOTIFICATION, DROP_NO_PINHOLE, DROP_UNSUPPORTED_PROTOCOL } from './reasons.js';

export class Notifications implements MappedLegHost {
  constructor(
    private readonly out: Output,
    private readonly flows: FlowTable,
    private readonly conns: Conns,
    private readonly slots: RuleSlots,
    private readonly relay: NotifyRelay,
    private readonly manners: Manners,
    private readonly gwIp: number,
  ) {}

  /** Rewrites bytes of the direction of `flow` being read (the callback address). */
  patchStream(flow: number, seq: number, bytes: Uint8Array, off: number, n: number): void {
    this.conns.patch(flow, seq, bytes, off, n);
  }

  /**
   * A relay port on the gateway's internal address for connection `flow`'s client callback port,
   * or -1. For an outbound connection the port is on the external address, the client is the
   * internal peer and the datagrams reach it from the server's own address (as the NAT shows it).
   */
  registerNotification(flow: number, clientPort: number): number {
    const fl = this.flows;
    const g = this.slots.rules.gateway;
    const out = fl.outbound(flow);
    const client = fl.rpcClientIp(flow);
    const server = fl.rpcServerIp(flow);
    const port = this.relay.register(flow, client, clientPort, server, out ? server : fl.extIp(flow), g.notifyRelayLo, g.notifyRelayHi);
    // A failure is reported by the leg (registrationNotRewritten), once.
    if (port >= 0) {
      const e = fillConnection(this.out.event, fl, this.slots, flow);
      e.code = NOTIFY_REWRITTEN;
      e.clientPort = clientPort;
      e.origIp = out ? g.externalIp : this.gwIp;
      e.origPort = port;
      this.out.events.notified(e, this.out.nowMs);
    }
    return port;
  }

  /** An encrypted registration on `flow`: the rule's notification pinhole opens (or the drop is logged). */
  encryptedRegistration(flow: number, pinhole: boolean): void {
    const fl = this.flows;
    const rule = this.slots.rule(fl.ruleIdx(flow))!;
    if (pinhole) this.relay.openPinhole(flow, fl.clientIp(flow), fl.serverIp(flow), fl.extIp(flow), rule.notifyPortLo, rule.notifyPortHi);
    const e = fillConnection(this.out.event, fl, this.slots, flow);
    e.code = pinhole ? NOTIFY_PINHOLE : NOTIFY_DROPPED;
    e.portLo = rule.notifyPortLo;
    e.portHi = rule.notifyPortHi;
    this.out.events.notified(e, this.out.nowMs);
  }

  /** A registration on `flow` left as it was, and why. */
  registrationNotRewritten(flow: number, why: string): void {
    const e = fillConnection(this.out.event, this.flows, this.slots, flow);
    e.code = NOTIFY_NOT_REWRITTEN;
    e.detail = why;
    this.out.events.notified(e, this.out.nowMs);
  }

  /** A UDP datagram: a server's new-mail notification, or nothing for us. */
  datagram(side: number, buf: Uint8Array, off: number, len: number, v: PacketView): void {
    if (side === SIDE_EXTERNAL) return this.outboundDatagram(buf, off, len, v);
    const out = this.out;
    const relay = this.relay;
    if (v.dst4 === this.gwIp) {
      const id = relay.lookup(v.dstPort);
      if (id < 0) return out.drop(DROP_NO_NOTIFICATION, SIDE_INTERNAL, v);
      if (relay.serverIp(id) !== v.src4) return out.drop(DROP_NO_PINHOLE, SIDE_INTERNAL, v); // only that server
      if (!this.manners.forwardable(SIDE_INTERNAL, buf, off, len, v, this.gwIp | 0)) return;
      setIpv4Src(buf, v, relay.extIp(id));
      setIpv4Dst(buf, v, relay.clientIp(id));
      setDstPort(buf, v, relay.clientPort(id));
      out.counters.notificationsRelayed++;
      return out.send(SIDE_EXTERNAL, buf, off, len);
    }
    const ph = relay.pinhole(v.dst4, v.src4);
    if (ph === undefined || v.dstPort < ph.lo || v.dstPort > ph.hi) return out.drop(DROP_NO_NOTIFICATION, SIDE_INTERNAL, v);
    if (!this.manners.forwardable(SIDE_INTERNAL, buf, off, len, v, this.gwIp | 0)) return;
    setIpv4Src(buf, v, ph.extIp);
    out.counters.notificationsRelayed++;
    return out.send(SIDE_EXTERNAL, buf, off, len);
  }

  /**
   * A UDP datagram from the external side: only an outbound connection's server writing to the
   * relay port its client's registration was rewritten to, while that connection lives; relayed
   * to the client's real callback. Anything else is not ours (unsupported-protocol, as before).
   */
  private outboundDatagram(buf: Uint8Array, off: number, len: number, v: PacketView): void {
    const out = this.out;
    const relay = this.relay;
    const id = v.dst4 === this.slots.rules.gateway.externalIp ? relay.lookup(v.dstPort) : -1;
    if (id < 0 || !this.flows.outbound(relay.flow(id))) return out.drop(DROP_UNSUPPORTED_PROTOCOL, SIDE_EXTERNAL, v);
    if (relay.serverIp(id) !== v.src4) return out.drop(DROP_NO_PINHOLE, SIDE_EXTERNAL, v); // only that server
    if (!this.manners.forwardable(SIDE_EXTERNAL, buf, off, len, v, v.dst4 | 0)) return;
    setIpv4Dst(buf, v, relay.clientIp(id));
    setDstPort(buf, v, relay.clientPort(id));
    out.counters.notificationsRelayed++;
    return out.send(SIDE_INTERNAL, buf, off, len);
  }
}
