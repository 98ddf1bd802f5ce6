/**
 * Outbound rules: internal clients reaching external RPC servers through the gateway. The
 * client is on the internal side, the server on the external side; connections leave sourced
 * from the gateway's external address, and only the ports an ept_map answer named are opened,
 * for that client and that server alone.
 */
import { describe, expect, it } from 'vitest';
import {
  EMSMDB, EXT, EngineHarness, GW, SIDE_EXTERNAL, SIDE_INTERNAL, SRVSVC, compileRules, concat, epmBind, epmBindAck, eptMapRequest,
  eptMapResponseStub, ifBind, ifBindAck, parseTcp, responseFragments, rpcRequest, rpcResponse, tcpPacket, tcpTower,
} from '../helpers/engine-harness.js';
import type { Emitted, ParsedTcp } from '../helpers/engine-harness.js';
import { TCP_ACK, TCP_PSH, TCP_RST, TCP_SYN } from '../../src/wire/packet.js';
import { loadRules, RulesError } from '../../src/policy/load.js';
import { sockaddrIn } from '../../src/exchange/push-notification.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CaptureFileWriter } from '../../src/dataplane/capture-file.js';
import { replayCapture } from '../../src/dataplane/replay.js';
import { LINKTYPE_RAW } from '../../src/wire/link.js';
import { parseUdp, registerPushPdu, udpPacket } from '../helpers/policy-harness.js';

/** Internal clients and an external server (gateway: EXT outside, GW inside, as the harness). */
const C1 = '192.0.2.50';
const C2 = '192.0.2.51';
const S = '203.0.113.80';
const OTHER_S = '198.51.100.77';
const NAT_LO = 10000;
const NAT_HI = 32767;

function outboundDoc(rule: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    gateway: { external: { interface: 'gw-ext', address: EXT }, internal: { interface: 'gw-int', address: GW } },
    rules: [{ name: 'out', direction: 'outbound', clients: ['192.0.2.0/24'], servers: ['203.0.113.0/24'], interfaces: ['exchange'], pinholeTimeoutSeconds: 60, ...rule }],
  };
}

/** A TCP connection from an internal client to an external server, through the gateway. */
class OutConn {
  natPort = -1;
  cSent = 0;
  sSent = 0;
  constructor(readonly h: EngineHarness, readonly client: string, readonly cport: number, readonly server: string, readonly port: number,
    readonly cIsn = 0x1000_0000, readonly sIsn = 0x7000_0000) {}

  /** Client SYN from inside: what left; learns the NAT port from it. */
  syn(): Emitted[] {
    const out = this.h.inject(SIDE_INTERNAL, tcpPacket({ src: this.client, dst: this.server, sport: this.cport, dport: this.port, seq: this.cIsn, ack: 0, flags: TCP_SYN }));
    for (const e of out) if (e.side === SIDE_EXTERNAL) this.natPort = parseTcp(e.pkt).sport;
    return out;
  }

  open(): boolean {
    if (this.syn().length !== 1) return false;
    const b = this.h.inject(SIDE_EXTERNAL, tcpPacket({ src: this.server, dst: EXT, sport: this.port, dport: this.natPort, seq: this.sIsn, ack: this.cIsn + 1, flags: TCP_SYN | TCP_ACK }));
    if (b.length !== 1) return false;
    return this.clientSend(new Uint8Array(0), TCP_ACK).length === 1;
  }

  clientSend(data: Uint8Array, flags = TCP_PSH | TCP_ACK): Emitted[] {
    const p = tcpPacket({ src: this.client, dst: this.server, sport: this.cport, dport: this.port, seq: this.cIsn + 1 + this.cSent, ack: this.sIsn + 1 + this.sSent, flags, payload: data });
    this.cSent += data.length;
    return this.h.inject(SIDE_INTERNAL, p);
  }

  serverSend(data: Uint8Array): Emitted[] {
    const p = tcpPacket({ src: this.server, dst: EXT, sport: this.port, dport: this.natPort, seq: this.sIsn + 1 + this.sSent, ack: this.cIsn + 1 + this.cSent, flags: TCP_PSH | TCP_ACK, payload: data });
    this.sSent += data.length;
    return this.h.inject(SIDE_EXTERNAL, p);
  }
}

