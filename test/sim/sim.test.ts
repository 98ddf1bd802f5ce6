/**
 * The Exchange simulator (exchange_sim.py) driven by the Outlook-like client (outlook_client.py)
 * on loopback, without the gateway: ept_map, EcDoConnectEx, EcRRegisterPushNotification, the
 * UDP datagram, and the directory and async legs. tcpdump captures each run and tshark, the
 * independent dissector, checks that the bytes decode as EPM towers and EMSMDB (`mapi`), NSPI
 * and RFR calls. Skipped, with a message, without python3-impacket, tcpdump, tshark or root.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveTshark, tshark } from '../helpers/tshark.js';
import { Capture, freeUdpPort, haveImpacket, haveTcpdump, isRoot, killAll, runClient, SimProcess, type ClientResult, type SimPorts } from './harness.js';

const missing = [
  ...(haveImpacket ? [] : ['python3-impacket (/usr/bin/python3)']),
  ...(haveTcpdump ? [] : ['tcpdump']),
  ...(haveTshark ? [] : ['tshark']),
  ...(isRoot ? [] : ['root (tcpdump on lo)']),
];
if (missing.length > 0) console.warn(`[rpcgw tests] test/sim SKIPPED: missing ${missing.join(', ')}`);

const EMSMDB = 'a4f1db00-ca47-1067-b31f-00dd010662da';
const ASYNCEMSMDB = '5261574a-4572-206e-b268-6b199213b4e4';
const NSPI = 'f5cc5a18-4264-101a-8c59-08002b2f8426';
const RFR = '1544f5e0-613c-11d1-93df-00c04fd7bd09';
const PASSWORD = 'Outlook-2003!';
const LO = '127.0.0.1';

const work = mkdtempSync(path.join(tmpdir(), 'rpcgw-sim-'));

/** tshark must be told the simulator's ports carry DCE/RPC (only 135 is known to it). */
function decodeAs(p: SimPorts): string[] {
  return [p.epm, p.store, p.nspi, p.rfr].flatMap((n) => ['-d', `tcp.port==${n},dcerpc`]);
}

function captureFilter(p: SimPorts, udpPort: number): string {
  return `tcp port ${p.epm} or tcp port ${p.store} or tcp port ${p.nspi} or tcp port ${p.rfr} or udp port ${udpPort}`;
}

function fields(file: string, p: SimPorts, filter: string, names: string[], extra: string[] = []): string[][] {
  return tshark(['-r', file, ...decodeAs(p), ...extra, '-Y', filter, '-T', 'fields', ...names.flatMap((n) => ['-e', n])]).map((l) => l.split('\t'));
}

/** SOCKADDR as Outlook registers it (E.1): family 2 LE, port BE, IPv4, 8 zero bytes. */
function sockaddrHex(ip: string, port: number): string {
  return '0200' + port.toString(16).padStart(4, '0') + ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join('') + '00'.repeat(8);
}

/** Runs the client; when its registration shows up in the simulator's log, sends `notify <h>`. */
async function flowWithNotify(sim: SimProcess, args: string[], udpPort: number): Promise<{ result: ClientResult; code: number | null; notify: { sent: { to: string; from: string; bytes: number }[] }; registrations: unknown }> {
  const client = runClient(['--server', LO, '--epm-port', String(sim.ports.epm), '--callback-ip', LO, '--callback-port', String(udpPort), '--wait', '10', ...args]);
  const reg = await sim.waitFor((e) => e.event === 'register' && (e.callback as { port?: number } | null)?.port === udpPort, 20_000);
  const registrations = await sim.control('registrations');
  const notify = (await sim.control(`notify ${String(reg.hNotification)}`)) as { sent: { to: string; from: string; bytes: number }[] };
  const { result, code } = await client;
  return { result, code, notify, registrations };
}

/** Exact request stub of EcRRegisterPushNotification (protocol-notes E.1, NDR). */
function registerStubHex(r: ClientResult, padByte = '00'): string {
  const reg = r.registration!;
  const ctxLen = reg.rgbContextHex.length / 2;
  const u32 = (n: number): string => Buffer.from(new Uint32Array([n]).buffer).toString('hex');
  const u16 = (n: number): string => Buffer.from(new Uint16Array([n]).buffer).toString('hex');
  let s = r.connect!.cxh! + u32(0) + u32(ctxLen) + reg.rgbContextHex + u16(ctxLen);
  s += padByte.repeat((4 - ((s.length / 2) % 4)) % 4) + 'ffffffff' + u32(16) + reg.sockaddrHex + u16(16);
  return s;
}

