/**
 * Per-connection stream state of the connections the gateway reads (EPM leg on 135, RPC policy
 * on mapped ports), by flow id. The flow table (nat/flow-table.ts) keeps the translation and TCP
 * state in typed-array rows; Conns adds what reading needs, in rows of its own:
 *
 *   Int32 words, CW (8: 32 bytes) a row, by flow id (dense from 0: grown by half again)
 *   0  flags (F_*: in use, EPM, refused, which end's ACK was seen, each direction synced / has
 *      its own HeldStream)
 *   1  clientExpects   2  serverExpects     next sequence number each end expects (the ACK it
 *                                            last sent): where a RST must land
 *   3  c2s nextSeq     4  c2s releasedSeq    5  s2c nextSeq     6  s2c releasedSeq
 *      (a direction with its own HeldStream keeps its cursor there: word 3 or 5 then holds the
 *      stream's index in `owned`, so no map is probed or grown per packet or per answer)
 *   7  prunedEnd of the one direction flagged F_PRUNED (HeldStream.prunedOnly)
 *      (a direction flagged F_SLOT keeps its nextSeq in word 3 or 5 and, in word 4 or 6, the
 *      index of its slot in `slab`: its releasedSeq is its nextSeq)
 *
 * A direction is a HeldStream (stream/held-stream.ts) only while it holds or waits for segments
 * or remembers patches for retransmissions; otherwise its cursor is the row's three numbers (with
 * the end of its last acknowledged patch, for one direction: every EPM answer leaves one) and
 * stream() lends one of two scratch HeldStreams loaded from them, written back (or kept as the
 * direction's own object if it now holds something) when another connection needs it or the
 * packet is done (settle). A direction whose only state is a few patches the receiver has not
 * acknowledged yet (every EPM answer until its client's ACK) keeps them in a slot of SLOT_BYTES
 * in `slab`, a byte array by slot index, rather than in a HeldStream of its own (~300 bytes on
 * V8's heap for each EPM connection whose ACK never comes). The readers are handed the flow id: one MappedLeg for every mapped
 * connection and one EpmLeg for every EPM connection, each keeping its rows (leg-rows.ts).
 * Sequence edits after a length change live in a map, only for the connections that have them.
 */
import { FLOW_ST_RST } from '../nat/flow-table.js';
import { HashIndex3 } from '../nat/hash-index.js';
import { CLOSE_CLOSED, CLOSE_RESET } from './events.js';
import { HeldStream, SLOT_BYTES } from '../stream/held-stream.js';
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

const W_FLAGS = 0;
const W_CLIENT_EXPECTS = 1;
const W_SERVER_EXPECTS = 2;
/** nextSeq, releasedSeq of a direction: W_C2S.. or W_S2C.. */
const W_C2S = 3;
const W_S2C = 5;
const W_PRUNED = 7;
/** 8 words a row: 32 bytes, so a row never straddles two cache lines. */
const CW = 8;
const F_LIVE = 1;
const F_EPM = 2;
const F_REFUSED = 4;
const F_CLIENT_ACK = 8;
const F_SERVER_ACK = 16;
/** Per direction (shifted left by the direction, 0 = client→server, 1 = server→client). */
const F_SYNCED = 32;
const F_OWN = 128;
/** An EPM connection that closed (FIN both ways or RST): it lingers, but no longer counts toward the limits. */
const F_UNCOUNTED = 512;
/** Per direction: its stream is prunedOnly, prunedEnd in W_PRUNED (one direction at a time). */
const F_PRUNED = 1024;
/** Per direction: its stream's patches are in slot words[W_C2S/W_S2C + 1] of `slab` (HeldStream.slotFits). */
const F_SLOT = 4096;
const INITIAL_ROWS = 64;
const INITIAL_SLOTS = 64;
/** Emptied HeldStreams kept for the next direction that must hold something (given back by a connection that left, or by a direction its row carries again). */
const MAX_SPARE_STREAMS = 64;

/** How a connection that left the table ended, from its flow-table state. */
export function closedReason(state: number): number {
  return (state & FLOW_ST_RST) !== 0 ? CLOSE_RESET : CLOSE_CLOSED;
}

