/**
 * The live packet path: libpcap capture (cap) on the external and internal interfaces, each
 * frame handed to the engine with the wall-clock time, and what the engine emits sent at once,
 * synchronously. There is no send queue: a packet the kernel will not take right now is counted
 * and dropped, as a router under overload would — measured, raw-socket's queued send grew
 * without bound (cap's callback drains its ring without yielding) and delivery fell to zero.
 * Capture buffers are reused by cap for every packet; the engine copies what it must keep.
 * Frames are read by the same link-layer decoder as replay (live-frame.ts): Ethernet with
 * stacked VLAN tags, Linux cooked v1/v2, raw IP.
 *
 * Sending: on the outgoing interface's own packet socket (cap.send) when the destination's MAC
 * is known — learnt from the frames captured on that side (a client's or the upstream router's
 * MAC on the external side, a server's on the internal side) — which skips the kernel's IP output
 * path (the raw socket's sendto() was 55% of the daemon's CPU under load). A frame that was
 * captured untagged goes out in place, its MACs rewritten. Otherwise (destination not seen yet,
 * VLAN, non-Ethernet) through one raw IPv4 socket (IPPROTO_RAW: the kernel routes and resolves
 * the neighbour).
 */
import cap from 'cap';
import { readFileSync } from 'node:fs';
import raw, { type RawSocket } from 'raw-socket';
import { Engine } from '../engine/engine.js';
import type { EngineEvents } from '../engine/events.js';
import type { KernelPinholeSink } from '../engine/kernel-handoff.js';
import { SIDE_EXTERNAL, SIDE_INTERNAL } from '../engine/events.js';
import type { CompiledRules } from '../policy/compiled.js';
import { captureFilters } from './bpf.js';
import { ipv4ToString } from '../wire/addr.js';
import { checksumBytes } from '../wire/checksum-wasm.js';
import { ETH_HDR_LEN, ETHERTYPE_IPV4, LINKTYPE_ETHERNET } from '../wire/link.js';
import { PacketView } from '../wire/view.js';
import { capLinkType, ipv4Offset, liveLinkSupported } from './live-frame.js';
import type { DataplaneCounters } from '../ops/metrics.js';

/** Kernel ring per capture handle. */
const CAPTURE_RING_BYTES = 16 * 1024 * 1024;
/** One frame: with GRO on an interface a captured frame carries up to a whole 64 KiB IP packet. */
const FRAME_BUFFER_BYTES = 65535 + 14 + 4;
/** Cached destination strings (raw-socket's sendto takes a dotted quad). */
const MAX_ADDRESS_CACHE = 65536;
/** Learnt neighbours per side (IPv4 → MAC); cleared when full. */
const MAX_NEIGHBOURS = 65536;
const MAC_LEN = 6;
const IPPROTO_RAW = 255;

export class LiveError extends Error {}

/**
 * Every cap handle this process made, kept until it exits. cap (its binding.cc) never
 * uv_close()s the poll handle inside each handle on Linux: once a closed handle, or one whose
 * open failed, is garbage-collected, its destructor frees (or stops, uninitialised) a libuv handle
 * still linked in the event loop, and the process dies later, at random (SIGSEGV, or a libuv
 * assertion). Two handles are made per start and two per capture-filter change, a few hundred
 * bytes each. test/live/capture-handles.test.ts reproduces the crash without this.
 */
const capHandles: Array<InstanceType<typeof cap.Cap>> = [];

/** A zeroed Buffer of `n` bytes over a checksumBytes array (cap writes frames into a Buffer). */
function receiveBuffer(n: number): Buffer {
  const b = checksumBytes(n);
  return Buffer.from(b.buffer, b.byteOffset, n);
}

class CaptureSide {
  cap: InstanceType<typeof cap.Cap> | null = null;
  /** Over wasm memory (wire/checksum-wasm.ts): the engine's checksums of captured packets take the SIMD path. */
  readonly buf = receiveBuffer(FRAME_BUFFER_BYTES);
  /** LINKTYPE_* of the open handle (-1 before open). */
  linkType = -1;
  filter = '';

  constructor(
    readonly side: number,
    readonly iface: string,
    private readonly onPacket: (s: CaptureSide, nbytes: number, truncated: boolean) => void,
  ) {}

