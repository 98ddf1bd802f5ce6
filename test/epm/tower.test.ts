import { describe, it, expect } from 'vitest';
import { MALFORMED, OK } from '../../src/wire/status.js';
import {
  FLOOR_HTTP, FLOOR_NCACN, FLOOR_NCALRPC, PROTO_NAMES, PROTO_NCACN_HTTP,
  PROTO_NCACN_IP_TCP, PROTO_NCACN_NP, PROTO_NCADG_IP_UDP, PROTO_NCALRPC, PROTO_UNKNOWN,
  TCP_TOWER_LEN, TCP_TOWER_OFF_IPV4, TCP_TOWER_OFF_PORT,
} from '../../src/epm/constants.js';
import {
  buildTower, readTower, towerPipeOrHost, towerSize, towerUuidToString, TowerView,
  TOWER_ERR_DUP_FLOOR, TOWER_ERR_FEW_FLOORS, TOWER_ERR_FLOOR_COUNT, TOWER_ERR_IPV4_LEN,
  TOWER_ERR_LHS_PAST_END, TOWER_ERR_LHS_ZERO, TOWER_ERR_PAST_BUFFER, TOWER_ERR_PORT_LEN,
  TOWER_ERR_RHS_PAST_END, TOWER_ERR_SHORT, TOWER_ERR_TRAILING, TOWER_ERR_UUID_FLOOR, writeTower,
} from '../../src/epm/tower.js';
import { ipv4ToString } from '../../src/wire/addr.js';
import type { TowerSpec } from '../../src/epm/tower.js';
import {
  cat, EMSMDB, filled, hex, NDR, NDR64, NSPI, placed, TOWER_EMSMDB_LRPC, TOWER_EMSMDB_REQ,
  TOWER_EMSMDB_TCP, TOWER_NSPI_HTTP_0X20, TOWER_NSPI_NP,
} from './vectors.js';

const AT = 7; // decode towers 7 bytes into a 0xa5 buffer: offsets must be absolute

function decode(bytes: Uint8Array, tail = 3): { st: number; v: TowerView; buf: Uint8Array } {
  const buf = placed(bytes, AT, tail);
  const v = new TowerView();
  const st = readTower(buf, AT, bytes.length, v);
  return { st, v, buf };
}

function text(buf: Uint8Array, off: number, len: number): string {
  return String.fromCharCode(...buf.subarray(off, off + len));
}

describe('readTower: the 75-byte EMSMDB request tower of protocol-notes B.5', () => {
  it('decodes every floor field with absolute offsets', () => {
    expect(TOWER_EMSMDB_REQ.length).toBe(TCP_TOWER_LEN);
    const { st, v, buf } = decode(TOWER_EMSMDB_REQ);
    expect(st).toBe(OK);
    expect(v.errReason).toBe('');
    expect(v.off).toBe(AT);
    expect(v.len).toBe(75);
    expect(v.floorCount).toBe(5);
    // floor 1: lhs_length(2) protocol id(1) then the UUID
    expect(v.ifUuidOff).toBe(AT + 5);
    expect(towerUuidToString(buf, v.ifUuidOff)).toBe(EMSMDB);
    expect(v.ifMajor).toBe(0);
    expect(v.ifMinor).toBe(81);
    // floor 2 starts at tower offset 27
    expect(v.syntaxUuidOff).toBe(AT + 27 + 3);
    expect(towerUuidToString(buf, v.syntaxUuidOff)).toBe(NDR);
    expect(v.syntaxMajor).toBe(2);
    expect(v.syntaxMinor).toBe(0);
    expect(v.rpcProto).toBe(FLOOR_NCACN);
    expect(v.protocol).toBe(PROTO_NCACN_IP_TCP);
    expect(PROTO_NAMES[v.protocol]).toBe('ncacn_ip_tcp');
    expect(v.portOff).toBe(AT + TCP_TOWER_OFF_PORT);
    expect(TCP_TOWER_OFF_PORT).toBe(64);
    expect(v.port).toBe(0);
    expect(v.ipv4Off).toBe(AT + TCP_TOWER_OFF_IPV4);
    expect(TCP_TOWER_OFF_IPV4).toBe(71);
    expect(v.ipv4).toBe(0);
    expect(v.pipeOff).toBe(-1);
    expect(v.hostOff).toBe(-1);
    expect(v.extraFloorProto).toBe(-1);
  });

  it('reads the server-filled port (BE) and IPv4 as an unsigned u32', () => {
    const { st, v } = decode(TOWER_EMSMDB_TCP);
    expect(st).toBe(OK);
    expect(v.port).toBe(1032);
    expect(v.ipv4).toBe(0xc0a80002);
    expect(ipv4ToString(v.ipv4)).toBe('192.168.0.2');
    // a high first octet stays positive
    const t = buildTower({ ifUuid: EMSMDB, ifMajor: 0, ifMinor: 81, protocol: PROTO_NCACN_IP_TCP, port: 65535, ipv4: 0xfe000001 });
    const d = decode(t);
    expect(d.v.ipv4).toBe(0xfe000001);
    expect(d.v.port).toBe(65535);
  });
});

