/**
 * RPC over HTTPS, live: `rpcgw run` listens on 443 on the gateway's external address as the RPC
 * proxy, Samba (ncacn_ip_tcp, its ports pinned to 49152-49200) behind it, Impacket's ncacn_http
 * transport (RPC over HTTP v2, HTTP Basic to the proxy) in the client namespace. tshark reads the
 * inside leg (gateway <-> server) to show what of the refused reached the server: nothing.
 * Web publishing in the same lab: nginx in the server namespace with a certificate from a second
 * test CA, published paths forwarded over verified TLS, one published with the wrong CA.
 * One lab for the file; certificates come from test CAs made with openssl.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { LAB, Lab } from '../../src/lab/lab.js';
import { exec, findTool, spawnIn, stopGroup, waitForLine } from '../../src/lab/netns.js';
import { RPCH_TLS12_PORT, addRpchSections, makeCertificates, rpchClient, rpchLabFiles, samrPort as askSamrPort, type RpchClientResult } from '../../src/lab/rpch-lab.js';
import { haveTshark, tshark } from '../helpers/tshark.js';
import { LIVE_TIMEOUT_MS, repoRoot, skipLive } from './live.js';

const SAMR = '12345778-1234-abcd-ef00-0123456789ac';
const LSARPC = '12345778-1234-abcd-ef00-0123456789ab';

/**
 * A listener's header timeout, and how long the backend holds a request: longer than every
 * timeout on the path (the 90 s long poll). The held request starts at the end of
 * beforeAll and is awaited by the file's last test, so the other tests run meanwhile.
 */
const HEADERS_TIMEOUT_S = 3;
const HOLD_S = 90;

function nginxConf(dir: string, cert: string, key: string): string {
  const p = (f: string): string => path.join(dir, f);
  return `load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;
daemon off;
pid ${p('nginx.pid')};
error_log ${p('nginx-error.log')};
events {}
http {
  access_log ${p('nginx-access.log')};
  client_body_temp_path ${p('nginx-body')}; proxy_temp_path ${p('nginx-proxy')}; fastcgi_temp_path ${p('nginx-fcgi')};
  uwsgi_temp_path ${p('nginx-uwsgi')}; scgi_temp_path ${p('nginx-scgi')};
  client_max_body_size 16m;
  server {
    listen ${LAB.server}:443 ssl;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    location /owa/ { return 200 "owa host=$host xff=$http_x_forwarded_for proto=$http_x_forwarded_proto user=$remote_user\n"; }
    location = /owa/hold { echo_sleep ${HOLD_S}; echo "held ${HOLD_S} s"; }
    location /Microsoft-Server-ActiveSync { echo_read_request_body; echo_request_body; }
    location / { return 200 "backend root $uri\n"; }
  }
}
`;
}

const haveSambaPython = spawnSync('/usr/bin/python3', ['-c', 'import samba.dcerpc.samr']).status === 0;
if (!haveSambaPython) console.warn('[rpcgw live tests] RPC over HTTPS: the python3-samba client case is SKIPPED (apt-get install python3-samba)');

/** nginx, htpasswd and openssl come with scripts/install.sh; without them the suite says so and skips. */
const missingTools = ['nginx', 'htpasswd', 'openssl'].filter((t) => findTool(t) === null);
if (missingTools.length > 0) console.warn(`[rpcgw live tests] RPC over HTTPS: SKIPPED, needs ${missingTools.join(', ')} (scripts/install.sh)`);

