/**
 * Hand-built frames, annotated field by field, for the wire tests. Built from the specs with an
 * independent checksum implementation and checked once with tshark (every checksum "good",
 * every field as annotated); no capture bytes are copied here.
 */
import { hex } from './hex.js';

/** Ethernet II / IPv4 / TCP SYN with MSS, SACK-permitted, timestamps, NOP, window scale (LINKTYPE 1). */
export const ethIpv4TcpSyn = hex(`
  52 54 00 00 00 02                                // Ethernet: dst MAC
  52 54 00 00 00 01                                // src MAC
  08 00                                            // EtherType 0x0800
  45                                               // IPv4: version 4 | IHL 5 (20 bytes)
  00                                               // TOS
  00 3c                                            // total length 60
  1c 46                                            // identification 0x1c46
  40 00                                            // flags DF | fragment offset 0 (0 bytes)
  40                                               // TTL 64
  06                                               // protocol 6
  a9 12                                            // header checksum 0xa912
  c0 a8 7a 01                                      // src 192.168.122.1
  c0 a8 7a 11                                      // dst 192.168.122.17
  ca 6a                                            // TCP: src port 51818
  00 87                                            // dst port 135
  27 ba 0d b8                                      // seq 0x27ba0db8
  00 00 00 00                                      // ack 0x00000000
  a0                                               // data offset 10 (40 bytes)
  02                                               // flags 0x02 SYN
  fa f0                                            // window 64240
  f5 05                                            // checksum 0xf505
  00 00                                            // urgent pointer 0
  02 04 05 b4                                      // MSS (kind 2, len 4) 1460
  04 02                                            // SACK permitted (kind 4, len 2)
  08 0a 00 01 e2 40 00 00 00 00                    // timestamps (kind 8, len 10) TSval 123456 TSecr 0
  01                                               // NOP
  03 03 07                                         // window scale (kind 3, len 3) shift 7
`);

/** Ethernet II / 802.1Q VID 100 / IPv4 with NOP+RR options / UDP (LINKTYPE 1). */
export const ethVlanIpv4OptsUdp = hex(`
  52 54 00 00 00 02                                // Ethernet: dst MAC
  52 54 00 00 00 01                                // src MAC
  81 00                                            // EtherType 0x8100
  a0 64                                            // 802.1Q tag: TCI: PCP 5 | DEI 0 | VID 100
  08 00                                            // inner EtherType 0x0800
  48                                               // IPv4: version 4 | IHL 8 (32 bytes)
  00                                               // TOS
  00 2c                                            // total length 44
  01 01                                            // identification 0x0101
  00 00                                            // flags none | fragment offset 0 (0 bytes)
  40                                               // TTL 64
  11                                               // protocol 17
  4f a8                                            // header checksum 0x4fa8
  0a 01 02 03                                      // src 10.1.2.3
  0a 04 05 06                                      // dst 10.4.5.6
  01 07 0b 04 00 00 00 00 00 00 00 00              // options: NOP | record route (type 7, len 11, pointer 4, 2 empty slots)
  9c 40                                            // UDP: src port 40000
  88 94                                            // dst port 34964
  00 0c                                            // length 12
  e1 22                                            // checksum 0xe122
  70 69 6e 67                                      // payload: payload "ping"
`);

/** Ethernet II / 802.1ad VID 200 / 802.1Q VID 100 / IPv4 / TCP PSH+ACK, seq and ack above 2^31 (LINKTYPE 1). */
export const ethQinqIpv4Tcp = hex(`
  52 54 00 00 00 02                                // Ethernet: dst MAC
  52 54 00 00 00 01                                // src MAC
  88 a8                                            // EtherType 0x88a8
  00 c8                                            // 802.1ad service tag: outer TCI: PCP 0 | DEI 0 | VID 200
  81 00                                            // inner TPID 0x8100
  70 64                                            // 802.1Q customer tag: inner TCI: PCP 3 | DEI 1 | VID 100
  08 00                                            // EtherType 0x0800
  45                                               // IPv4: version 4 | IHL 5 (20 bytes)
  00                                               // TOS
  00 2d                                            // total length 45
  be ef                                            // identification 0xbeef
  40 00                                            // flags DF | fragment offset 0 (0 bytes)
  40                                               // TTL 64
  06                                               // protocol 6
  19 77                                            // header checksum 0x1977
  ac 10 05 0a                                      // src 172.16.5.10
  ac 10 05 3a                                      // dst 172.16.5.58
  c2 04                                            // TCP: src port 49668
  00 87                                            // dst port 135
  ff ff ff f0                                      // seq 0xfffffff0
  80 00 00 01                                      // ack 0x80000001
  50                                               // data offset 5 (20 bytes)
  18                                               // flags 0x18 PSH+ACK
  02 01                                            // window 513
  e8 e0                                            // checksum 0xe8e0
  00 00                                            // urgent pointer 0
  05 00 0b 03 10                                   // payload: payload (5 bytes: start of a DCE/RPC bind header)
`);