describe('readTower: other protocols', () => {
  it('ncacn_np: pipe and NetBIOS host strings without their NUL', () => {
    const { st, v, buf } = decode(TOWER_NSPI_NP);
    expect(st).toBe(OK);
    expect(v.protocol).toBe(PROTO_NCACN_NP);
    expect(towerUuidToString(buf, v.ifUuidOff)).toBe(NSPI);
    expect(v.ifMajor).toBe(56);
    expect(v.ifMinor).toBe(0);
    expect(v.pipeOff).toBe(AT + 59 + 5);
    expect(v.pipeLen).toBe(7);
    expect(text(buf, v.pipeOff, v.pipeLen)).toBe('\\PIPE\\x');
    expect(v.hostOff).toBe(AT + 72 + 5);
    expect(v.hostLen).toBe(7);
    expect(text(buf, v.hostOff, v.hostLen)).toBe('\\\\SRVAB');
    expect(v.portOff).toBe(-1);
    expect(v.ipv4Off).toBe(-1);
    expect(towerPipeOrHost(buf, v)).toBe('\\PIPE\\x \\\\SRVAB');
  });

  it('ncalrpc: 4 floors, 0x0c / 0x10 endpoint', () => {
    const { st, v, buf } = decode(TOWER_EMSMDB_LRPC);
    expect(st).toBe(OK);
    expect(v.floorCount).toBe(4);
    expect(v.rpcProto).toBe(FLOOR_NCALRPC);
    expect(v.protocol).toBe(PROTO_NCALRPC);
    expect(PROTO_NAMES[v.protocol]).toBe('ncalrpc');
    expect(text(buf, v.pipeOff, v.pipeLen)).toBe('OLE1');
    expect(towerPipeOrHost(buf, v)).toBe('OLE1');
  });

  it('ncacn_http with an unknown host floor 0x20 reports it via extraFloor*', () => {
    const { st, v, buf } = decode(TOWER_NSPI_HTTP_0X20);
    expect(st).toBe(OK);
    expect(v.protocol).toBe(PROTO_NCACN_HTTP);
    expect(PROTO_NAMES[v.protocol]).toBe('ncacn_http');
    expect(v.portOff).toBe(AT + 64);
    expect(v.port).toBe(5000);
    expect(v.ipv4Off).toBe(-1);
    expect(v.extraFloorProto).toBe(0x20);
    expect(v.extraFloorRhsOff).toBe(AT + 71);
    expect(v.extraFloorRhsLen).toBe(4);
    // the oracle's pipe_or_host column for this tower
    expect(towerPipeOrHost(buf, v)).toBe('0x20:c0a80002');
  });

  it('ncadg_ip_udp: 0x0a / 0x08 / 0x09', () => {
    const t = buildTower({ ifUuid: NSPI, ifMajor: 56, ifMinor: 0, protocol: PROTO_NCADG_IP_UDP, port: 1234, ipv4: 0x0a000001 });
    const { st, v } = decode(t);
    expect(st).toBe(OK);
    expect(v.protocol).toBe(PROTO_NCADG_IP_UDP);
    expect(v.port).toBe(1234);
    expect(ipv4ToString(v.ipv4)).toBe('10.0.0.1');
  });

  it('an endpoint floor readTower does not know leaves the protocol unknown', () => {
    // ncacn (0x0b) then SPX (0x13): no class, the floor goes to extraFloor*
    const t = TOWER_EMSMDB_REQ.slice();
    t[61] = 0x13;
    const { st, v } = decode(t);
    expect(st).toBe(OK);
    expect(v.protocol).toBe(PROTO_UNKNOWN);
    expect(v.portOff).toBe(-1);
    expect(v.extraFloorProto).toBe(0x13);
    expect(v.extraFloorRhsOff).toBe(AT + 64);
    expect(v.ipv4Off).toBe(AT + 71);
  });
});