  /**
   * Captures with `filter`. A new filter gets a new handle: re-opening a cap handle in place
   * leaves it silent (measured), so the old one is closed and replaced.
   */
  open(filter: string): void {
    if (this.cap !== null && filter === this.filter) return;
    const next = new cap.Cap();
    capHandles.push(next);
    let name: string;
    try {
      name = next.open(this.iface, filter, CAPTURE_RING_BYTES, this.buf);
    } catch (e) {
      throw new LiveError(`cannot capture on ${this.iface}: ${(e as Error).message} (filter: ${filter})`);
    }
    const linkType = capLinkType(name);
    if (!liveLinkSupported(linkType)) {
      next.close();
      throw new LiveError(`${this.iface}: link type ${name} is not supported (Ethernet, Linux cooked v1/v2 or raw IP)`);
    }
    this.close();
    this.cap = next;
    this.linkType = linkType;
    this.filter = filter;
    next.on('packet', (nbytes, truncated) => this.onPacket(this, nbytes, truncated));
  }

  close(): void {
    try {
      this.cap?.close();
    } catch {
      // not open
    }
    this.cap = null;
  }
}

export class LiveDataplane {
  readonly engine: Engine;
  readonly counters: DataplaneCounters = {
    sendErrors: 0, truncatedFrames: 0, undecodableFrames: 0, reloads: 0, reloadFailures: 0, sentOnPacketSocket: 0, sentOnRawSocket: 0,
  };
  private readonly ext: CaptureSide;
  private readonly int: CaptureSide;
  private sock: RawSocket | null = null;
  private readonly addrCache = new Map<number, string>();
  private readonly sendDone = (): void => {};
  private ticker: NodeJS.Timeout | null = null;
  /** Per side: IPv4 → MAC learnt from captured frames, and the interface's own MAC (null: unknown). */
  private readonly neighbours: [Map<number, Uint8Array>, Map<number, Uint8Array>] = [new Map(), new Map()];
  private readonly ownMac: [Uint8Array | null, Uint8Array | null] = [null, null];
  /** An Ethernet frame for packets that are not in a capture buffer (held copies, resets). */
  private readonly frame = Buffer.alloc(FRAME_BUFFER_BYTES + ETH_HDR_LEN);
  /** Link-layer scratch of onFrame. */
  private readonly linkView = new PacketView();

  constructor(
    rules: CompiledRules,
    events: EngineEvents,
    private readonly onTick: (nowMs: number) => void = () => {},
    /** "kernel" rules' pinholes (kernel-mode.ts); without it they are carried like "full" ones. */
    kernelPinholes?: KernelPinholeSink,
  ) {
    const onPacket = (s: CaptureSide, nbytes: number, truncated: boolean): void => this.onFrame(s, nbytes, truncated);
    this.ext = new CaptureSide(SIDE_EXTERNAL, rules.gateway.externalInterface, onPacket);
    this.int = new CaptureSide(SIDE_INTERNAL, rules.gateway.internalInterface, onPacket);
    this.engine = new Engine({
      rules,
      events,
      seed: (Math.random() * 0x100000000) >>> 0,
      midstreamPickup: false,
      output: { emit: (side, pkt, off, len) => this.send(side, pkt, off, len) },
      // What leaves is cut to these (GRO/TSO frames) and DF packets over them answered (PMTUD).
      externalMtu: interfaceMtu(rules.gateway.externalInterface),
      internalMtu: interfaceMtu(rules.gateway.internalInterface),
      ...(kernelPinholes !== undefined ? { kernelPinholes } : {}),
    });
  }

  start(): void {
    try {
      this.sock = raw.createSocket({ protocol: IPPROTO_RAW });
      this.sock.on('error', () => this.counters.sendErrors++);
    } catch (e) {
      throw new LiveError(`cannot open a raw IPv4 socket: ${(e as Error).message} (rpcgw run needs root)`);
    }
    const filters = captureFilters(this.engine.rules);
    this.ext.open(filters.external);
    this.int.open(filters.internal);
    this.ownMac[SIDE_EXTERNAL] = interfaceMac(this.ext.iface);
    this.ownMac[SIDE_INTERNAL] = interfaceMac(this.int.iface);
    this.ticker = setInterval(() => {
      const now = Date.now();
      // An administrator may change an MTU while the daemon runs (ip link set ... mtu).
      this.engine.setMtu(SIDE_EXTERNAL, interfaceMtu(this.ext.iface));
      this.engine.setMtu(SIDE_INTERNAL, interfaceMtu(this.int.iface));
      this.engine.tick(now);
      this.onTick(now);
    }, 1000);
  }

  /** New rules: the engine keeps the mappings of rules that remain; capture filters follow. */
  reload(rules: CompiledRules): ReturnType<Engine['reload']> {
    const result = this.engine.reload(rules, Date.now());
    const filters = captureFilters(rules);
    this.ext.open(filters.external);
    this.int.open(filters.internal);
    return result;
  }

  stop(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    this.ext.close();
    this.int.close();
    try {
      this.sock?.close();
    } catch {
      // already closed
    }
    this.sock = null;
  }

