/**
 * The hand-off of a "kernel" rule's pinholes to the host: when the EPM leg maps a tower for such
 * a rule, the engine asks its KernelPinholeSink for the element (a request with a token) and
 * holds every packet of that EPM connection toward the client — the rewritten answer first of
 * all — until the host calls `Engine.releaseDeferred(token, error, nowMs)`:
 *   - all of the connection's tokens acknowledged: the held packets go out in order;
 *   - one refused, or none answered within `timeoutMs`: the held packets are dropped, the
 *     connection is refused (kernel-pinhole-failed, with nft's message) — the client never
 *     sees a port it could not use.
 * Without a sink (replay, tests) nothing is requested and nothing held.
 *
 * Gates exist only while an answer waits (rare: one per ept_map answer), so the packet path
 * pays one integer test (`count`) when none is open. Held packets are copies.
 */

/** A kernel pinhole's ends: who may connect where (u32 addresses), and where it goes. */
export interface KernelPinholeEnds {
  rule: string;
  clientIp: number;
  extIp: number;
  extPort: number;
  serverIp: number;
  serverPort: number;
}

/** A pinhole the engine wants in the kernel before the rewritten answer is released. */
export interface KernelPinholeRequest extends KernelPinholeEnds {
  token: number;
  /** The daemon-side mapping (its id in the mapping table). */
  mapping: number;
  timeoutMs: number;
}

export interface KernelPinholeSink {
  /** Called during onPacket; answer later with Engine.releaseDeferred(req.token, ...). */
  wanted(req: KernelPinholeRequest): void;
}

export const DEFAULT_HANDOFF_TIMEOUT_MS = 2000;

interface Gate {
  pending: Set<number>;
  held: Uint8Array[];
  deadlineMs: number;
}

/** What releasing a token did. */
export interface Released {
  flow: number;
  /** Packets to emit toward the client, in order (empty while other tokens wait). */
  packets: Uint8Array[];
  /** The connection must be refused (an element failed or timed out). */
  failed: boolean;
}

export class KernelHandoff {
  private readonly gates = new Map<number, Gate>();
  private readonly flowOf = new Map<number, number>();
  private nextToken = 1;

  constructor(
    readonly sink: KernelPinholeSink | null,
    private readonly timeoutMs = DEFAULT_HANDOFF_TIMEOUT_MS,
  ) {}

  /** Open gates (0 on the fast path). */
  get count(): number {
    return this.gates.size;
  }

  /** Asks for a pinhole; the flow's packets toward the client are held from now on. False without a sink. */
  want(flow: number, req: Omit<KernelPinholeRequest, 'token'>, nowMs: number): boolean {
    if (this.sink === null) return false;
    let g = this.gates.get(flow);
    if (g === undefined) this.gates.set(flow, (g = { pending: new Set(), held: [], deadlineMs: nowMs + this.timeoutMs }));
    const token = this.nextToken++;
    g.pending.add(token);
    this.flowOf.set(token, flow);
    this.sink.wanted({ ...req, token });
    return true;
  }

  /** The queue packets of `flow` toward the client go to while it waits, or null. */
  queueOf(flow: number): Uint8Array[] | null {
    return this.gates.get(flow)?.held ?? null;
  }

  /** The host's answer for a token; null for a token no longer known (its connection ended). */
  release(token: number, ok: boolean): Released | null {
    const flow = this.flowOf.get(token);
    if (flow === undefined) return null;
    this.flowOf.delete(token);
    const g = this.gates.get(flow)!;
    g.pending.delete(token);
    if (!ok) {
      this.forget(flow);
      return { flow, packets: [], failed: true };
    }
    if (g.pending.size > 0) return { flow, packets: [], failed: false };
    this.gates.delete(flow);
    return { flow, packets: g.held, failed: false };
  }

  /** Flows whose answer waited past the deadline (each then forgotten). */
  expired(nowMs: number): number[] {
    const out: number[] = [];
    for (const [flow, g] of this.gates) if (nowMs >= g.deadlineMs) out.push(flow);
    for (const f of out) this.forget(f);
    return out;
  }

  /** The connection is gone: its gate and tokens too (a late answer is then ignored). */
  forget(flow: number): void {
    const g = this.gates.get(flow);
    if (g === undefined) return;
    for (const t of g.pending) this.flowOf.delete(t);
    this.gates.delete(flow);
  }
}