/** Ethernet II / IPv4 / TCP RST, 6 bytes of Ethernet padding (LINKTYPE 1). */
export const ethIpv4TcpRstPadded = hex(`
  52 54 00 00 00 02                                // Ethernet: dst MAC
  52 54 00 00 00 01                                // src MAC
  08 00                                            // EtherType 0x0800
  45                                               // IPv4: version 4 | IHL 5 (20 bytes)
  00                                               // TOS
  00 28                                            // total length 40
  00 00                                            // identification 0x0000
  40 00                                            // flags DF | fragment offset 0 (0 bytes)
  80                                               // TTL 128
  06                                               // protocol 6
  78 d0                                            // header checksum 0x78d0
  c0 a8 00 02                                      // src 192.168.0.2
  c0 a8 00 ad                                      // dst 192.168.0.173
  04 08                                            // TCP: src port 1032
  0b c4                                            // dst port 3012
  01 02 03 04                                      // seq 0x01020304
  00 00 00 00                                      // ack 0x00000000
  50                                               // data offset 5 (20 bytes)
  04                                               // flags 0x04 RST
  00 00                                            // window 0
  1a 0f                                            // checksum 0x1a0f
  00 00                                            // urgent pointer 0
  00 00 00 00 00 00                                // trailer: Ethernet padding to the 60-byte minimum (not part of IP)
`);

/** Linux cooked v1 / IPv4 / UDP (LINKTYPE 113). */
export const sllIpv4Udp = hex(`
  00 04                                            // Linux cooked v1 (SLL): packet type 4 (outgoing)
  00 01                                            // ARPHRD_ETHER
  00 06                                            // link-layer address length 6
  52 54 00 00 00 01 00 00                          // link-layer address (6 bytes + 2 zero padding)
  08 00                                            // protocol 0x0800
  45                                               // IPv4: version 4 | IHL 5 (20 bytes)
  00                                               // TOS
  00 1f                                            // total length 31
  00 07                                            // identification 0x0007
  00 00                                            // flags none | fragment offset 0 (0 bytes)
  ff                                               // TTL 255
  11                                               // protocol 17
  a7 c4                                            // header checksum 0xa7c4
  0a 00 00 01                                      // src 10.0.0.1
  0a 00 00 02                                      // dst 10.0.0.2
  88 94                                            // UDP: src port 34964
  88 94                                            // dst port 34964
  00 0b                                            // length 11
  ce ac                                            // checksum 0xceac
  04 00 08                                         // payload: payload (3 bytes)
`);

/** Linux cooked v2 / IPv6 / TCP PSH+ACK (LINKTYPE 276). */
export const sll2Ipv6Tcp = hex(`
  86 dd                                            // Linux cooked v2 (SLL2): protocol 0x86dd
  00 00                                            // reserved
  00 00 00 03                                      // interface index 3
  00 01                                            // ARPHRD_ETHER
  00                                               // packet type 0 (to us)
  06                                               // link-layer address length 6
  52 54 00 00 00 02 00 00                          // link-layer address (6 bytes + 2 zero padding)
  60 01 23 45                                      // IPv6: version 6 | traffic class 0 | flow label 74565
  00 18                                            // payload length 24
  06                                               // next header 6
  3f                                               // hop limit 63
  20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01  // src 2001:db8::1
  20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02  // dst 2001:db8::2
  c0 00                                            // TCP: src port 49152
  00 87                                            // dst port 135
  00 00 03 e8                                      // seq 0x000003e8
  00 00 07 d0                                      // ack 0x000007d0
  50                                               // data offset 5 (20 bytes)
  18                                               // flags 0x18 PSH+ACK
  20 00                                            // window 8192
  ca 76                                            // checksum 0xca76
  00 00                                            // urgent pointer 0
  de ad be ef                                      // payload: payload
`);

