/**
 * A one-entry memo of the last bind / alter_context PDU decoded: a PDU equal to it byte for byte
 * is answered with its decode, moved to where the new PDU lies, instead of decoding it again.
 *
 * Why: a client binds the same way on every connection (same interfaces, transfer syntaxes,
 * fragment sizes; call_id 1 and assoc_group 0 on a first bind), so every EPM connection of a
 * rule, and every connection to one mapped port, carries the same bind bytes.
 * Why it is exact: readBind reads nothing but the PDU's frag_length bytes, and every field of its
 * view is either read from those bytes or is an absolute offset into `buf` (pduOff, the UUID
 * offsets, contextsEnd, the auth verifier's offsets). Equal bytes give equal fields, and the
 * offsets differ by exactly the distance between the two PDUs. The frag_length field is among the
 * compared bytes, so an equal prefix of the memo's length is the whole new PDU. Only successful
 * decodes are kept.
 */
import { OK } from '../wire/status.js';
import type { Status } from '../wire/status.js';
import { MAX_TRANSFER_SYNTAXES } from './constants.js';
import { BindView, readBind } from './pdu.js';
import { sameBytes, ViewCache, viewOver } from './same-bytes.js';

/** PDUs longer than this are decoded every time. */
const MEMO_MAX = 1024;

/** Whether the memo answers (off only in tests, which compare with and without it). */
let memoOn = true;
export function setBindMemo(on: boolean): void {
  memoOn = on;
}

export class BindMemo {
  /** The decode of the last PDU read (read only: later PDUs that match are answered with it). */
  readonly view = new BindView();
  private bytes = new Uint8Array(256);
  private bytesView = viewOver(this.bytes);
  private readonly bufView = new ViewCache();
  /** The memo's PDU length (its frag_length); -1: empty. */
  private len = -1;

  /** readBind(buf, off, len, this.view): its status, the decode (or failure) in `view`. */
  read(buf: Uint8Array, off: number, len: number): Status {
    const n = this.len;
    if (memoOn && n > 0 && len >= n && off >= 0 && off + n <= buf.length && sameBytes(this.bytesView, buf, this.bufView.of(buf), off, n)) {
      this.moveTo(off);
      return OK;
    }
    this.len = -1;
    const v = this.view;
    const st = readBind(buf, off, len, v);
    if (st !== OK || v.fragLen > MEMO_MAX) return st;
    const f = v.fragLen;
    if (this.bytes.length < f) {
      this.bytes = new Uint8Array(Math.max(f, this.bytes.length * 2));
      this.bytesView = viewOver(this.bytes);
    }
    for (let i = 0; i < f; i++) this.bytes[i] = buf[off + i]!;
    this.len = f;
    return OK;
  }

  /** The view's absolute offsets, moved to a PDU at `off`. */
  private moveTo(off: number): void {
    const v = this.view;
    const d = off - v.pduOff;
    if (d === 0) return;
    v.pduOff = off;
    for (let i = 0; i < v.nContexts; i++) {
      v.abstractUuidOff[i] = v.abstractUuidOff[i]! + d;
      const base = i * MAX_TRANSFER_SYNTAXES;
      for (let j = 0; j < v.nTransfer[i]!; j++) v.transferUuidOff[base + j] = v.transferUuidOff[base + j]! + d;
    }
    v.contextsEnd += d;
    if (v.hasAuth) {
      v.secTrailerOff += d;
      v.authValueOff += d;
    }
  }
}