  private onFrame(s: CaptureSide, nbytes: number, truncated: boolean): void {
    if (truncated) {
      this.counters.truncatedFrames++;
      return;
    }
    const b = s.buf;
    const ipOff = ipv4Offset(b, nbytes, s.linkType, this.linkView);
    if (ipOff < 0) {
      this.counters.undecodableFrames++;
      return;
    }
    if (s.linkType === LINKTYPE_ETHERNET && ipOff === ETH_HDR_LEN && nbytes >= ETH_HDR_LEN + 20) this.learn(s.side, b);
    this.engine.onPacket(s.side, b, ipOff, nbytes - ipOff, Date.now());
  }

  /** Remembers the source MAC of an untagged IPv4 frame captured on `side`. */
  private learn(side: number, b: Buffer): void {
    const src = ((b[ETH_HDR_LEN + 12]! << 24) | (b[ETH_HDR_LEN + 13]! << 16) | (b[ETH_HDR_LEN + 14]! << 8) | b[ETH_HDR_LEN + 15]!) >>> 0;
    const table = this.neighbours[side]!;
    const known = table.get(src);
    if (known !== undefined && known[0] === b[6] && known[1] === b[7] && known[2] === b[8] && known[3] === b[9] && known[4] === b[10] && known[5] === b[11]) return;
    if (table.size >= MAX_NEIGHBOURS) table.clear();
    table.set(src, Uint8Array.from(b.subarray(6, 12)));
  }

  private send(side: number, pkt: Uint8Array, off: number, len: number): void {
    const dst = ((pkt[off + 16]! << 24) | (pkt[off + 17]! << 16) | (pkt[off + 18]! << 8) | pkt[off + 19]!) >>> 0;
    const out = side === SIDE_EXTERNAL ? this.ext : this.int;
    const mac = this.neighbours[side]!.get(dst);
    const own = this.ownMac[side] ?? null;
    if (mac !== undefined && own !== null && out.cap !== null && out.linkType === LINKTYPE_ETHERNET && len <= FRAME_BUFFER_BYTES) {
      // In place when the packet sits in a capture buffer after an untagged Ethernet header.
      let frame: Buffer;
      if (off === ETH_HDR_LEN && (pkt === this.ext.buf || pkt === this.int.buf)) {
        frame = pkt as Buffer;
      } else {
        frame = this.frame;
        frame.set(pkt.subarray(off, off + len), ETH_HDR_LEN);
        frame[12] = ETHERTYPE_IPV4 >>> 8;
        frame[13] = ETHERTYPE_IPV4 & 0xff;
      }
      for (let i = 0; i < MAC_LEN; i++) {
        frame[i] = mac[i]!;
        frame[MAC_LEN + i] = own[i]!;
      }
      try {
        out.cap.send(frame, ETH_HDR_LEN + len);
        this.counters.sentOnPacketSocket++;
        return;
      } catch {
        // fall through to the raw socket
      }
    }
    this.sendRaw(pkt, off, len, dst);
  }

  private sendRaw(pkt: Uint8Array, off: number, len: number, dst: number): void {
    const sock = this.sock;
    if (sock === null) return;
    const b = Buffer.isBuffer(pkt) ? pkt : Buffer.from(pkt.buffer, pkt.byteOffset, pkt.byteLength);
    let addr = this.addrCache.get(dst);
    if (addr === undefined) {
      if (this.addrCache.size >= MAX_ADDRESS_CACHE) this.addrCache.clear();
      addr = ipv4ToString(dst);
      this.addrCache.set(dst, addr);
    }
    try {
      sock.wrap.send(b, off, len, addr, this.sendDone);
      this.counters.sentOnRawSocket++;
    } catch (e) {
      this.counters.sendErrors++;
      this.counters.lastSendError = (e as Error).message; // strerror text, e.g. "Message too long"
    }
  }
}

/** The interface's IP MTU from sysfs, 1500 when it cannot be read. */
function interfaceMtu(iface: string): number {
  try {
    const mtu = parseInt(readFileSync(`/sys/class/net/${iface}/mtu`, 'utf8').trim(), 10);
    return Number.isInteger(mtu) && mtu >= 68 ? mtu : 1500;
  } catch {
    return 1500;
  }
}

/** The interface's MAC from sysfs (`ip netns exec` mounts the namespace's own), or null. */
function interfaceMac(iface: string): Uint8Array | null {
  try {
    const text = readFileSync(`/sys/class/net/${iface}/address`, 'utf8').trim();
    const bytes = text.split(':').map((h) => parseInt(h, 16));
    if (bytes.length !== MAC_LEN || bytes.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return null;
    return Uint8Array.from(bytes);
  } catch {
    return null;
  }
}
