import { describe, it, expect } from 'vitest';
import { OK, MALFORMED, UNSUPPORTED } from '../../src/wire/status.js';
import {
  SYNTAX_NDR, SYNTAX_NDR64, SYNTAX_UNKNOWN, UUID_EPM, UUID_NDR, UUID_NDR64, MAX_CONTEXTS,
} from '../../src/dcerpc/constants.js';
import {
  BindAckView, BindView, encode, readBind, readBindAck, writeAlterContext, writeAlterContextResp, writeBind, writeBindAck,
  btfnUuid,
} from '../../src/dcerpc/pdu.js';
import type { BindAckOptions, BindOptions } from '../../src/dcerpc/pdu.js';
import { CTX_STATE_ACCEPTED, CTX_STATE_EMPTY, CTX_STATE_PENDING, PresentationContexts } from '../../src/dcerpc/context.js';
import { uuidBytes } from '../../src/dcerpc/uuid.js';
import { ERR_ACK_WITHOUT_BIND, ERR_CONTEXT_TABLE_FULL, ERR_RESULT_COUNT } from '../../src/dcerpc/reasons.js';
import { BIND_3CTX, BIND_ACK_135 } from './vectors.js';

const EMSMDB = 'a4f1db00-ca47-1067-b31f-00dd010662da';
const EMSMDB_LE = uuidBytes(EMSMDB);
const NSPI = 'f5cc5a18-4264-101a-8c59-08002b2f8426';
const NSPI_LE = uuidBytes(NSPI);

function bind(pc: PresentationContexts, bytes: Uint8Array): number {
  const v = new BindView();
  expect(readBind(bytes, 0, bytes.length, v)).toBe(OK);
  return pc.onBind(bytes, v);
}

function ack(pc: PresentationContexts, bytes: Uint8Array): number {
  const v = new BindAckView();
  expect(readBindAck(bytes, 0, bytes.length, v)).toBe(OK);
  return pc.onBindAck(v);
}

const emsmdbBind = (littleEndian = true): BindOptions => ({
  callId: 1, littleEndian,
  contexts: [
    { ctxId: 0, abstract: { uuid: EMSMDB, major: 0, minor: 81 }, transfer: [{ uuid: UUID_NDR, version: 2 }] },
    { ctxId: 1, abstract: { uuid: EMSMDB, major: 0, minor: 81 }, transfer: [{ uuid: btfnUuid(3), version: 1 }] },
  ],
});
const emsmdbAck = (littleEndian = true): BindAckOptions => ({
  callId: 1, secAddr: '1032', littleEndian,
  results: [{ result: 0, transfer: { uuid: UUID_NDR, version: 2 } }, { result: 3, reason: 3 }],
});