/** The connections the gateway reads, by flow id, and the bounds on EPM connections. */
export class Conns {
  private words = new Int32Array(INITIAL_ROWS * CW);
  /** Directions that hold something, by the index their row keeps (free slots null, reused from freeOwned). */
  private readonly owned: (HeldStream | null)[] = [];
  private readonly freeOwned: number[] = [];
  private readonly editsBy = new Map<number, StreamEdit[]>();
  /** Lent by stream() to a direction without its own HeldStream; the flow each is loaded with (-1: none). */
  private readonly scratch = [new HeldStream(), new HeldStream()];
  private readonly scratchFlow = [-1, -1];
  /**
   * Live EPM connections per client address (key: the address, 0, 0): numeric slots, where a Map
   * keyed by a u32 address made a heap number per new connection.
   */
  private readonly epmPerClient = new HashIndex3(MAX_EPM_CONNECTIONS, 0x3c6ef372, 64);
  private readonly spare: HeldStream[] = [];
  /** Slots of SLOT_BYTES (HeldStream.saveSlot), by index; free ones on a stack, the rest above `slotTop`. */
  private slab = new Uint8Array(INITIAL_SLOTS * SLOT_BYTES);
  private slotFree = new Int32Array(INITIAL_SLOTS);
  private slotFreeCount = 0;
  private slotTop = 0;
  private epmCount = 0;
  private mapped: MappedLeg | null = null;
  private epmReader: EpmLeg | null = null;
  // The segment a leg is reading, only while it reads it (beginRead/endRead): a patch the leg
  // asks for lands in it as well as in the held segments.
  private readFlow = -1;
  private readDir: HeldStream | null = null;
  private readPkt: Uint8Array | null = null;
  private readView: PacketView | null = null;
  private readSeq = 0;
  private readFromClient = false;
  /** Calls the leg replaced while reading the last segment, in stream order (null: none). */
  private replacing: Replacement[] | null = null;

  constructor(
    private readonly newEpmLeg: () => EpmLeg,
    private readonly newMappedLeg: () => MappedLeg,
  ) {}

  /** The one reader of every mapped connection (made on first use: its host is built after the table). */
  get mappedLeg(): MappedLeg {
    return (this.mapped ??= this.newMappedLeg());
  }

  /** The one reader of every EPM connection. */
  get epm(): EpmLeg {
    return (this.epmReader ??= this.newEpmLeg());
  }

  /** Whether connection `flow` is read (has state here). */
  has(flow: number): boolean {
    return flow < this.words.length / CW && (this.words[flow * CW + W_FLAGS]! & F_LIVE) !== 0;
  }

  /** Loads connection `flow`'s row (its flags word), so its cache miss overlaps others (Engine.touch). */
  touch(flow: number): number {
    return this.words[flow * CW + W_FLAGS] ?? 0;
  }

  isEpm(flow: number): boolean {
    return (this.words[flow * CW + W_FLAGS]! & F_EPM) !== 0;
  }

  /** The reader of connection `flow`. */
  leg(flow: number): Leg {
    return this.isEpm(flow) ? this.epm : this.mappedLeg;
  }

  forEach(fn: (flow: number) => void): void {
    const n = this.words.length / CW;
    for (let flow = 0; flow < n; flow++) if ((this.words[flow * CW + W_FLAGS]! & F_LIVE) !== 0) fn(flow);
  }

  /** Whether `clientIp` may have one more EPM connection. */
  epmRoom(clientIp: number): boolean {
    return Math.max(0, this.epmPerClient.get(clientIp, 0, 0)) < MAX_EPM_CONNECTIONS_PER_CLIENT && this.epmCount < MAX_EPM_CONNECTIONS;
  }

  /** The EPM leg reads connection `flow` of `clientIp` (picked up mid-stream or not). */
  addEpm(flow: number, clientIp: number, pickedUp: boolean): void {
    this.open(flow, F_LIVE | F_EPM);
    this.epm.init(flow, pickedUp);
    this.epmPerClient.set(clientIp, 0, 0, Math.max(0, this.epmPerClient.get(clientIp, 0, 0)) + 1);
    this.epmCount++;
  }

  /** The mapped leg (init'ed for `flow`) reads mapped connection `flow`. */
  addMapped(flow: number): void {
    this.open(flow, F_LIVE);
  }

