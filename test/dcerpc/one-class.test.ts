/**
 * The PDU views are one runtime class (src/dcerpc/co-pdu.ts), so the header and auth stores every
 * decoder shares see one hidden class. That a decoder's verdict into a view reused across PDUs of
 * every type is its verdict into a fresh one is checked by fuzz.test.ts on every input it draws;
 * the decoders' own results are pinned by pdu.test.ts. (The class-per-view decoders of ac9c0b1
 * were the field-by-field oracle when the change was made, d82271d.)
 */
import { describe, it, expect } from 'vitest';
import { CoHeader } from '../../src/dcerpc/header.js';
import * as pdu from '../../src/dcerpc/pdu.js';
import { CoPdu } from '../../src/dcerpc/co-pdu.js';

describe('one runtime class for every PDU view', () => {
  it('CoHeader and every view are CoPdu instances with the same own keys in the same order', () => {
    const view = new pdu.PduView();
    const views = [
      new CoHeader(), new pdu.PduBase(), new pdu.BindView(), new pdu.BindAckView(), new pdu.BindNakView(), new pdu.RequestView(),
      new pdu.ResponseView(), new pdu.FaultView(), new pdu.Auth3View(), new pdu.HeaderOnlyView(), new pdu.RtsView(), view.bind, view.rts,
    ];
    const keys = Object.keys(views[0]!).join(',');
    for (const v of views) {
      expect(v).toBeInstanceOf(CoPdu);
      expect(Object.keys(v).join(',')).toBe(keys);
    }
  });
});
