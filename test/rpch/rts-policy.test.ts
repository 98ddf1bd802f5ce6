import { describe, expect, it } from 'vitest';
import {
  RTS_CMD_ASSOCIATION_GROUP_ID, RTS_CMD_CHANNEL_LIFETIME, RTS_CMD_CLIENT_KEEPALIVE, RTS_CMD_COOKIE, RTS_CMD_DESTINATION,
  RTS_CMD_FLOW_CONTROL_ACK, RTS_CMD_RECEIVE_WINDOW_SIZE, RTS_CMD_VERSION, RTS_FLAG_OTHER_CMD, RTS_FLAG_PING,
  RESULT_ACCEPTANCE, UUID_NDR, NDR_VERSION,
} from '../../src/dcerpc/constants.js';
import { writeBind, writeBindAck, writeRequest, writeRts } from '../../src/dcerpc/pdu.js';
import { RtsValues, connA3, connC2, flowControlAck, ping, readRtsValues } from '../../src/rpch/rts.js';
import { InnerPolicy } from '../../src/rpch/inner-policy.js';
import { loadDoc, minimalDoc } from '../policy/helpers.js';
import { PASS, REASON_NAMES } from '../../src/engine/reasons.js';

const VC = Uint8Array.from({ length: 16 }, (_, i) => 0x10 + i);
const OUT_COOKIE = Uint8Array.from({ length: 16 }, (_, i) => 0x40 + i);

function pdu(build: (b: Uint8Array) => number): Buffer {
  const b = Buffer.alloc(1024, 0xa5);
  return b.subarray(0, build(b));
}

describe('RTS PDUs of the proxy', () => {
  it('CONN/A3 and CONN/C2 are what MS-RPCH 2.2.4.4 / 2.2.4.9 lay out', () => {
    expect(connA3(900_000).toString('hex')).toBe(
      '05001403' + '10000000' + '1c00' + '0000' + '00000000' + // header: RTS, FIRST|LAST, LE, frag 28, call 0
      '0000' + '0100' + // Flags NONE, 1 command
      '02000000' + 'a0bb0d00'); // ConnectionTimeout 900000
    const c2 = connC2(65536, 900_000);
    expect(c2.length).toBe(44);
    expect(c2.subarray(16).toString('hex')).toBe('0000' + '0300' + '06000000' + '01000000' + '00000000' + '00000100' + '02000000' + 'a0bb0d00');
    expect(ping().subarray(16).toString('hex')).toBe('0100' + '0000');
  });

  it('reads CONN/A1 (impacket\'s 76 bytes) and CONN/B1 (104)', () => {
    const a1 = pdu((b) => writeRts(b, 0, { commands: [
      { type: RTS_CMD_VERSION, value: 1 }, { type: RTS_CMD_COOKIE, cookie: VC }, { type: RTS_CMD_COOKIE, cookie: OUT_COOKIE },
      { type: RTS_CMD_RECEIVE_WINDOW_SIZE, value: 262144 },
    ] }));
    expect(a1.length).toBe(76);
    const v = new RtsValues();
    expect(readRtsValues(a1, 0, a1.length, v)).toBe(true);
    expect(v.nCookies).toBe(2);
    expect(a1.subarray(v.cookieOff[0]!, v.cookieOff[0]! + 16)).toEqual(Buffer.from(VC));
    expect(a1.subarray(v.cookieOff[1]!, v.cookieOff[1]! + 16)).toEqual(Buffer.from(OUT_COOKIE));
    expect(v.receiveWindowSize).toBe(262144);
    const b1 = pdu((b) => writeRts(b, 0, { commands: [
      { type: RTS_CMD_VERSION, value: 1 }, { type: RTS_CMD_COOKIE, cookie: VC }, { type: RTS_CMD_COOKIE, cookie: OUT_COOKIE },
      { type: RTS_CMD_CHANNEL_LIFETIME, value: 0x40000000 }, { type: RTS_CMD_CLIENT_KEEPALIVE, value: 300000 },
      { type: RTS_CMD_ASSOCIATION_GROUP_ID, cookie: VC },
    ] }));
    expect(b1.length).toBe(104);
    expect(readRtsValues(b1, 0, b1.length, v)).toBe(true);
    expect([v.channelLifetime, v.clientKeepalive, v.assocGroupOff]).toEqual([0x40000000, 300000, 88]);
  });

  it('reads a FlowControlAckWithDestination and round-trips the proxy\'s FlowControlAck', () => {
    const ack = pdu((b) => writeRts(b, 0, { flags: RTS_FLAG_OTHER_CMD, commands: [
      { type: RTS_CMD_DESTINATION, value: 3 },
      { type: RTS_CMD_FLOW_CONTROL_ACK, bytesReceived: 131072, availableWindow: 262144, cookie: OUT_COOKIE },
    ] }));
    const v = new RtsValues();
    expect(readRtsValues(ack, 0, ack.length, v)).toBe(true);
    expect([v.destination, v.ackBytesReceived, v.ackAvailableWindow]).toEqual([3, 131072, 262144]);
    const mine = flowControlAck(5000, 65536, OUT_COOKIE);
    expect(readRtsValues(mine, 0, mine.length, v)).toBe(true);
    expect([v.flags, v.ackBytesReceived, v.ackAvailableWindow]).toEqual([RTS_FLAG_OTHER_CMD, 5000, 65536]);
    expect(mine.subarray(v.ackCookieOff, v.ackCookieOff + 16)).toEqual(Buffer.from(OUT_COOKIE));
  });

  it('malformed RTS PDUs are errors with an offset, never throws', () => {
    const v = new RtsValues();
    const a3 = connA3(1000);
    const cut = Buffer.from(a3);
    cut[18] = 2; // two commands announced, one present
    expect(readRtsValues(cut, 0, cut.length, v)).toBe(false);
    expect(v.errReason).not.toBe('');
    const unknown = Buffer.from(a3);
    unknown[20] = 99;
    expect(readRtsValues(unknown, 0, unknown.length, v)).toBe(false);
    const pingFlags = ping();
    expect(readRtsValues(pingFlags, 0, pingFlags.length, v)).toBe(true);
    expect(v.flags).toBe(RTS_FLAG_PING);
    for (let n = 0; n < 2000; n++) {
      const junk = Buffer.from(Array.from({ length: 20 + (n % 60) }, () => Math.floor(Math.random() * 256)));
      junk[0] = 5;
      junk[2] = 20;
      junk[4] = 0x10;
      junk[8] = junk.length;
      junk[9] = 0;
      expect(() => readRtsValues(junk, 0, junk.length, v)).not.toThrow();
    }
  });
});