  /**
   * EPM connection `flow` (of `clientIp`) closed: it lingers (retransmitted FINs still need their
   * translation) but leaves the per-client and total counts, so a client that makes many short
   * connections is bounded by the ones it has open, not by those it closed in the last seconds.
   */
  closed(flow: number, clientIp: number): void {
    const at = flow * CW;
    const f = this.words[at + W_FLAGS]!;
    if ((f & (F_LIVE | F_EPM | F_UNCOUNTED)) !== (F_LIVE | F_EPM)) return;
    this.words[at + W_FLAGS] = f | F_UNCOUNTED;
    this.uncountEpm(clientIp);
  }

  private uncountEpm(clientIp: number): void {
    this.epmCount--;
    const had = this.epmPerClient.get(clientIp, 0, 0);
    const n = (had < 0 ? 1 : had) - 1;
    if (n > 0) this.epmPerClient.set(clientIp, 0, 0, n);
    else this.epmPerClient.delete(clientIp, 0, 0);
  }

  /** Connection `flow` (of `clientIp`) left the table: its state goes (whatever it held: StreamPath.forget first). */
  remove(flow: number, clientIp: number): void {
    if (!this.has(flow)) return;
    this.drop(flow);
    const at = flow * CW;
    if (this.isEpm(flow)) {
      this.epm.release(flow);
      if ((this.words[at + W_FLAGS]! & F_UNCOUNTED) === 0) this.uncountEpm(clientIp);
    } else {
      this.mappedLeg.release(flow);
    }
    this.words[at + W_FLAGS] = 0;
  }

  refused(flow: number): boolean {
    return (this.words[flow * CW + W_FLAGS]! & F_REFUSED) !== 0;
  }

  markRefused(flow: number): void {
    this.words[flow * CW + W_FLAGS] = this.words[flow * CW + W_FLAGS]! | (F_REFUSED);
  }

  /** An ACK from the client (`fromClient`) or the server: what that end expects next. */
  acked(flow: number, fromClient: boolean, ack: number): void {
    const at = flow * CW;
    this.words[at + (fromClient ? W_CLIENT_EXPECTS : W_SERVER_EXPECTS)] = ack | 0;
    this.words[at + W_FLAGS] = this.words[at + W_FLAGS]! | (fromClient ? F_CLIENT_ACK : F_SERVER_ACK);
  }

  /** Whether the client (`client`) or the server has sent an ACK yet. */
  ackSeen(flow: number, client: boolean): boolean {
    return (this.words[flow * CW + W_FLAGS]! & (client ? F_CLIENT_ACK : F_SERVER_ACK)) !== 0;
  }

  /** The next sequence number the client (`client`) or the server expects (its last ACK). */
  expects(flow: number, client: boolean): number {
    return this.words[flow * CW + (client ? W_CLIENT_EXPECTS : W_SERVER_EXPECTS)]! >>> 0;
  }

  /** Restores the ends' ACK state (daemon restart). */
  restoreEnds(flow: number, clientExpects: number, serverExpects: number, clientAckSeen: boolean, serverAckSeen: boolean): void {
    const at = flow * CW;
    this.words[at + W_CLIENT_EXPECTS] = clientExpects | 0;
    this.words[at + W_SERVER_EXPECTS] = serverExpects | 0;
    this.words[at + W_FLAGS] = (this.words[at + W_FLAGS]! & ~(F_CLIENT_ACK | F_SERVER_ACK)) | (clientAckSeen ? F_CLIENT_ACK : 0) | (serverAckSeen ? F_SERVER_ACK : 0);
  }

  /**
   * The index in rowWords of the direction's nextSeq (releasedSeq the word after) when the row
   * alone is the connection's whole stream state: live, mapped, not refused, this direction
   * synced and holding nothing (releasedSeq = nextSeq) and not pruned, neither direction with a
   * HeldStream, slot or lent scratch of its own, no length change. Else -1. StreamPath's
   * in-order path reads and moves the cursor there instead of lending a HeldStream.
   */
  plainCursor(flow: number, fromClient: boolean): number {
    const d = fromClient ? 0 : 1;
    const at = flow * CW;
    const m = F_LIVE | F_EPM | F_REFUSED | (F_SYNCED << d) | F_OWN | (F_OWN << 1) | F_SLOT | (F_SLOT << 1) | (F_PRUNED << d);
    if ((this.words[at + W_FLAGS]! & m) !== (F_LIVE | (F_SYNCED << d))) return -1;
    if (this.scratchFlow[0] === flow || this.scratchFlow[1] === flow || (this.editsBy.size !== 0 && this.editsBy.has(flow))) return -1;
    const w = at + (d === 0 ? W_C2S : W_S2C);
    return this.words[w] === this.words[w + 1] ? w : -1;
  }

