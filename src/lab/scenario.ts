/**
 * `rpcgw lab`: builds the lab, drives real clients through `rpcgw run`, narrates what happened
 * and tears everything down. Each step says what was expected; the exit code is 0 when every
 * expectation held, 1 when one did not, 2 when the lab could not be built.
 */
import {
  IFACES,
  LAB,
  Lab,
  isRefusal,
  isRewrite,
  ruleInterfaces,
  type AuthLevel,
  type CallIface,
  type MetricSample,
} from './lab.js';
import { missingLabPrereqs } from './prereqs.js';
import { findTool } from './netns.js';
import { RPCH_REMOTE, addRpchSections, rpchClient, rpchLabFiles, samrPort } from './rpch-lab.js';

const LEVEL_NAMES: Record<AuthLevel, string> = { 1: 'none', 5: 'integrity', 6: 'privacy' };
/** Published by the scenario's rule; wkssvc (registered by Samba, not published) must be refused. */
const PUBLISHED: CallIface[] = ['samr', 'srvsvc', 'winreg'];
const UNPUBLISHED = 'wkssvc' as const;
const MAPPED_LO = 40000;
const MAPPED_HI = 40999;

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined ? '?' : JSON.stringify(v);
}

function countBy<T>(items: readonly T[], key: (t: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const i of items) m.set(key(i), (m.get(key(i)) ?? 0) + 1);
  return m;
}

function formatCounts(m: Map<string, number>): string {
  return [...m].map(([k, v]) => `${k} ${v}`).join(', ');
}

export async function runLabScenario(opts: { repoRoot: string; write: (line: string) => void }): Promise<number> {
  const { write } = opts;
  const missing = missingLabPrereqs({ rpcclient: true });
  if (missing.length > 0) {
    write('rpcgw lab needs:');
    for (const m of missing) write(`  - ${m}`);
    return 2;
  }
  let failures = 0;
  const expect = (ok: boolean, line: string): void => {
    write(`${ok ? '  ok  ' : '  FAIL'} ${line}`);
    if (!ok) failures++;
  };

  const lab = new Lab();
  write('rpcgw lab: a client, a gateway and a server in three network namespaces');
  // RPC over HTTPS needs openssl (certificates) and htpasswd; without them that step is left out, said so.
  const rpchMissing = ['openssl', 'htpasswd'].filter((t) => findTool(t) === null);
  try {
    await lab.up({
      repoRoot: opts.repoRoot,
      rules: { interfaces: ruleInterfaces(PUBLISHED), lookup: 'deny' },
      progress: (l) => write(`  ${l}`),
      daemon: false,
    });
    if (rpchMissing.length === 0) addRpchSections(lab.rulesPath, await rpchLabFiles(lab.dir!, lab.samba!.user, lab.samba!.password));
    await lab.startDaemon();
    write(`  rpcgw run ready in ${lab.nsName('gateway')}`);
  } catch (e) {
    write(`the lab could not be built: ${(e as Error).message}`);
    return 2;
  }
  try {
    write(`  client   ${LAB.client} and ${LAB.client2} (${LAB.clientNet})`);
    write(`  gateway  ${LAB.ifExt} ${LAB.gatewayExt} | ${LAB.ifInt} ${LAB.gatewayInt}, IP forwarding off`);
    write(`  server   ${LAB.server}, Samba samba-dcerpcd (ports ${(await lab.samba!.listeningPorts()).join(', ')})`);
    write(`  rule     ${PUBLISHED.join(', ')} published to ${LAB.clientNet}, mapped ports ${MAPPED_LO}-${MAPPED_HI}, ept_lookup denied`);
    write('');
    await stepMap(lab, write, expect);
    await stepCalls(lab, write, expect);
    await stepSecondClient(lab, write, expect);
    await stepRefusedInterface(lab, write, expect);
    await stepRpcclient(lab, write, expect);
    if (rpchMissing.length === 0) await stepRpcOverHttps(lab, opts.repoRoot, write, expect);
    else write(`6. RPC over HTTPS: left out, needs ${rpchMissing.join(', ')}\n`);
    await summary(lab, write);
  } catch (e) {
    if (lab.interruptedBy !== null) write(`  interrupted by ${lab.interruptedBy}`);
    else write(`  FAIL the scenario stopped: ${(e as Error).message}`);
    failures++;
  } finally {
    write('');
    write('teardown');
    try {
      await lab.down();
      const x = lab.daemonExit;
      expect(x !== null && x.code === 0, `rpcgw run stopped on SIGTERM: ${x === null ? 'not running' : x.code !== null ? `exit ${x.code}` : `signal ${x.signal}`}`);
      const left = lab.leftovers();
      expect(left.length === 0, left.length === 0 ? 'namespaces, processes, nftables table and files all gone' : `left behind: ${left.join('; ')}`);
    } catch (e) {
      expect(false, (e as Error).message);
    }
  }
  write('');
  write(failures === 0 ? 'every step behaved as expected' : `${plural(failures, 'step')} did not behave as expected`);
  return failures === 0 ? 0 : 1;
}