const parsed = (out: Emitted[], side: number): ParsedTcp[] => out.filter((e) => e.side === side).map((e) => parseTcp(e.pkt));
const payloadOf = (out: Emitted[], side: number): Uint8Array => concat(parsed(out, side).map((p) => p.payload));

/** An EPM session from `client` to S:135 that maps `ifUuid` and gets `towers` back. */
function mapThrough(h: EngineHarness, client: string, cport: number, towers: Uint8Array[], ifUuid = EMSMDB, major = 0, minor = 81): { epm: OutConn; answer: Uint8Array; delivered: Emitted[] } {
  const epm = new OutConn(h, client, cport, S, 135);
  if (!epm.open()) throw new Error('EPM handshake not forwarded');
  epm.clientSend(epmBind(1));
  epm.serverSend(epmBindAck(1));
  epm.clientSend(eptMapRequest({ callId: 2, ifUuid, major, minor }));
  const answer = responseFragments(eptMapResponseStub(towers), 2);
  return { epm, answer, delivered: epm.serverSend(answer) };
}

describe('outbound rules: the rules file', () => {
  it('compiles an outbound rule: internal clients, external servers, the gateway external address as NAT source', () => {
    const r = compileRules(outboundDoc()).rules[0]!;
    expect(r.outbound).toBe(true);
    expect(r.serverNet.length).toBe(1);
    expect(r.pinholeTimeoutMs).toBe(60_000);
  });

  it('refuses inbound-only fields and a missing servers list, located', () => {
    const problems = (doc: unknown): string[] => {
      try {
        loadRules(JSON.stringify(doc), 'rules.json');
      } catch (e) {
        if (e instanceof RulesError) return e.problems.map((p) => `${p.path}: ${p.message}`);
        throw e;
      }
      return [];
    };
    expect(problems(outboundDoc({ server: '192.0.2.10' }))).toEqual([
      expect.stringMatching(/^\/rules\/0\/server: expected no "server" on an outbound rule/),
    ]);
    const noServers = outboundDoc();
    delete (noServers.rules as Record<string, unknown>[])[0]!.servers;
    expect(problems(noServers)).toEqual(['/rules/0/servers: expected a non-empty list of IPv4 CIDRs, found nothing ("servers" is required)']);
    expect(problems(outboundDoc({ servers: ['203.0.113.1/24'] }))).toEqual([
      expect.stringMatching(/^\/rules\/0\/servers\/0: expected a network address with the host bits zero/),
    ]);
  });
});

