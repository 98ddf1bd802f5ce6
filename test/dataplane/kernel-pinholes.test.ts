/**
 * The nftables side of "kernel" rules: what the guard table gains (pinhole map, NAT chains,
 * forward accepts), the element commands, the listings' parsers, the capture filter that leaves
 * the kernel's ports out, and the nft channel — applied for real with nft in a network namespace
 * of the test's own (unshare -n), where root and nft are available.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { guardRuleset } from '../../src/dataplane/kernel-guard.js';
import { captureFilters } from '../../src/dataplane/bpf.js';
import {
  KPIN_MAP, forwardingLeftOn, parseConntrack, parsePinholeListing, parseRuleCounters, pinholeCommand, pinholeDeleteCommand, pinholeRestoreScript, type KernelPinhole,
} from '../../src/dataplane/kernel-pinholes.js';
import { MAX_BATCH, NftChannel } from '../../src/dataplane/nft-channel.js';
import { loadDoc, minimalDoc } from '../policy/helpers.js';
import { parseIpv4 } from '../../src/wire/addr.js';

const canNft = process.getuid?.() === 0 && spawnSync('unshare', ['-n', 'nft', '--version']).status === 0;

function rulesWith(rule: Record<string, unknown>, more: Record<string, unknown>[] = []) {
  const doc = minimalDoc();
  Object.assign(doc.rules[0]!, rule);
  doc.rules.push(...more);
  return loadDoc(doc).rules;
}

const KERNEL = rulesWith({ mappedInspection: 'kernel' }, [
  { name: 'full-one', server: '192.0.2.11', interfaces: ['exchange'], mappedPorts: '41000-41999' },
]);

/** Runs an nft script and then commands in one throw-away network namespace; returns each command's stdout. */
function inNamespace(script: string, ...commands: string[]): { ok: boolean; err: string; out: string[] } {
  const sep = '@@@';
  const sh = `nft -f - <<'NFT' || exit 3\n${script}NFT\n` + commands.map((c) => `echo ${sep}; nft ${c}`).join('\n');
  const r = spawnSync('unshare', ['-n', 'sh', '-c', sh], { encoding: 'utf8' });
  return { ok: r.status === 0, err: r.stderr, out: r.stdout.split(sep + '\n').slice(1) };
}

const PIN: KernelPinhole = {
  rule: 'exchange', clientIp: parseIpv4('203.0.113.7'), extIp: parseIpv4('198.51.100.1'), extPort: 40007,
  serverIp: parseIpv4('192.0.2.10'), serverPort: 49152, expiresMs: 0,
};

