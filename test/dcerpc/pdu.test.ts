import { describe, it, expect } from 'vitest';
import { OK, NEED_MORE, MALFORMED, UNSUPPORTED } from '../../src/wire/status.js';
import {
  AUTH_LEVEL_PKT_PRIVACY, AUTH_TYPE_WINNT, NCA_S_UNK_IF, PFC_DID_NOT_EXECUTE, PFC_FIRST_FRAG, PFC_LAST_FRAG,
  PFC_OBJECT_UUID, PFC_SUPPORT_HEADER_SIGN, PTYPE_ALTER_CONTEXT, PTYPE_ALTER_CONTEXT_RESP, PTYPE_AUTH3, PTYPE_BIND,
  PTYPE_BIND_ACK, PTYPE_BIND_NAK, PTYPE_CO_CANCEL, PTYPE_FAULT, PTYPE_ORPHANED, PTYPE_REQUEST, PTYPE_RESPONSE,
  PTYPE_RTS, PTYPE_SHUTDOWN, RESULT_ACCEPTANCE, RESULT_NEGOTIATE_ACK, RESULT_PROVIDER_REJECTION,
  REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED, RTS_CMD_COOKIE, RTS_CMD_RECEIVE_WINDOW_SIZE, RTS_CMD_VERSION,
  SYNTAX_BTFN, SYNTAX_NDR, SYNTAX_NDR64, SYNTAX_UNKNOWN, UUID_BTFN_WINDOWS, UUID_EPM, UUID_NDR, UUID_NDR64,
  MAX_TRANSFER_SYNTAXES, NAK_REASON_PROTOCOL_VERSION_NOT_SUPPORTED, NAK_REASON_LOCAL_LIMIT_EXCEEDED,
  RTS_CMD_CLIENT_ADDRESS, RTS_CMD_PADDING, RTS_CMD_FLOW_CONTROL_ACK, RTS_CMD_EMPTY, RTS_CMD_ASSOCIATION_GROUP_ID,
  RTS_CMD_CHANNEL_LIFETIME, RTS_CMD_CLIENT_KEEPALIVE, RTS_FLAG_PING, AUTH_TYPE_GSS_NEGOTIATE, AUTH_LEVEL_PKT_INTEGRITY,
} from '../../src/dcerpc/constants.js';
import {
  Auth3View, BindAckView, BindNakView, BindView, FaultView, HeaderOnlyView, PduView, RequestView, ResponseView,
  RtsView, readAuth3, readBind, readBindAck, readBindNak, readCoCancel, readFault, readOrphaned, readPdu,
  readRequest, readResponse, readRts, readShutdown, readAuthVerifier, PduBase,
  writeAlterContext, writeAlterContextResp, writeAuth3, writeBind, writeBindAck, writeBindNak, writeCoCancel,
  writeFault, writeOrphaned, writeRequest, writeResponse, writeRts, writeShutdown, encode, btfnUuid,
} from '../../src/dcerpc/pdu.js';
import type { BindOptions } from '../../src/dcerpc/pdu.js';
import { uuidToString, uuidEqualsAcrossOrder } from '../../src/dcerpc/uuid.js';
import {
  ERR_AUTH_LEN, ERR_AUTH_NOT_ALLOWED, ERR_AUTH_PAD, ERR_AUTH_REQUIRED, ERR_CONTEXT_OVERRUN, ERR_NO_TRANSFER_SYNTAX,
  ERR_PDU_INCOMPLETE, ERR_RESULT_OVERRUN, ERR_RTS_BAD_ADDRESS_TYPE, ERR_RTS_COMMAND_OVERRUN, ERR_RTS_TRAILING,
  ERR_RTS_UNKNOWN_COMMAND, ERR_SEC_ADDR_OVERRUN, ERR_SHORT_BODY, ERR_TOO_MANY_CONTEXTS,
  ERR_TOO_MANY_TRANSFER_SYNTAXES, ERR_UNKNOWN_PTYPE, ERR_VERSIONS_OVERRUN, ERR_WRONG_PTYPE, ERR_TOO_MANY_RESULTS,
} from '../../src/dcerpc/reasons.js';
import { embed, encodeAt, hex, toHex } from './bytes.js';
import {
  AUTH3_NTLM, BIND_3CTX, BIND_ACK_135, BIND_ACK_EMPTY_SECADDR, BIND_NAK_PLAIN, BIND_NAK_SIGNED, FAULT_EEINFO,
  REQUEST_EPT_MAP_NDR64, REQUEST_NTLM_PRIVACY, RESPONSE_EPT_MAP_NDR64, RESPONSE_NTLM_PRIVACY, RTS_CONN_A1, SHUTDOWN,
  REQUEST_WITH_OBJECT,
} from './vectors.js';

const EPM_TEXT = 'e1af8308-5d1f-11c9-91a4-08002b14a0fa';
const NDR_TEXT = '8a885d04-1ceb-11c9-9fe8-08002b104860';
const NDR64_TEXT = '71710533-beba-4937-8319-b5dbef9ccc36';
const AT = 11; // vectors are decoded at this offset inside an 0xa5-filled buffer

/** The options that reproduce BIND_3CTX. */
const BIND_3CTX_OPTS: BindOptions = {
  callId: 21,
  maxXmit: 4280,
  maxRecv: 5840,
  contexts: [
    { ctxId: 0, abstract: { uuid: EPM_TEXT, major: 3, minor: 0 }, transfer: [{ uuid: NDR_TEXT, version: 2 }] },
    { ctxId: 1, abstract: { uuid: EPM_TEXT, major: 3, minor: 0 }, transfer: [{ uuid: UUID_NDR64, version: 1 }] },
    { ctxId: 2, abstract: { uuid: UUID_EPM, major: 3, minor: 0 }, transfer: [{ uuid: btfnUuid(3), version: 1 }] },
  ],
};