type Expect = (ok: boolean, line: string) => void;
type Write = (line: string) => void;

function mappedPortOk(port: number | undefined): boolean {
  return port !== undefined && port >= MAPPED_LO && port <= MAPPED_HI;
}

/** ept_map for an interface; the mapped port, or null. */
async function mapped(lab: Lab, iface: CallIface): Promise<number | null> {
  const r = await lab.map(iface);
  const t = r.towers.find((x) => x.protocol === 'ncacn_ip_tcp');
  return r.code === 0 && t?.ip === LAB.gatewayExt && mappedPortOk(t.port) ? t.port! : null;
}

async function stepMap(lab: Lab, write: Write, expect: Expect): Promise<void> {
  const { uuid, version } = IFACES.samr;
  write(`1. ept_map samr (${uuid} v${version}) asked of ${LAB.gatewayExt}:135`);
  const from = lab.daemonLogs().length;
  const r = await lab.map('samr');
  if (r.code !== 0) {
    expect(false, `ept_map failed: ${r.error ?? '?'} (${r.kind ?? '?'})`);
    return;
  }
  const t = r.towers.find((x) => x.protocol === 'ncacn_ip_tcp');
  const rw = await lab.waitFor((rec) => isRewrite(rec) && str(rec.interface).toLowerCase().includes(uuid), 3_000, from);
  write(`     the server answered   ${rw ? str(rw.original) : '(no rewrite record in the daemon log)'}`);
  write(`     the client received   ${t ? `${t.ip}:${t.port}` : '(no TCP tower)'}`);
  expect(t?.ip === LAB.gatewayExt && mappedPortOk(t.port), `tower names the gateway's external address and a mapped port`);
  expect(rw !== null && str(rw.original).startsWith(`${LAB.server}:`), `the daemon logged the rewrite from the server's own endpoint`);
  write('');
}

async function stepCalls(lab: Lab, write: Write, expect: Expect): Promise<void> {
  write(`2. each published interface: ept_map, connect to the returned tower, bind, call`);
  for (const iface of PUBLISHED) {
    const port = await mapped(lab, iface);
    if (port === null) {
      expect(false, `${iface}: ept_map gave no usable tower`);
      continue;
    }
    for (const level of [1, 5, 6] as const) {
      const c = await lab.call(iface, port, level);
      const what = `${iface.padEnd(6)} ${LAB.gatewayExt}:${port} level ${level} (${LEVEL_NAMES[level]})`;
      expect(c.ok, c.ok ? `${what}: ${describeResult(c.result)}` : `${what}: ${c.error ?? '?'}`);
    }
  }
  write('');
}

function describeResult(r: Record<string, unknown> | undefined): string {
  if (r === undefined) return '';
  const calls = Array.isArray(r.calls) ? (r.calls as string[]).join(' + ') : '';
  const detail = Object.entries(r)
    .filter(([k]) => k !== 'calls')
    .map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(',') : str(v)}`)
    .join(', ');
  return `${calls} -> ${detail}`;
}

async function stepSecondClient(lab: Lab, write: Write, expect: Expect): Promise<void> {
  write(`3. the pinhole is for one client: ${LAB.client2} tries ${LAB.client}'s mapped port`);
  const port = await mapped(lab, 'samr');
  if (port === null) {
    expect(false, 'ept_map samr gave no usable tower');
    return;
  }
  const other = await lab.probe(LAB.client2, port);
  expect(other === 'timeout', `${LAB.client2} -> ${LAB.gatewayExt}:${port}: ${other === 'timeout' ? 'no answer (2 s)' : other}`);
  const own = await lab.probe(LAB.client, port);
  expect(own === 'connected', `${LAB.client} -> ${LAB.gatewayExt}:${port}: ${own}`);
  write('');
}

