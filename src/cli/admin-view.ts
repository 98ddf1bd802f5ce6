/**
 * What the admin commands say, in words: a reload's changes (rules added / removed / changed,
 * gateway settings applied or needing a restart), a connection's state name, and `explain`
 * (which rule a client meets and what it may do) — like `nft monitor trace`, from the rules.
 */
import { ipv4ToString } from '../wire/addr.js';
import { INSPECT_NAMES, LOOKUP_NAMES, type CompiledGateway, type CompiledRule, type CompiledRules } from '../policy/compiled.js';
import { clientAllowed } from '../policy/match.js';
import { comparableEntry } from '../policy/https.js';
import {
  FLOW_ST_ACK_CLIENT, FLOW_ST_ACK_SERVER, FLOW_ST_ESTABLISHED, FLOW_ST_FIN_CLIENT, FLOW_ST_FIN_SERVER, FLOW_ST_RST, FLOW_ST_SYNACK_SERVER, FLOW_ST_SYN_CLIENT,
} from '../nat/flow-table.js';
import type { MappingListing } from '../engine/records.js';

/** Gateway fields a reload applies in place, and those that need a restart (capture, guard, sockets and tables were built for them). */
export function gatewayChanges(a: CompiledGateway, b: CompiledGateway): { applied: string[]; needRestart: string[] } {
  const applied: string[] = [];
  const needRestart: string[] = [];
  const fields: [string, (g: CompiledGateway) => unknown][] = [
    ['external.interface', (g) => g.externalInterface], ['external.address', (g) => g.externalIp],
    ['internal.interface', (g) => g.internalInterface], ['internal.address', (g) => g.internalIp],
    ['natPorts', (g) => `${g.natPortLo}-${g.natPortHi}`], ['kernelNatPorts', (g) => `${g.kernelNatPortLo}-${g.kernelNatPortHi}`], ['notificationRelayPorts', (g) => `${g.notifyRelayLo}-${g.notifyRelayHi}`],
    ['adminSocket', (g) => g.adminSocket], ['metrics.listen', (g) => g.metricsListen], ['limits', (g) => JSON.stringify(g.limits)],
  ];
  for (const [name, get] of fields) if (get(a) !== get(b)) needRestart.push(name);
  if (a.logLevel !== b.logLevel) applied.push('log.level');
  // Fields added later by other features: compared whole, so none is ignored silently.
  const known = new Set(['externalInterface', 'externalIp', 'internalInterface', 'internalIp', 'natPortLo', 'natPortHi', 'kernelNatPortLo', 'kernelNatPortHi', 'notifyRelayLo', 'notifyRelayHi', 'adminSocket', 'metricsListen', 'limits', 'logLevel']);
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (known.has(k)) continue;
    if (JSON.stringify((a as unknown as Record<string, unknown>)[k]) !== JSON.stringify((b as unknown as Record<string, unknown>)[k])) needRestart.push(k);
  }
  return { applied, needRestart };
}

/**
 * The HTTPS sections a reload changes, by name (the reload's `applied`; what of them cannot
 * change in place is HttpsFrontend.restartNeeded's to say).
 */
export function httpsChanges(a: CompiledRules, b: CompiledRules): string[] {
  const none = { listeners: [], rpcOverHttp: [], webPublishing: [] };
  const x = a.https ?? none;
  const y = b.https ?? none;
  const out: string[] = [];
  if (comparableEntry(x.listeners) !== comparableEntry(y.listeners)) out.push('httpsListeners');
  if (comparableEntry(x.rpcOverHttp) !== comparableEntry(y.rpcOverHttp)) out.push('rpcOverHttp');
  if (comparableEntry(x.webPublishing) !== comparableEntry(y.webPublishing)) out.push('webPublishing');
  return out;
}

/** A rule's compiled content without its position, comparable across reloads. */
function ruleKey(r: CompiledRule): string {
  return JSON.stringify(r, (k, v: unknown) => (k === 'index' ? undefined : ArrayBuffer.isView(v) ? Array.from(v as Uint32Array) : v));
}

export function rulesDiff(a: CompiledRules, b: CompiledRules): { rulesAdded: string[]; rulesRemoved: string[]; rulesChanged: string[] } {
  const before = new Map(a.rules.map((r) => [r.name, ruleKey(r)]));
  const after = new Map(b.rules.map((r) => [r.name, ruleKey(r)]));
  return {
    rulesAdded: [...after.keys()].filter((n) => !before.has(n)),
    rulesRemoved: [...before.keys()].filter((n) => !after.has(n)),
    rulesChanged: [...after.keys()].filter((n) => before.has(n) && before.get(n) !== after.get(n)),
  };
}