  /** The rows (plainCursor's indexes); replaced when a new connection grows them. */
  get rowWords(): Int32Array {
    return this.words;
  }

  /** Length changes made in the server→client stream (null until the first). */
  edits(flow: number): StreamEdit[] | null {
    return this.editsBy.size === 0 ? null : (this.editsBy.get(flow) ?? null);
  }

  /** The connection's edit list, made on its first length change. */
  editsFor(flow: number): StreamEdit[] {
    let e = this.editsBy.get(flow);
    if (e === undefined) this.editsBy.set(flow, (e = []));
    return e;
  }

  setEdits(flow: number, edits: StreamEdit[] | null): void {
    if (edits === null || edits.length === 0) this.editsBy.delete(flow);
    else this.editsBy.set(flow, edits);
  }

  /**
   * The client→server (`fromClient`) or server→client stream of `flow`. Valid until stream() is
   * asked for the same direction of another connection, or settle(flow).
   */
  stream(flow: number, fromClient: boolean): HeldStream {
    const d = fromClient ? 0 : 1;
    const at = flow * CW;
    const f = this.words[at + W_FLAGS]!;
    if ((f & (F_OWN << d)) !== 0) return this.owned[this.words[at + (d === 0 ? W_C2S : W_S2C)]!]!;
    const hs = this.scratch[d]!;
    if (this.scratchFlow[d] !== flow) {
      if (this.scratchFlow[d]! >= 0) this.store(d);
      const w = at + (d === 0 ? W_C2S : W_S2C);
      if ((f & (F_SLOT << d)) !== 0) {
        // The slot goes back to the free stack: store() gives the direction one again if it still needs it.
        const slot = this.words[w + 1]!;
        hs.loadSlot((f & (F_SYNCED << d)) !== 0, this.words[w]! >>> 0, this.slab, slot * SLOT_BYTES);
        this.freeSlot(slot);
        this.words[at + W_FLAGS] = f & ~(F_SLOT << d);
        this.words[w + 1] = this.words[w]!;
      } else if ((f & (F_PRUNED << d)) !== 0) hs.loadPruned((f & (F_SYNCED << d)) !== 0, this.words[w]! >>> 0, this.words[w + 1]! >>> 0, this.words[at + W_PRUNED]! >>> 0);
      else hs.load((f & (F_SYNCED << d)) !== 0, this.words[w]! >>> 0, this.words[w + 1]! >>> 0);
      this.scratchFlow[d] = flow;
    }
    return hs;
  }

  /**
   * The direction's own HeldStream (or the scratch loaded from its slot), or null while its row
   * alone carries it (then it remembers no patch, so an ACK has nothing to prune there).
   */
  ownStream(flow: number, fromClient: boolean): HeldStream | null {
    const d = fromClient ? 0 : 1;
    const f = this.words[flow * CW + W_FLAGS]!;
    if ((f & (F_OWN << d)) !== 0) return this.owned[this.words[flow * CW + (d === 0 ? W_C2S : W_S2C)]!]!;
    if (this.scratchFlow[d] === flow) return this.scratch[d]!;
    return (f & (F_SLOT << d)) !== 0 ? this.stream(flow, fromClient) : null;
  }

  /** The packet of `flow` is done: lent streams go back to the row (or stay as its own if they hold something). */
  settle(flow: number): void {
    if (this.scratchFlow[0] === flow) this.store(0);
    if (this.scratchFlow[1] === flow) this.store(1);
    const f = this.words[flow * CW + W_FLAGS]!;
    if ((f & (F_OWN | (F_OWN << 1))) !== 0) {
      this.demote(flow, 0);
      this.demote(flow, 1);
    }
  }

