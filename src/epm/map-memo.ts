/**
 * One-entry memos of the last ept_map request and response stub the EPM leg decoded: the work of
 * a decode done once per distinct stub instead of once per connection.
 *
 * Why: every client of a rule asks the endpoint mapper the same thing (Outlook: the same ept_map
 * for EMSMDB, NSPI, ...; a scanner: the same request again and again) and the server answers it
 * the same way (the same towers, the same ports). Only a few bytes differ from one call to the
 * next, and none that the decode depends on:
 * - a request stub is compared whole (its entry handle is the nil handle of a first call);
 * - a response stub is compared from byte 20 on: its first 20 bytes are the entry_handle the
 *   server made up for this call, which the decoders (ept-map.ts) never read. Every offset, count
 *   and tower field of the decode comes from the bytes after it, the stub's length and offset,
 *   the syntaxes tried (`order`) and the integer byte order.
 * So when those are all equal to the memo's, the memo's decode IS the decode of the new stub:
 * the same status, the same view field for field. Only successful decodes are kept; a stub that
 * differs in any compared byte is decoded as before and becomes the memo.
 *
 * Compare instead of a hash: the compare reads each byte once, four at a time (same-bytes.ts), a
 * decode reads them all and then walks the NDR and tower structure with its checks.
 */
import { OK, type Status } from '../wire/status.js';
import { KeptBytes } from '../dcerpc/same-bytes.js';
import { CONTEXT_HANDLE_LEN, EPT_MAP } from './constants.js';
import { EptMapRequestView, EptMapResponseView, readEptMapRequest, readEptMapResponse } from './ept-map.js';
import { decodeMapRequest, responseGuess } from './stub-syntax.js';

/** Stubs longer than this are decoded every time (an ept_map answer with many towers is rare). */
const MEMO_MAX = 1024;

/** Whether the memos answer (off only in tests, which compare with and without them). */
let memoOn = true;
export function setMapMemo(on: boolean): void {
  memoOn = on;
}

/**
 * The last ept_map request stub decoded successfully, and what the EPM leg reads of its decode:
 * whether it carries a map tower, and that tower's interface (offset relative to the stub,
 * version).
 */
export class MapRequestMemo {
  /** The stub (none: the memo is empty). */
  private readonly stub = new KeptBytes();
  private le = false;
  private order: readonly boolean[] | null = null;
  towerPresent = false;
  /** The map tower's interface uuid, relative to the stub start (-1: none). */
  ifUuidRel = -1;
  ifMajor = 0;
  ifMinor = 0;

  /** The decode of a stub that is not the memo's (and, when no syntax reads it, the first syntax's failure). */
  private readonly view = new EptMapRequestView();
  /** After read: the map tower's interface uuid offset in the buffer read (-1: none). */
  ifUuidOff = -1;
  /** After a read that failed: where and why, as readEptMapRequest with the first syntax says. */
  errOffset = 0;
  errReason = '';

  /**
   * The ept_map request stub buf[off, off + len) read with `order` and `le`: OK with towerPresent,
   * ifUuidOff, ifMajor and ifMinor set, from the memo when the stub is its own (matches), else
   * decoded (and remembered); when no syntax decodes it, the first syntax's failure (errOffset,
   * errReason) and the memo is left as it was.
   */
  read(order: readonly boolean[], buf: Uint8Array, off: number, len: number, le: boolean): Status {
    if (!this.matches(order, buf, off, len, le)) {
      const m = this.view;
      if (decodeMapRequest(order, buf, off, len, le, m) < 0) {
        const st = readEptMapRequest(buf, off, len, order[0]!, le, m);
        if (st !== OK) {
          this.errOffset = m.errOffset;
          this.errReason = m.errReason;
          return st;
        }
      }
      this.remember(order, buf, off, len, le, m);
    }
    this.ifUuidOff = this.ifUuidRel < 0 ? -1 : off + this.ifUuidRel;
    return OK;
  }

  /** Whether buf[off, off + len) read with `order` and `le` is the memo's stub (its fields then apply). */
  matches(order: readonly boolean[], buf: Uint8Array, off: number, len: number, le: boolean): boolean {
    return memoOn && le === this.le && order === this.order && this.stub.equals(buf, off, len);
  }

  /** Keeps the stub just decoded successfully (decodeMapRequest with these arguments) into `view`. */
  remember(order: readonly boolean[], buf: Uint8Array, off: number, len: number, le: boolean, view: EptMapRequestView): void {
    // The fields answer this stub even when its bytes are not kept (too long: matches never true).
    this.towerPresent = view.towerPresent;
    this.ifUuidRel = view.tower.ifUuidOff < 0 ? -1 : view.tower.ifUuidOff - off;
    this.ifMajor = view.tower.ifMajor;
    this.ifMinor = view.tower.ifMinor;
    if (len > MEMO_MAX || off < 0 || off + len > buf.length) {
      this.stub.clear();
      return;
    }
    this.stub.keep(buf, off, len);
    this.le = le;
    this.order = order;
  }
}

/**
 * The last ept_map response stub decoded successfully, with its decode in `view` (read only: it
 * answers every later stub that matches). Its offsets are those of the stub it was decoded at;
 * a stub at another offset is decoded again.
 */
export class MapResponseMemo {
  readonly view = new EptMapResponseView();
  /** The syntax it decoded with. */
  private ndr64 = false;
  /** The stub's bytes after its entry handle (none: the memo is empty). */
  private readonly afterHandle = new KeptBytes();
  private off = 0;
  private le = false;
  private order: readonly boolean[] | null = null;

  /**
   * readEpmResponse(EPT_MAP, order, buf, off, len, le, view, ...): EPT_MAP with `view` the decode
   * and responseGuess.ndr64 its syntax, from the memo when the stub after its entry handle is the
   * memo's; else -1 and the last syntax's failure in `view`.
   */
  read(order: readonly boolean[], buf: Uint8Array, off: number, len: number, le: boolean): number {
    const h = CONTEXT_HANDLE_LEN;
    if (memoOn && off === this.off && le === this.le && order === this.order && this.afterHandle.equals(buf, off + h, len - h)) {
      responseGuess.ndr64 = this.ndr64;
      return EPT_MAP;
    }
    this.afterHandle.clear();
    for (let i = 0; i < order.length; i++) {
      const ndr64 = order[i]!;
      if (readEptMapResponse(buf, off, len, ndr64, le, this.view) !== OK) continue;
      this.ndr64 = responseGuess.ndr64 = ndr64;
      // A decoded stub holds its entry handle: len >= CONTEXT_HANDLE_LEN.
      if (len <= MEMO_MAX) {
        this.afterHandle.keep(buf, off + h, len - h);
        this.off = off;
        this.le = le;
        this.order = order;
      }
      return EPT_MAP;
    }
    return -1;
  }
}