/** Ethernet II / IPv6 / hop-by-hop / dest-opts / routing / fragment (first) / AH / TCP (LINKTYPE 1). */
export const ethIpv6ExtChainTcp = hex(`
  52 54 00 00 00 02                                // Ethernet: dst MAC
  52 54 00 00 00 01                                // src MAC
  86 dd                                            // EtherType 0x86dd
  60 00 00 00                                      // IPv6: version 6 | traffic class 0 | flow label 0
  00 68                                            // payload length 104
  00                                               // next header 0
  40                                               // hop limit 64
  20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01  // src 2001:db8::1
  20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02  // dst 2001:db8::2
  3c 00                                            // Hop-by-hop options: next header 60 | length 0 (8 bytes)
  01 04 00 00 00 00                                // PadN, 4 bytes
  2b 01                                            // Destination options: next header 43 | length 1 (16 bytes)
  01 0c 00 00 00 00 00 00 00 00 00 00 00 00        // PadN, 12 bytes
  2c 02 04 00                                      // Routing: next header 44 | length 2 (24 bytes) | routing type 4 (SRH) | segments left 0
  00 00 00 00                                      // last entry 0 | flags 0 | tag 0
  20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02  // segment list[0] 2001:db8::2 (the final destination)
  33 00                                            // Fragment: next header 51 | reserved
  00 01                                            // offset 0 | M=1 (first fragment)
  12 34 56 78                                      // identification 0x12345678
  06 04 00 00                                      // AH: next header 6 | length 4 ((4+2)*4 = 24 bytes) | reserved
  00 00 01 00                                      // SPI 256
  00 00 00 01                                      // sequence 1
  a0 a1 a2 a3 a4 a5 a6 a7 a8 a9 aa ab              // ICV (12 bytes)
  c0 01                                            // TCP: src port 49153
  00 87                                            // dst port 135
  00 00 00 10                                      // seq 0x00000010
  00 00 00 20                                      // ack 0x00000020
  50                                               // data offset 5 (20 bytes)
  10                                               // flags 0x10 ACK
  04 00                                            // window 1024
  8b 9d                                            // checksum 0x8b9d
  00 00                                            // urgent pointer 0
  01 02 03 04                                      // payload: payload
`);

/** Ethernet II / IPv6 / fragment header, offset 1448, last fragment (LINKTYPE 1). */
export const ethIpv6FragLast = hex(`
  52 54 00 00 00 02                                // Ethernet: dst MAC
  52 54 00 00 00 01                                // src MAC
  86 dd                                            // EtherType 0x86dd
  60 00 00 00                                      // IPv6: version 6 | traffic class 0 | flow label 0
  00 18                                            // payload length 24
  2c                                               // next header 44
  40                                               // hop limit 64
  20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01  // src 2001:db8::1
  20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 02  // dst 2001:db8::2
  06 00                                            // Fragment: next header 6 | reserved
  05 a8                                            // offset 181 (1448 bytes) | M=0 (last fragment)
  12 34 56 78                                      // identification 0x12345678
  01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10  // payload: fragment data (16 bytes)
`);

/** Ethernet II / IPv4 first fragment (MF, offset 0) / UDP header declaring the whole datagram (LINKTYPE 1). */
export const ethIpv4FragFirstUdp = hex(`
  52 54 00 00 00 02                                // Ethernet: dst MAC
  52 54 00 00 00 01                                // src MAC
  08 00                                            // EtherType 0x0800
  45                                               // IPv4: version 4 | IHL 5 (20 bytes)
  00                                               // TOS
  00 2c                                            // total length 44
  42 42                                            // identification 0x4242
  20 00                                            // flags MF | fragment offset 0 (0 bytes)
  40                                               // TTL 64
  11                                               // protocol 17
  04 7d                                            // header checksum 0x047d
  0a 00 00 01                                      // src 10.0.0.1
  0a 00 00 02                                      // dst 10.0.0.2
  00 87                                            // UDP: src port 135
  c3 50                                            // dst port 50000
  0b c0                                            // length 3008
  00 00                                            // checksum 0x0000
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  // payload: first 16 data bytes
`);

