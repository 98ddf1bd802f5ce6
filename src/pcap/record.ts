/**
 * One captured frame as every capture-file reader hands it out (pcap, pcapng, NetMon).
 *
 * The record is a preallocated scratch object: the readers overwrite its fields for every frame
 * and `data`/`dataOff` point INTO the reader's own buffer (no copy). The bytes are valid only
 * until the next call on the reader that filled it; a caller that keeps a frame copies it.
 */
import { DecodeResult } from '../wire/status.js';

/**
 * Link type of a frame no upper layer can decode: NetMon's own records (ETW events, capture
 * filter, network info, DNS cache...) and NetMon media types that have no pcap LINKTYPE.
 * Negative so it can never collide with a real LINKTYPE_* value.
 */
export const LINKTYPE_UNKNOWN = -1;

/** Sanity bound on one record's captured length (same bound libpcap-style readers apply). */
export const MAX_RECORD_LEN = 256 * 1024 * 1024;

const EMPTY = new Uint8Array(0);

export class CaptureRecord extends DecodeResult {
  /** pcap LINKTYPE_* of this frame (per file in pcap, per interface in pcapng, per frame in NetMon), or LINKTYPE_UNKNOWN. */
  linkType = 0;
  /** pcapng interface id, local to the current section (0 for pcap and NetMon). */
  interfaceId = 0;
  /** Seconds since 1970-01-01 UTC (may exceed 2^32 for pcapng; pcapng if_tsoffset applied). */
  tsSec = 0;
  /** Nanoseconds within tsSec, 0..999_999_999. */
  tsNsec = 0;
  /** Bytes of the frame present in `data` from `dataOff`. */
  capLen = 0;
  /** Length of the frame on the wire (>= capLen unless the file says otherwise). */
  origLen = 0;
  /** FCS bytes at the end of each frame when the file says so (pcap link-type FCS bits, pcapng if_fcslen); 0 = none/unknown. */
  fcsLen = 0;
  /** Absolute file offset where this record (its header/block) starts. */
  fileOffset = 0;
  /** Buffer holding the frame; shared with the reader, valid until its next call. */
  data: Uint8Array = EMPTY;
  /** Offset of the frame's first byte in `data`. */
  dataOff = 0;
}