  /** A direction's own stream that no longer holds anything goes back into the row. */
  private demote(flow: number, d: number): void {
    const at = flow * CW;
    if ((this.words[at + W_FLAGS]! & (F_OWN << d)) === 0) return;
    const i = this.words[at + (d === 0 ? W_C2S : W_S2C)]!;
    const hs = this.owned[i]!;
    const row = this.rowCarries(flow, d, hs);
    if (!row && !hs.slotFits) return;
    this.owned[i] = null;
    this.freeOwned.push(i);
    this.words[at + W_FLAGS] = this.words[at + W_FLAGS]! & (~(F_OWN << d));
    if (row) this.writeCursor(flow, d, hs);
    else this.writeSlot(flow, d, hs);
    this.recycle(hs);
  }

  private store(d: number): void {
    const flow = this.scratchFlow[d]!;
    this.scratchFlow[d] = -1;
    const hs = this.scratch[d]!;
    if (this.rowCarries(flow, d, hs)) return this.writeCursor(flow, d, hs);
    if (hs.slotFits) return this.writeSlot(flow, d, hs);
    // It holds something now: it stays with the connection (its index in the cursor's first
    // word), and a fresh scratch takes its place.
    let i = this.freeOwned.pop() ?? -1;
    if (i < 0) {
      i = this.owned.length;
      this.owned.push(hs);
    } else {
      this.owned[i] = hs;
    }
    this.words[flow * CW + (d === 0 ? W_C2S : W_S2C)] = i;
    this.words[flow * CW + W_FLAGS] = (this.words[flow * CW + W_FLAGS]! | (F_OWN << d)) & ~(F_PRUNED << d);
    this.scratch[d] = this.spare.pop() ?? new HeldStream();
  }

  /** Whether the row can carry the direction's stream: plain, or prunedOnly while the other direction does not use W_PRUNED. */
  private rowCarries(flow: number, d: number, hs: HeldStream): boolean {
    return hs.plain || (hs.prunedOnly && (this.words[flow * CW + W_FLAGS]! & (F_PRUNED << (d ^ 1))) === 0);
  }

  private writeCursor(flow: number, d: number, hs: HeldStream): void {
    const at = flow * CW;
    const w = at + (d === 0 ? W_C2S : W_S2C);
    this.words[w] = hs.nextSeq | 0;
    this.words[w + 1] = hs.releasedSeq | 0;
    if (hs.prunedOnly) {
      this.words[at + W_PRUNED] = hs.prunedUpTo | 0;
      this.words[at + W_FLAGS] = this.words[at + W_FLAGS]! | (F_PRUNED << d);
    } else {
      this.words[at + W_FLAGS] = this.words[at + W_FLAGS]! & ~(F_PRUNED << d);
    }
    if (hs.synced) this.words[at + W_FLAGS] = this.words[at + W_FLAGS]! | (F_SYNCED << d);
    else this.words[at + W_FLAGS] = this.words[at + W_FLAGS]! & (~(F_SYNCED << d));
  }

  /** The direction's cursor into the row and its patches into a slot (hs.slotFits; the row has no slot for it). */
  private writeSlot(flow: number, d: number, hs: HeldStream): void {
    const at = flow * CW;
    const w = at + (d === 0 ? W_C2S : W_S2C);
    const slot = this.allocSlot();
    hs.saveSlot(this.slab, slot * SLOT_BYTES);
    this.words[w] = hs.nextSeq | 0;
    this.words[w + 1] = slot;
    const f = (this.words[at + W_FLAGS]! | (F_SLOT << d)) & ~(F_PRUNED << d);
    this.words[at + W_FLAGS] = hs.synced ? f | (F_SYNCED << d) : f & ~(F_SYNCED << d);
  }

  private allocSlot(): number {
    if (this.slotFreeCount > 0) return this.slotFree[--this.slotFreeCount]!;
    const slot = this.slotTop++;
    if (slot * SLOT_BYTES >= this.slab.length) {
      const next = new Uint8Array(Math.ceil((this.slab.length / SLOT_BYTES) * 1.5) * SLOT_BYTES);
      next.set(this.slab);
      this.slab = next;
    }
    return slot;
  }

  private freeSlot(slot: number): void {
    if (this.slotFreeCount === this.slotFree.length) {
      const next = new Int32Array(Math.ceil(this.slotFree.length * 1.5));
      next.set(this.slotFree);
      this.slotFree = next;
    }
    this.slotFree[this.slotFreeCount++] = slot;
  }