describe('writeTower', () => {
  it('builds the exact B.5 request tower at an offset, touching nothing else', () => {
    const buf = filled(5 + 75 + 4);
    const n = writeTower(buf, 5, { ifUuid: EMSMDB, ifMajor: 0, ifMinor: 81, protocol: PROTO_NCACN_IP_TCP, port: 0, ipv4: 0 });
    expect(n).toBe(75);
    expect(buf.subarray(5, 80)).toEqual(TOWER_EMSMDB_REQ);
    expect(buf.subarray(0, 5)).toEqual(filled(5));
    expect(buf.subarray(80)).toEqual(filled(4));
  });

  it('builds np, lrpc and tcp towers byte for byte', () => {
    expect(buildTower({ ifUuid: NSPI, ifMajor: 56, ifMinor: 0, protocol: PROTO_NCACN_NP, pipe: '\\PIPE\\x', host: '\\\\SRVAB' })).toEqual(TOWER_NSPI_NP);
    expect(buildTower({ ifUuid: EMSMDB, ifMajor: 0, ifMinor: 81, protocol: PROTO_NCALRPC, pipe: 'OLE1' })).toEqual(TOWER_EMSMDB_LRPC);
    expect(buildTower({ ifUuid: EMSMDB, ifMajor: 0, ifMinor: 81, protocol: PROTO_NCACN_IP_TCP, port: 1032, ipv4: 0xc0a80002 })).toEqual(TOWER_EMSMDB_TCP);
  });

  it('writes an ncacn_http tower with 0x1f and an NDR64 syntax floor when asked', () => {
    const t = buildTower({
      ifUuid: EMSMDB, ifMajor: 0, ifMinor: 81, syntaxUuid: NDR64, syntaxMajor: 1, syntaxMinor: 0,
      protocol: PROTO_NCACN_HTTP, port: 593, ipv4: 0x7f000001,
    });
    expect(t[61]).toBe(FLOOR_HTTP);
    const { st, v, buf } = decode(t);
    expect(st).toBe(OK);
    expect(v.protocol).toBe(PROTO_NCACN_HTTP);
    expect(towerUuidToString(buf, v.syntaxUuidOff)).toBe(NDR64);
    expect(v.syntaxMajor).toBe(1);
    expect(v.port).toBe(593);
  });

  it('round trips: encode -> decode -> encode gives the same bytes', () => {
    const specs: TowerSpec[] = [
      { ifUuid: EMSMDB, ifMajor: 0, ifMinor: 81, protocol: PROTO_NCACN_IP_TCP, port: 6001, ipv4: 0xc0a80102 },
      { ifUuid: NSPI, ifMajor: 56, ifMinor: 0, protocol: PROTO_NCADG_IP_UDP, port: 135, ipv4: 0x01020304 },
      { ifUuid: NSPI, ifMajor: 56, ifMinor: 0, protocol: PROTO_NCACN_HTTP, port: 6004, ipv4: 0 },
      { ifUuid: EMSMDB, ifMajor: 0, ifMinor: 81, protocol: PROTO_NCACN_NP, pipe: '\\pipe\\lsass', host: '\\\\EX01' },
      { ifUuid: EMSMDB, ifMajor: 0, ifMinor: 81, protocol: PROTO_NCALRPC, pipe: 'LRPC-0123abcd' },
    ];
    for (const spec of specs) {
      const bytes = buildTower(spec);
      expect(bytes.length).toBe(towerSize(spec));
      const { st, v, buf } = decode(bytes);
      expect(st).toBe(OK);
      const again = buildTower({
        ifUuid: towerUuidToString(buf, v.ifUuidOff), ifMajor: v.ifMajor, ifMinor: v.ifMinor,
        syntaxUuid: towerUuidToString(buf, v.syntaxUuidOff), syntaxMajor: v.syntaxMajor, syntaxMinor: v.syntaxMinor,
        protocol: v.protocol, port: v.port, ipv4: v.ipv4,
        pipe: v.pipeOff >= 0 ? text(buf, v.pipeOff, v.pipeLen) : undefined,
        host: v.hostOff >= 0 ? text(buf, v.hostOff, v.hostLen) : undefined,
      });
      expect(again).toEqual(bytes);
    }
  });

  it('throws on encoder input it cannot express (not wire input)', () => {
    expect(() => buildTower({ ifUuid: 'nope', ifMajor: 0, ifMinor: 0, protocol: PROTO_NCACN_IP_TCP })).toThrow(RangeError);
    expect(() => buildTower({ ifUuid: EMSMDB, ifMajor: 0, ifMinor: 0, protocol: PROTO_UNKNOWN })).toThrow(RangeError);
  });
});

