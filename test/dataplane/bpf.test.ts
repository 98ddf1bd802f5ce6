/**
 * The capture filters, run by libpcap itself (tcpdump reading a capture file): which packets
 * reach the engine on each side. ICMP errors quoting TCP reach it from any router on the path;
 * other ICMP, and errors to other hosts, do not.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { captureFilters } from '../../src/dataplane/bpf.js';
import { buildTcpV4Frame, buildUdpV4Frame } from '../../src/wire/build.js';
import { TCP_ACK, TCP_SYN } from '../../src/wire/packet.js';
import { ICMP_ERROR_MAX, writeIcmpError } from '../../src/wire/icmp.js';
import { CaptureFileWriter } from '../../src/dataplane/capture-file.js';
import { LINKTYPE_ETHERNET } from '../../src/wire/link.js';
import { EXT, GW, SERVER, CLIENT, compileRules, ip, rulesDoc } from '../helpers/engine-harness.js';

const haveTcpdump = spawnSync('tcpdump', ['--version'], { encoding: 'utf8' }).status === 0;
const work = mkdtempSync(path.join(tmpdir(), 'rpcgw-bpf-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const ETH = Uint8Array.of(2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00);

function tcp(src: string, dst: string, sport: number, dport: number, flags = TCP_ACK): Uint8Array {
  const f = new Uint8Array(100);
  return f.slice(0, buildTcpV4Frame(f, 0, { src: ip(src), dst: ip(dst), srcPort: sport, dstPort: dport, seq: 1, ack: 1, flags }));
}

function icmp(src: string, dst: string, type: number, quoted: Uint8Array): Uint8Array {
  const b = new Uint8Array(14 + ICMP_ERROR_MAX);
  b.set(ETH);
  const n = writeIcmpError(b, 14, ip(src), ip(dst), type, 4, 1280, 1, quoted, 14, quoted.length - 14);
  return b.slice(0, 14 + n);
}

/** Indexes (in `frames`) of the frames `filter` captures. */
function captured(name: string, filter: string, frames: Uint8Array[]): number[] {
  const file = path.join(work, `${name}.pcap`);
  const w = CaptureFileWriter.create(file, 'pcap', LINKTYPE_ETHERNET);
  frames.forEach((f, i) => w.write(1_700_000_000 + i, 0, f, 0, f.length));
  w.close();
  const r = spawnSync('tcpdump', ['-r', file, '-n', '-tt', filter], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tcpdump: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => Number(l.split('.')[0]) - 1_700_000_000);
}

describe.skipIf(!haveTcpdump)('capture filters (libpcap)', () => {
  const f = captureFilters(compileRules(rulesDoc()));

  it('internal side: the servers\' TCP to the NAT ports, and ICMP errors to G that quote TCP, from any router', () => {
    const sent = tcp(GW, SERVER, 20001, 1032); // what the gateway sent the server
    const udpFrame = new Uint8Array(100);
    const udpSent = udpFrame.slice(0, buildUdpV4Frame(udpFrame, 0, { src: ip(GW), dst: ip(SERVER), srcPort: 20001, dstPort: 53, payload: new Uint8Array(4) }));
    const frames = [
      tcp(SERVER, GW, 1032, 20001), //                       0: a server's segment to a NAT port
      icmp('192.0.2.254', GW, 3, sent), //                   1: frag-needed from a router inside
      icmp(SERVER, GW, 11, sent), //                         2: time exceeded
      icmp('192.0.2.254', GW, 3, udpSent), //                3: about UDP: not the engine's
      icmp('192.0.2.254', '192.0.2.99', 3, sent), //         4: to another host
      icmp('192.0.2.254', GW, 5, sent), //                   5: a redirect
    ];
    expect(captured('internal', f.internal, frames)).toEqual([0, 1, 2]);
  });

  it('external side: clients\' TCP to 135 and the mapped ports, and ICMP errors to E that quote TCP', () => {
    const sent = tcp(EXT, CLIENT, 40000, 51000);
    const frames = [
      tcp(CLIENT, EXT, 51000, 135, TCP_SYN), //              0
      tcp(CLIENT, EXT, 51000, 40000), //                     1
      tcp(CLIENT, EXT, 51000, 3389), //                      2: not published
      icmp('203.0.113.254', EXT, 3, sent), //                3
      icmp('203.0.113.254', EXT, 0, sent), //                4: an echo reply
    ];
    expect(captured('external', f.external, frames)).toEqual([0, 1, 3]);
  });
});