/** conntrack-style name of a flow's state bits. */
export function flowStateName(st: number): string {
  if ((st & FLOW_ST_RST) !== 0) return 'CLOSE';
  const fins = st & (FLOW_ST_FIN_CLIENT | FLOW_ST_FIN_SERVER);
  if (fins === (FLOW_ST_FIN_CLIENT | FLOW_ST_FIN_SERVER)) return 'TIME_WAIT';
  if (fins !== 0) return 'FIN_WAIT';
  if ((st & FLOW_ST_ESTABLISHED) !== 0 || (st & (FLOW_ST_ACK_CLIENT | FLOW_ST_ACK_SERVER)) === (FLOW_ST_ACK_CLIENT | FLOW_ST_ACK_SERVER)) return 'ESTABLISHED';
  if ((st & FLOW_ST_SYNACK_SERVER) !== 0) return 'SYN_RECV';
  if ((st & FLOW_ST_SYN_CLIENT) !== 0) return 'SYN_SENT';
  return 'NONE';
}

export interface Explanation {
  client: string;
  port: number | null;
  /** The rule the client meets per published address, first match wins. */
  addresses: { external: string; rule: string | null; lines: string[] }[];
  verdict: string;
}

function ruleWords(r: CompiledRule): string[] {
  const ifs = r.anyInterface ? 'any interface the server registers' : r.ifLabel.join(', ');
  return [
    `endpoint mapper ${ipv4ToString(r.externalIp)}:135 -> ${ipv4ToString(r.serverIp)}:135: ept_map allowed for ${ifs}; ept_lookup ${LOOKUP_NAMES[r.lookup]}`,
    `other interfaces refused (interface-not-published); binds on 135 to anything but the endpoint mapper refused (bind-interface-not-allowed)`,
    `mapped ports ${r.portLo}-${r.portHi}: only with a pinhole opened for this client by an ept_map answer (else no-pinhole), ` +
      `pinhole ${r.pinholeTimeoutMs / 1000}s, idle ${r.idleTimeoutMs / 1000}s, at most ${r.maxMappingsPerClient} pinholes`,
    `on mapped connections: ${r.requireEncryption ? 'binds below packet privacy refused (encryption-required)' : 'any auth level'}; ` +
      `inspection ${INSPECT_NAMES[r.mappedInspection] ?? r.mappedInspection}; notifications ${r.notifications ? 'relayed' : 'not rewritten'}`,
  ];
}

/** What explain reads of a client's live pinholes (engine.listMappings filtered by client). */
export type ClientPinhole = Pick<MappingListing, 'rule' | 'client' | 'external' | 'server'>;

/** Which rule `client` meets on each published address and what it may do (on `port` when given). */
export function explainClient(rules: CompiledRules, client: number, port: number | null, mappings: readonly ClientPinhole[] = []): Explanation {
  const clientText = ipv4ToString(client);
  // Published rules only: an outbound rule's clients are inside and reach no published address.
  const published = rules.rules.filter((r) => r.enabled && !r.outbound);
  const externals = [...new Set(published.map((r) => r.externalIp))];
  const addresses: Explanation['addresses'] = [];
  const verdicts: string[] = [];
  for (const ext of externals) {
    const extText = ipv4ToString(ext);
    const candidates = published.filter((r) => r.externalIp === ext);
    const rule = candidates.find((r) => clientAllowed(r, client)) ?? null;
    if (rule === null) {
      addresses.push({ external: extText, rule: null, lines: [`no enabled rule on ${extText} lists ${clientText} in its clients: refused (client-not-allowed)`] });
      if (port !== null) verdicts.push(`${extText}:${port}: refused (client-not-allowed)`);
      continue;
    }
    const lines = ruleWords(rule);
    const skipped = candidates.slice(0, candidates.indexOf(rule)).map((r) => r.name); // all before the first match: not the client's
    if (skipped.length > 0) lines.unshift(`rules before it on ${extText} do not list the client: ${skipped.join(', ')}`);
    addresses.push({ external: extText, rule: rule.name, lines });
    if (port === null) continue;
    if (port === 135) verdicts.push(`${extText}:135: rule ${rule.name}, endpoint-mapper policy applies`);
    else {
      const owner = rules.rules.find((r) => r.enabled && r.externalIp === ext && port >= r.portLo && port <= r.portHi);
      if (owner === undefined) verdicts.push(`${extText}:${port}: not published (port-not-published)`);
      else {
        const open = mappings.filter((m) => m.client === clientText && m.external === `${extText}:${port}`);
        verdicts.push(open.length > 0
          ? `${extText}:${port}: allowed now, pinhole of rule ${open[0]!.rule} to ${open[0]!.server}`
          : `${extText}:${port}: mapped range of rule ${owner.name}; no pinhole for this client now: dropped (no-pinhole) until an ept_map answer opens one`);
      }
    }
  }
  const verdict = port === null
    ? addresses.map((a) => (a.rule === null ? `${a.external}: refused` : `${a.external}: rule ${a.rule}`)).join('; ') || 'no rule is enabled'
    : verdicts.join('; ') || 'no rule is enabled';
  return { client: clientText, port, addresses, verdict };
}