describe('the guard table with a "kernel" rule', () => {
  it('gains the pinhole map, DNAT through it, SNAT to the internal address and a forward accept — only for the kernel rule', () => {
    const s = guardRuleset(KERNEL, { flowtable: false, forwardingOn: [] });
    expect(s).toContain(`map ${KPIN_MAP} {`);
    expect(s).toContain('iifname "gw-ext" meta l4proto tcp dnat ip to ip saddr . ip daddr . tcp dport map @kpin');
    expect(s).toMatch(/oifname "gw-int" ct status dnat ct original ip daddr 198\.51\.100\.1 meta l4proto tcp ct original proto-dst 40000-40999 snat ip to 192\.0\.2\.1:61000-65535 comment/);
    expect(s).toMatch(/ct original proto-dst 40000-40999 counter accept comment "kernel rule exchange"/);
    expect(s).not.toMatch(/proto-dst 41000-41999/);
    expect(s).not.toContain('flowtable');
    expect(s).not.toMatch(/forwarding is on here/);
    // Without a kernel rule, none of it.
    expect(guardRuleset(rulesWith({}))).not.toMatch(/kpin|dnat|snat/);
  });

  it('with a flowtable, established flows go to it; forwarding turned on by rpcgw drops all else from those interfaces', () => {
    const s = guardRuleset(KERNEL, { flowtable: true, forwardingOn: ['gw-ext', 'gw-int'] });
    expect(s).toMatch(/flowtable ft \{\n\s+hook ingress priority filter\n\s+devices = \{ "gw-ext", "gw-int" \}/);
    expect(s).toMatch(/proto-dst 40000-40999 flow add @ft counter accept/);
    const fwd = s.slice(s.indexOf('chain forward'));
    // The drop comes after the accepts.
    expect(fwd.indexOf('iifname { "gw-ext", "gw-int" } counter drop')).toBeGreaterThan(fwd.indexOf('counter accept'));
  });

  it('while forwarding is on (a reload took the last kernel rule away), the forwarding drop stays', () => {
    const s = guardRuleset(rulesWith({}), { flowtable: false, forwardingOn: ['gw-ext'] });
    expect(s).toContain('iifname { "gw-ext" } counter drop');
    expect(s).not.toMatch(/kpin|dnat|snat/);
  });

  it('the capture filter leaves the kernel rule\'s mapped ports out (135 stays), the full rule\'s in', () => {
    const f = captureFilters(KERNEL);
    expect(f.external).toContain('dst port 135');
    expect(f.external).not.toContain('40000-40999');
    expect(f.external).toContain('dst portrange 41000-41999');
    const onlyKernel = captureFilters(rulesWith({ mappedInspection: 'kernel' }));
    expect(onlyKernel.external).toBe('ip and ((tcp and ((dst host 198.51.100.1 and (dst port 135)))) or ((icmp and (icmp[0] = 3 or icmp[0] = 11) and icmp[17] = 6) and (dst host 198.51.100.1)))');
  });
});

describe('parsers', () => {
  it('reads conntrack\'s lines: only the kernel rules\' connections, both directions\' counters summed', () => {
    const text = [
      'tcp      6 431999 ESTABLISHED src=203.0.113.7 dst=198.51.100.1 sport=51000 dport=40007 packets=5 bytes=400 src=192.0.2.10 dst=192.0.2.1 sport=49152 dport=51000 packets=4 bytes=900 [ASSURED] mark=0 use=1',
      'tcp      6 119 TIME_WAIT src=203.0.113.8 dst=198.51.100.1 sport=51001 dport=41001 src=192.0.2.11 dst=192.0.2.1 sport=1025 dport=51001 [ASSURED] mark=0 use=1',
      'tcp      6 60 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=1 dport=40007 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=40007 dport=1 mark=0 use=1',
      'conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.',
    ].join('\n');
    expect(parseConntrack(text, KERNEL)).toEqual([
      { rule: 'exchange', state: 'ESTABLISHED', client: '203.0.113.7:51000', external: '198.51.100.1:40007', server: '192.0.2.10:49152', packets: 9, bytes: 1300 },
    ]);
  });

  it('a restore script carries each live pinhole with the time it has left; expired ones are left out', () => {
    const s = pinholeRestoreScript('rpcgw', [{ ...PIN, expiresMs: 61_000 }, { ...PIN, extPort: 40008, expiresMs: 1_500 }], 1_000);
    expect(s).toBe('add element inet rpcgw kpin { 203.0.113.7 . 198.51.100.1 . 40007 timeout 60000ms : 192.0.2.10 . 49152 }\n');
  });
});

describe.skipIf(!canNft)('applied by nft (own network namespace)', () => {
  it('the guard with a kernel rule is accepted; an installed pinhole lists back with its timeout', () => {
    const script = guardRuleset(KERNEL, { flowtable: false, forwardingOn: ['gw-ext'] });
    const r = inNamespace(script, `'${pinholeCommand('rpcgw', PIN, 30_000)}'`, `-j list map inet rpcgw ${KPIN_MAP}`, 'list table inet rpcgw');
    expect(r.err).toBe('');
    expect(r.ok).toBe(true);
    // What a later start reads from the table of a killed daemon.
    expect(forwardingLeftOn(r.out[2]!)).toEqual(['gw-ext']);
    const listed = parsePinholeListing(r.out[1]!);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ client: '203.0.113.7', external: '198.51.100.1:40007', server: '192.0.2.10:49152', timeoutSeconds: 30 });
    expect(listed[0]!.expiresInSeconds).toBeGreaterThan(25);
  });

  it('the forward accepts carry one counter per kernel rule, read back by rule name', () => {
    const r = inNamespace(guardRuleset(KERNEL, { flowtable: false, forwardingOn: [] }), '-j list chain inet rpcgw forward');
    expect(r.ok).toBe(true);
    expect([...parseRuleCounters(r.out[0]!)]).toEqual([['exchange', { packets: 0, bytes: 0 }]]);
  });

  it('installing twice refreshes instead of failing; deleting a missing one is not an error', () => {
    const script = guardRuleset(KERNEL, { flowtable: false, forwardingOn: [] });
    const r = inNamespace(script, `'${pinholeCommand('rpcgw', PIN, 5_000)}'`, `'${pinholeCommand('rpcgw', PIN, 50_000)}'`, `-j list map inet rpcgw ${KPIN_MAP}`,
      `'${pinholeDeleteCommand('rpcgw', PIN)}'`, `'${pinholeDeleteCommand('rpcgw', PIN)}'`, `-j list map inet rpcgw ${KPIN_MAP}`);
    expect(r.err).toBe('');
    expect(parsePinholeListing(r.out[2]!)[0]!.timeoutSeconds).toBe(50);
    expect(parsePinholeListing(r.out[5]!)).toEqual([]);
  });
});

