/**
 * Decode -> encode -> same bytes, for every PDU type, in both byte orders: the encoder is fed
 * only what the decoder produced, so a field either side drops or misplaces shows up.
 */
import { describe, it, expect } from 'vitest';
import { OK } from '../../src/wire/status.js';
import {
  MAX_TRANSFER_SYNTAXES, PTYPE_ALTER_CONTEXT, PTYPE_ALTER_CONTEXT_RESP, PTYPE_AUTH3, PTYPE_BIND, PTYPE_BIND_ACK,
  PTYPE_BIND_NAK, PTYPE_CO_CANCEL, PTYPE_FAULT, PTYPE_ORPHANED, PTYPE_REQUEST, PTYPE_RESPONSE, PTYPE_RTS,
  PTYPE_SHUTDOWN, PFC_OBJECT_UUID, RTS_CMD_ASSOCIATION_GROUP_ID, RTS_CMD_CLIENT_ADDRESS, RTS_CMD_COOKIE,
  RTS_CMD_FLOW_CONTROL_ACK, RTS_CMD_PADDING, RTS_CMD_DESTINATION, RTS_CMD_CONNECTION_TIMEOUT, UUID_NDR,
} from '../../src/dcerpc/constants.js';
import {
  PduView, readPdu, encode, writeAlterContext, writeAlterContextResp, writeAuth3, writeBind, writeBindAck,
  writeBindNak, writeCoCancel, writeFault, writeOrphaned, writeRequest, writeResponse, writeRts, writeShutdown,
} from '../../src/dcerpc/pdu.js';
import type { AuthOptions, PduBase, RtsCommand } from '../../src/dcerpc/pdu.js';
import { rd32 } from '../../src/dcerpc/ndr.js';
import { copyUuidToLE } from '../../src/dcerpc/uuid.js';
import { encodeAt, toHex } from './bytes.js';
import * as V from './vectors.js';

