/**
 * Connection-oriented DCE/RPC constants (C706 ch. 12, MS-RPCE 2.2.2, MS-RPCH 2.2.3.6).
 * Offsets are from the first byte of the PDU.
 */

// ---- PTYPE ----
export const PTYPE_REQUEST = 0;
export const PTYPE_RESPONSE = 2;
export const PTYPE_FAULT = 3;
export const PTYPE_BIND = 11;
export const PTYPE_BIND_ACK = 12;
export const PTYPE_BIND_NAK = 13;
export const PTYPE_ALTER_CONTEXT = 14;
export const PTYPE_ALTER_CONTEXT_RESP = 15;
export const PTYPE_AUTH3 = 16;
export const PTYPE_SHUTDOWN = 17;
export const PTYPE_CO_CANCEL = 18;
export const PTYPE_ORPHANED = 19;
export const PTYPE_RTS = 20;

/** Names indexed by PTYPE, for reporting ('' for connectionless-only values). */
export const PTYPE_NAMES: readonly string[] = [
  'request', 'ping', 'response', 'fault', 'working', 'nocall', 'reject', 'ack', 'cl_cancel',
  'fack', 'cancel_ack', 'bind', 'bind_ack', 'bind_nak', 'alter_context', 'alter_context_resp',
  'auth3', 'shutdown', 'co_cancel', 'orphaned', 'rts',
];

// ---- pfc_flags (MS-RPCE 2.2.2.3 for 0x04 on binds) ----
export const PFC_FIRST_FRAG = 0x01;
export const PFC_LAST_FRAG = 0x02;
/** On request/response/fault etc.: cancel pending. */
export const PFC_PENDING_CANCEL = 0x04;
/** Same bit on bind/bind_ack/alter_context(_resp)/auth3: header signing supported (MS-RPCE 2.2.2.3). */
export const PFC_SUPPORT_HEADER_SIGN = 0x04;
export const PFC_RESERVED_1 = 0x08;
export const PFC_CONC_MPX = 0x10;
export const PFC_DID_NOT_EXECUTE = 0x20;
export const PFC_MAYBE = 0x40;
export const PFC_OBJECT_UUID = 0x80;

// ---- common header (rpcconn_common_hdr_t) ----
export const RPC_VERS = 5;
export const RPC_VERS_MINOR_MAX = 1;
export const DCERPC_HDR_LEN = 16;
export const DCERPC_OFF_RPC_VERS = 0;
export const DCERPC_OFF_RPC_VERS_MINOR = 1;
export const DCERPC_OFF_PTYPE = 2;
export const DCERPC_OFF_PFC_FLAGS = 3;
export const DCERPC_OFF_DREP = 4;
export const DCERPC_OFF_FRAG_LEN = 8;
export const DCERPC_OFF_AUTH_LEN = 10;
export const DCERPC_OFF_CALL_ID = 12;
/** Bytes needed to know a PDU's length (through frag_length). */
export const DCERPC_FRAME_PEEK_LEN = 10;
/** drep byte 0 high nibble 0x10 = little-endian integers (packed_drep, C706 ch. 14). */
export const DREP_LITTLE_ENDIAN = 0x10;
/** frag_length is a u16; the framer's upper bound. */
export const MAX_FRAG_LEN = 65535;

// ---- bind / alter_context (rpcconn_bind_hdr_t) ----
export const BIND_OFF_MAX_XMIT = 16;
export const BIND_OFF_MAX_RECV = 18;
export const BIND_OFF_ASSOC_GROUP = 20;
export const BIND_OFF_N_CONTEXTS = 24;
export const BIND_OFF_CONTEXTS = 28;
/** p_cont_elem_t without its transfer syntaxes: ctxId(2) nTransfer(1) reserved(1) uuid(16) vers(4). */
export const CONTEXT_ELEM_FIXED_LEN = 24;
/** p_syntax_id_t: uuid(16) + version(4). */
export const SYNTAX_ID_LEN = 20;
export const BIND_FIXED_LEN = BIND_OFF_CONTEXTS;

// ---- bind_ack / alter_context_resp (rpcconn_bind_ack_hdr_t) ----
export const BIND_ACK_OFF_MAX_XMIT = 16;
export const BIND_ACK_OFF_MAX_RECV = 18;
export const BIND_ACK_OFF_ASSOC_GROUP = 20;
export const BIND_ACK_OFF_SEC_ADDR_LEN = 24;
export const BIND_ACK_OFF_SEC_ADDR = 26;
/** p_result_t: result(2) reason(2) transfer syntax(20). */
export const RESULT_ELEM_LEN = 24;

// ---- bind_nak (rpcconn_bind_nak_hdr_t; MS-RPCE 2.2.2.9) ----
export const BIND_NAK_OFF_REASON = 16;
export const BIND_NAK_OFF_N_VERSIONS = 18;