describe('PresentationContexts', () => {
  it('Windows EPM bind + bind_ack: only ctx 1 (NDR64) is usable', () => {
    const pc = new PresentationContexts();
    expect(bind(pc, BIND_3CTX.slice())).toBe(OK);
    expect(pc.stateOf(0)).toBe(CTX_STATE_PENDING);
    expect(pc.isAccepted(1)).toBe(false); // not before the ack
    expect(pc.interfaceUuidString(1)).toBe('e1af8308-5d1f-11c9-91a4-08002b14a0fa');
    expect(ack(pc, BIND_ACK_135)).toBe(OK);
    expect(pc.isAccepted(0)).toBe(false);
    expect(pc.isAccepted(1)).toBe(true);
    expect(pc.isAccepted(2)).toBe(false);
    expect(pc.stateOf(0)).toBe(CTX_STATE_EMPTY);
    expect(pc.stateOf(1)).toBe(CTX_STATE_ACCEPTED);
    expect(pc.syntaxOf(1)).toBe(SYNTAX_NDR64);
    expect(pc.syntaxOf(0)).toBe(-1);
    expect(pc.syntaxOf(2)).toBe(-1);
    expect(pc.interfaceMatches(1, UUID_EPM, 3)).toBe(true);
    expect(pc.interfaceMatches(1, UUID_EPM, 3, 0)).toBe(true);
    expect(pc.interfaceMatches(1, UUID_EPM, 4)).toBe(false);
    expect(pc.interfaceMatches(2, UUID_EPM, 3)).toBe(false);
    expect(pc.interfaceMatches(1, UUID_NDR, 3)).toBe(false);
    expect(pc.ifMajor(1)).toBe(3);
    expect(pc.ifMinor(1)).toBe(0);
    expect(pc.ifMajor(0)).toBe(-1);
    expect(pc.acceptedCount()).toBe(1);
    expect(pc.isAccepted(7)).toBe(false);
  });

  it('copies UUIDs: reusing the frame buffer after onBind changes nothing', () => {
    const pc = new PresentationContexts();
    const frame = BIND_3CTX.slice();
    bind(pc, frame);
    frame.fill(0);
    ack(pc, BIND_ACK_135);
    expect(pc.interfaceMatches(1, UUID_EPM, 3)).toBe(true);
  });

  it('EMSMDB 0.81: minor compared as "at most"', () => {
    const pc = new PresentationContexts();
    bind(pc, encode(writeBind, emsmdbBind()));
    ack(pc, encode(writeBindAck, emsmdbAck()));
    expect(pc.isAccepted(0)).toBe(true);
    expect(pc.syntaxOf(0)).toBe(SYNTAX_NDR);
    expect(pc.isAccepted(1)).toBe(false);
    expect(pc.interfaceMatches(0, EMSMDB_LE, 0)).toBe(true);
    expect(pc.interfaceMatches(0, EMSMDB_LE, 0, 81)).toBe(true);
    expect(pc.interfaceMatches(0, EMSMDB_LE, 0, 82)).toBe(true);
    expect(pc.interfaceMatches(0, EMSMDB_LE, 0, 80)).toBe(false);
    expect(pc.ifMinor(0)).toBe(81);
  });

  it('big-endian bind and ack: UUIDs compared across byte order', () => {
    const pc = new PresentationContexts();
    expect(bind(pc, encode(writeBind, emsmdbBind(false)))).toBe(OK);
    expect(ack(pc, encode(writeBindAck, emsmdbAck(false)))).toBe(OK);
    expect(pc.isAccepted(0)).toBe(true);
    expect(pc.syntaxOf(0)).toBe(SYNTAX_NDR);
    expect(pc.interfaceMatches(0, EMSMDB_LE, 0, 81)).toBe(true);
    expect(pc.interfaceUuidString(0)).toBe(EMSMDB);
    expect(pc.isAccepted(1)).toBe(false);
  });

  it('alter_context adds contexts; a new bind resets', () => {
    const pc = new PresentationContexts();
    bind(pc, encode(writeBind, emsmdbBind()));
    ack(pc, encode(writeBindAck, emsmdbAck()));
    bind(pc, encode(writeAlterContext, { callId: 2, contexts: [
      { ctxId: 2, abstract: { uuid: NSPI, major: 56, minor: 0 }, transfer: [{ uuid: UUID_NDR, version: 2 }, { uuid: UUID_NDR64, version: 1 }] },
    ] }));
    expect(pc.isAccepted(0)).toBe(true);
    expect(pc.isAccepted(2)).toBe(false);
    expect(ack(pc, encode(writeAlterContextResp, { callId: 2, results: [{ result: 0, transfer: { uuid: UUID_NDR64, version: 1 } }] }))).toBe(OK);
    expect(pc.isAccepted(0)).toBe(true);
    expect(pc.isAccepted(2)).toBe(true);
    expect(pc.syntaxOf(2)).toBe(SYNTAX_NDR64);
    expect(pc.interfaceMatches(2, NSPI_LE, 56)).toBe(true);
    expect(pc.acceptedCount()).toBe(2);
    bind(pc, BIND_3CTX.slice());
    expect(pc.isAccepted(0)).toBe(false);
    expect(pc.isAccepted(2)).toBe(false);
    expect(pc.acceptedCount()).toBe(0);
  });

  it('re-proposal: same interface stays usable, a different one waits for the ack', () => {
    const pc = new PresentationContexts();
    bind(pc, encode(writeBind, emsmdbBind()));
    ack(pc, encode(writeBindAck, emsmdbAck()));
    // alter_context for auth re-proposes ctx 0 unchanged (as NTLM 3-leg flows do)
    bind(pc, encode(writeAlterContext, { callId: 2, contexts: [emsmdbBind().contexts[0]!] }));
    expect(pc.isAccepted(0)).toBe(true);
    ack(pc, encode(writeAlterContextResp, { callId: 2, results: [{ result: 0, transfer: { uuid: UUID_NDR, version: 2 } }] }));
    expect(pc.isAccepted(0)).toBe(true);
    // now ctx 0 re-proposed with another interface: unusable until accepted
    bind(pc, encode(writeAlterContext, { callId: 3, contexts: [
      { ctxId: 0, abstract: { uuid: NSPI, major: 56, minor: 0 }, transfer: [{ uuid: UUID_NDR, version: 2 }] },
    ] }));
    expect(pc.isAccepted(0)).toBe(false);
    expect(pc.interfaceMatches(0, EMSMDB_LE, 0)).toBe(false);
    ack(pc, encode(writeAlterContextResp, { callId: 3, results: [{ result: 2, reason: 1 }] }));
    expect(pc.isAccepted(0)).toBe(false);
    expect(pc.stateOf(0)).toBe(CTX_STATE_EMPTY);
  });

  it('an accepted syntax that was not offered counts as SYNTAX_UNKNOWN', () => {
    const pc = new PresentationContexts();
    bind(pc, encode(writeBind, { callId: 1, contexts: [
      { ctxId: 0, abstract: { uuid: EMSMDB, major: 0, minor: 81 }, transfer: [{ uuid: UUID_NDR, version: 2 }] },
      { ctxId: 1, abstract: { uuid: EMSMDB, major: 0, minor: 81 }, transfer: [{ uuid: '11111111-2222-3333-4444-555555555555', version: 1 }] },
    ] }));
    ack(pc, encode(writeBindAck, { callId: 1, results: [
      { result: 0, transfer: { uuid: UUID_NDR64, version: 1 } },
      { result: 0, transfer: { uuid: '11111111-2222-3333-4444-555555555555', version: 1 } },
    ] }));
    expect(pc.isAccepted(0)).toBe(true);
    expect(pc.syntaxOf(0)).toBe(SYNTAX_UNKNOWN);
    expect(pc.syntaxOf(1)).toBe(SYNTAX_UNKNOWN);
  });

  it('MALFORMED: ack without pending bind, result count mismatch (prefix applied)', () => {
    const pc = new PresentationContexts();
    expect(ack(pc, BIND_ACK_135)).toBe(MALFORMED);
    expect(pc.errReason).toBe(ERR_ACK_WITHOUT_BIND);
    expect(pc.isAccepted(1)).toBe(false);
    bind(pc, encode(writeBind, emsmdbBind()));
    expect(ack(pc, encode(writeBindAck, { callId: 1, results: [{ result: 0, transfer: { uuid: UUID_NDR, version: 2 } }] }))).toBe(MALFORMED);
    expect(pc.errReason).toBe(ERR_RESULT_COUNT);
    expect(pc.isAccepted(0)).toBe(true);
    expect(pc.stateOf(1)).toBe(CTX_STATE_EMPTY);
    // a second ack for the same bind is refused
    expect(ack(pc, encode(writeBindAck, emsmdbAck()))).toBe(MALFORMED);
    expect(pc.errReason).toBe(ERR_ACK_WITHOUT_BIND);
  });

  it('bind_nak: nothing from the bind is usable', () => {
    const pc = new PresentationContexts();
    bind(pc, encode(writeBind, emsmdbBind()));
    pc.onBindNak();
    expect(pc.isAccepted(0)).toBe(false);
    expect(pc.stateOf(0)).toBe(CTX_STATE_EMPTY);
    expect(ack(pc, encode(writeBindAck, emsmdbAck()))).toBe(MALFORMED);
  });

  it('bounded: contexts beyond MAX_CONTEXTS are refused (UNSUPPORTED) and never accepted', () => {
    const pc = new PresentationContexts();
    const many = (from: number, n: number): BindOptions => ({ callId: 1, contexts: Array.from({ length: n }, (_, i) => (
      { ctxId: from + i, abstract: { uuid: EMSMDB, major: 0, minor: 81 }, transfer: [{ uuid: UUID_NDR, version: 2 }] })) });
    const okAll = (n: number): BindAckOptions => ({ callId: 1, results: Array.from({ length: n }, () => ({ result: 0, transfer: { uuid: UUID_NDR, version: 2 } })) });
    expect(bind(pc, encode(writeBind, many(0, MAX_CONTEXTS)))).toBe(OK);
    expect(ack(pc, encode(writeBindAck, okAll(MAX_CONTEXTS)))).toBe(OK);
    expect(pc.acceptedCount()).toBe(MAX_CONTEXTS);
    expect(bind(pc, encode(writeAlterContext, many(100, 2)))).toBe(UNSUPPORTED);
    expect(pc.errReason).toBe(ERR_CONTEXT_TABLE_FULL);
    expect(ack(pc, encode(writeAlterContextResp, okAll(2)))).toBe(OK);
    expect(pc.isAccepted(100)).toBe(false);
    expect(pc.isAccepted(63)).toBe(true);
    pc.reset();
    expect(pc.acceptedCount()).toBe(0);
  });
});
