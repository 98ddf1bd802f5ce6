/**
 * Parsers and checks for the rules file's text fields that need more than a pattern: port ranges,
 * interface entries, client networks. Shared by the semantic checks (check.ts, https.ts) and the compiler (compile.ts).
 */
import { INTERFACE_SETS, SET_ANY } from './interfaces.js';
import type { KnownInterface } from './interfaces.js';
import type { ProblemSink } from './document.js';
import { show } from './document.js';
import { ipv4ToString, parseCidr4 } from '../wire/addr.js';

export const PORT_MIN = 1024;
export const PORT_MAX = 65535;
/** The endpoint mapper's port; the gateway itself answers there. */
export const EPM_PORT = 135;
export const PORT_RANGE_EXPECTED = `"LO-HI" with ${PORT_MIN} <= LO <= HI <= ${PORT_MAX}`;

/** "LO-HI" or "PORT" as numbers (not range-checked); null if not that shape. */
export function parsePortRange(text: string): { lo: number; hi: number } | null {
  const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(text);
  if (m === null) return null;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  return { lo, hi };
}

/** Why a port range is unacceptable, or null when it is fine. */
export function portRangeProblem(text: string): string | null {
  const r = parsePortRange(text);
  if (r !== null && r.lo >= PORT_MIN && r.lo <= r.hi && r.hi <= PORT_MAX) return null;
  const found = `expected ${PORT_RANGE_EXPECTED}, found ${JSON.stringify(text)}`;
  if (r === null) return found;
  if (r.lo <= EPM_PORT && EPM_PORT <= r.hi) return `${found} (the range contains ${EPM_PORT}, the endpoint mapper's own port)`;
  if (r.lo > r.hi) return `${found} (LO is above HI)`;
  return found;
}

export type InterfaceEntry =
  | { kind: 'any' }
  | { kind: 'set'; name: string; members: readonly KnownInterface[] }
  /** major/minor -1: any version. */
  | { kind: 'uuid'; uuid: string; major: number; minor: number };

const UUID_RE = /^([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})(?:@([0-9]{1,5})\.([0-9]{1,5}))?$/;
const VERSION_MAX = 65535;

/** An `interfaces` entry, or null if it is none of the accepted forms (or a version is > 65535). */
export function parseInterfaceEntry(text: string): InterfaceEntry | null {
  if (text === SET_ANY) return { kind: 'any' };
  const members = INTERFACE_SETS.get(text);
  if (members !== undefined) return { kind: 'set', name: text, members };
  const m = UUID_RE.exec(text);
  if (m === null || m[1] === undefined) return null;
  if (m[2] === undefined || m[3] === undefined) return { kind: 'uuid', uuid: m[1].toLowerCase(), major: -1, minor: -1 };
  const major = Number(m[2]);
  const minor = Number(m[3]);
  if (major > VERSION_MAX || minor > VERSION_MAX) return null;
  return { kind: 'uuid', uuid: m[1].toLowerCase(), major, minor };
}

export const INTERFACE_ENTRY_EXPECTED =
  '"exchange", "any", "emsmdb", "asyncemsmdb", "nspi", "rfr", "UUID" or "UUID@MAJOR.MINOR" (versions 0..65535)';

/**
 * Client networks (a rule's clients or servers, an RPC proxy's clients): each a CIDR with its host bits
 * zero, each once. [network, mask] pairs, or null if any entry is invalid (then each got a located error).
 */
export function checkClientNets(sink: ProblemSink, path: string, clients: unknown): Array<[number, number]> | null {
  if (!Array.isArray(clients) || !sink.clean(path)) return null;
  const out: Array<[number, number]> = [];
  const at: number[] = []; // out[k] came from clients[at[k]]
  clients.forEach((c: unknown, i) => {
    const p = `${path}/${i}`;
    const text = typeof c === 'string' && sink.clean(p) ? c : undefined;
    if (text === undefined) return;
    const cidr = parseCidr4(text);
    if (cidr === null) {
      sink.error(p, `expected an IPv4 CIDR (e.g. "198.51.100.0/24"), found ${show(text)}`);
      return;
    }
    const dup = out.findIndex(([n, m]) => n === cidr.network && m === cidr.mask);
    if (dup >= 0 && cidr.addr === cidr.network) {
      sink.error(p, `expected each client network once, found ${show(text)} again (also ${path}/${at[dup]})`);
      return;
    }
    if (cidr.addr !== cidr.network) {
      sink.error(p, `expected a network address with the host bits zero, found ${show(text)} ` +
        `(did you mean "${ipv4ToString(cidr.network)}/${cidr.prefixLen}"?)`);
      return;
    }
    out.push([cidr.network, cidr.mask]);
    at.push(i);
  });
  return out.length === clients.length ? out : null;
}