describe('readTower: malformed towers, exact reason and absolute offset', () => {
  function expectFail(bytes: Uint8Array, reason: string, towerOffset: number, towerLen = bytes.length): void {
    const buf = placed(bytes, AT, 0);
    const v = new TowerView();
    expect(readTower(buf, AT, towerLen, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(reason);
    expect(v.errOffset).toBe(AT + towerOffset);
  }

  it('shorter than floor_count', () => {
    expectFail(hex('05'), TOWER_ERR_SHORT, 0);
    expectFail(hex(''), TOWER_ERR_SHORT, 0);
  });

  it('tower_length beyond the buffer', () => {
    expectFail(TOWER_EMSMDB_REQ, TOWER_ERR_PAST_BUFFER, 75, 76);
  });

  it('floor count that lies (6 claimed, 5 present): fails where floor 6 would start', () => {
    const t = TOWER_EMSMDB_REQ.slice();
    t[0] = 6;
    expectFail(t, TOWER_ERR_FLOOR_COUNT, 75);
  });

  it('floor count that lies low (4 claimed, 5 present): bytes after the last floor', () => {
    const t = TOWER_EMSMDB_REQ.slice();
    t[0] = 4;
    expectFail(t, TOWER_ERR_TRAILING, 66);
  });

  it('fewer than 3 floors for a UUID tower', () => {
    const t = TOWER_EMSMDB_REQ.slice();
    t[0] = 2;
    expectFail(t, TOWER_ERR_FEW_FLOORS, 0);
  });

  it('zero-length lhs (floor 3)', () => {
    const t = TOWER_EMSMDB_REQ.slice();
    t[52] = 0; // floor 3 lhs_length (tower offset 52) 1 -> 0
    expectFail(t, TOWER_ERR_LHS_ZERO, 52);
  });

  it('lhs longer than the tower (floor 5)', () => {
    const t = TOWER_EMSMDB_REQ.slice();
    t[66] = 0x40;
    expectFail(t, TOWER_ERR_LHS_PAST_END, 66);
  });

  it('rhs longer than the tower (floor 5 rhs_length 5): fails at that rhs_length', () => {
    const t = TOWER_EMSMDB_REQ.slice();
    t[69] = 5;
    expectFail(t, TOWER_ERR_RHS_PAST_END, 69);
  });

  it('TCP port floor with rhs length 3', () => {
    const t = cat(
      hex('05 00'), TOWER_EMSMDB_REQ.subarray(2, 59),
      hex('01 00 07  03 00 00 00 00   // floor 4: port rhs_length 3'),
      TOWER_EMSMDB_REQ.subarray(66),
    );
    expect(t.length).toBe(76);
    expectFail(t, TOWER_ERR_PORT_LEN, 62);
  });

  it('IPv4 floor with rhs length 5', () => {
    const t = cat(TOWER_EMSMDB_REQ.subarray(0, 66), hex('01 00 09  05 00 0a 00 00 01 00'));
    expectFail(t, TOWER_ERR_IPV4_LEN, 69);
  });

  it('floor 1 that is not a UUID floor', () => {
    const t = TOWER_EMSMDB_REQ.slice();
    t[4] = 0x0e;
    expectFail(t, TOWER_ERR_UUID_FLOOR, 2);
  });

  it('floor 2 with rhs length 3 instead of 2 (fits, but is not a UUID floor)', () => {
    const t = cat(TOWER_EMSMDB_REQ.subarray(0, 48), hex('03 00 00 00 00'), TOWER_EMSMDB_REQ.subarray(52));
    expectFail(t, TOWER_ERR_UUID_FLOOR, 27);
  });

  it('a second port floor (would carry an internal port past the rewrite)', () => {
    const t = cat(hex('06 00'), TOWER_EMSMDB_REQ.subarray(2), hex('01 00 07  02 00 13 85'));
    expectFail(t, TOWER_ERR_DUP_FLOOR, 75);
  });

  it('a second pipe floor', () => {
    const t = cat(hex('06 00'), TOWER_NSPI_NP.subarray(2), hex('01 00 10  02 00 41 00'));
    expectFail(t, TOWER_ERR_DUP_FLOOR, 85);
  });

  it('never reads outside [off, off+towerLen): a valid tower cut short fails, it does not read on', () => {
    // the first 70 bytes, with the 0xa5 filler after them inside the buffer
    const buf = placed(TOWER_EMSMDB_REQ, AT, 0);
    const v = new TowerView();
    expect(readTower(buf, AT, 70, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(TOWER_ERR_LHS_PAST_END);
    expect(v.errOffset).toBe(AT + 66);
  });
});