// ---- request / response / fault ----
export const REQ_OFF_ALLOC_HINT = 16;
export const REQ_OFF_CTX_ID = 20;
export const REQ_OFF_OPNUM = 22;
export const REQ_OFF_OBJECT = 24;
export const REQ_HDR_LEN = 24;
export const REQ_HDR_LEN_OBJECT = 40;
export const RESP_OFF_ALLOC_HINT = 16;
export const RESP_OFF_CTX_ID = 20;
export const RESP_OFF_CANCEL_COUNT = 22;
export const RESP_HDR_LEN = 24;
export const FAULT_OFF_STATUS = 24;
export const FAULT_HDR_LEN = 32;

// ---- auth3 (MS-RPCE 2.2.2.10) ----
export const AUTH3_HDR_LEN = 20;

// ---- sec_trailer (auth_verifier_co_t; MS-RPCE 2.2.2.11) ----
export const SEC_TRAILER_LEN = 8;
export const SEC_TRAILER_OFF_TYPE = 0;
export const SEC_TRAILER_OFF_LEVEL = 1;
export const SEC_TRAILER_OFF_PAD_LEN = 2;
export const SEC_TRAILER_OFF_CONTEXT_ID = 4;

export const AUTH_LEVEL_NONE = 1;
export const AUTH_LEVEL_CONNECT = 2;
export const AUTH_LEVEL_CALL = 3;
export const AUTH_LEVEL_PKT = 4;
export const AUTH_LEVEL_PKT_INTEGRITY = 5;
export const AUTH_LEVEL_PKT_PRIVACY = 6;

export const AUTH_TYPE_NONE = 0;
export const AUTH_TYPE_KRB5 = 1;
export const AUTH_TYPE_GSS_NEGOTIATE = 9;
export const AUTH_TYPE_WINNT = 10;
export const AUTH_TYPE_GSS_SCHANNEL = 14;
export const AUTH_TYPE_GSS_KERBEROS = 16;
export const AUTH_TYPE_NETLOGON = 0x44;
export const AUTH_TYPE_DEFAULT = 0xff;

// ---- p_cont_def_result_t ----
export const RESULT_ACCEPTANCE = 0;
export const RESULT_USER_REJECTION = 1;
export const RESULT_PROVIDER_REJECTION = 2;
/** MS-RPCE: answer to a BTFN element; never a usable context. */
export const RESULT_NEGOTIATE_ACK = 3;

// ---- p_provider_reason_t ----
export const REASON_NOT_SPECIFIED = 0;
export const REASON_ABSTRACT_SYNTAX_NOT_SUPPORTED = 1;
export const REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED = 2;
export const REASON_LOCAL_LIMIT_EXCEEDED = 3;
export const REASON_PROTOCOL_VERSION_NOT_SPECIFIED = 4;
export const REASON_AUTH_TYPE_NOT_RECOGNIZED = 8;
export const REASON_INVALID_CHECKSUM = 9;

// ---- bind_nak provider_reject_reason ----
export const NAK_REASON_NOT_SPECIFIED = 0;
export const NAK_REASON_TEMPORARY_CONGESTION = 1;
export const NAK_REASON_LOCAL_LIMIT_EXCEEDED = 2;
export const NAK_REASON_PROTOCOL_VERSION_NOT_SUPPORTED = 4;
export const NAK_REASON_AUTH_TYPE_NOT_RECOGNIZED = 8;
export const NAK_REASON_INVALID_CHECKSUM = 9;

// ---- fault status ----
export const NCA_S_OP_RNG_ERROR = 0x1c010002;
export const NCA_S_UNK_IF = 0x1c010003;
export const NCA_S_PROTO_ERROR = 0x1c01000b;
export const NCA_S_INVALID_PRES_CONTEXT_ID = 0x1c00001c;
export const NCA_S_UNSUPPORTED_AUTHN_LEVEL = 0x1c00001d;
export const STATUS_ACCESS_DENIED = 0x00000005;
export const RPC_X_BAD_STUB_DATA = 0x000006f7;

// ---- RTS (MS-RPCH 2.2.3.6, notes F.2) ----
export const RTS_OFF_FLAGS = 16;
export const RTS_OFF_N_COMMANDS = 18;
export const RTS_HDR_LEN = 20;
export const RTS_FLAG_NONE = 0x0000;
export const RTS_FLAG_PING = 0x0001;
export const RTS_FLAG_OTHER_CMD = 0x0002;
export const RTS_FLAG_RECYCLE_CHANNEL = 0x0004;
export const RTS_FLAG_IN_CHANNEL = 0x0008;
export const RTS_FLAG_OUT_CHANNEL = 0x0010;
export const RTS_FLAG_EOF = 0x0020;
export const RTS_FLAG_ECHO = 0x0040;

export const RTS_CMD_RECEIVE_WINDOW_SIZE = 0;
export const RTS_CMD_FLOW_CONTROL_ACK = 1;
export const RTS_CMD_CONNECTION_TIMEOUT = 2;
export const RTS_CMD_COOKIE = 3;
export const RTS_CMD_CHANNEL_LIFETIME = 4;
export const RTS_CMD_CLIENT_KEEPALIVE = 5;
export const RTS_CMD_VERSION = 6;
export const RTS_CMD_EMPTY = 7;
export const RTS_CMD_PADDING = 8;
export const RTS_CMD_NEGATIVE_ANCE = 9;
export const RTS_CMD_ANCE = 10;
export const RTS_CMD_CLIENT_ADDRESS = 11;
export const RTS_CMD_ASSOCIATION_GROUP_ID = 12;
export const RTS_CMD_DESTINATION = 13;
export const RTS_CMD_PING_TRAFFIC_SENT_NOTIFY = 14;
/**
 * Total size (type included) of each fixed-size RTS command, indexed by type; 0 = variable
 * (Padding: 8 + count; ClientAddress: 24 for IPv4, 36 for IPv6).
 */