async function stepRefusedInterface(lab: Lab, write: Write, expect: Expect): Promise<void> {
  const { uuid, version } = IFACES[UNPUBLISHED];
  write(`4. ept_map ${UNPUBLISHED} (${uuid} v${version}): registered by Samba, not in the rule`);
  const from = lab.daemonLogs().length;
  const r = await lab.map(UNPUBLISHED);
  const refusal = await lab.waitFor((rec) => isRefusal(rec) && str(rec.interface).toLowerCase().includes(uuid), 3_000, from);
  expect(r.code !== 0 && r.towers.length === 0, r.code !== 0 ? `the client got no tower: ${r.kind ?? '?'} (${r.error ?? ''})` : `the client got an answer: status ${r.statusHex ?? '?'}, ${plural(r.towers.length, 'tower')}`);
  expect(refusal !== null, refusal ? `the daemon refused it: ${str(refusal.reason)}` : 'no refusal record in the daemon log');
  write('');
}

async function stepRpcclient(lab: Lab, write: Write, expect: Expect): Promise<void> {
  write(`5. a second real client: Samba's rpcclient ncacn_ip_tcp:${LAB.gatewayExt} (its own ept_map, NTLM)`);
  for (const [cmd, binding] of [
    ['srvinfo', `ncacn_ip_tcp:${LAB.gatewayExt}`],
    ['enumdomains', `ncacn_ip_tcp:${LAB.gatewayExt}[seal]`],
  ] as const) {
    const r = await lab.rpcclient(cmd, { binding });
    const first = (r.stdout.trim().split('\n')[0] ?? '').trim();
    expect(r.code === 0, `rpcclient ${binding} -c ${cmd}: ${r.code === 0 ? first : `exit ${r.code}: ${(r.stderr.trim() || r.stdout.trim()).split('\n').slice(-1)[0] ?? ''}`}`);
  }
  write('');
}

async function stepRpcOverHttps(lab: Lab, repoRoot: string, write: Write, expect: Expect): Promise<void> {
  const samba = lab.samba!;
  const port = await samrPort(lab.nsName('gateway'));
  write(`6. RPC over HTTPS: Impacket ncacn_http:${RPCH_REMOTE}[${port},RpcProxy=${LAB.gatewayExt}:443], HTTP Basic to rpcgw's RPC proxy, NTLM privacy inside`);
  const creds = { user: samba.user, password: samba.password, port };
  const ok = await rpchClient(repoRoot, lab.nsName('client'), creds);
  expect(ok.ok, ok.ok ? `samr through the proxy: domains ${(ok.result as string[]).join(', ')}` : `samr through the proxy failed: ${ok.error ?? '?'}`);
  const from = lab.daemonLogs().length;
  const refused = await rpchClient(repoRoot, lab.nsName('client'), { ...creds, iface: 'lsarpc' });
  const rec = await lab.waitFor((r) => r.event === 'rpch-refused', 5_000, from);
  expect(!refused.bound && rec !== null, rec !== null ? `an lsarpc bind inside it was refused: ${str(rec.reason)} (user ${str(rec.user)}, ${str(rec.interface)})` : 'the lsarpc bind was not refused');
  const wrong = await rpchClient(repoRoot, lab.nsName('client'), { ...creds, password: 'wrong' });
  expect(!wrong.ok && /401/.test(wrong.error ?? ''), `a wrong password: ${wrong.ok ? 'accepted' : (wrong.error ?? '').split(': ').slice(-1)[0] ?? ''}`);
  write('');
}

/** Sum of the samples named `name` (all label sets). */
function total(samples: readonly MetricSample[], name: string): number {
  return samples.filter((s) => s.name === name).reduce((a, s) => a + s.value, 0);
}

async function summary(lab: Lab, write: Write): Promise<void> {
  write('summary (from the daemon\'s metrics and log)');
  let samples: MetricSample[];
  try {
    samples = await lab.metrics();
  } catch (e) {
    write(`  metrics unavailable: ${(e as Error).message}`);
    samples = [];
  }
  const recs = lab.daemonLogs();
  const opened = recs.filter((r) => r.event === 'connection-open');
  const refusals = recs.filter(isRefusal);
  write(`  towers rewritten        ${total(samples, 'rpcgw_tower_rewrites_total')}`);
  write(`  pinholes opened         ${total(samples, 'rpcgw_pinholes_opened_total')}`);
  write(`  connections forwarded   ${total(samples, 'rpcgw_connections_opened_total')}${opened.length > 0 ? ` (${formatCounts(countBy(opened, (r) => str(r.kind)))})` : ''}`);
  write(`  connections refused     ${refusals.length}${refusals.length > 0 ? ` (${formatCounts(countBy(refusals, (r) => str(r.reason)))})` : ''}`);
  const drops = new Map<string, number>();
  for (const s of samples) {
    if (s.name === 'rpcgw_drops_total' && s.value > 0 && s.labels.reason !== undefined) drops.set(s.labels.reason, s.value);
  }
  write(`  drops by reason         ${drops.size === 0 ? 'none' : formatCounts(drops)}`);
}