describe.skipIf(skipLive('RPC over HTTPS') || !haveTshark || missingTools.length > 0)('RPC over HTTPS through rpcgw\'s RPC proxy', () => {
  const lab = new Lab();
  let dir = '';
  let samrPort = 0;
  let capture: ChildProcess | null = null;
  let nginx: ChildProcess | null = null;
  let outside: ChildProcess | null = null;
  let held: Promise<{ code: number | null; out: string }> | null = null;
  const pcap = (): string => path.join(dir, 'inside.pcapng');

  const client = (opts: { iface?: 'samr' | 'lsarpc' | 'epm'; level?: number; password?: string; remote?: string; port?: number }): Promise<RpchClientResult> =>
    rpchClient(repoRoot, lab.nsName('client'), { user: lab.samba!.user, password: opts.password ?? lab.samba!.password, port: opts.port ?? samrPort, ...(opts.iface ? { iface: opts.iface } : {}), ...(opts.level ? { level: opts.level } : {}), ...(opts.remote ? { remote: opts.remote } : {}) });

  beforeAll(async () => {
    await lab.up({ repoRoot, daemon: false });
    dir = lab.dir!;
    const samba = lab.samba!;
    const files = await rpchLabFiles(dir, samba.user, samba.password);
    const backend = await makeCertificates(dir, 'exchange.lab', LAB.server);
    writeFileSync(path.join(dir, 'nginx.conf'), nginxConf(dir, backend.cert, backend.key));
    nginx = spawnIn(lab.nsName('server'), ['nginx', '-c', path.join(dir, 'nginx.conf')]);
    samrPort = await askSamrPort(lab.nsName('gateway'));
    addRpchSections(lab.rulesPath, files, {
      listener: { headersTimeoutSeconds: HEADERS_TIMEOUT_S },
      webPublishing: [
        { name: 'activesync', listener: 'mail', paths: ['/Microsoft-Server-ActiveSync', '/owa'], backend: `https://${LAB.server}`, backendCa: backend.ca, backendServerName: 'exchange.lab' },
        { name: 'untrusted', listener: 'mail', paths: ['/untrusted'], backend: `https://${LAB.server}`, backendCa: files.ca, backendServerName: 'exchange.lab' },
      ],
    });
    // The daemon writes its TLS session keys (Node's --tls-keylog) so tshark can read the outer leg.
    process.env.NODE_OPTIONS = `--tls-keylog=${path.join(dir, 'tls-keys.log')}`;
    try {
      await lab.startDaemon();
    } finally {
      delete process.env.NODE_OPTIONS;
    }
    outside = spawnIn(lab.nsName('gateway'), ['tshark', '-i', LAB.ifExt, '-f', 'tcp port 443', '-w', path.join(dir, 'outside.pcapng')]);
    await waitForLine(outside, (l) => l.includes('Capturing on'), 15_000, 'tshark', 'stderr');
    capture = spawnIn(lab.nsName('gateway'), ['tshark', '-i', LAB.ifInt, '-f', `host ${LAB.server}`, '-w', pcap()]);
    await waitForLine(capture, (l) => l.includes('Capturing on'), 15_000, 'tshark', 'stderr');
    held = curl([url('/owa/hold')], HOLD_S + 60);
  }, LIVE_TIMEOUT_MS);

  afterAll(async () => {
    await stopGroup(capture, 'SIGINT');
    await stopGroup(outside, 'SIGINT');
    await stopGroup(nginx, 'SIGTERM');
    await lab.down();
  }, LIVE_TIMEOUT_MS);

  it('impacket binds samr over ncacn_http at auth level 6 and enumerates the domains', async () => {
    const r = await client({});
    expect(r.error).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(r.result).toEqual(expect.arrayContaining(['Builtin']));
    expect(await lab.waitFor((x) => x.event === 'rpch-connected', 5_000)).not.toBeNull();
  }, LIVE_TIMEOUT_MS);

  it('RemotePort 593 (the endpoint mapper over HTTP) is carried to the server\'s 135: ept_map for samr answers its port', async () => {
    const r = await client({ iface: 'epm', port: 593 });
    expect(r.error).toBeUndefined();
    expect(String(r.result)).toBe(`ncacn_ip_tcp:server.lab[${samrPort}]`);
    const rec = lab.daemonLogs().filter((x) => x.event === 'rpch-connected').pop();
    expect(rec).toMatchObject({ remote: 'server.lab:593', server: `${LAB.server}:135` });
  }, LIVE_TIMEOUT_MS);

  it.skipIf(!haveSambaPython)(`python3-samba's client (ncacn_http, HttpAuthOption=basic, sealed; the TLS 1.2 listener on ${RPCH_TLS12_PORT}) enumerates the domains too`, async () => {
    const samba = lab.samba!;
    const conf = path.join(dir, 'samba-client.conf');
    // ca_only: the certificate must chain to the lab CA; its name is not checked (the proxy is named by address).
    writeFileSync(conf, `[global]\n  workgroup = RPCGWLAB\n  tls cafile = ${path.join(dir, 'mail.lab-ca.pem')}\n  tls verify peer = ca_only\n`);
    const script = [
      'import sys',
      'from samba import credentials, param',
      'from samba.dcerpc import samr',
      'lp = param.LoadParm(); lp.load(sys.argv[1])',
      'c = credentials.Credentials(); c.guess(lp); c.set_username(sys.argv[2]); c.set_password(sys.argv[3]); c.set_domain("")',
      'conn = samr.samr(sys.argv[4], lp, c)',
      'h = conn.Connect2(None, 0x02000000)',
      'r = conn.EnumDomains(h, 0, 100)',
      'print(sorted(str(e.name.string) for e in r[1].entries))',
    ].join('\n');
    const binding = `ncacn_http:server.lab[${samrPort},RpcProxy=${LAB.gatewayExt}:${RPCH_TLS12_PORT},HttpAuthOption=basic,seal]`;
    const r = await exec(lab.nsName('client'), ['/usr/bin/python3', '-c', script, conf, samba.user, samba.password, binding], { timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/'Builtin'/);
  }, LIVE_TIMEOUT_MS);

  it('a bind to an interface outside the rule (lsarpc on samr\'s port) is refused and logged with the user', async () => {
    const r = await client({ iface: 'lsarpc' });
    expect(r.ok).toBe(false);
    expect(r.bound).toBe(false);
    const rec = await lab.waitFor((x) => x.event === 'rpch-refused' && x.reason === 'bind-interface-not-allowed', 10_000);
    expect(rec).toMatchObject({ rpcOverHttp: 'outlook-anywhere', client: LAB.client, user: lab.samba!.user });
    expect(String(rec!.interface)).toMatch(new RegExp(`^${LSARPC}@0\\.0`));
  }, LIVE_TIMEOUT_MS);

  it('auth level 5 is refused under requireEncryption', async () => {
    const r = await client({ level: 5 });
    expect(r.ok).toBe(false);
    const rec = await lab.waitFor((x) => x.event === 'rpch-refused' && x.reason === 'encryption-required', 10_000);
    expect(String(rec?.detail)).toMatch(/auth level 5/);
  }, LIVE_TIMEOUT_MS);

  it('a wrong password gets 401 with WWW-Authenticate: Basic', async () => {
    const r = await client({ password: 'not-the-password' });
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/401/);
    const curl = await exec(lab.nsName('client'), ['curl', '-sk', '-o', '/dev/null', '-D', '-', '-X', 'RPC_IN_DATA',
      `https://${LAB.gatewayExt}/rpc/rpcproxy.dll?server.lab:${samrPort}`]);
    expect(curl.stdout).toMatch(/^HTTP\/1\.1 401/);
    expect(curl.stdout).toMatch(/www-authenticate: Basic realm="rpcgw"/i);
    expect(await lab.waitFor((x) => x.event === 'https-auth-failed', 5_000)).not.toBeNull();
  }, LIVE_TIMEOUT_MS);

  it('a RemoteName:port outside validPorts is refused', async () => {
    const badPort = await client({ port: 135 });
    expect(badPort.ok).toBe(false);
    const badName = await client({ remote: 'other.lab' });
    expect(badName.ok).toBe(false);
    const recs = lab.daemonLogs().filter((x) => x.event === 'rpch-refused' && x.reason === 'invalid-rpc-port');
    expect(recs.map((x) => String(x.msg))).toEqual(expect.arrayContaining([
      expect.stringMatching(/server\.lab:135 is not in the validPorts/), expect.stringMatching(/other\.lab:\d+ is not in the validPorts/),
    ]));
  }, LIVE_TIMEOUT_MS);

  it('nothing of the refused reached the server (tshark on the inside leg)', async () => {
    await new Promise((r) => setTimeout(r, 500));
    await stopGroup(capture, 'SIGINT');
    capture = null;
    await stopGroup(outside, 'SIGINT');
    outside = null;
    // The outer leg, decrypted with the key log: the channels and the RTS set-up are there (tshark
    // reads the OUT request's CONN/A1; it does not dissect the IN body's stream as DCE/RPC).
    const outer = tshark(['-r', path.join(dir, 'outside.pcapng'), '-o', `tls.keylog_file:${path.join(dir, 'tls-keys.log')}`,
      '-Y', 'http || dcerpc', '-T', 'fields', '-e', '_ws.col.Info']);
    expect(outer.some((l) => l.startsWith('RPC_IN_DATA /rpc/rpcproxy.dll?server.lab:'))).toBe(true);
    expect(outer.some((l) => l.includes('CONN/A1'))).toBe(true);
    expect(outer.some((l) => l.startsWith('RPC_IN_DATA /rpc/rpcproxy.dll?other.lab:'))).toBe(true);
    const binds = tshark(['-r', pcap(), '-d', `tcp.port==${samrPort},dcerpc`, '-Y', 'dcerpc.pkt_type == 11', '-T', 'fields', '-e', 'dcerpc.cn_bind_to_uuid', '-e', 'dcerpc.auth_level']);
    // The samr binds of the working call reached the server (the oracle sees binds at all)...
    expect(binds.some((l) => l.startsWith(SAMR) && l.endsWith('\t6'))).toBe(true);
    // ...but never the lsarpc bind, nor any bind at level 5.
    expect(binds.filter((l) => l.startsWith(LSARPC))).toEqual([]);
    expect(binds.filter((l) => l.endsWith('\t5'))).toEqual([]);
    // Server connections were opened only for the virtual connections the proxy accepted (no 401,
    // no bad port); 443 is web publishing's (the held request is open already).
    const syns = tshark(['-r', pcap(), '-Y', `tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.dst == ${LAB.server} && tcp.dstport != 443`, '-T', 'fields', '-e', 'tcp.dstport']);
    const connected = lab.daemonLogs().filter((x) => x.event === 'rpch-connected').length;
    // The daemon's metrics count the same.
    const m = await lab.metrics();
    const v = (name: string, labels: Record<string, string>): number =>
      m.filter((s) => s.name === name && Object.entries(labels).every(([k, x]) => s.labels[k] === x)).reduce((a, s) => a + s.value, 0);
    expect(v('rpcgw_rpch_refusals_total', { proxy: 'outlook-anywhere', kind: 'pdu' })).toBe(2);
    expect(v('rpcgw_rpch_refusals_total', { proxy: 'outlook-anywhere', kind: 'port' })).toBe(2);
    expect(v('rpcgw_rpch_virtual_connections_total', {})).toBe(connected);
    expect(syns.length).toBe(connected);
    expect(connected).toBe(haveSambaPython ? 5 : 4);
  }, LIVE_TIMEOUT_MS);

  const curl = async (args: string[], maxTimeS = 60): Promise<{ code: number | null; out: string }> => {
    const samba = lab.samba!;
    const r = await exec(lab.nsName('client'), ['curl', '-sk', '--max-time', String(maxTimeS), '-u', `${samba.user}:${samba.password}`, ...args], { timeoutMs: (maxTimeS + 30) * 1000 });
    return { code: r.code, out: r.stdout };
  };
  const url = (p: string): string => `https://${LAB.gatewayExt}${p}`;

  it('a published path reaches nginx over verified TLS with Host kept and X-Forwarded-For/-Proto added', async () => {
    const r = await curl(['-H', 'Host: mail.lab', url('/owa/inbox')]);
    expect(r.out).toBe(`owa host=mail.lab xff=${LAB.client} proto=https user=${lab.samba!.user}\n`);
  }, LIVE_TIMEOUT_MS);

  it('bodies are streamed both ways (1 MiB echoed back unchanged)', async () => {
    const body = path.join(dir, 'body.bin');
    writeFileSync(body, Buffer.alloc(1 << 20, 0x5a));
    const r = await curl(['--data-binary', `@${body}`, '-o', path.join(dir, 'echoed.bin'), '-w', '%{http_code}', url('/Microsoft-Server-ActiveSync?Cmd=Sync')]);
    expect(r.out).toBe('200');
    expect(readFileSync(path.join(dir, 'echoed.bin')).equals(readFileSync(body))).toBe(true);
  }, LIVE_TIMEOUT_MS);

  it('a backend whose certificate does not chain to backendCa is refused (502) and logged', async () => {
    const r = await curl(['-o', '/dev/null', '-w', '%{http_code}', url('/untrusted/x')]);
    expect(r.out).toBe('502');
    const rec = await lab.waitFor((x) => x.event === 'web-backend-error' && x.webPublishing === 'untrusted', 5_000);
    expect(String(rec?.code)).toMatch(/UNABLE_TO_VERIFY|SELF_SIGNED|CERT/);
  }, LIVE_TIMEOUT_MS);

  it('an unpublished path gets 404 and never reaches the backend; no password gets 401', async () => {
    expect((await curl(['-o', '/dev/null', '-w', '%{http_code}', url('/ecp/secret')])).out).toBe('404');
    const anon = await exec(lab.nsName('client'), ['curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', url('/owa/')]);
    expect(anon.stdout).toBe('401');
    const access = readFileSync(path.join(dir, 'nginx-access.log'), 'utf8');
    expect(access).toMatch(/\/owa\/inbox/);
    expect(access).not.toMatch(/\/ecp\/secret/);
    expect(access.split('\n').filter((l) => / \/owa\/ /.test(l))).toEqual([]);
  }, LIVE_TIMEOUT_MS);

  it('a reload applies a changed validPorts in place (593 out: refused; back: carried) and keeps the held web request; moving a listener is refused by name', async () => {
    const text = readFileSync(lab.rulesPath, 'utf8');
    type Doc = { rpcOverHttp: { validPorts: { ports: string }[] }[]; httpsListeners: { port: number }[] };
    const without = JSON.parse(text) as Doc;
    without.rpcOverHttp[0]!.validPorts = without.rpcOverHttp[0]!.validPorts.filter((v) => v.ports !== '593');
    const rec = await lab.hup(JSON.stringify(without, null, 2));
    expect(rec).toMatchObject({ event: 'reload' });
    expect(rec!.applied).toEqual(['rpcOverHttp']);
    const from = lab.daemonLogs().length;
    expect((await client({ iface: 'epm', port: 593 })).ok).toBe(false);
    const refused = await lab.waitFor((x) => x.event === 'rpch-refused' && x.reason === 'invalid-rpc-port', 5_000, from);
    expect(String(refused?.msg)).toMatch(/server\.lab:593 is not in the validPorts/);
    const moved = JSON.parse(text) as Doc;
    moved.httpsListeners[0]!.port = 4443;
    const no = await lab.hup(JSON.stringify(moved, null, 2));
    expect(no).toMatchObject({ event: 'reload-refused' });
    expect((no!.problems as string[]).join('\n')).toMatch(/httpsListeners "mail" address or port \(198\.51\.100\.1:443 -> 198\.51\.100\.1:4443\) changed: a reload cannot apply it/);
    expect(await lab.hup(text)).toMatchObject({ event: 'reload', applied: ['rpcOverHttp'] });
    const back = await client({ iface: 'epm', port: 593 });
    expect(back.error).toBeUndefined();
    expect(String(back.result)).toBe(`ncacn_ip_tcp:server.lab[${samrPort}]`);
  }, LIVE_TIMEOUT_MS);

  // Last: the request started at the end of beforeAll has been held by the backend while the
  // tests above ran.
  it(`a request the backend holds ${HOLD_S} s completes (longer than the listener's ${HEADERS_TIMEOUT_S} s header timeout, 5 s keep-alive and Node's default timeouts)`, async () => {
    const r = await held!;
    expect(r.code).toBe(0);
    expect(r.out).toBe(`held ${HOLD_S} s\n`);
  }, (HOLD_S + 120) * 1000);
});