export const RTS_CMD_SIZES: readonly number[] = [8, 28, 8, 20, 8, 8, 8, 4, 0, 4, 4, 0, 20, 8, 8];
export const RTS_CLIENT_ADDRESS_V4 = 0;
export const RTS_CLIENT_ADDRESS_V6 = 1;
export const RTS_CLIENT_ADDRESS_V4_LEN = 24;
export const RTS_CLIENT_ADDRESS_V6_LEN = 36;
export const RTS_PADDING_FIXED_LEN = 8;

// ---- transfer syntaxes and well-known interfaces (wire form, little-endian drep) ----
export const SYNTAX_UNKNOWN = 0;
export const SYNTAX_NDR = 1;
export const SYNTAX_NDR64 = 2;
/**
 * Classification of a proposed transfer syntax as a bind-time feature negotiation element.
 * Only appears in BindView.transferSyntax; never a negotiated syntax (syntaxOf never returns it).
 */
export const SYNTAX_BTFN = 3;

// ---- bounds of the preallocated views ----
/** Presentation contexts per bind/alter_context (and results per ack) held by the views. */
export const MAX_CONTEXTS = 64;
/** Transfer syntaxes per context element held by BindView. */
export const MAX_TRANSFER_SYNTAXES = 16;
/** RTS commands per PDU held by RtsView (the largest MS-RPCH sequence has 8). */
export const MAX_RTS_COMMANDS = 32;

/** NDR 2.0 transfer syntax 8a885d04-1ceb-11c9-9fe8-08002b104860, version 2. */
export const UUID_NDR = Uint8Array.of(
  0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60,
);
export const NDR_VERSION = 2;
/** NDR64 transfer syntax 71710533-beba-4937-8319-b5dbef9ccc36, version 1. */
export const UUID_NDR64 = Uint8Array.of(
  0x33, 0x05, 0x71, 0x71, 0xba, 0xbe, 0x37, 0x49, 0x83, 0x19, 0xb5, 0xdb, 0xef, 0x9c, 0xcc, 0x36,
);
export const NDR64_VERSION = 1;
/** Endpoint mapper interface e1af8308-5d1f-11c9-91a4-08002b14a0fa v3.0. */
export const UUID_EPM = Uint8Array.of(
  0x08, 0x83, 0xaf, 0xe1, 0x1f, 0x5d, 0xc9, 0x11, 0x91, 0xa4, 0x08, 0x00, 0x2b, 0x14, 0xa0, 0xfa,
);
export const EPM_VERSION_MAJOR = 3;
/** First 8 wire bytes (LE) of every BTFN pseudo transfer syntax 6cb71c2c-9812-4540-xxxx (MS-RPCE 2.2.2.14). */
export const BTFN_PREFIX = Uint8Array.of(0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45);
/** BTFN as Windows sends it: 6cb71c2c-9812-4540-0300-000000000000, version 1. */
export const UUID_BTFN_WINDOWS = Uint8Array.of(
  0x2c, 0x1c, 0xb7, 0x6c, 0x12, 0x98, 0x40, 0x45, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
);
export const BTFN_VERSION = 1;
/**
 * bind_nak Signature marking extended error information (MS-RPCE 2.2.1.1.2):
 * 90740320-fad0-11d3-82d7-009027b130ab, wire form (LE).
 */
export const UUID_BIND_NAK_EEINFO_SIGNATURE = Uint8Array.of(
  0x20, 0x03, 0x74, 0x90, 0xd0, 0xfa, 0xd3, 0x11, 0x82, 0xd7, 0x00, 0x90, 0x27, 0xb1, 0x30, 0xab,
);

/**
 * True if the 16 bytes at `off` are a bind-time feature negotiation UUID (6cb71c2c-9812-4540-*).
 * `littleEndian` is the drep byte order the UUID was written in (Windows: true).
 * Caller guarantees 8 bytes at `off`.
 */
export function isBtfnUuid(buf: Uint8Array, off: number, littleEndian = true): boolean {
  if (littleEndian) {
    return buf[off] === 0x2c && buf[off + 1] === 0x1c && buf[off + 2] === 0xb7 && buf[off + 3] === 0x6c &&
      buf[off + 4] === 0x12 && buf[off + 5] === 0x98 && buf[off + 6] === 0x40 && buf[off + 7] === 0x45;
  }
  return buf[off] === 0x6c && buf[off + 1] === 0xb7 && buf[off + 2] === 0x1c && buf[off + 3] === 0x2c &&
    buf[off + 4] === 0x98 && buf[off + 5] === 0x12 && buf[off + 6] === 0x45 && buf[off + 7] === 0x40;
}