describe('bind', () => {
  it('decodes a Windows-style 3-context EPM bind (NDR, NDR64, BTFN)', () => {
    const v = new BindView();
    const buf = embed(BIND_3CTX, AT);
    expect(readBind(buf, AT, BIND_3CTX.length, v)).toBe(OK);
    expect(v.ptype).toBe(PTYPE_BIND);
    expect(v.fragLen).toBe(160);
    expect(v.callId).toBe(21);
    expect(v.maxXmitFrag).toBe(4280);
    expect(v.maxRecvFrag).toBe(5840);
    expect(v.assocGroup).toBe(0);
    expect(v.nContexts).toBe(3);
    expect(Array.from(v.ctxId.subarray(0, 3))).toEqual([0, 1, 2]);
    expect(Array.from(v.abstractUuidOff.subarray(0, 3))).toEqual([AT + 32, AT + 76, AT + 120]);
    for (let i = 0; i < 3; i++) {
      expect(uuidToString(buf, v.abstractUuidOff[i]!)).toBe(EPM_TEXT);
      expect(v.ifMajor[i]).toBe(3);
      expect(v.ifMinor[i]).toBe(0);
      expect(v.nTransfer[i]).toBe(1);
    }
    const T = MAX_TRANSFER_SYNTAXES;
    expect(v.transferUuidOff[0]).toBe(AT + 52);
    expect(uuidToString(buf, v.transferUuidOff[0]!)).toBe(NDR_TEXT);
    expect(uuidToString(buf, v.transferUuidOff[T]!)).toBe(NDR64_TEXT);
    expect(uuidToString(buf, v.transferUuidOff[2 * T]!)).toBe('6cb71c2c-9812-4540-0300-000000000000');
    expect([v.transferVersion[0], v.transferVersion[T], v.transferVersion[2 * T]]).toEqual([2, 1, 1]);
    expect([v.transferSyntax[0], v.transferSyntax[T], v.transferSyntax[2 * T]]).toEqual([SYNTAX_NDR, SYNTAX_NDR64, SYNTAX_BTFN]);
    expect(v.hasAuth).toBe(false);
    expect(v.contextsEnd).toBe(AT + 160);
  });

  it('encodes the same bytes (round trip, at an offset in 0xa5)', () => {
    expect(toHex(encodeAt(writeBind, BIND_3CTX_OPTS))).toBe(toHex(BIND_3CTX));
  });

  it('alter_context shares the layout', () => {
    const bytes = encodeAt(writeAlterContext, { ...BIND_3CTX_OPTS, callId: 5 });
    const v = new BindView();
    expect(readBind(bytes, 0, bytes.length, v)).toBe(OK);
    expect(v.ptype).toBe(PTYPE_ALTER_CONTEXT);
    expect(v.callId).toBe(5);
    expect(v.nContexts).toBe(3);
    expect(toHex(bytes.subarray(0, 16))).toBe('05000e03' + '10000000' + 'a0000000' + '05000000');
    expect(toHex(bytes.subarray(16))).toBe(toHex(BIND_3CTX.subarray(16)));
  });

  it('decodes an SPNEGO bind with an auth verifier and a context with 2 transfer syntaxes', () => {
    const token = hex('60 28 06 06 2b 06 01 05 05 02 a0 1e');
    const bytes = encodeAt(writeBind, {
      callId: 9, pfcFlags: PFC_FIRST_FRAG | PFC_LAST_FRAG | PFC_SUPPORT_HEADER_SIGN,
      contexts: [{ ctxId: 0, abstract: { uuid: '367abb81-9844-35f1-ad32-98f038001003', major: 2, minor: 0 },
        transfer: [{ uuid: NDR_TEXT, version: 2 }, { uuid: NDR64_TEXT, version: 1 }] }],
      auth: { type: AUTH_TYPE_GSS_NEGOTIATE, level: AUTH_LEVEL_PKT_INTEGRITY, contextId: 0x79231, value: token },
    });
    // 28 + 24 + 40 = 92 body, 0 pad, 8 trailer, 12 value
    expect(bytes.length).toBe(112);
    expect(toHex(bytes.subarray(8, 12))).toBe('70000c00');
    expect(toHex(bytes.subarray(92, 100))).toBe('09050000' + '31920700');
    const v = new BindView();
    expect(readBind(bytes, 0, bytes.length, v)).toBe(OK);
    expect(v.pfcFlags).toBe(7);
    expect(v.nTransfer[0]).toBe(2);
    expect([v.transferSyntax[0], v.transferSyntax[1]]).toEqual([SYNTAX_NDR, SYNTAX_NDR64]);
    expect(v.hasAuth).toBe(true);
    expect(v.authType).toBe(AUTH_TYPE_GSS_NEGOTIATE);
    expect(v.authLevel).toBe(AUTH_LEVEL_PKT_INTEGRITY);
    expect(v.authPadLen).toBe(0);
    expect(v.authContextId).toBe(0x79231);
    expect(v.secTrailerOff).toBe(92);
    expect(v.authValueOff).toBe(100);
    expect(v.authValueLen).toBe(12);
    expect(v.contextsEnd).toBe(92);
  });

  it('malformed: n_context_elem beyond the data', () => {
    const b = BIND_3CTX.slice();
    b[24] = 4; // claims 4 contexts, 3 present
    const v = new BindView();
    expect(readBind(b, 0, b.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_CONTEXT_OVERRUN);
    expect(v.errOffset).toBe(160);
    expect(v.nContexts).toBe(0);
  });

  it('malformed: n_transfer_syn beyond the data', () => {
    const b = BIND_3CTX.slice();
    b[116 + 2] = 2; // last context claims 2 transfer syntaxes
    const v = new BindView();
    expect(readBind(b, 0, b.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_CONTEXT_OVERRUN);
    expect(v.errOffset).toBe(116);
  });

  it('malformed: n_transfer_syn = 0', () => {
    const b = BIND_3CTX.slice();
    b[72 + 2] = 0;
    const v = new BindView();
    expect(readBind(b, 0, b.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_NO_TRANSFER_SYNTAX);
    expect(v.errOffset).toBe(74);
  });

  it('unsupported: more contexts or transfer syntaxes than the view holds', () => {
    const b = BIND_3CTX.slice();
    b[24] = 65;
    const v = new BindView();
    expect(readBind(b, 0, b.length, v)).toBe(UNSUPPORTED);
    expect(v.errReason).toBe(ERR_TOO_MANY_CONTEXTS);
    expect(v.errOffset).toBe(24);
    const c = BIND_3CTX.slice();
    c[28 + 2] = 17;
    expect(readBind(c, 0, c.length, v)).toBe(UNSUPPORTED);
    expect(v.errReason).toBe(ERR_TOO_MANY_TRANSFER_SYNTAXES);
    expect(v.errOffset).toBe(30);
  });

  it('malformed: contexts running into the sec_trailer', () => {
    // 3-context bind + 8-byte trailer + 4-byte value, but auth_length claims 40: trailer moves into contexts
    const b = encode(writeBind, { ...BIND_3CTX_OPTS, auth: { type: 10, level: 6, value: new Uint8Array(4) } });
    b[10] = 40;
    const v = new BindView();
    expect(readBind(b, 0, b.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_CONTEXT_OVERRUN);
    expect(v.errOffset).toBe(116);
  });

  it('NEED_MORE with needed = frag_length when truncated', () => {
    const v = new BindView();
    expect(readBind(BIND_3CTX, 0, 100, v)).toBe(NEED_MORE);
    expect(v.needed).toBe(160);
    expect(v.errReason).toBe(ERR_PDU_INCOMPLETE);
    expect(v.errOffset).toBe(100);
  });

  it('malformed: frag_length too short for a bind, wrong PTYPE', () => {
    const v = new BindView();
    const short = hex('05 00 0b 03 10 00 00 00 1b 00 00 00 01 00 00 00', 'd0 16 d0 16 00 00 00 00 00 00 00');
    expect(readBind(short, 0, short.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_SHORT_BODY);
    expect(v.errOffset).toBe(8);
    expect(readBind(BIND_ACK_135, 0, BIND_ACK_135.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_WRONG_PTYPE);
    expect(v.errOffset).toBe(2);
  });
});

describe('bind_ack', () => {
  it('decodes the EPM bind_ack with sec_addr "135\\0"', () => {
    const v = new BindAckView();
    const buf = embed(BIND_ACK_135, AT);
    expect(readBindAck(buf, AT, BIND_ACK_135.length, v)).toBe(OK);
    expect(v.ptype).toBe(PTYPE_BIND_ACK);
    expect(v.callId).toBe(21);
    expect(v.maxXmit).toBe(5840);
    expect(v.maxRecv).toBe(4280);
    expect(v.assocGroup).toBe(0x13a4e);
    expect(v.secAddrLen).toBe(4);
    expect(v.secAddrOff).toBe(AT + 26);
    expect(new TextDecoder().decode(buf.subarray(v.secAddrOff, v.secAddrOff + 3))).toBe('135');
    expect(v.nResults).toBe(3);
    expect(Array.from(v.result.subarray(0, 3))).toEqual([RESULT_PROVIDER_REJECTION, RESULT_ACCEPTANCE, RESULT_NEGOTIATE_ACK]);
    expect(Array.from(v.reason.subarray(0, 3))).toEqual([REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED, 0, 3]);
    expect(v.transferUuidOff[1]).toBe(AT + 64);
    expect(uuidToString(buf, v.transferUuidOff[1]!)).toBe(NDR64_TEXT);
    expect(Array.from(v.transferVersion.subarray(0, 3))).toEqual([0, 1, 0]);
    expect(Array.from(v.transferSyntax.subarray(0, 3))).toEqual([SYNTAX_UNKNOWN, SYNTAX_NDR64, SYNTAX_UNKNOWN]);
  });

  it('encodes the same bytes', () => {
    const bytes = encodeAt(writeBindAck, {
      callId: 21, maxXmit: 5840, maxRecv: 4280, assocGroup: 0x13a4e, secAddr: '135',
      results: [
        { result: RESULT_PROVIDER_REJECTION, reason: REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED },
        { result: RESULT_ACCEPTANCE, transfer: { uuid: UUID_NDR64, version: 1 } },
        { result: RESULT_NEGOTIATE_ACK, reason: 3 },
      ],
    });
    expect(toHex(bytes)).toBe(toHex(BIND_ACK_135));
  });

  it('sec_addr of length 0 is followed by 2 pad bytes', () => {
    const v = new BindAckView();
    expect(readBindAck(BIND_ACK_EMPTY_SECADDR, 0, BIND_ACK_EMPTY_SECADDR.length, v)).toBe(OK);
    expect(v.secAddrLen).toBe(0);
    expect(v.nResults).toBe(1);
    expect(v.result[0]).toBe(RESULT_ACCEPTANCE);
    expect(v.transferUuidOff[0]).toBe(36);
    expect(v.transferSyntax[0]).toBe(SYNTAX_NDR);
    const bytes = encodeAt(writeBindAck, { callId: 7, results: [{ result: 0, transfer: { uuid: NDR_TEXT, version: 2 } }] });
    expect(toHex(bytes)).toBe(toHex(BIND_ACK_EMPTY_SECADDR));
  });

  it('pads every sec_addr length to 4 relative to the PDU start', () => {
    for (const [port, resultsAt] of [['1', 28], ['13', 32], ['135', 32], ['1351', 32], ['49667', 32], ['655351', 36]] as const) {
      const bytes = encode(writeBindAck, { callId: 1, secAddr: port, results: [{ result: 0, transfer: { uuid: NDR_TEXT, version: 2 } }] });
      const v = new BindAckView();
      expect(readBindAck(bytes, 0, bytes.length, v)).toBe(OK);
      expect(v.secAddrLen).toBe(port.length + 1);
      expect(bytes[resultsAt]).toBe(1); // n_results
      expect(v.transferUuidOff[0]).toBe(resultsAt + 8);
    }
  });

  it('alter_context_resp shares the layout (with auth)', () => {
    const bytes = encodeAt(writeAlterContextResp, {
      callId: 3, secAddr: '', results: [{ result: 0, transfer: { uuid: NDR64_TEXT, version: 1 } }],
      auth: { type: AUTH_TYPE_WINNT, level: AUTH_LEVEL_PKT_PRIVACY, value: hex('4e544c4d53535000') },
    });
    const v = new BindAckView();
    expect(readBindAck(bytes, 0, bytes.length, v)).toBe(OK);
    expect(v.ptype).toBe(PTYPE_ALTER_CONTEXT_RESP);
    expect(v.transferSyntax[0]).toBe(SYNTAX_NDR64);
    expect(v.hasAuth).toBe(true);
    expect(v.authValueLen).toBe(8);
    expect(v.secTrailerOff).toBe(56);
  });

  it('malformed: sec_addr length beyond the data', () => {
    const b = BIND_ACK_135.slice();
    b[24] = 0x60; // sec_addr.length 96: 26 + 96 > 108
    const v = new BindAckView();
    expect(readBindAck(b, 0, b.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_SEC_ADDR_OVERRUN);
    expect(v.errOffset).toBe(24);
  });

  it('malformed: n_results beyond the data', () => {
    const b = BIND_ACK_135.slice();
    b[32] = 4;
    const v = new BindAckView();
    expect(readBindAck(b, 0, b.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_RESULT_OVERRUN);
    expect(v.errOffset).toBe(32);
    b[32] = 200;
    expect(readBindAck(b, 0, b.length, v)).toBe(UNSUPPORTED);
    expect(v.errReason).toBe(ERR_TOO_MANY_RESULTS);
  });

  it('malformed: sec_addr leaving no room for n_results', () => {
    // frag_length 32, sec_addr.length 4: results header would start at 32
    const b = hex('05 00 0c 03 10 00 00 00 20 00 00 00 01 00 00 00', 'b8 10 b8 10 00 00 00 00', '04 00 31 33 35 00', '00 00');
    const v = new BindAckView();
    expect(readBindAck(b, 0, b.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_RESULT_OVERRUN);
    expect(v.errOffset).toBe(32);
  });
});

describe('bind_nak', () => {
  it('decodes a bind_nak without Signature', () => {
    const v = new BindNakView();
    expect(readBindNak(embed(BIND_NAK_PLAIN, AT), AT, BIND_NAK_PLAIN.length, v)).toBe(OK);
    expect(v.ptype).toBe(PTYPE_BIND_NAK);
    expect(v.reason).toBe(NAK_REASON_PROTOCOL_VERSION_NOT_SUPPORTED);
    expect(v.nVersions).toBe(1);
    expect(v.versionsOff).toBe(AT + 19);
    expect(v.hasSignature).toBe(false);
    expect(toHex(encodeAt(writeBindNak, { callId: 9, reason: 4 }))).toBe(toHex(BIND_NAK_PLAIN));
  });

  it('decodes a bind_nak with the extended-error Signature', () => {
    const v = new BindNakView();
    expect(readBindNak(BIND_NAK_SIGNED, 0, BIND_NAK_SIGNED.length, v)).toBe(OK);
    expect(v.reason).toBe(NAK_REASON_LOCAL_LIMIT_EXCEEDED);
    expect(v.hasSignature).toBe(true);
    expect(v.signatureOff).toBe(21);
    expect(v.signatureIsEeInfo).toBe(true);
    expect(v.extraOff).toBe(37);
    expect(v.extraLen).toBe(3);
    const bytes = encodeAt(writeBindNak, { callId: 9, reason: 2, signature: true, extra: hex('aa bb cc') });
    expect(toHex(bytes)).toBe(toHex(BIND_NAK_SIGNED));
  });

  it('accepts a bind_nak that stops after the reason', () => {
    const b = hex('05 00 0d 03 10 00 00 00 12 00 00 00 01 00 00 00', '00 00');
    const v = new BindNakView();
    expect(readBindNak(b, 0, b.length, v)).toBe(OK);
    expect(v.nVersions).toBe(0);
    expect(v.hasSignature).toBe(false);
  });

  it('malformed: version list beyond the data; auth on a bind_nak', () => {
    const b = BIND_NAK_PLAIN.slice();
    b[18] = 2;
    const v = new BindNakView();
    expect(readBindNak(b, 0, b.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_VERSIONS_OVERRUN);
    expect(v.errOffset).toBe(18);
    const a = hex('05 00 0d 03 10 00 00 00 30 00 04 00 01 00 00 00', '00 00', '00'.repeat(30));
    expect(readBindNak(a, 0, a.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_AUTH_NOT_ALLOWED);
    expect(v.errOffset).toBe(10);
  });
});

describe('request', () => {
  it('decodes the NDR64 ept_map request', () => {
    const v = new RequestView();
    const buf = embed(REQUEST_EPT_MAP_NDR64, AT);
    expect(readRequest(buf, AT, REQUEST_EPT_MAP_NDR64.length, v)).toBe(OK);
    expect(v.ptype).toBe(PTYPE_REQUEST);
    expect(v.allocHint).toBe(144);
    expect(v.ctxId).toBe(1);
    expect(v.opnum).toBe(3);
    expect(v.hasObject).toBe(false);
    expect(v.stubOff).toBe(AT + 24);
    expect(v.stubLen).toBe(144);
    expect(v.hasAuth).toBe(false);
    expect(v.callId).toBe(22);
    const again = encodeAt(writeRequest, { callId: 22, ctxId: 1, opnum: 3, stub: REQUEST_EPT_MAP_NDR64.subarray(24) });
    expect(toHex(again)).toBe(toHex(REQUEST_EPT_MAP_NDR64));
  });

  it('decodes a request with an object UUID', () => {
    const object = 'b0e7f0b4-8d57-4ef5-a6b4-1a0e0f7b5b53';
    const bytes = REQUEST_WITH_OBJECT;
    expect(toHex(encodeAt(writeRequest, { callId: 4, ctxId: 0, opnum: 7, stub: hex('01 02 03 04'), object }))).toBe(toHex(bytes));
    const v = new RequestView();
    expect(readRequest(bytes, 0, bytes.length, v)).toBe(OK);
    expect(v.pfcFlags & PFC_OBJECT_UUID).toBe(PFC_OBJECT_UUID);
    expect(v.hasObject).toBe(true);
    expect(v.objectUuidOff).toBe(24);
    expect(uuidToString(bytes, v.objectUuidOff)).toBe(object);
    expect(v.stubOff).toBe(40);
    expect(v.stubLen).toBe(4);
    expect(v.opnum).toBe(7);
  });

  it('decodes an NTLM privacy request: stub excludes pad, trailer and signature', () => {
    const v = new RequestView();
    const buf = embed(REQUEST_NTLM_PRIVACY, AT);
    expect(readRequest(buf, AT, REQUEST_NTLM_PRIVACY.length, v)).toBe(OK);
    expect(v.fragLen).toBe(96);
    expect(v.authLen).toBe(16);
    expect(v.callId).toBe(47);
    expect(v.opnum).toBe(11);
    expect(v.allocHint).toBe(36);
    expect(v.stubOff).toBe(AT + 24);
    expect(v.stubLen).toBe(36);
    expect(v.hasAuth).toBe(true);
    expect(v.authType).toBe(AUTH_TYPE_WINNT);
    expect(v.authLevel).toBe(AUTH_LEVEL_PKT_PRIVACY);
    expect(v.authPadLen).toBe(12);
    expect(v.authContextId).toBe(0xa7c1);
    expect(v.secTrailerOff).toBe(AT + 72);
    expect(v.authValueOff).toBe(AT + 80);
    expect(v.authValueLen).toBe(16);
  });

  it('encodes an authenticated request padding the stub to 16 (like Windows)', () => {
    const r = REQUEST_NTLM_PRIVACY;
    // the encrypted pad bytes are not zeros, so compare all but them
    const bytes = encodeAt(writeRequest, {
      callId: 47, ctxId: 0, opnum: 11, stub: r.subarray(24, 60),
      auth: { type: AUTH_TYPE_WINNT, level: AUTH_LEVEL_PKT_PRIVACY, contextId: 0xa7c1, value: r.subarray(80) },
    });
    expect(bytes.length).toBe(96);
    expect(toHex(bytes.subarray(0, 60))).toBe(toHex(r.subarray(0, 60)));
    expect(toHex(bytes.subarray(60, 72))).toBe('00'.repeat(12));
    expect(toHex(bytes.subarray(72))).toBe(toHex(r.subarray(72)));
  });

  it('malformed: auth_pad_length longer than the stub', () => {
    const b = REQUEST_NTLM_PRIVACY.slice();
    b[74] = 49; // pad 49 > 36 + 12
    const v = new RequestView();
    expect(readRequest(b, 0, b.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_AUTH_PAD);
    expect(v.errOffset).toBe(74);
  });

  it('malformed: auth_length that lies, frag_length shorter than the header', () => {
    const b = REQUEST_NTLM_PRIVACY.slice();
    b[10] = 0x41; // 65 + 8 > 96 - 24
    const v = new RequestView();
    expect(readRequest(b, 0, b.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_AUTH_LEN);
    expect(v.errOffset).toBe(10);
    const s = hex('05 00 00 03 10 00 00 00 14 00 00 00 01 00 00 00 00 00 00 00');
    expect(readRequest(s, 0, s.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_SHORT_BODY);
    expect(v.errOffset).toBe(8);
  });
});

describe('response', () => {
  it('decodes the NDR64 ept_map response', () => {
    const v = new ResponseView();
    expect(readResponse(embed(RESPONSE_EPT_MAP_NDR64, AT), AT, RESPONSE_EPT_MAP_NDR64.length, v)).toBe(OK);
    expect(v.allocHint).toBe(148);
    expect(v.ctxId).toBe(1);
    expect(v.cancelCount).toBe(0);
    expect(v.stubOff).toBe(AT + 24);
    expect(v.stubLen).toBe(148);
    expect(v.callId).toBe(22);
    const again = encodeAt(writeResponse, { callId: 22, ctxId: 1, stub: RESPONSE_EPT_MAP_NDR64.subarray(24) });
    expect(toHex(again)).toBe(toHex(RESPONSE_EPT_MAP_NDR64));
  });

  it('decodes an NTLM privacy response (pad 8)', () => {
    const v = new ResponseView();
    expect(readResponse(RESPONSE_NTLM_PRIVACY, 0, RESPONSE_NTLM_PRIVACY.length, v)).toBe(OK);
    expect(v.callId).toBe(47);
    expect(v.stubOff).toBe(24);
    expect(v.stubLen).toBe(40);
    expect(v.authPadLen).toBe(8);
    expect(v.authContextId).toBe(0xa7c1);
    expect(v.secTrailerOff).toBe(72);
    expect(v.authLevel).toBe(AUTH_LEVEL_PKT_PRIVACY);
  });
});

describe('fault', () => {
  it('decodes nca_s_unk_if with an extended error stub', () => {
    const v = new FaultView();
    expect(readFault(embed(FAULT_EEINFO, AT), AT, FAULT_EEINFO.length, v)).toBe(OK);
    expect(v.ptype).toBe(PTYPE_FAULT);
    expect(v.pfcFlags & PFC_DID_NOT_EXECUTE).toBe(PFC_DID_NOT_EXECUTE);
    expect(v.callId).toBe(28);
    expect(v.allocHint).toBe(96);
    expect(v.ctxId).toBe(1);
    expect(v.faultFlags).toBe(1);
    expect(v.status).toBe(NCA_S_UNK_IF);
    expect(v.stubOff).toBe(AT + 32);
    expect(v.stubLen).toBe(96);
  });

  it('round trip', () => {
    const bytes = encodeAt(writeFault, {
      callId: 28, ctxId: 1, status: NCA_S_UNK_IF, faultFlags: 1, stub: FAULT_EEINFO.subarray(32),
      pfcFlags: PFC_FIRST_FRAG | PFC_LAST_FRAG | PFC_DID_NOT_EXECUTE,
    });
    expect(toHex(bytes)).toBe(toHex(FAULT_EEINFO));
  });

  it('a synthetic fault as the engine would send it is 32 bytes', () => {
    const bytes = encodeAt(writeFault, { callId: 77, ctxId: 1, status: 5, pfcFlags: 0x23 });
    expect(toHex(bytes)).toBe('05000323' + '10000000' + '20000000' + '4d000000' + '00000000' + '0100' + '0000' + '05000000' + '00000000');
  });
});

describe('auth3, shutdown, co_cancel, orphaned', () => {
  it('decodes auth3 (pad bytes as max_xmit/max_recv, required verifier)', () => {
    const v = new Auth3View();
    expect(readAuth3(embed(AUTH3_NTLM, AT), AT, AUTH3_NTLM.length, v)).toBe(OK);
    expect(v.ptype).toBe(PTYPE_AUTH3);
    expect(v.pfcFlags).toBe(7);
    expect(v.callId).toBe(46);
    expect(v.maxXmitFrag).toBe(4280);
    expect(v.maxRecvFrag).toBe(4280);
    expect(v.authType).toBe(AUTH_TYPE_WINNT);
    expect(v.authLevel).toBe(AUTH_LEVEL_PKT_PRIVACY);
    expect(v.secTrailerOff).toBe(AT + 20);
    expect(v.authValueOff).toBe(AT + 28);
    expect(v.authValueLen).toBe(8);
    const again = encodeAt(writeAuth3, {
      callId: 46, pfcFlags: 7, maxXmit: 4280, maxRecv: 4280,
      auth: { type: AUTH_TYPE_WINNT, level: AUTH_LEVEL_PKT_PRIVACY, value: AUTH3_NTLM.subarray(28) },
    });
    expect(toHex(again)).toBe(toHex(AUTH3_NTLM));
  });

  it('malformed: auth3 without verifier', () => {
    const b = hex('05 00 10 03 10 00 00 00 14 00 00 00 02 00 00 00 00 00 00 00');
    const v = new Auth3View();
    expect(readAuth3(b, 0, b.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_AUTH_REQUIRED);
    expect(v.errOffset).toBe(10);
  });

  it('decodes shutdown; co_cancel and orphaned with an optional verifier', () => {
    const v = new HeaderOnlyView();
    expect(readShutdown(SHUTDOWN, 0, SHUTDOWN.length, v)).toBe(OK);
    expect(v.ptype).toBe(PTYPE_SHUTDOWN);
    expect(toHex(encodeAt(writeShutdown, { callId: 0 }))).toBe(toHex(SHUTDOWN));
    const cancel = encodeAt(writeCoCancel, { callId: 12 });
    expect(toHex(cancel)).toBe('05001203' + '10000000' + '10000000' + '0c000000');
    expect(readCoCancel(cancel, 0, cancel.length, v)).toBe(OK);
    expect(v.callId).toBe(12);
    expect(v.hasAuth).toBe(false);
    const orphan = encodeAt(writeOrphaned, { callId: 13, auth: { type: 10, level: 5, value: hex('01 02 03 04') } });
    expect(orphan.length).toBe(28);
    expect(readOrphaned(orphan, 0, orphan.length, v)).toBe(OK);
    expect(v.ptype).toBe(PTYPE_ORPHANED);
    expect(v.hasAuth).toBe(true);
    expect(v.authLevel).toBe(5);
    expect(v.authValueOff).toBe(24);
    expect(readCoCancel(orphan, 0, orphan.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_WRONG_PTYPE);
  });
});

describe('RTS', () => {
  it('decodes CONN/A1 (76 bytes, 4 commands)', () => {
    const v = new RtsView();
    expect(readRts(embed(RTS_CONN_A1, AT), AT, RTS_CONN_A1.length, v)).toBe(OK);
    expect(v.ptype).toBe(PTYPE_RTS);
    expect(v.fragLen).toBe(76);
    expect(v.flags).toBe(0);
    expect(v.numberOfCommands).toBe(4);
    expect(Array.from(v.commandType.subarray(0, 4))).toEqual([RTS_CMD_VERSION, RTS_CMD_COOKIE, RTS_CMD_COOKIE, RTS_CMD_RECEIVE_WINDOW_SIZE]);
    expect(Array.from(v.commandOff.subarray(0, 4))).toEqual([AT + 20, AT + 28, AT + 48, AT + 68]);
    expect(Array.from(v.commandLen.subarray(0, 4))).toEqual([8, 20, 20, 8]);
  });

  it('encodes CONN/A1', () => {
    const bytes = encodeAt(writeRts, {
      commands: [
        { type: RTS_CMD_VERSION, value: 1 },
        { type: RTS_CMD_COOKIE, cookie: new Uint8Array(16).fill(0x11) },
        { type: RTS_CMD_COOKIE, cookie: new Uint8Array(16).fill(0x22) },
        { type: RTS_CMD_RECEIVE_WINDOW_SIZE, value: 65536 },
      ],
    });
    expect(toHex(bytes)).toBe(toHex(RTS_CONN_A1));
  });

  it('round-trips every command type, including variable ones', () => {
    const bytes = encodeAt(writeRts, {
      flags: RTS_FLAG_PING,
      commands: [
        { type: RTS_CMD_FLOW_CONTROL_ACK, bytesReceived: 100, availableWindow: 65536, cookie: new Uint8Array(16).fill(3) },
        { type: RTS_CMD_PADDING, padding: 5 },
        { type: RTS_CMD_CLIENT_ADDRESS, address: hex('c0 a8 00 01') },
        { type: RTS_CMD_CLIENT_ADDRESS, address: new Uint8Array(16).fill(0xfe) },
        { type: RTS_CMD_EMPTY },
        { type: RTS_CMD_ASSOCIATION_GROUP_ID, cookie: new Uint8Array(16).fill(9) },
        { type: RTS_CMD_CHANNEL_LIFETIME, value: 0x40000000 },
        { type: RTS_CMD_CLIENT_KEEPALIVE, value: 300000 },
      ],
    });
    const v = new RtsView();
    expect(readRts(bytes, 0, bytes.length, v)).toBe(OK);
    expect(v.flags).toBe(RTS_FLAG_PING);
    expect(v.numberOfCommands).toBe(8);
    expect(Array.from(v.commandLen.subarray(0, 8))).toEqual([28, 13, 24, 36, 4, 20, 8, 8]);
    expect(bytes.length).toBe(20 + 28 + 13 + 24 + 36 + 4 + 20 + 8 + 8);
    expect(toHex(bytes.subarray(61, 73))).toBe('0b00000000000000c0a80001');
  });

  it('malformed: unknown command, overrun, bad address type, trailing bytes, auth', () => {
    const v = new RtsView();
    const unknown = RTS_CONN_A1.slice();
    unknown[68] = 15;
    expect(readRts(unknown, 0, unknown.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_RTS_UNKNOWN_COMMAND);
    expect(v.errOffset).toBe(68);
    const over = RTS_CONN_A1.slice();
    over[18] = 5;
    expect(readRts(over, 0, over.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_RTS_COMMAND_OVERRUN);
    expect(v.errOffset).toBe(76);
    const trailing = RTS_CONN_A1.slice();
    trailing[18] = 3;
    expect(readRts(trailing, 0, trailing.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_RTS_TRAILING);
    expect(v.errOffset).toBe(68);
    const addr = encode(writeRts, { commands: [{ type: RTS_CMD_CLIENT_ADDRESS, address: hex('0a000001') }] });
    addr[24] = 7;
    expect(readRts(addr, 0, addr.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_RTS_BAD_ADDRESS_TYPE);
    expect(v.errOffset).toBe(24);
    const pad = encode(writeRts, { commands: [{ type: RTS_CMD_PADDING, padding: 4 }] });
    pad[24] = 200;
    expect(readRts(pad, 0, pad.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_RTS_COMMAND_OVERRUN);
    expect(v.errOffset).toBe(20);
    const authed = RTS_CONN_A1.slice();
    authed[10] = 8;
    expect(readRts(authed, 0, authed.length, v)).toBe(MALFORMED);
    expect(v.errReason).toBe(ERR_AUTH_NOT_ALLOWED);
  });
});

describe('readAuthVerifier', () => {
  it('finds the trailer from the end', () => {
    const v = new PduBase();
    expect(readAuthVerifier(REQUEST_NTLM_PRIVACY, 0, 96, 16, true, v)).toBe(OK);
    expect(v.secTrailerOff).toBe(72);
    expect(v.authPadLen).toBe(12);
    expect(v.authContextId).toBe(0xa7c1);
    expect(readAuthVerifier(REQUEST_NTLM_PRIVACY, 0, 96, 0, true, v)).toBe(OK);
    expect(v.hasAuth).toBe(false);
    expect(v.secTrailerOff).toBe(0);
    expect(readAuthVerifier(REQUEST_NTLM_PRIVACY, 0, 96, 73, true, v)).toBe(MALFORMED); // 96 - 73 - 8 < 16
    expect(v.errReason).toBe(ERR_AUTH_LEN);
  });
});

describe('big-endian drep', () => {
  it('bind encoded big-endian decodes to the same values and flips integers and UUID fields', () => {
    const bytes = encodeAt(writeBind, { ...BIND_3CTX_OPTS, littleEndian: false });
    expect(bytes.length).toBe(160);
    expect(toHex(bytes.subarray(4, 16))).toBe('00000000' + '00a0' + '0000' + '00000015');
    expect(toHex(bytes.subarray(16, 24))).toBe('10b816d0' + '00000000');
    expect(toHex(bytes.subarray(28, 52))).toBe('0000' + '0100' + 'e1af83085d1f11c991a408002b14a0fa' + '00000003');
    const v = new BindView();
    expect(readBind(bytes, 0, bytes.length, v)).toBe(OK);
    expect(v.littleEndian).toBe(false);
    expect(v.callId).toBe(21);
    expect(v.maxXmitFrag).toBe(4280);
    expect(v.maxRecvFrag).toBe(5840);
    expect(v.nContexts).toBe(3);
    expect(uuidToString(bytes, v.abstractUuidOff[0]!, false)).toBe(EPM_TEXT);
    expect(uuidEqualsAcrossOrder(bytes, v.abstractUuidOff[1]!, false, UUID_EPM, 0, true)).toBe(true);
    expect(v.ifMajor[2]).toBe(3);
    const T = MAX_TRANSFER_SYNTAXES;
    expect([v.transferSyntax[0], v.transferSyntax[T], v.transferSyntax[2 * T]]).toEqual([SYNTAX_NDR, SYNTAX_NDR64, SYNTAX_BTFN]);
  });

  it('request and response encoded big-endian decode back', () => {
    const stub = hex('00 00 00 01 de ad be ef');
    const req = encodeAt(writeRequest, { callId: 0x01020304, ctxId: 0x0102, opnum: 0x0304, stub, littleEndian: false,
      auth: { type: 10, level: 6, contextId: 0x0a0b0c0d, value: hex('11 22 33 44') } });
    expect(toHex(req.subarray(4, 24))).toBe('00000000' + '0034' + '0004' + '01020304' + '00000008' + '0102' + '0304');
    const rv = new RequestView();
    expect(readRequest(req, 0, req.length, rv)).toBe(OK);
    expect([rv.callId, rv.ctxId, rv.opnum, rv.allocHint, rv.stubLen, rv.authPadLen, rv.authContextId])
      .toEqual([0x01020304, 0x0102, 0x0304, 8, 8, 8, 0x0a0b0c0d]);
    const resp = encodeAt(writeResponse, { callId: 7, ctxId: 3, stub, cancelCount: 1, littleEndian: false });
    const sv = new ResponseView();
    expect(readResponse(resp, 0, resp.length, sv)).toBe(OK);
    expect([sv.littleEndian, sv.callId, sv.ctxId, sv.cancelCount, sv.allocHint, sv.stubLen]).toEqual([false, 7, 3, 1, 8, 8]);
    expect(toHex(resp.subarray(sv.stubOff, sv.stubOff + sv.stubLen))).toBe(toHex(stub));
  });

  it('bind_ack big-endian: results and transfer syntax classified across byte order', () => {
    const bytes = encodeAt(writeBindAck, { callId: 1, secAddr: '135', littleEndian: false,
      results: [{ result: 0, transfer: { uuid: NDR_TEXT, version: 2 } }, { result: 3, reason: 3 }] });
    const v = new BindAckView();
    expect(readBindAck(bytes, 0, bytes.length, v)).toBe(OK);
    expect(v.secAddrLen).toBe(4);
    expect(Array.from(v.result.subarray(0, 2))).toEqual([0, 3]);
    expect(v.reason[1]).toBe(3);
    expect(v.transferSyntax[0]).toBe(SYNTAX_NDR);
  });
});

describe('readPdu dispatch', () => {
  const all: [string, Uint8Array, number][] = [
    ['bind', BIND_3CTX, PTYPE_BIND],
    ['bind_ack', BIND_ACK_135, PTYPE_BIND_ACK],
    ['bind_nak', BIND_NAK_SIGNED, PTYPE_BIND_NAK],
    ['request', REQUEST_NTLM_PRIVACY, PTYPE_REQUEST],
    ['response', RESPONSE_EPT_MAP_NDR64, PTYPE_RESPONSE],
    ['fault', FAULT_EEINFO, PTYPE_FAULT],
    ['auth3', AUTH3_NTLM, PTYPE_AUTH3],
    ['shutdown', SHUTDOWN, PTYPE_SHUTDOWN],
    ['rts', RTS_CONN_A1, PTYPE_RTS],
    ['alter_context', encode(writeAlterContext, BIND_3CTX_OPTS), PTYPE_ALTER_CONTEXT],
    ['alter_context_resp', encode(writeAlterContextResp, { callId: 1, results: [] }), PTYPE_ALTER_CONTEXT_RESP],
    ['co_cancel', encode(writeCoCancel, { callId: 1 }), PTYPE_CO_CANCEL],
    ['orphaned', encode(writeOrphaned, { callId: 1 }), PTYPE_ORPHANED],
  ];
  for (const [name, bytes, ptype] of all) {
    it(`dispatches ${name}`, () => {
      const out = new PduView();
      expect(readPdu(bytes, 0, bytes.length, out)).toBe(OK);
      expect(out.ptype).toBe(ptype);
      expect(out.header.fragLen).toBe(bytes.length);
    });
  }

  it('fills the right sub-view and reports sub-view errors', () => {
    const out = new PduView();
    expect(readPdu(REQUEST_NTLM_PRIVACY, 0, 96, out)).toBe(OK);
    expect(out.request.stubLen).toBe(36);
    expect(readPdu(BIND_3CTX, 0, 100, out)).toBe(NEED_MORE);
    expect(out.needed).toBe(160);
    const cl = hex('05 00 01 03 10 00 00 00 10 00 00 00 01 00 00 00');
    expect(readPdu(cl, 0, cl.length, out)).toBe(UNSUPPORTED);
    expect(out.errReason).toBe(ERR_UNKNOWN_PTYPE);
    expect(out.errOffset).toBe(2);
    const bad = BIND_ACK_135.slice();
    bad[24] = 0x60;
    expect(readPdu(bad, 0, bad.length, out)).toBe(MALFORMED);
    expect(out.errReason).toBe(ERR_SEC_ADDR_OVERRUN);
    expect(out.errOffset).toBe(24);
  });
});

describe('encoders', () => {
  it('refuse buffers that are too small and PDUs above 65535 bytes', () => {
    expect(() => writeShutdown(new Uint8Array(15), 0, { callId: 1 })).toThrow(RangeError);
    expect(() => writeRequest(new Uint8Array(70000), 0, { callId: 1, ctxId: 0, opnum: 0, stub: new Uint8Array(65520) })).toThrow(RangeError);
    expect(() => writeBind(new Uint8Array(100), 0, { callId: 1, contexts: [{ ctxId: 0, abstract: { uuid: 'x', major: 1, minor: 0 }, transfer: [{ uuid: NDR_TEXT, version: 2 }] }] })).toThrow(RangeError);
  });

  it('btfnUuid builds the Windows BTFN syntax', () => {
    expect(btfnUuid(3)).toEqual(UUID_BTFN_WINDOWS);
  });
});