  /** Slots in use (tests, and a check that none leaks). */
  get slotsInUse(): number {
    return this.slotTop - this.slotFreeCount;
  }

  /** A fresh row for `flow`. */
  private open(flow: number, flags: number): void {
    let rows = this.words.length / CW;
    if (flow >= rows) {
      while (rows <= flow) rows = Math.ceil(rows * 1.5);
      const w = new Int32Array(rows * CW);
      w.set(this.words);
      this.words = w;
    }
    this.drop(flow);
    this.words.fill(0, flow * CW, (flow + 1) * CW);
    this.words[flow * CW + W_FLAGS] = flags;
  }

  /** Forgets what `flow` had outside its row. */
  private drop(flow: number): void {
    if (this.scratchFlow[0] === flow) this.scratchFlow[0] = -1;
    if (this.scratchFlow[1] === flow) this.scratchFlow[1] = -1;
    // The row's F_OWN bits say which directions have an entry (open clears the row after this).
    if (flow < this.words.length / CW && (this.words[flow * CW + W_FLAGS]! & (F_OWN | (F_OWN << 1) | F_SLOT | (F_SLOT << 1))) !== 0) {
      this.giveBack(flow, 0);
      this.giveBack(flow, 1);
    }
    if (this.editsBy.size > 0) this.editsBy.delete(flow);
  }

  /** A direction's own HeldStream leaves with its connection: emptied, it waits for the next one that must hold. */
  private giveBack(flow: number, d: number): void {
    const at = flow * CW;
    if ((this.words[at + W_FLAGS]! & (F_SLOT << d)) !== 0) {
      this.freeSlot(this.words[at + (d === 0 ? W_C2S : W_S2C) + 1]!);
      this.words[at + W_FLAGS] = this.words[at + W_FLAGS]! & ~(F_SLOT << d);
      return;
    }
    if ((this.words[at + W_FLAGS]! & (F_OWN << d)) === 0) return;
    const i = this.words[at + (d === 0 ? W_C2S : W_S2C)]!;
    const hs = this.owned[i]!;
    this.owned[i] = null;
    this.freeOwned.push(i);
    this.words[at + W_FLAGS] = this.words[at + W_FLAGS]! & ~(F_OWN << d);
    this.recycle(hs);
  }

  /** A HeldStream no direction uses any more, emptied, for the next store() (bounded). */
  private recycle(hs: HeldStream): void {
    if (this.spare.length >= MAX_SPARE_STREAMS) return;
    hs.load(false, 0, 0);
    this.spare.push(hs);
  }

  // ---- the read in progress -------------------------------------------------------------

  /** `dir` null: the direction `fromClient` of `flow` is lent (stream()) on the leg's first patch, if any (readStream). */
  beginRead(flow: number, dir: HeldStream | null, pkt: Uint8Array, view: PacketView, seq: number, fromClient = false): void {
    this.readFlow = flow;
    this.readDir = dir;
    this.readFromClient = fromClient;
    this.readPkt = pkt;
    this.readView = view;
    this.readSeq = seq;
  }

  endRead(): void {
    this.readFlow = -1;
    this.readDir = null;
    this.readPkt = null;
    this.readView = null;
  }

  /** Rewrites `n` bytes at stream sequence `seq` of the direction of `flow` being read. */
  patch(flow: number, seq: number, bytes: Uint8Array, off: number, n: number): void {
    if (flow === this.readFlow) (this.readDir ??= this.stream(flow, this.readFromClient)).patch(seq, bytes, off, n, this.readPkt, this.readView, this.readSeq);
  }

  /** The direction being read as a HeldStream (null: beginRead had none and no patch lent one). */
  get readStream(): HeldStream | null {
    return this.readDir;
  }

  /** Replaces the stream bytes [start, end) of the direction of `flow` being read (applied after the read). */
  replace(flow: number, start: number, end: number, bytes: Uint8Array): void {
    if (flow === this.readFlow) (this.replacing ??= []).push({ start, end, bytes });
  }

  /** The replacements the last read asked for (null: none); they are handed over once. */
  takeReplacements(): Replacement[] | null {
    const r = this.replacing;
    this.replacing = null;
    return r;
  }
}
