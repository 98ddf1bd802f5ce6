/**
 * The administrator's command line without a daemon: documented exit codes, `schema`,
 * `completion`, `explain --offline`, and the admin commands' answer when no daemon listens.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { runCli } from '../helpers/cli.js';
import { projectRoot } from '../helpers/shared.js';

const dir = mkdtempSync(path.join(tmpdir(), 'rpcgw-admin-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rules = path.join(projectRoot, 'rules', 'exchange.json');

describe('exit codes', () => {
  it('64 for a usage error, 65 for invalid rules, 66 for an unreadable rules file, 69 when no daemon listens', () => {
    expect(runCli(['check']).code).toBe(64);
    expect(runCli(['nosuchcommand']).code).toBe(64);
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{ "gateway": {} }');
    const r = runCli(['check', '--rules', bad]);
    expect(r.code).toBe(65);
    expect(r.stderr).toMatch(/^rpcgw: .*bad\.json/m);
    expect(runCli(['check', '--rules', path.join(dir, 'missing.json')]).code).toBe(66);
    const sock = path.join(dir, 'none.sock');
    for (const cmd of ['status', 'reload', 'mappings', 'flush', 'events']) {
      const s = runCli([cmd, '--socket', sock]);
      expect(s.code, cmd).toBe(69);
      expect(s.stderr).toMatch(/is rpcgw running\?/);
    }
  });

  it('-h and --help print the usage with exit 0, also after a command', () => {
    for (const args of [['-h'], ['--help'], ['reload', '-h'], ['events', '--help']]) {
      const r = runCli(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/rpcgw/);
    }
    expect(runCli(['events', '-h']).stdout).toMatch(/--client/);
  });
});

describe('rpcgw schema', () => {
  it('prints the rules schema, the same bytes as rules/schema.json', () => {
    const r = runCli(['schema']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(path.join(projectRoot, 'rules', 'schema.json'), 'utf8'));
    expect(JSON.parse(r.stdout)).toHaveProperty('$schema');
  });
});

describe('rpcgw completion', () => {
  it('is a bash script bash accepts that completes command names and options', () => {
    const r = runCli(['completion']);
    expect(r.code).toBe(0);
    const file = path.join(dir, 'rpcgw.bash');
    writeFileSync(file, r.stdout);
    const words = (line: string, cword: number): string[] => {
      const script = `source ${file}; COMP_WORDS=(${line}); COMP_CWORD=${cword}; _rpcgw_complete; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const b = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
      expect(b.stderr).toBe('');
      return b.stdout.split('\n').filter((l) => l !== '');
    };
    expect(words('rpcgw re', 1).sort()).toEqual(['reload', 'replay']);
    expect(words('rpcgw events --cl', 2)).toEqual(['--client']);
  });
});

describe('rpcgw explain --offline', () => {
  it('names the rule a client meets and what a port gives it', () => {
    const r = runCli(['explain', '--offline', '--rules', rules, '--client', '203.0.113.25', '--port', '135']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/rule exchange, endpoint-mapper policy applies/);
    expect(r.stdout).toMatch(/ept_map allowed for/);
    const mapped = runCli(['explain', '--offline', '--rules', rules, '--client', '203.0.113.25', '--port', '40001', '--json']);
    const x = JSON.parse(mapped.stdout) as { verdict: string };
    expect(x.verdict).toMatch(/no pinhole for this client now/);
    const other = runCli(['explain', '--offline', '--rules', rules, '--client', '203.0.113.25', '--port', '22']);
    expect(other.stdout).toMatch(/not published \(port-not-published\)/);
    expect(runCli(['explain', '--offline', '--rules', rules, '--client', 'nope']).code).toBe(64);
  });
});

describe('deploy/rpcgw.service', () => {
  const unit = path.join(projectRoot, 'deploy', 'rpcgw.service');
  // verify also checks that ExecStart's /usr/bin/node exists: only meaningful where it does.
  const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' }).status === 0 && existsSync('/usr/bin/node');

  it.skipIf(!analyze)('passes systemd-analyze verify without a warning', () => {
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('is Type=notify, reloads through rpcgw reload, and keeps only the network capabilities', () => {
    const text = readFileSync(unit, 'utf8');
    const value = (k: string): string[] => [...text.matchAll(new RegExp(`^${k}=(.*)$`, 'gm'))].map((m) => m[1]!);
    expect(value('Type')).toEqual(['notify']);
    expect(value('ExecReload')[0]).toMatch(/main\.js reload /);
    expect(value('CapabilityBoundingSet')[0]!.split(/\s+/).sort()).toEqual(['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW']);
    for (const k of ['NoNewPrivileges', 'PrivateTmp', 'ProtectHome']) expect(value(k)).toEqual(['yes']);
    expect(value('ProtectSystem')).toEqual(['strict']);
  });
});

describe('rpcgw run: a failed start', () => {
  it.skipIf(process.getuid?.() !== 0)('is a start-failed JSON record naming every missing interface at once, and touches nothing', () => {
    const doc = JSON.parse(readFileSync(rules, 'utf8')) as { gateway: Record<string, unknown> };
    doc.gateway.external = { interface: 'rpcgw-nosuch0', address: '198.51.100.1' };
    doc.gateway.internal = { interface: 'rpcgw-nosuch1', address: '192.0.2.1' };
    doc.gateway.adminSocket = path.join(dir, 'run', 'admin.sock');
    delete doc.gateway.metrics;
    const file = path.join(dir, 'missing-ifs.json');
    writeFileSync(file, JSON.stringify(doc));
    const r = runCli(['run', '--rules', file]);
    expect(r.code).toBe(1);
    const rec = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).find((x) => x.event === 'start-failed');
    expect(rec).toMatchObject({ level: 60, levelName: 'fatal', exitCode: 1 });
    expect(rec!.problems).toEqual([
      `interface rpcgw-nosuch0 does not exist (named in ${file})`,
      `interface rpcgw-nosuch1 does not exist (named in ${file})`,
    ]);
    expect(r.stderr).toMatch(/rpcgw-nosuch0.*rpcgw-nosuch1/);
  });
});

describe('rpcgw check', () => {
  it('--json: every problem located with file, line, column, path and rule; exit 65', () => {
    const file = path.join(dir, 'impossible.json');
    const doc = JSON.parse(readFileSync(rules, 'utf8')) as { rules: Record<string, unknown>[] };
    doc.rules[0]!.server = '224.0.0.1';
    doc.rules[0]!.externalAddress = '127.0.0.1';
    writeFileSync(file, JSON.stringify(doc, null, 2));
    const r = runCli(['check', '--rules', file, '--json']);
    expect(r.code).toBe(65);
    const out = JSON.parse(r.stdout) as { valid: boolean; problems: Record<string, unknown>[] };
    expect(out.valid).toBe(false);
    expect(out.problems.map((p) => [p.path, p.rule, p.severity])).toEqual([
      ['/rules/0/server', 'exchange', 'error'],
      ['/rules/0/externalAddress', 'exchange', 'error'],
    ]);
    const text = readFileSync(file, 'utf8').split('\n');
    for (const p of out.problems) expect(text[(p.line as number) - 1]!.slice((p.column as number) - 1)).toMatch(/^"(224\.0\.0\.1|127\.0\.0\.1)"/);
    // The text form: file:line:column: path (rule): message.
    const plain = runCli(['check', '--rules', file]);
    expect(plain.stderr).toMatch(new RegExp(`^rpcgw: ${file.replace(/[.]/g, '\\.')}:\\d+:\\d+: /rules/0/server \\(rule "exchange"\\): .*multicast`, 'm'));
  });

  it('warns when a range the daemon owns overlaps this host\'s ip_local_port_range', () => {
    const local = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    const file = path.join(dir, 'overlap.json');
    const doc = JSON.parse(readFileSync(rules, 'utf8')) as { rules: Record<string, unknown>[] };
    doc.rules[0]!.mappedPorts = `${local[0]}-${local[0]! + 99}`;
    writeFileSync(file, JSON.stringify(doc));
    const r = runCli(['check', '--rules', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^warning: rule exchange mappedPorts ${local[0]}-${local[0]! + 99} overlaps this host's net.ipv4.ip_local_port_range`, 'm'));
    const j = JSON.parse(runCli(['check', '--rules', file, '--json']).stdout) as { valid: boolean; portRangeOverlaps: { what: string }[] };
    expect(j.valid).toBe(true);
    expect(j.portRangeOverlaps.map((o) => o.what)).toContain('rule exchange mappedPorts');
  });
});

describe('rpcgw inspect input', () => {
  const sample = path.join(projectRoot, 'samples', 'exchange-epm.pcap');

  it('reads standard input (-) and gzip-compressed captures, with the same report as the file', () => {
    const plain = runCli(['inspect', sample]);
    expect(plain.code).toBe(0);
    const body = (s: string): string => s.replace(/^.*: (pcap|pcapng|netmon), /m, '');
    const gz = path.join(dir, 'epm.pcap.gz');
    writeFileSync(gz, spawnSync('gzip', ['-c', sample]).stdout);
    const fromGz = runCli(['inspect', gz]);
    expect(fromGz.code).toBe(0);
    expect(body(fromGz.stdout)).toBe(body(plain.stdout));
    expect(fromGz.stdout).toMatch(new RegExp(`^${gz.replace(/[.]/g, '\\.')}: pcap, `, 'm'));
    const fromStdin = runCli(['inspect', '-'], { input: readFileSync(sample) as unknown as string });
    expect(fromStdin.code).toBe(0);
    expect(body(fromStdin.stdout)).toBe(body(plain.stdout));
    const gzStdin = runCli(['inspect', '-'], { input: readFileSync(gz) as unknown as string });
    expect(body(gzStdin.stdout)).toBe(body(plain.stdout));
  });

  it('prints EPM status codes by name', () => {
    const r = runCli(['inspect', sample]);
    expect(r.stdout).toMatch(/status EPT_S_NOT_REGISTERED \(0x16c9a0d6\)/);
    const j = runCli(['inspect', sample, '--json']).stdout.split('\n').filter((l) => l.includes('"epm-call"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(j.some((c) => c.statusName === 'EPT_S_NOT_REGISTERED' && c.status === 0x16c9a0d6)).toBe(true);
  });

  it('exits 65 for bytes that are not a capture and 66 for a missing file', () => {
    expect(runCli(['inspect', '-'], { input: 'junk\n' }).code).toBe(65);
    expect(runCli(['inspect', path.join(dir, 'nope.pcap')]).code).toBe(66);
  });
});

describe('scripts/install.sh', () => {
  const script = path.join(projectRoot, 'scripts', 'install.sh');

  it('installs only the gateway by default; the lab and test peers with --lab', () => {
    const gw = spawnSync('bash', [script, '--print-packages'], { encoding: 'utf8' }).stdout.trim().split(' ');
    const lab = spawnSync('bash', [script, '--lab', '--print-packages'], { encoding: 'utf8' }).stdout.trim().split(' ');
    for (const p of ['libpcap-dev', 'nftables', 'ethtool', 'build-essential']) expect(gw).toContain(p);
    for (const p of ['samba', 'python3-impacket', 'tshark', 'nginx-light']) {
      expect(gw).not.toContain(p);
      expect(lab).toContain(p);
    }
    expect(spawnSync('bash', [script, '--bogus'], { encoding: 'utf8' }).status).toBe(64);
  });

  it('refuses a Node.js older than 20 with a clear message, before touching anything', () => {
    const bin = path.join(dir, 'oldnode');
    spawnSync('mkdir', ['-p', bin]);
    writeFileSync(path.join(bin, 'node'), '#!/bin/sh\n[ "$1" = "-p" ] && echo 18 && exit 0\necho v18.19.0\n', { mode: 0o755 });
    const r = spawnSync('bash', [script], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Node\.js v18\.19\.0 is too old; rpcgw needs 20 or newer/);
  });
});