/** Ethernet II / IPv4 middle fragment (MF, offset 185 = 1480 bytes) (LINKTYPE 1). */
export const ethIpv4FragMiddle = hex(`
  52 54 00 00 00 02                                // Ethernet: dst MAC
  52 54 00 00 00 01                                // src MAC
  08 00                                            // EtherType 0x0800
  45                                               // IPv4: version 4 | IHL 5 (20 bytes)
  00                                               // TOS
  00 24                                            // total length 36
  42 42                                            // identification 0x4242
  20 b9                                            // flags MF | fragment offset 185 (1480 bytes)
  40                                               // TTL 64
  11                                               // protocol 17
  03 cc                                            // header checksum 0x03cc
  0a 00 00 01                                      // src 10.0.0.1
  0a 00 00 02                                      // dst 10.0.0.2
  30 31 32 33 34 35 36 37 38 39 3a 3b 3c 3d 3e 3f  // payload: fragment data (16 bytes, no UDP header)
`);

/** Ethernet II / ARP request (not IP) (LINKTYPE 1). */
export const ethArp = hex(`
  ff ff ff ff ff ff                                // Ethernet: dst MAC
  52 54 00 00 00 01                                // src MAC
  08 06                                            // EtherType 0x0806
  00 01 08 00 06 04 00 01                          // ARP: htype 1 | ptype 0x0800 | hlen 6 | plen 4 | op 1 (request)
  52 54 00 00 00 01 0a 00 00 01                    // sender MAC | sender IP 10.0.0.1
  00 00 00 00 00 00 0a 00 00 02                    // target MAC | target IP 10.0.0.2
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  // trailer: Ethernet padding
  00 00                                            // ...
`);

/** BSD loopback (little-endian AF_INET) / IPv4 / ICMP echo request (LINKTYPE 0). */
export const nullIpv4Icmp = hex(`
  02 00 00 00                                      // BSD loopback (NULL): family AF_INET (2), little-endian host
  45                                               // IPv4: version 4 | IHL 5 (20 bytes)
  00                                               // TOS
  00 20                                            // total length 32
  00 01                                            // identification 0x0001
  40 00                                            // flags DF | fragment offset 0 (0 bytes)
  40                                               // TTL 64
  01                                               // protocol 1
  3c da                                            // header checksum 0x3cda
  7f 00 00 01                                      // src 127.0.0.1
  7f 00 00 01                                      // dst 127.0.0.1
  08 00 21 04                                      // ICMP: type 8 (echo request) | code 0 | checksum 0x2104
  12 34 00 01                                      // identifier 0x1234 | sequence 1
  61 62 63 64                                      // payload: data "abcd"
`);

/** Ethernet II / IPv6 / UDP (LINKTYPE 1). */
export const ethIpv6Udp = hex(`
  52 54 00 00 00 02                                // Ethernet: dst MAC
  52 54 00 00 00 01                                // src MAC
  86 dd                                            // EtherType 0x86dd
  60 00 00 00                                      // IPv6: version 6 | traffic class 0 | flow label 0
  00 0b                                            // payload length 11
  11                                               // next header 17
  01                                               // hop limit 1
  fe 80 00 00 00 00 00 00 00 00 00 00 00 00 00 01  // src fe80::1
  ff 02 00 00 00 00 00 00 00 00 00 00 00 01 00 03  // dst ff02::1:3
  9c 41                                            // UDP: src port 40001
  9c 42                                            // dst port 40002
  00 0b                                            // length 11
  b8 cb                                            // checksum 0xb8cb
  05 00 0c                                         // payload: payload (3 bytes)
`);

/** raw IPv6 / ESP (the header walk stops at ESP) (LINKTYPE 101). */
export const rawIpv6Esp = hex(`
  60 00 00 00                                      // IPv6: version 6 | traffic class 0 | flow label 0
  00 18                                            // payload length 24
  32                                               // next header 50
  40                                               // hop limit 64
  20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 0a  // src 2001:db8::a
  20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 0b  // dst 2001:db8::b
  00 00 10 01                                      // ESP: SPI 0x1001
  00 00 00 05                                      // sequence 5
  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f  // encrypted payload (opaque)
`);