describe('outbound rules: the engine', () => {
  it('carries an internal client to an external endpoint mapper, sourced from the external address', () => {
    const h = new EngineHarness(outboundDoc());
    const epm = new OutConn(h, C1, 50000, S, 135);
    const out = epm.syn();
    expect(out.map((e) => e.side)).toEqual([SIDE_EXTERNAL]);
    const syn = parsed(out, SIDE_EXTERNAL)[0]!;
    expect([syn.src, syn.dst, syn.dport]).toEqual([EXT, S, 135]);
    expect(syn.sport).toBeGreaterThanOrEqual(NAT_LO);
    expect(syn.sport).toBeLessThanOrEqual(NAT_HI);
    const back = h.inject(SIDE_EXTERNAL, tcpPacket({ src: S, dst: EXT, sport: 135, dport: epm.natPort, seq: 5, ack: 0x1000_0001, flags: TCP_SYN | TCP_ACK }));
    const synAck = parsed(back, SIDE_INTERNAL)[0]!;
    expect([synAck.src, synAck.sport, synAck.dst, synAck.dport]).toEqual([S, 135, C1, 50000]);
    expect(h.engine.listConnections(h.nowMs).length).toBe(1);
  });

  it('drops an internal client going to a server outside the rule, and a server packet without a connection', () => {
    const h = new EngineHarness(outboundDoc());
    expect(new OutConn(h, C1, 50000, OTHER_S, 135).syn()).toEqual([]);
    expect(new OutConn(h, '10.9.9.9', 50000, S, 135).syn()).toEqual([]);
    expect(h.inject(SIDE_EXTERNAL, tcpPacket({ src: S, dst: EXT, sport: 135, dport: 20000, seq: 1, ack: 1, flags: TCP_SYN | TCP_ACK }))).toEqual([]);
    expect(h.dropReasons()).toEqual(['not-for-gateway', 'not-for-gateway', 'port-not-published']);
  });

  it('passes the ept_map answer unchanged and opens exactly (client, server, port): the mapped connection works, nothing else does', () => {
    const h = new EngineHarness(outboundDoc());
    const { answer, delivered } = mapThrough(h, C1, 50000, [tcpTower(EMSMDB, 0, 81, S, 6001)]);
    expect(payloadOf(delivered, SIDE_INTERNAL)).toEqual(answer);
    expect(h.engine.counters.mappingsCreated).toBe(1);

    const mapped = new OutConn(h, C1, 50001, S, 6001, 0x2000_0000, 0x3000_0000);
    expect(mapped.open()).toBe(true);
    const bindOut = mapped.clientSend(ifBind(1));
    const bindSeen = parsed(bindOut, SIDE_EXTERNAL)[0]!;
    expect([bindSeen.src, bindSeen.dst, bindSeen.dport]).toEqual([EXT, S, 6001]);
    expect(payloadOf(mapped.serverSend(ifBindAck(1, 6001)), SIDE_INTERNAL)).toEqual(ifBindAck(1, 6001));
    expect(payloadOf(mapped.clientSend(rpcRequest(2, 40)), SIDE_EXTERNAL)).toEqual(rpcRequest(2, 40));
    expect(payloadOf(mapped.serverSend(rpcResponse(2, 40)), SIDE_INTERNAL)).toEqual(rpcResponse(2, 40));

    // Another high port of the same server, and the same port for another internal client.
    expect(new OutConn(h, C1, 50002, S, 6002).syn()).toEqual([]);
    expect(new OutConn(h, C2, 50003, S, 6001).syn()).toEqual([]);
    expect(h.dropReasons()).toEqual(['no-pinhole', 'no-pinhole']);
    expect(h.refusals()).toEqual([]);
  });

  it('lists outbound pinholes and connections with their direction, the internal client as client', () => {
    const h = new EngineHarness(outboundDoc());
    mapThrough(h, C1, 50000, [tcpTower(EMSMDB, 0, 81, S, 6001)]);
    const mapped = new OutConn(h, C1, 50001, S, 6001);
    expect(mapped.open()).toBe(true);
    expect(h.engine.listMappings(h.nowMs)).toEqual([
      expect.objectContaining({ rule: 'out', direction: 'outbound', client: C1, external: `${S}:6001`, server: `${S}:6001`, connections: 1 }),
    ]);
    const conns = h.engine.listConnections(h.nowMs).map((c) => [c.kind, c.direction, c.client, c.external, c.server]);
    expect(conns).toEqual([
      ['epm', 'outbound', `${C1}:50000`, expect.stringMatching(new RegExp(`^${EXT}:`)), `${S}:135`],
      ['mapped', 'outbound', `${C1}:50001`, `${EXT}:${mapped.natPort}`, `${S}:6001`],
    ]);
  });

  it('a tower naming another host opens nothing; the pinhole closes after pinholeTimeoutSeconds unused', () => {
    const h = new EngineHarness(outboundDoc());
    mapThrough(h, C1, 50000, [tcpTower(EMSMDB, 0, 81, '203.0.113.99', 6001), tcpTower(EMSMDB, 0, 81, S, 6003)]);
    expect(new OutConn(h, C1, 50001, '203.0.113.99', 6001).syn()).toEqual([]);
    expect(h.dropReasons()).toEqual(['no-pinhole']);
    h.tick(h.nowMs + 61_000);
    expect(new OutConn(h, C1, 50002, S, 6003).syn()).toEqual([]);
    expect(h.dropReasons()).toEqual(['no-pinhole', 'no-pinhole']);
  });

  it('refuses an ept_map for an interface outside the list: both ends reset, nothing opened', () => {
    const h = new EngineHarness(outboundDoc());
    const epm = new OutConn(h, C1, 50000, S, 135);
    expect(epm.open()).toBe(true);
    epm.clientSend(epmBind(1));
    epm.serverSend(epmBindAck(1));
    const out = epm.clientSend(eptMapRequest({ callId: 2, ifUuid: SRVSVC, major: 3, minor: 0 }));
    expect(h.refusals().map((r) => r.reason)).toEqual(['interface-not-published']);
    const rsts = out.map((e) => ({ side: e.side, p: parseTcp(e.pkt) })).filter((x) => (x.p.flags & TCP_RST) !== 0);
    expect(rsts.map((x) => [x.side, x.p.src, x.p.dst])).toEqual([[SIDE_EXTERNAL, EXT, S], [SIDE_INTERNAL, S, C1]]);
    expect(h.engine.counters.mappingsCreated).toBe(0);
  });

  it('refuses a bind of an interface outside the list on the mapped connection', () => {
    const h = new EngineHarness(outboundDoc());
    // The server's endpoint mapper lists srvsvc beside EMSMDB: only EMSMDB's port opens.
    mapThrough(h, C1, 50000, [tcpTower(EMSMDB, 0, 81, S, 6001), tcpTower(SRVSVC, 3, 0, S, 6005)]);
    expect(new OutConn(h, C1, 50010, S, 6005).syn()).toEqual([]);
    const mapped = new OutConn(h, C1, 50001, S, 6001, 0x2000_0000, 0x3000_0000);
    expect(mapped.open()).toBe(true);
    mapped.clientSend(ifBind(1, SRVSVC, 3, 0));
    expect(h.refusals().map((r) => r.reason)).toEqual(['bind-interface-not-allowed']);
  });
});