const SAMR = '12345778-1234-abcd-ef00-0123456789ac';
const LSARPC = '12345778-1234-abcd-ef00-0123456789ab';
const EPM = 'e1af8308-5d1f-11c9-91a4-08002b14a0fa';

function proxyRule(requireEncryption: boolean) {
  const doc = {
    ...minimalDoc(),
    httpsListeners: [{ name: 'l', address: '198.51.100.1', certificates: [{ cert: '/c', key: '/k' }], users: '/u' }],
    rpcOverHttp: [{ name: 'p', listener: 'l', validPorts: [{ remoteNames: ['s'], server: '192.0.2.10', ports: '593,6001' }], interfaces: [`${SAMR}@1.0`], requireEncryption }],
  };
  return loadDoc(doc).rules.https!.rpcOverHttp[0]!;
}

const NTLM = 10;
function bind(uuid: string, level: number, major = 1): Buffer {
  return pdu((b) => writeBind(b, 0, {
    callId: 1, contexts: [{ ctxId: 0, abstract: { uuid, major, minor: 0 }, transfer: [{ uuid: UUID_NDR, version: NDR_VERSION }] }],
    ...(level > 1 ? { auth: { type: NTLM, level, value: new Uint8Array(16) } } : {}),
  }));
}
const ack = pdu((b) => writeBindAck(b, 0, { callId: 1, results: [{ result: RESULT_ACCEPTANCE, transfer: { uuid: UUID_NDR, version: NDR_VERSION } }] }));
function request(level: number): Buffer {
  return pdu((b) => writeRequest(b, 0, { callId: 2, ctxId: 0, opnum: 6, stub: new Uint8Array(8), ...(level > 1 ? { auth: { type: NTLM, level, value: new Uint8Array(16) } } : {}) }));
}

describe('InnerPolicy: the mapped-port decisions on the stream inside RPC over HTTP', () => {
  it('an allowed interface at level 6 binds, its ack accepts the context, requests at level 6 pass', () => {
    const p = new InnerPolicy(proxyRule(true), false);
    const b = bind(SAMR, 6);
    expect(p.clientPdu(b, 0, b.length)).toBe(PASS);
    expect(p.serverPdu(ack, 0, ack.length)).toBe(PASS);
    const r = request(6);
    expect(p.clientPdu(r, 0, r.length)).toBe(PASS);
  });

  it('refuses another interface, level 5 under requireEncryption, a request before any bind', () => {
    const p = new InnerPolicy(proxyRule(true), false);
    const l = bind(LSARPC, 6, 0);
    expect(REASON_NAMES[p.clientPdu(l, 0, l.length)]).toBe('bind-interface-not-allowed');
    expect(p.lastInterface).toBe(`${LSARPC}@0.0`);
    const five = bind(SAMR, 5);
    expect(REASON_NAMES[p.clientPdu(five, 0, five.length)]).toBe('encryption-required');
    expect(p.detail).toMatch(/auth level 5/);
    const r = request(6);
    expect(REASON_NAMES[new InnerPolicy(proxyRule(true), false).clientPdu(r, 0, r.length)]).toBe('context-not-accepted');
  });

  it('the endpoint mapper interface is allowed only for RemotePort 593', () => {
    const e = bind(EPM, 1, 3);
    expect(new InnerPolicy(proxyRule(false), true).clientPdu(e, 0, e.length)).toBe(PASS);
    expect(REASON_NAMES[new InnerPolicy(proxyRule(false), false).clientPdu(e, 0, e.length)]).toBe('bind-interface-not-allowed');
  });

  it('a server that sends a bind is refused (unexpected PDU)', () => {
    const p = new InnerPolicy(proxyRule(false), false);
    const b = bind(SAMR, 1);
    expect(REASON_NAMES[p.serverPdu(b, 0, b.length)]).toBe('unexpected-pdu');
  });
});
