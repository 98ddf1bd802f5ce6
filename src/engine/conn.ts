/**
 * Per-connection stream state of the connections the gateway reads (EPM leg on 135, RPC policy
 * on mapped ports), and the table of them by flow id. The flow table (nat/flow-table.ts) keeps
 * the translation and TCP state in typed-array rows; a ConnState adds what reading needs: the
 * two directions' hold/release state, the leg (the reader), where a RST must land, and the
 * sequence edits after a length change. Pooled: a closed connection's state is reset and reused.
 */
import { FLOW_ST_RST } from '../nat/flow-table.js';
import type { CompiledRule } from '../policy/compiled.js';
import { HeldStream } from '../stream/held-stream.js';
import type { Replacement, StreamEdit } from '../stream/seqadj.js';
import type { PacketView } from '../wire/packet.js';
import type { EpmLeg } from './epm-leg.js';
import type { Leg } from './leg.js';
import type { MappedLeg } from './mapped-leg.js';

/**
 * Concurrent endpoint-mapper connections, per client address and in all. Each carries reading
 * state (a few KiB); an Outlook needs one or two at a time, an office behind one NAT address
 * more. The bounds keep clients (the Exchange rule allows 0.0.0.0/0) from making the gateway
 * hold that state for unbounded numbers of connections.
 */
export const MAX_EPM_CONNECTIONS_PER_CLIENT = 1024;
export const MAX_EPM_CONNECTIONS = 65536;

export class ConnState {
  /** Its row in the flow table. */
  flow = -1;
  /** Length changes made in the server→client stream (null until the first). */
  edits: StreamEdit[] | null = null;
  /** Calls the leg replaced while reading the last segment, in stream order. */
  pendingReplace: Replacement[] | null = null;
  readonly c2s = new HeldStream();
  readonly s2c = new HeldStream();
  readonly leg: Leg;
  readonly epmLeg: EpmLeg | null;
  readonly mappedLeg: MappedLeg | null;
  refused = false;
  /** Next sequence number each end expects (the ACK it last sent): where a RST must land. */
  clientExpects = 0;
  serverExpects = 0;
  clientAckSeen = false;
  serverAckSeen = false;
  // The segment the leg is reading, only while it reads it (begin/endRead): a patch the leg
  // asks for lands in it as well as in the held segments.
  private readDir: HeldStream | null = null;
  private readPkt: Uint8Array | null = null;
  private readView: PacketView | null = null;
  private readSeq = 0;

  constructor(epmLeg: EpmLeg | null, mappedLeg: MappedLeg | null) {
    this.epmLeg = epmLeg;
    this.mappedLeg = mappedLeg;
    this.leg = (epmLeg ?? mappedLeg)!;
  }

  reset(): void {
    this.edits = null;
    this.pendingReplace = null;
    this.refused = false;
    this.clientAckSeen = this.serverAckSeen = false;
    this.c2s.synced = this.s2c.synced = false;
    this.c2s.dropAll();
    this.s2c.dropAll();
    this.c2s.resetPatches();
    this.s2c.resetPatches();
  }

  /** The connection's rule changed (reload); the mapped leg reads it by flow id each time. */
  setRule(rule: CompiledRule): void {
    if (this.epmLeg) this.epmLeg.rule = rule;
  }

  beginRead(dir: HeldStream, pkt: Uint8Array, view: PacketView, seq: number): void {
    this.readDir = dir;
    this.readPkt = pkt;
    this.readView = view;
    this.readSeq = seq;
  }

  endRead(): void {
    this.readDir = null;
    this.readPkt = null;
    this.readView = null;
  }

  /** Rewrites `n` bytes at stream sequence `seq` of the direction being read. */
  patch(seq: number, bytes: Uint8Array, off: number, n: number): void {
    this.readDir?.patch(seq, bytes, off, n, this.readPkt, this.readView, this.readSeq);
  }

  /** Replaces the stream bytes [start, end) of the direction being read (applied after the read). */
  replace(start: number, end: number, bytes: Uint8Array): void {
    (this.pendingReplace ??= []).push({ start, end, bytes });
  }
}

/** How a connection that left the table ended, from its flow-table state. */
export function closedReason(state: number): 'closed' | 'reset' {
  return (state & FLOW_ST_RST) !== 0 ? 'reset' : 'closed';
}

/** The ConnStates by flow id, their pools, and the bounds on EPM connections. */
export class Conns {
  /**
   * By flow id. Flow ids are dense from 0 (nat/slots.ts), so an array grown by doubling: one
   * index per packet rather than a hash lookup.
   */
  private byFlow: (ConnState | undefined)[] = [];
  private readonly epmPool: ConnState[] = [];
  private readonly mappedPool: ConnState[] = [];
  /** Live EPM connections per client address. */
  private readonly epmPerClient = new Map<number, number>();
  private epmCount = 0;

  constructor(
    private readonly newEpmLeg: () => EpmLeg,
    private readonly newMappedLeg: () => MappedLeg,
  ) {}

  /** The one reader of every mapped connection (made on first use: its host is built after the table). */
  private mapped: MappedLeg | null = null;

  get(flow: number): ConnState | undefined {
    return this.byFlow[flow];
  }

  forEach(fn: (st: ConnState, flow: number) => void): void {
    const all = this.byFlow;
    for (let flow = 0; flow < all.length; flow++) {
      const st = all[flow];
      if (st !== undefined) fn(st, flow);
    }
  }

  /** Whether `clientIp` may have one more EPM connection. */
  epmRoom(clientIp: number): boolean {
    return (this.epmPerClient.get(clientIp) ?? 0) < MAX_EPM_CONNECTIONS_PER_CLIENT && this.epmCount < MAX_EPM_CONNECTIONS;
  }

  /** A reset ConnState of the kind, not yet in the table (its leg still to be initialised). */
  take(epm: boolean): ConnState {
    const st = (epm ? this.epmPool.pop() : this.mappedPool.pop()) ?? (epm ? new ConnState(this.newEpmLeg(), null) : new ConnState(null, (this.mapped ??= this.newMappedLeg())));
    st.reset();
    return st;
  }

  /** A taken ConnState that was not used goes back to its pool. */
  giveBack(st: ConnState): void {
    (st.epmLeg ? this.epmPool : this.mappedPool).push(st);
  }

  /** `st` reads connection `flow` of `clientIp`. */
  add(flow: number, st: ConnState, clientIp: number): void {
    st.flow = flow;
    if (st.epmLeg) st.epmLeg.flow = flow;
    const all = this.byFlow;
    if (flow >= all.length) {
      const n = Math.max(flow + 1, all.length * 2, 64);
      while (all.length < n) all.push(undefined);
    }
    all[flow] = st;
    if (st.epmLeg) {
      this.epmPerClient.set(clientIp, (this.epmPerClient.get(clientIp) ?? 0) + 1);
      this.epmCount++;
    }
  }

  /** Connection `flow` (of `clientIp`) left the table; its state (returned) goes back to the pool. */
  remove(flow: number, clientIp: number): ConnState | undefined {
    const st = this.byFlow[flow];
    if (st === undefined) return undefined;
    this.byFlow[flow] = undefined;
    if (st.mappedLeg) st.mappedLeg.release(flow);
    this.giveBack(st);
    if (st.epmLeg) {
      this.epmCount--;
      const n = (this.epmPerClient.get(clientIp) ?? 1) - 1;
      if (n > 0) this.epmPerClient.set(clientIp, n);
      else this.epmPerClient.delete(clientIp);
    }
    return st;
  }
}
