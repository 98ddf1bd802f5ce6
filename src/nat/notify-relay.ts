/**
 * New-mail notification relaying (EMSMDB push notifications: MS-OXCRPC 3.1.4.5, MS-OXCNOTIF 2.2.1.3.3).
 *
 * - A readable registration is rewritten to (gateway internal address, relay port R); the
 *   server's datagrams to R are relayed to the client's address as the gateway sees it and the
 *   UDP port the client registered. Only the server the client's store connection goes to may use
 *   R. Keyed by R (a direct 64 Ki index); registrations die with the store connection.
 * - An encrypted registration cannot be read: with the rule's "pinhole" option, datagrams from
 *   the server to the client's address on the rule's notification ports pass while the store
 *   connection lives.
 * Bounded: one registration per (connection, client port), relay ports from a fixed range.
 */
export class NotifyRelay {
  private readonly byPort = new Int32Array(65536).fill(-1);
  private readonly flowOf: Int32Array;
  private readonly clientIpOf: Uint32Array;
  private readonly clientPortOf: Uint16Array;
  private readonly serverIpOf: Uint32Array;
  private readonly extIpOf: Uint32Array;
  private readonly portOf: Uint16Array;
  /**
   * Released rows as a stack (free[0..freeTop)), taken before the never-used rows [unused, max):
   * rows go out in the order a full stack would give them, without a 64k-step fill at start-up.
   */
  private readonly free: Int32Array;
  private freeTop = 0;
  private unused = 0;
  private readonly byFlow = new Map<number, number[]>();
  /** clientIp → serverIp → { sessions, extIp, lo, hi } for encrypted registrations. */
  private readonly pinholes = new Map<number, Map<number, { flows: Set<number>; extIp: number; lo: number; hi: number }>>();
  private readonly pinholeByFlow = new Map<number, [number, number]>();
  private cursor = 0;
  count = 0;

  constructor(private readonly maxRegistrations = 65536) {
    this.flowOf = new Int32Array(maxRegistrations).fill(-1);
    this.clientIpOf = new Uint32Array(maxRegistrations);
    this.clientPortOf = new Uint16Array(maxRegistrations);
    this.serverIpOf = new Uint32Array(maxRegistrations);
    this.extIpOf = new Uint32Array(maxRegistrations);
    this.portOf = new Uint16Array(maxRegistrations);
    this.free = new Int32Array(maxRegistrations);
  }

  private full(): boolean {
    return this.freeTop === 0 && this.unused === this.maxRegistrations;
  }

  /** A relay port in [lo, hi] for this registration (the same one again for a repeated registration), or -1. */
  register(flow: number, clientIp: number, clientPort: number, serverIp: number, extIp: number, lo: number, hi: number): number {
    const mine = this.byFlow.get(flow);
    if (mine !== undefined) for (const id of mine) if (this.clientPortOf[id] === clientPort) return this.portOf[id]!;
    if (this.full() || hi < lo) return -1;
    const span = hi - lo + 1;
    for (let i = 0; i < span; i++) {
      const port = lo + ((this.cursor + i) % span);
      if (this.byPort[port]! >= 0) continue;
      this.cursor = (this.cursor + i + 1) % span;
      this.add(flow, clientIp, clientPort, serverIp, extIp, port);
      return port;
    }
    return -1;
  }

  /** Registration id of a relay port, or -1. */
  lookup(port: number): number {
    return this.byPort[port]!;
  }

  clientIp(id: number): number {
    return this.clientIpOf[id]!;
  }
  clientPort(id: number): number {
    return this.clientPortOf[id]!;
  }
  serverIp(id: number): number {
    return this.serverIpOf[id]!;
  }
  extIp(id: number): number {
    return this.extIpOf[id]!;
  }
  flow(id: number): number {
    return this.flowOf[id]!;
  }

  openPinhole(flow: number, clientIp: number, serverIp: number, extIp: number, lo: number, hi: number): void {
    if (this.pinholeByFlow.has(flow)) return;
    let byServer = this.pinholes.get(clientIp);
    if (byServer === undefined) this.pinholes.set(clientIp, (byServer = new Map()));
    let p = byServer.get(serverIp);
    if (p === undefined) byServer.set(serverIp, (p = { flows: new Set(), extIp, lo, hi }));
    p.flows.add(flow);
    this.pinholeByFlow.set(flow, [clientIp, serverIp]);
  }

  /** The pinhole letting `serverIp` send to `clientIp`, if a session holds one open. */
  pinhole(clientIp: number, serverIp: number): { extIp: number; lo: number; hi: number } | undefined {
    return this.pinholes.get(clientIp)?.get(serverIp);
  }

  /** The store connection is gone: its registrations and pinhole go with it. */
  removeFlow(flow: number): void {
    const mine = this.byFlow.get(flow);
    if (mine !== undefined) {
      for (const id of mine) {
        this.byPort[this.portOf[id]!] = -1;
        this.flowOf[id] = -1;
        this.free[this.freeTop++] = id;
        this.count--;
      }
      this.byFlow.delete(flow);
    }
    const ph = this.pinholeByFlow.get(flow);
    if (ph !== undefined) {
      this.pinholeByFlow.delete(flow);
      const byServer = this.pinholes.get(ph[0]);
      const p = byServer?.get(ph[1]);
      if (p !== undefined) {
        p.flows.delete(flow);
        if (p.flows.size === 0) byServer!.delete(ph[1]);
        if (byServer!.size === 0) this.pinholes.delete(ph[0]);
      }
    }
  }

  get pinholeCount(): number {
    return this.pinholeByFlow.size;
  }

  /** A flow's registrations as [client port, relay port] pairs (state snapshot). */
  registrationsOf(flow: number): [number, number][] {
    const out: [number, number][] = [];
    for (const id of this.byFlow.get(flow) ?? []) out.push([this.clientPortOf[id]!, this.portOf[id]!]);
    return out;
  }

  /** True if the flow holds an encrypted-registration pinhole open. */
  hasPinhole(flow: number): boolean {
    return this.pinholeByFlow.has(flow);
  }

  /**
   * Re-creates a registration saved by a state snapshot on the same relay port (the server was
   * told that address). False if the port is taken or outside [lo, hi], or the table is full.
   */
  restore(flow: number, clientIp: number, clientPort: number, serverIp: number, extIp: number, port: number, lo: number, hi: number): boolean {
    if (port < lo || port > hi || port < 1 || port > 0xffff || this.byPort[port]! >= 0 || this.full()) return false;
    this.add(flow, clientIp, clientPort, serverIp, extIp, port);
    return true;
  }

  /** A registration on a free port (the caller checked there is a free row). */
  private add(flow: number, clientIp: number, clientPort: number, serverIp: number, extIp: number, port: number): void {
    const id = this.freeTop > 0 ? this.free[--this.freeTop]! : this.unused++;
    this.byPort[port] = id;
    this.flowOf[id] = flow;
    this.clientIpOf[id] = clientIp;
    this.clientPortOf[id] = clientPort;
    this.serverIpOf[id] = serverIp;
    this.extIpOf[id] = extIp;
    this.portOf[id] = port;
    const mine = this.byFlow.get(flow);
    if (mine === undefined) this.byFlow.set(flow, [id]);
    else mine.push(id);
    this.count++;
  }
}