describe.skipIf(!canNft)('the nft channel (nft -i in its own network namespace)', () => {
  it('acknowledges each command of a batch; one bad command fails alone with nft\'s message', async () => {
    const ch = new NftChannel({ argv: ['unshare', '-n', 'nft', '-i'] });
    try {
      expect(await ch.run('add table inet t')).toBeNull();
      expect(await ch.run('add set inet t s { type ipv4_addr; flags timeout; }')).toBeNull();
      const r = await Promise.all([
        ch.run('add element inet t s { 10.0.0.1 timeout 10s }'),
        ch.run('add element inet t nosuchset { 10.0.0.2 }'),
        ch.run('add element inet t s { 10.0.0.3 timeout 10s }'),
      ]);
      expect(r[0]).toBeNull();
      expect(r[1]).toMatch(/^No such file or directory.*\(in: add element inet t nosuchset/);
      expect(r[2]).toBeNull();
      // Many at once go out in few transactions.
      const before = ch.batches;
      const many = await Promise.all(Array.from({ length: 600 }, (_, i) => ch.run(`add element inet t s { 10.1.${i >> 8}.${i & 255} timeout 10s }`)));
      expect(many.every((x) => x === null)).toBe(true);
      expect(ch.batches - before).toBeLessThanOrEqual(Math.ceil(600 / MAX_BATCH));
    } finally {
      ch.close();
    }
  });

  it('a missing nft binary or a closed channel is an error to the caller, never a throw', async () => {
    const troubles: string[] = [];
    const ch = new NftChannel({ argv: ['/nonexistent/nft', '-i'], onTrouble: (m) => troubles.push(m) });
    expect(await ch.run('add table inet t')).toMatch(/ENOENT|exited|cannot run/);
    ch.close();
    expect(await ch.run('add table inet t')).toBe('nft channel closed');
    expect(troubles.length).toBeGreaterThan(0);
  });
});

describe('a killed daemon\'s forwarding', () => {
  it('is read back from its guard table: the interfaces of the forwarding drop', () => {
    const listing = guardRuleset(KERNEL, { flowtable: false, forwardingOn: ['gw-ext', 'gw-int'] });
    expect(forwardingLeftOn(listing)).toEqual(['gw-ext', 'gw-int']);
    expect(forwardingLeftOn(guardRuleset(KERNEL, { flowtable: false, forwardingOn: [] }))).toEqual([]);
    // As nft lists a one-element set, without braces.
    expect(forwardingLeftOn('\t\tiifname "eth0.100" counter packets 0 bytes 0 drop comment "forwarding is on here for kernel pinholes only"')).toEqual(['eth0.100']);
  });
});