describe.skipIf(missing.length > 0)('Exchange simulator + Outlook-like client on loopback, checked with tshark', () => {
  let sim: SimProcess;

  beforeAll(async () => {
    sim = await SimProcess.start({ listen: LO, control: path.join(work, 'control.sock'), password: PASSWORD, extra: ['--async-timeout-s', '30'] });
  });

  afterAll(async () => {
    try {
      if (sim) expect(await sim.stop()).toBe(0);
    } finally {
      killAll();
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('auth level 1: RFR, NSPI, ept_map, EcDoConnectEx, push registration, the UDP datagram, the async wait', async () => {
    const udpPort = await freeUdpPort();
    const pcap = path.join(work, 'level1.pcap');
    const cap = await Capture.start('lo', captureFilter(sim.ports, udpPort), pcap);
    let run: Awaited<ReturnType<typeof flowWithNotify>>;
    try {
      run = await flowWithNotify(sim, ['--directory', '--async'], udpPort);
    } finally {
      await cap.stop();
    }
    const r = run.result;
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    expect(run.code).toBe(0);

    // The tower the client decoded itself names the store port and the listen address.
    expect(r.tower).toMatchObject({ statusHex: '0x00000000', port: sim.ports.store, ip: LO, ndr64: false });
    expect(r.tower!.towers).toHaveLength(1);
    expect(r.tower!.towers[0]).toMatchObject({ interface: EMSMDB, version: '0.81', protocol: 'ncacn_ip_tcp' });
    expect(r.connect).toMatchObject({ ok: true, host: LO, port: sim.ports.store, ret: 0, pcmsPollsMax: 60000, rgwServerVersion: [6, 5, 7638] });
    expect(r.connect!.cxh).toMatch(/^00000000[0-9a-f]{32}$/);

    const reg = r.registration!;
    expect(reg).toMatchObject({ ok: true, ret: 0, callbackIp: LO, callbackPort: udpPort, sockaddrHex: sockaddrHex(LO, udpPort) });
    expect(reg.rgbContextHex).toMatch(/^[0-9a-f]{32}$/);
    expect(reg.hNotification).toBeGreaterThan(0);
    expect(run.registrations).toContainEqual(expect.objectContaining({
      hNotification: reg.hNotification, contextHex: reg.rgbContextHex,
      callback: { family: 2, ip: LO, port: udpPort, sockaddrHex: reg.sockaddrHex },
    }));

    // ONE datagram, payload exactly rgbContext, from an ephemeral port (not one of the RPC ports).
    const d = r.datagram!;
    expect(d).toMatchObject({ received: true, count: 1, matches: true, payloadHex: reg.rgbContextHex, sourceIp: LO });
    expect(Object.values(sim.ports)).not.toContain(d.sourcePort);
    expect(run.notify.sent).toEqual([expect.objectContaining({ to: `${LO}:${udpPort}`, from: `${LO}:${d.sourcePort}`, bytes: 16 })]);

    expect(r.async).toMatchObject({ connectRet: 0, pulFlagsOut: 1, ret: 0, notificationPending: true, tower: { port: sim.ports.store } });
    expect(r.directory!.rfr).toEqual({ ppszServer: 'exch01.contoso.local', ret: 0 });
    expect(r.directory!.rfrTower).toMatchObject({ port: sim.ports.rfr, status: '0x00000000' });
    expect(r.directory!.nspiTower).toMatchObject({ port: sim.ports.nspi, status: '0x00000000' });
    expect(r.directory!.nspiBind).toMatchObject({ ret: 0 });
    expect(r.directory!.nspiUnbind).toEqual({ ret: 1 });
    expect(r.rpcExt2).toMatchObject({ ret: 0, pcbOut: 10 });
    expect(r.disconnect).toEqual({ ret: 0 });

    // tshark: every ept_map answer is a tower for the right interface and port.
    const maps = fields(pcap, sim.ports, 'epm.opnum == 3 && dcerpc.pkt_type == 2', ['epm.uuid', 'epm.proto.tcp_port', 'epm.proto.ip', 'epm.rc']);
    const byIface = new Map(maps.map(([uuids, port, ip, rc]) => [uuids!.split(',')[0], `${port} ${ip} ${rc}`]));
    expect(Object.fromEntries(byIface)).toEqual({
      [RFR]: `${sim.ports.rfr} ${LO} 0x00000000`,
      [NSPI]: `${sim.ports.nspi} ${LO} 0x00000000`,
      [EMSMDB]: `${sim.ports.store} ${LO} 0x00000000`,
      [ASYNCEMSMDB]: `${sim.ports.store} ${LO} 0x00000000`,
    });

    // tshark decodes the store connection as EMSMDB ("MAPI"): requests and responses by opnum.
    const mapi = new Set(fields(pcap, sim.ports, 'mapi', ['dcerpc.pkt_type', 'mapi.opnum']).map(([t, op]) => `${t}:${op}`));
    for (const op of [10, 14, 4, 11, 1]) {
      expect(mapi).toContain(`0:${op}`);
      expect(mapi).toContain(`2:${op}`);
    }
    // The registration request on the wire is exactly the E.1 layout, SOCKADDR in clear text.
    const reqs = fields(pcap, sim.ports, 'mapi.opnum == 4 && dcerpc.pkt_type == 0', ['tcp.payload']);
    expect(reqs).toHaveLength(1);
    expect(reqs[0]![0]!.slice(24 * 2)).toBe(registerStubHex(r));

    const dir = fields(pcap, sim.ports, 'nspi || rfr', ['dcerpc.pkt_type', 'nspi.opnum', 'rfr.opnum', 'rfr.RfrGetNewDSA.ppszServer']).map((f) => f.join('|'));
    expect(dir).toEqual(['0||0|', '2||0|exch01.contoso.local', '0|0||', '2|0||', '0|1||', '2|1||']);

    // The datagram as tshark sees it.
    const udp = fields(pcap, sim.ports, `udp.dstport == ${udpPort}`, ['ip.src', 'udp.srcport', 'udp.payload']);
    expect(udp).toEqual([[LO, String(d.sourcePort), reg.rgbContextHex]]);
  });

  it('auth level 6 (NTLM privacy): stubs encrypted on the wire; tshark decrypts them with the password', async () => {
    const udpPort = await freeUdpPort();
    const pcap = path.join(work, 'level6.pcap');
    const cap = await Capture.start('lo', captureFilter(sim.ports, udpPort), pcap);
    let run: Awaited<ReturnType<typeof flowWithNotify>>;
    try {
      run = await flowWithNotify(sim, ['--auth-level', '6', '--password', PASSWORD], udpPort);
    } finally {
      await cap.stop();
    }
    const r = run.result;
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.datagram).toMatchObject({ matches: true, payloadHex: r.registration!.rgbContextHex });
    await sim.waitFor((e) => e.event === 'auth' && e.ok === true && e.authLevel === 6 && e.user === 'outlook');

    // Header-level view: NTLMSSP (10) at packet privacy (6) on every EMSMDB call, opnums readable.
    const calls = fields(pcap, sim.ports, 'mapi', ['dcerpc.pkt_type', 'mapi.opnum', 'dcerpc.auth_type', 'dcerpc.auth_level']);
    expect(calls.map((c) => c.join(':'))).toEqual(['0:10:10:6', '2:10:10:6', '0:4:10:6', '2:4:10:6', '0:11:10:6', '2:11:10:6', '0:1:10:6', '2:1:10:6']);
    const payload = fields(pcap, sim.ports, 'mapi.opnum == 4 && dcerpc.pkt_type == 0', ['tcp.payload'])[0]![0]!;
    expect(payload).not.toContain(r.registration!.sockaddrHex);
    expect(payload).not.toContain(r.registration!.rgbContextHex);

    // With the password tshark unseals both directions: the client's request and our sealed
    // response name the same CXH, so the simulator's NTLM sealing is the standard one.
    const pw = ['-o', `ntlmssp.nt_password:${PASSWORD}`];
    const handles = fields(pcap, sim.ports, 'mapi.opnum == 4', ['dcerpc.pkt_type', 'mapi.handle'], pw);
    expect(handles).toEqual([['0', r.connect!.cxh!], ['2', r.connect!.cxh!]]);
    const connectResp = fields(pcap, sim.ports, 'mapi.opnum == 10 && dcerpc.pkt_type == 2', ['dcerpc.decrypted_stub_data'], pw);
    expect(connectResp[0]![0]!.startsWith(r.connect!.cxh!)).toBe(true);
  });

  it('auth level 5 (NTLM integrity): signed calls, SOCKADDR still readable; 0xa5 alignment padding like Outlook 2003', async () => {
    const udpPort = await freeUdpPort();
    const pcap = path.join(work, 'level5.pcap');
    const cap = await Capture.start('lo', captureFilter(sim.ports, udpPort), pcap);
    let run: Awaited<ReturnType<typeof flowWithNotify>>;
    try {
      run = await flowWithNotify(sim, ['--auth-level', '5', '--password', PASSWORD, '--ndr-pad-byte', '0xa5'], udpPort);
    } finally {
      await cap.stop();
    }
    const r = run.result;
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    const reqs = fields(pcap, sim.ports, 'mapi.opnum == 4 && dcerpc.pkt_type == 0', ['dcerpc.auth_level', 'tcp.payload']);
    expect(reqs).toHaveLength(1);
    expect(reqs[0]![0]).toBe('5');
    expect(reqs[0]![1]).toContain(registerStubHex(r, 'a5'));
  });

  it('a wrong NTLM password: the bind completes, EcDoConnectEx faults with access denied', async () => {
    const { result: r, code } = await runClient(['--server', LO, '--epm-port', String(sim.ports.epm), '--callback-ip', LO, '--auth-level', '6', '--password', 'not-it', '--wait', '0']);
    expect(code).toBe(1);
    expect(r.ok).toBe(false);
    expect(r.errors).toEqual([{ step: 'EcDoConnectEx', error: 'rpc_s_access_denied', status: '0x00000005' }]);
    expect(r.registration).toBeNull();
    await sim.waitFor((e) => e.event === 'auth' && e.ok === false);
  });

  it('rgbContext longer than 16 bytes: ecTooBig, nothing registered', async () => {
    const ctx = 'ab'.repeat(17);
    const { result: r } = await runClient(['--server', LO, '--epm-port', String(sim.ports.epm), '--callback-ip', LO, '--wait', '0', '--context-hex', ctx]);
    expect(r.registration).toMatchObject({ ok: false, ret: 0x80040305, hNotification: 0, rgbContextHex: ctx });
    const regs = (await sim.control('registrations')) as { contextHex: string }[];
    expect(regs.map((x) => x.contextHex)).not.toContain(ctx);
  });

  it('endpoint mapper: unknown interface or newer minor → no tower, 0x16c9a0d6; ept_lookup lists the four', async () => {
    const samr = '12345778-1234-abcd-ef00-0123456789ac:1.0';
    const { result: r } = await runClient(['--server', LO, '--epm-port', String(sim.ports.epm),
      '--map', 'emsmdb', '--map', 'emsmdb:0.82', '--map', 'emsmdb:0.1', '--map', 'asyncemsmdb', '--map', 'nspi', '--map', 'rfr', '--map', samr, '--lookup']);
    expect(r.errors).toEqual([]);
    expect(r.maps!.map((m) => [m.iface, m.version, m.statusHex, m.numTowers, m.port])).toEqual([
      ['emsmdb', '0.81', '0x00000000', 1, sim.ports.store],
      ['emsmdb', '0.82', '0x16c9a0d6', 0, null],
      ['emsmdb', '0.1', '0x00000000', 1, sim.ports.store],
      ['asyncemsmdb', '0.1', '0x00000000', 1, sim.ports.store],
      ['nspi', '56.0', '0x00000000', 1, sim.ports.nspi],
      ['rfr', '1.0', '0x00000000', 1, sim.ports.rfr],
      ['12345778-1234-abcd-ef00-0123456789ac', '1.0', '0x16c9a0d6', 0, null],
    ]);
    // The tower names the registered version, whatever compatible minor was asked.
    expect(r.maps![2]!.towers[0]).toMatchObject({ interface: EMSMDB, version: '0.81', ip: LO });
    expect(r.lookup!.statusHex).toBe('0x00000000');
    expect(r.lookup!.entries.map((e) => [e.interface, e.version, e.port, e.ip, e.protocol])).toEqual([
      [EMSMDB, '0.81', sim.ports.store, LO, 'ncacn_ip_tcp'],
      [ASYNCEMSMDB, '0.1', sim.ports.store, LO, 'ncacn_ip_tcp'],
      [NSPI, '56.0', sim.ports.nspi, LO, 'ncacn_ip_tcp'],
      [RFR, '1.0', sim.ports.rfr, LO, 'ncacn_ip_tcp'],
    ]);
  });

  it('endpoint mapper NDR64: rejected by default; with --epm-ndr64 accepted (x64 Windows bind) and tshark reads the NDR64 tower', async () => {
    // Default simulator: NDR accepted, NDR64 rejected, BTFN acknowledged.
    const plain = await runClient(['--server', LO, '--epm-port', String(sim.ports.epm), '--map', 'emsmdb', '--epm-ndr64']);
    expect(plain.result.maps![0]).toMatchObject({ ndr64: false, port: sim.ports.store });

    const sim64 = await SimProcess.start({ listen: LO, control: path.join(work, 'control64.sock'), extra: ['--epm-ndr64'] });
    try {
      const pcap = path.join(work, 'ndr64.pcap');
      const cap = await Capture.start('lo', `tcp port ${sim64.ports.epm}`, pcap);
      let r: ClientResult;
      try {
        r = (await runClient(['--server', LO, '--epm-port', String(sim64.ports.epm), '--map', 'emsmdb', '--map', 'nspi', '--epm-ndr64'])).result;
      } finally {
        await cap.stop();
      }
      expect(r.errors).toEqual([]);
      expect(r.maps!.map((m) => [m.ndr64, m.port, m.ip])).toEqual([[true, sim64.ports.store, LO], [true, sim64.ports.nspi, LO]]);
      const acks = fields(pcap, sim64.ports, 'dcerpc.pkt_type == 12', ['dcerpc.cn_ack_result']);
      expect(acks).toEqual([['2,0,3'], ['2,0,3']]);     // provider rejection (NDR), acceptance (NDR64), negotiate ack (BTFN)
      const towers = fields(pcap, sim64.ports, 'epm.opnum == 3 && dcerpc.pkt_type == 2', ['dcerpc.cn_ctx_id', 'epm.proto.tcp_port', 'epm.proto.ip']);
      expect(towers).toEqual([['1', String(sim64.ports.store), LO], ['1', String(sim64.ports.nspi), LO]]);
      // ept_lookup is served in NDR only (no NDR64 reference to check it against).
      const lookup = await runClient(['--server', LO, '--epm-port', String(sim64.ports.epm), '--lookup', '--epm-ndr64']);
      expect(lookup.result.errors).toEqual([{ step: 'ept_lookup', error: 'fault 0x1c010002', status: '0x1c010002' }]);
      expect(await sim64.control('quit')).toEqual({ ok: true });
      expect(await sim64.stop()).toBe(0);
      await sim64.waitFor((e) => e.event === 'stopped');
    } finally {
      await sim64.stop();
    }
  });

  it('SIGTERM with an EcDoAsyncWaitEx held open: the simulator stops at once, exit status 0', async () => {
    const simT = await SimProcess.start({ listen: LO, control: path.join(work, 'controlT.sock') });
    try {
      const client = runClient(['--server', LO, '--epm-port', String(simT.ports.epm), '--callback-ip', LO, '--wait', '3', '--async', '--timeout', '5']);
      await simT.waitFor((e) => e.event === 'async_wait' && e.state === 'begin', 15_000);
      const t0 = Date.now();
      expect(await simT.stop(5_000)).toBe(0);
      expect(Date.now() - t0).toBeLessThan(3_000);
      expect(simT.events.some((e) => e.event === 'stopped')).toBe(true);
      const { result } = await client;
      expect(result.ok).toBe(false);
    } finally {
      await simT.stop();
    }
  });
});