/** Re-encodes a PDU from its decoded view only. */
function reencode(bytes: Uint8Array): Uint8Array {
  const v = new PduView();
  expect(readPdu(bytes, 0, bytes.length, v)).toBe(OK);
  const h = v.header;
  const le = h.littleEndian;
  const uuid = (off: number): Uint8Array => {
    const u = new Uint8Array(16);
    copyUuidToLE(bytes, off, le, u, 0);
    return u;
  };
  const auth = (b: PduBase): AuthOptions | undefined => (b.hasAuth
    ? { type: b.authType, level: b.authLevel, padLen: b.authPadLen, contextId: b.authContextId, reserved: b.authReserved,
      value: bytes.slice(b.authValueOff, b.authValueOff + b.authValueLen) }
    : undefined);
  const common = { callId: h.callId, pfcFlags: h.pfcFlags, littleEndian: le };
  switch (v.ptype) {
    case PTYPE_BIND:
    case PTYPE_ALTER_CONTEXT: {
      const b = v.bind;
      const contexts = Array.from({ length: b.nContexts }, (_, i) => ({
        ctxId: b.ctxId[i]!,
        abstract: { uuid: uuid(b.abstractUuidOff[i]!), major: b.ifMajor[i]!, minor: b.ifMinor[i]! },
        transfer: Array.from({ length: b.nTransfer[i]! }, (_, j) => ({
          uuid: uuid(b.transferUuidOff[i * MAX_TRANSFER_SYNTAXES + j]!), version: b.transferVersion[i * MAX_TRANSFER_SYNTAXES + j]!,
        })),
      }));
      const o = { ...common, contexts, maxXmit: b.maxXmitFrag, maxRecv: b.maxRecvFrag, assocGroup: b.assocGroup, auth: auth(b) };
      return encodeAt(v.ptype === PTYPE_BIND ? writeBind : writeAlterContext, o);
    }
    case PTYPE_BIND_ACK:
    case PTYPE_ALTER_CONTEXT_RESP: {
      const b = v.bindAck;
      const secAddr = new TextDecoder().decode(bytes.subarray(b.secAddrOff, b.secAddrOff + Math.max(0, b.secAddrLen - 1)));
      const results = Array.from({ length: b.nResults }, (_, i) => ({
        result: b.result[i]!, reason: b.reason[i]!, transfer: { uuid: uuid(b.transferUuidOff[i]!), version: b.transferVersion[i]! },
      }));
      const o = { ...common, results, secAddr, maxXmit: b.maxXmit, maxRecv: b.maxRecv, assocGroup: b.assocGroup, auth: auth(b) };
      return encodeAt(v.ptype === PTYPE_BIND_ACK ? writeBindAck : writeAlterContextResp, o);
    }
    case PTYPE_BIND_NAK: {
      const b = v.bindNak;
      const versions = Array.from({ length: b.nVersions }, (_, i) => ({ major: bytes[b.versionsOff + 2 * i]!, minor: bytes[b.versionsOff + 2 * i + 1]! }));
      return encodeAt(writeBindNak, { ...common, reason: b.reason, versions,
        signature: b.hasSignature ? uuid(b.signatureOff) : false, extra: bytes.slice(b.extraOff, b.extraOff + b.extraLen) });
    }
    case PTYPE_REQUEST: {
      const r = v.request;
      return encodeAt(writeRequest, { ...common, pfcFlags: h.pfcFlags & ~PFC_OBJECT_UUID, ctxId: r.ctxId, opnum: r.opnum,
        allocHint: r.allocHint, object: r.hasObject ? uuid(r.objectUuidOff) : undefined,
        stub: bytes.slice(r.stubOff, r.stubOff + r.stubLen), auth: auth(r) });
    }
    case PTYPE_RESPONSE: {
      const r = v.response;
      return encodeAt(writeResponse, { ...common, ctxId: r.ctxId, allocHint: r.allocHint, cancelCount: r.cancelCount,
        stub: bytes.slice(r.stubOff, r.stubOff + r.stubLen), auth: auth(r) });
    }
    case PTYPE_FAULT: {
      const f = v.fault;
      return encodeAt(writeFault, { ...common, ctxId: f.ctxId, allocHint: f.allocHint, cancelCount: f.cancelCount,
        faultFlags: f.faultFlags, status: f.status, stub: bytes.slice(f.stubOff, f.stubOff + f.stubLen), auth: auth(f) });
    }
    case PTYPE_AUTH3: {
      const a = v.auth3;
      return encodeAt(writeAuth3, { ...common, maxXmit: a.maxXmitFrag, maxRecv: a.maxRecvFrag, auth: auth(a)! });
    }
    case PTYPE_SHUTDOWN:
      return encodeAt(writeShutdown, { ...common, auth: auth(v.headerOnly) });
    case PTYPE_CO_CANCEL:
      return encodeAt(writeCoCancel, { ...common, auth: auth(v.headerOnly) });
    case PTYPE_ORPHANED:
      return encodeAt(writeOrphaned, { ...common, auth: auth(v.headerOnly) });
    case PTYPE_RTS: {
      const r = v.rts;
      const commands: RtsCommand[] = [];
      for (let i = 0; i < r.numberOfCommands; i++) {
        const at = r.commandOff[i]!;
        const type = r.commandType[i]!;
        const c: RtsCommand = { type };
        if (type === RTS_CMD_COOKIE || type === RTS_CMD_ASSOCIATION_GROUP_ID) c.cookie = bytes.slice(at + 4, at + 20);
        else if (type === RTS_CMD_FLOW_CONTROL_ACK) {
          c.bytesReceived = rd32(bytes, at + 4, le);
          c.availableWindow = rd32(bytes, at + 8, le);
          c.cookie = bytes.slice(at + 12, at + 28);
        } else if (type === RTS_CMD_PADDING) c.padding = rd32(bytes, at + 4, le);
        else if (type === RTS_CMD_CLIENT_ADDRESS) c.address = bytes.slice(at + 8, at + 8 + (r.commandLen[i] === 24 ? 4 : 16));
        else if (r.commandLen[i] === 8) c.value = rd32(bytes, at + 4, le);
        commands.push(c);
      }
      return encodeAt(writeRts, { ...common, flags: r.flags, commands });
    }
    default:
      throw new Error(`ptype ${v.ptype}`);
  }
}

/** The vector with its auth pad bytes zeroed (encoders write zero padding; senders may not). */
function zeroPad(bytes: Uint8Array): Uint8Array {
  const v = new PduView();
  expect(readPdu(bytes, 0, bytes.length, v)).toBe(OK);
  const views: PduBase[] = [v.request, v.response, v.fault];
  const copy = bytes.slice();
  const b = v.ptype === PTYPE_REQUEST ? views[0]! : v.ptype === PTYPE_RESPONSE ? views[1]! : v.ptype === PTYPE_FAULT ? views[2]! : undefined;
  if (b?.hasAuth) copy.fill(0, b.secTrailerOff - b.authPadLen, b.secTrailerOff);
  return copy;
}