describe('outbound rules: new-mail notifications', () => {
  const CB_PORT = 55555;
  const CONTEXT = Uint8Array.of(0x4f, 0x75, 0x74, 0x6c, 0x6f, 0x6f, 0x6b, 0x21);
  /** Where the SOCKADDR's port and address sit in the registration PDU (24-byte header + stub 50 / 52). */
  const PORT_AT = 24 + 50;

  /** An internal client's store connection to S:6001 that registers its callback C1:CB_PORT. */
  function registered(h: EngineHarness): { store: OutConn; relay: number; toServer: Uint8Array } {
    mapThrough(h, C1, 50000, [tcpTower(EMSMDB, 0, 81, S, 6001)]);
    const store = new OutConn(h, C1, 50001, S, 6001, 0x2000_0000, 0x3000_0000);
    expect(store.open()).toBe(true);
    store.clientSend(ifBind(1));
    store.serverSend(ifBindAck(1, 6001));
    const reg = registerPushPdu({ context: CONTEXT, callback: sockaddrIn(CB_PORT, parseIpv4Num(C1)) });
    const toServer = payloadOf(store.clientSend(reg), SIDE_EXTERNAL);
    const relay = (toServer[PORT_AT]! << 8) | toServer[PORT_AT + 1]!;
    return { store, relay, toServer };
  }
  const parseIpv4Num = (a: string): number => a.split('.').reduce((n, x) => n * 256 + Number(x), 0);

  it('rewrites the internal client\'s callback to the external address and a relay port; the server\'s datagram reaches the client\'s real callback', () => {
    const h = new EngineHarness(outboundDoc({ notifications: true }));
    const { relay, toServer } = registered(h);
    expect(relay).toBeGreaterThan(0);
    expect([...toServer.subarray(PORT_AT + 2, PORT_AT + 6)].join('.')).toBe(EXT);
    const out = h.inject(SIDE_EXTERNAL, udpPacket({ src: S, dst: EXT, sport: 34567, dport: relay, payload: CONTEXT }));
    expect(out.map((e) => e.side)).toEqual([SIDE_INTERNAL]);
    const u = parseUdp(out[0]!.pkt);
    expect([u.src, u.dst, u.dport]).toEqual([S, C1, CB_PORT]);
    expect(u.payload).toEqual(CONTEXT);
  });

  it('drops a datagram to the relay port from another external host, and from the server once the session is gone', () => {
    const h = new EngineHarness(outboundDoc({ notifications: true }));
    const { relay, store } = registered(h);
    expect(h.inject(SIDE_EXTERNAL, udpPacket({ src: '203.0.113.99', dst: EXT, sport: 34567, dport: relay, payload: CONTEXT }))).toEqual([]);
    expect(h.dropReasons()).toEqual(['no-pinhole']);
    h.inject(SIDE_INTERNAL, tcpPacket({ src: C1, dst: S, sport: 50001, dport: 6001, seq: 0x2000_0001 + store.cSent, ack: 0, flags: TCP_RST }));
    h.tick(h.nowMs + 11_000);
    expect(h.inject(SIDE_EXTERNAL, udpPacket({ src: S, dst: EXT, sport: 34567, dport: relay, payload: CONTEXT }))).toEqual([]);
    expect(h.dropReasons()).toEqual(['no-pinhole', 'unsupported-protocol']);
  });
});

