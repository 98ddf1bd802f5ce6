/**
 * The live path's frame reading (live-frame.ts): which link types `rpcgw run` accepts from cap,
 * and where it finds the IPv4 header in each — tagged, double-tagged (QinQ) and Linux cooked v1/v2
 * frames included — or that it counts the frame as undecodable.
 */
import { describe, expect, it } from 'vitest';
import { capLinkType, ipv4Offset, liveLinkSupported } from '../../src/dataplane/live-frame.js';
import { PacketView } from '../../src/wire/view.js';

/** A 20-byte IPv4 header: 45 (v4, IHL 5), TOS 0, total 20, id 0, flags 0, TTL 64, proto 6, csum 0, 198.51.100.10 -> 198.51.100.1. */
const IPV4 = [0x45, 0x00, 0x00, 0x14, 0, 0, 0, 0, 0x40, 0x06, 0, 0, 198, 51, 100, 10, 198, 51, 100, 1];
/** dst MAC 02:00:00:00:00:01, src MAC 02:00:00:00:00:02. */
const MACS = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];

function offsetOf(linkType: number, bytes: number[]): [number, number] {
  const v = new PacketView();
  const buf = Uint8Array.from(bytes);
  return [ipv4Offset(buf, buf.length, linkType, v), v.vlanCount];
}

describe('capLinkType: cap names to LINKTYPE numbers', () => {
  it('reads the names cap gives and the number in its "Unknown linktype N"', () => {
    expect(capLinkType('ETHERNET')).toBe(1);
    expect(capLinkType('LINKTYPE_LINUX_SLL')).toBe(113); // what cap's binding really returns for SLL
    expect(capLinkType('RAW')).toBe(12); // Linux DLT_RAW
    expect(capLinkType('Unknown linktype 276')).toBe(276); // Linux cooked v2
    expect(capLinkType('IEEE802_11_RADIO')).toBe(-1);
  });

  it('accepts Ethernet, cooked v1/v2 and raw IP; refuses 802.11 radiotap and unknown types', () => {
    for (const n of ['ETHERNET', 'LINKTYPE_LINUX_SLL', 'Unknown linktype 276', 'RAW']) expect(liveLinkSupported(capLinkType(n))).toBe(true);
    for (const n of ['IEEE802_11_RADIO', 'Unknown linktype 147', 'garbage']) expect(liveLinkSupported(capLinkType(n))).toBe(false);
  });
});

describe('ipv4Offset', () => {
  it('untagged Ethernet: IPv4 at 14', () => {
    expect(offsetOf(1, [...MACS, 0x08, 0x00, ...IPV4])).toEqual([14, 0]);
  });

  it('one 802.1Q tag: IPv4 at 18', () => {
    //                      TPID 8100   TCI: VID 10   EtherType
    expect(offsetOf(1, [...MACS, 0x81, 0x00, 0x00, 0x0a, 0x08, 0x00, ...IPV4])).toEqual([18, 1]);
  });

  it('QinQ (802.1ad outer 88a8, inner 8100): IPv4 at 22', () => {
    //                      S-TPID      S-TCI VID 100  C-TPID      C-TCI VID 10   EtherType
    expect(offsetOf(1, [...MACS, 0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0x0a, 0x08, 0x00, ...IPV4])).toEqual([22, 2]);
  });

  it('Linux cooked v1 (113): IPv4 at 16', () => {
    //        pkt type 0  ARPHRD 1    addr len 6  address (8, zero padded)                       protocol
    const sll = [0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 2, 0, 0, 0, 0, 2, 0, 0, 0x08, 0x00];
    expect(offsetOf(113, [...sll, ...IPV4])).toEqual([16, 0]);
  });

  it('Linux cooked v2 (276): IPv4 at 20', () => {
    //         protocol    reserved    ifindex 3               ARPHRD 1    type len address (8)
    const sll2 = [0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x06, 2, 0, 0, 0, 0, 2, 0, 0];
    expect(offsetOf(276, [...sll2, ...IPV4])).toEqual([20, 0]);
  });

  it('raw IP (DLT_RAW 12): IPv4 at 0', () => {
    expect(offsetOf(12, IPV4)).toEqual([0, 0]);
  });

  it('not IPv4, or cut short: -1', () => {
    expect(offsetOf(1, [...MACS, 0x08, 0x06, ...new Array<number>(28).fill(0)])[0]).toBe(-1); // ARP
    expect(offsetOf(1, [...MACS, 0x86, 0xdd, 0x60, ...new Array<number>(39).fill(0)])[0]).toBe(-1); // IPv6
    expect(offsetOf(1, [...MACS, 0x00, 0x2e, 0xaa, 0xaa, 0x03])[0]).toBe(-1); // 802.3 length + LLC
    expect(offsetOf(1, [...MACS, 0x81, 0x00, 0x00])[0]).toBe(-1); // VLAN tag cut short
    expect(offsetOf(1, [...MACS, 0x08])[0]).toBe(-1); // Ethernet header cut short
    expect(offsetOf(1, [...MACS, 0x08, 0x00])[0]).toBe(-1); // header and nothing after it
    expect(offsetOf(12, [0x60, 0, 0, 0])[0]).toBe(-1); // raw IPv6
  });

  it('a reused view: a tagged frame after an untagged one still counts one tag', () => {
    const v = new PacketView();
    const plain = Uint8Array.from([...MACS, 0x08, 0x00, ...IPV4]);
    const tagged = Uint8Array.from([...MACS, 0x81, 0x00, 0x00, 0x0a, 0x08, 0x00, ...IPV4]);
    expect(ipv4Offset(tagged, tagged.length, 1, v)).toBe(18);
    expect(ipv4Offset(plain, plain.length, 1, v)).toBe(14);
    expect([v.vlanCount, v.vlanId]).toEqual([0, -1]);
    expect(ipv4Offset(tagged, tagged.length, 1, v)).toBe(18);
    expect(v.vlanCount).toBe(1);
  });
});