const LE_VECTORS: [string, Uint8Array][] = [
  ['bind (3 contexts)', V.BIND_3CTX], ['bind_ack 135', V.BIND_ACK_135], ['bind_ack empty sec_addr', V.BIND_ACK_EMPTY_SECADDR],
  ['bind_nak', V.BIND_NAK_PLAIN], ['bind_nak signed', V.BIND_NAK_SIGNED], ['request NDR64', V.REQUEST_EPT_MAP_NDR64],
  ['request NTLM 6', V.REQUEST_NTLM_PRIVACY], ['request with object', V.REQUEST_WITH_OBJECT],
  ['response NDR64', V.RESPONSE_EPT_MAP_NDR64], ['response NTLM 6', V.RESPONSE_NTLM_PRIVACY], ['fault', V.FAULT_EEINFO],
  ['auth3', V.AUTH3_NTLM], ['shutdown', V.SHUTDOWN], ['rts CONN/A1', V.RTS_CONN_A1],
];

const auth = { type: 9, level: 5, contextId: 0x01020304, value: Uint8Array.of(1, 2, 3, 4, 5) };
const BE_PDUS: [string, Uint8Array][] = [
  ['bind', encode(writeBind, { callId: 0x0a0b0c0d, littleEndian: false, assocGroup: 0x1234, auth,
    contexts: [{ ctxId: 0x0102, abstract: { uuid: 'a4f1db00-ca47-1067-b31f-00dd010662da', major: 0, minor: 81 }, transfer: [{ uuid: UUID_NDR, version: 2 }] }] })],
  ['alter_context', encode(writeAlterContext, { callId: 2, littleEndian: false,
    contexts: [{ ctxId: 3, abstract: { uuid: 'f5cc5a18-4264-101a-8c59-08002b2f8426', major: 56, minor: 0 }, transfer: [{ uuid: UUID_NDR, version: 2 }] }] })],
  ['bind_ack', encode(writeBindAck, { callId: 1, littleEndian: false, secAddr: '49667', assocGroup: 0x9876, auth,
    results: [{ result: 0, transfer: { uuid: UUID_NDR, version: 2 } }, { result: 2, reason: 1 }] })],
  ['alter_context_resp', encode(writeAlterContextResp, { callId: 1, littleEndian: false, results: [{ result: 0, transfer: { uuid: UUID_NDR, version: 2 } }] })],
  ['bind_nak', encode(writeBindNak, { callId: 1, littleEndian: false, reason: 4, versions: [{ major: 5, minor: 0 }, { major: 5, minor: 1 }], signature: true })],
  ['request', encode(writeRequest, { callId: 5, littleEndian: false, ctxId: 1, opnum: 0x0102, stub: Uint8Array.of(9, 8, 7), object: 'b0e7f0b4-8d57-4ef5-a6b4-1a0e0f7b5b53', auth })],
  ['response', encode(writeResponse, { callId: 5, littleEndian: false, ctxId: 1, cancelCount: 2, stub: Uint8Array.of(9, 8, 7, 6, 5), auth })],
  ['fault', encode(writeFault, { callId: 5, littleEndian: false, status: 0x1c010003, faultFlags: 1, pfcFlags: 0x23 })],
  ['auth3', encode(writeAuth3, { callId: 5, littleEndian: false, maxXmit: 4280, maxRecv: 4280, auth })],
  ['shutdown', encode(writeShutdown, { callId: 0, littleEndian: false })],
  ['co_cancel', encode(writeCoCancel, { callId: 6, littleEndian: false, auth })],
  ['orphaned', encode(writeOrphaned, { callId: 7, littleEndian: false })],
  ['rts', encode(writeRts, { littleEndian: false, flags: 0x10, commands: [
    { type: RTS_CMD_CONNECTION_TIMEOUT, value: 120000 }, { type: RTS_CMD_DESTINATION, value: 2 },
    { type: RTS_CMD_PADDING, padding: 3 }, { type: RTS_CMD_CLIENT_ADDRESS, address: new Uint8Array(16).fill(1) },
    { type: RTS_CMD_FLOW_CONTROL_ACK, bytesReceived: 1, availableWindow: 2, cookie: new Uint8Array(16).fill(4) }] })],
];

describe('decode -> encode -> same bytes', () => {
  for (const [name, bytes] of LE_VECTORS) {
    it(`little-endian ${name}`, () => {
      expect(toHex(reencode(bytes))).toBe(toHex(zeroPad(bytes)));
    });
  }
  for (const [name, bytes] of BE_PDUS) {
    it(`big-endian ${name}`, () => {
      expect(bytes[4]).toBe(0);
      expect(toHex(reencode(bytes))).toBe(toHex(bytes));
    });
  }
});