describe('outbound rules: replay of a direct capture whose client is inside', () => {
  it('plays the client on the internal side and the server on the external one: the session maps, binds, and a stray port is dropped', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'rpcgw-outbound-'));
    try {
      // The capture as taken between C1 and S with no gateway: plain TCP both ways.
      const pkts: Uint8Array[] = [];
      const conn = (cport: number, port: number, cIsn: number, sIsn: number) => {
        let c = 0;
        let sv = 0;
        pkts.push(tcpPacket({ src: C1, dst: S, sport: cport, dport: port, seq: cIsn, ack: 0, flags: TCP_SYN }));
        pkts.push(tcpPacket({ src: S, dst: C1, sport: port, dport: cport, seq: sIsn, ack: cIsn + 1, flags: TCP_SYN | TCP_ACK }));
        pkts.push(tcpPacket({ src: C1, dst: S, sport: cport, dport: port, seq: cIsn + 1, ack: sIsn + 1, flags: TCP_ACK }));
        return {
          client: (d: Uint8Array) => { pkts.push(tcpPacket({ src: C1, dst: S, sport: cport, dport: port, seq: cIsn + 1 + c, ack: sIsn + 1 + sv, flags: TCP_PSH | TCP_ACK, payload: d })); c += d.length; },
          server: (d: Uint8Array) => { pkts.push(tcpPacket({ src: S, dst: C1, sport: port, dport: cport, seq: sIsn + 1 + sv, ack: cIsn + 1 + c, flags: TCP_PSH | TCP_ACK, payload: d })); sv += d.length; },
        };
      };
      const epm = conn(50000, 135, 0x1000_0000, 0x7000_0000);
      epm.client(epmBind(1));
      epm.server(epmBindAck(1));
      epm.client(eptMapRequest({ callId: 2 }));
      epm.server(responseFragments(eptMapResponseStub([tcpTower(EMSMDB, 0, 81, S, 6001)]), 2));
      const store = conn(50001, 6001, 0x2000_0000, 0x3000_0000);
      store.client(ifBind(1));
      store.server(ifBindAck(1, 6001));
      pkts.push(tcpPacket({ src: C1, dst: S, sport: 50002, dport: 6002, seq: 1, ack: 0, flags: TCP_SYN }));
      const capture = path.join(dir, 'direct.pcap');
      const w = CaptureFileWriter.create(capture, 'pcap', LINKTYPE_RAW);
      pkts.forEach((p, i) => w.write(1_700_000_000, i * 1000, p, 0, p.length));
      w.close();
      const rep = replayCapture({ capture, rules: compileRules(outboundDoc()), rulesFile: 'rules.json', out: path.join(dir, 'out.pcapng'), mode: 'auto' });
      expect(rep.mode).toBe('direct');
      expect(rep.skipped).toEqual({});
      expect(rep.drops).toEqual({ 'no-pinhole': 1 });
      expect(rep.liveMappingsAtEnd).toBe(1);
      expect(rep.liveConnectionsAtEnd).toBe(2);
      // Everything but the stray SYN went out the other side.
      expect(rep.packetsOut.external! + rep.packetsOut.internal!).toBe(pkts.length - 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
