/**
 * Ports the daemon owns, kept out of the host's own ephemeral ports. The kernel picks the local
 * port of every outgoing connection (and unbound UDP socket) from net.ipv4.ip_local_port_range;
 * a mapped range, gateway.natPorts or the notification relay range inside it would be shared
 * with the gateway's own connections, whose answers the guard then hands to the daemon (they
 * hang). Such ranges are added to net.ipv4.ip_local_reserved_ports while the daemon runs and
 * taken out again on stop; what was there before (the administrator's own reservations) stays.
 * Both files are per network namespace.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { INSPECT_KERNEL, type CompiledRules } from '../policy/compiled.js';

export const LOCAL_PORT_RANGE = '/proc/sys/net/ipv4/ip_local_port_range';
export const RESERVED_PORTS = '/proc/sys/net/ipv4/ip_local_reserved_ports';

export class PortReserveError extends Error {}

/** A port range the daemon owns, with what it is for (log and error text). */
export interface OwnedRange {
  lo: number;
  hi: number;
  what: string;
}

/** The port ranges the daemon owns on the host: natPorts, kernelNatPorts and the relay ports (if used), each enabled rule's mapped range. */
export function ownedRanges(r: CompiledRules): OwnedRange[] {
  const g = r.gateway;
  const out: OwnedRange[] = [{ lo: g.natPortLo, hi: g.natPortHi, what: 'gateway.natPorts' }];
  if (r.rules.some((x) => x.enabled && x.mappedInspection === INSPECT_KERNEL)) out.push({ lo: g.kernelNatPortLo, hi: g.kernelNatPortHi, what: 'gateway.kernelNatPorts' });
  if (r.rules.some((x) => x.enabled && x.notifications)) out.push({ lo: g.notifyRelayLo, hi: g.notifyRelayHi, what: 'gateway.notificationRelayPorts' });
  for (const x of r.rules) if (x.enabled && !x.outbound) out.push({ lo: x.portLo, hi: x.portHi, what: `rule ${x.name} mappedPorts` });
  return out;
}

/** "8080,40000-40999" -> one byte per port (1 = in the list). Unparseable parts are ignored. */
export function parsePortList(text: string, into = new Uint8Array(65536)): Uint8Array {
  for (const part of text.trim().split(',')) {
    const m = /^\s*(\d{1,5})(?:-(\d{1,5}))?\s*$/.exec(part);
    if (m === null) continue;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let p = lo; p <= hi && p <= 65535; p++) into[p] = 1;
  }
  return into;
}

/** The inverse of parsePortList: ascending, runs as "LO-HI". */
export function formatPortList(ports: Uint8Array): string {
  const out: string[] = [];
  for (let p = 0; p < 65536; p++) {
    if (ports[p] !== 1) continue;
    let q = p;
    while (q + 1 < 65536 && ports[q + 1] === 1) q++;
    out.push(p === q ? String(p) : `${p}-${q}`);
    p = q;
  }
  return out.join(',');
}

/** The host's ephemeral range [lo, hi], or null if it cannot be read. */
export function localPortRange(path = LOCAL_PORT_RANGE): [number, number] | null {
  try {
    const [lo, hi] = readFileSync(path, 'utf8').trim().split(/\s+/).map(Number);
    return lo !== undefined && hi !== undefined && Number.isInteger(lo) && Number.isInteger(hi) ? [lo, hi] : null;
  } catch {
    return null;
  }
}

/** What reserve() did, for the log record and for release(). */
export interface Reservation {
  /** ip_local_port_range at start. */
  localRange: [number, number];
  /** The owned ranges that overlap it (reserved), and those that do not (nothing to do). */
  reserved: OwnedRange[];
  outside: OwnedRange[];
  /** ip_local_reserved_ports before and after. */
  before: string;
  after: string;
  /** Ports this reservation added (not reserved before): what release() takes out again. */
  added: Uint8Array;
}

/**
 * Reserves every owned range that overlaps ip_local_port_range (the whole range, so a later
 * widening of the ephemeral range is covered too). Throws PortReserveError, changing nothing,
 * when the sysctl cannot be read or written or does not take the value.
 */
export function reservePorts(owned: readonly OwnedRange[], paths = { range: LOCAL_PORT_RANGE, reserved: RESERVED_PORTS }): Reservation {
  const localRange = localPortRange(paths.range);
  if (localRange === null) throw new PortReserveError(`cannot read ${paths.range}: the daemon's port ranges cannot be checked against the host's ephemeral ports`);
  const [llo, lhi] = localRange;
  const reserved = owned.filter((r) => r.lo <= lhi && r.hi >= llo);
  const outside = owned.filter((r) => !(r.lo <= lhi && r.hi >= llo));
  let before: string;
  try {
    before = readFileSync(paths.reserved, 'utf8').trim();
  } catch (e) {
    throw new PortReserveError(`cannot read ${paths.reserved}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const had = parsePortList(before);
  const want = Uint8Array.from(had);
  const added = new Uint8Array(65536);
  for (const r of reserved) {
    for (let p = r.lo; p <= r.hi; p++) {
      if (want[p] !== 1) added[p] = 1;
      want[p] = 1;
    }
  }
  const after = formatPortList(want);
  const res: Reservation = { localRange, reserved, outside, before, after, added };
  if (after === formatPortList(had)) return res;
  const names = reserved.map((r) => `${r.what} ${r.lo}-${r.hi}`).join(', ');
  try {
    writeFileSync(paths.reserved, after + '\n');
  } catch (e) {
    throw new PortReserveError(
      `${names} overlap${reserved.length === 1 ? 's' : ''} net.ipv4.ip_local_port_range ${llo}-${lhi} and ${paths.reserved} cannot be written ` +
        `(${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): move the range${reserved.length === 1 ? '' : 's'} out of ${llo}-${lhi}, or narrow ip_local_port_range`,
    );
  }
  const now = parsePortList(readFileSync(paths.reserved, 'utf8'));
  for (const r of reserved) {
    for (let p = r.lo; p <= r.hi; p++) {
      if (now[p] !== 1) {
        releasePorts(res, paths.reserved);
        throw new PortReserveError(`${paths.reserved} did not take ${r.what} ${r.lo}-${r.hi} (port ${p} missing after the write)`);
      }
    }
  }
  return res;
}

/**
 * Takes out what reservePorts added, leaving whatever else is there now (reservations made by
 * others since). Never throws (stop and crash paths).
 */
export function releasePorts(res: Reservation, path = RESERVED_PORTS): void {
  try {
    const now = parsePortList(readFileSync(path, 'utf8'));
    let changed = false;
    for (let p = 0; p < 65536; p++) {
      if (res.added[p] === 1 && now[p] === 1) {
        now[p] = 0;
        changed = true;
      }
    }
    if (changed) writeFileSync(path, formatPortList(now) + '\n');
  } catch {
    // nothing more can be done on the way out
  }
}
