/**
 * Endpoint mapper (EPM) constants: opnums, status codes, tower floor protocol ids and the tower
 * protocol classes we report. Sources: C706 App. L/O, samba epmapper.idl, WS packet-dcerpc-epm.c.
 */

// ---- opnums (C706 App. O) ----
export const EPT_INSERT = 0;
export const EPT_DELETE = 1;
export const EPT_LOOKUP = 2;
export const EPT_MAP = 3;
export const EPT_LOOKUP_HANDLE_FREE = 4;
export const EPT_INQ_OBJECT = 5;
export const EPT_MGMT_DELETE = 6;
/** MS extension (samba `epm_MapAuth`). */
export const EPT_MAP_AUTH = 7;

export const EPT_OPNUM_NAMES: readonly string[] = [
  'ept_insert', 'ept_delete', 'ept_lookup', 'ept_map', 'ept_lookup_handle_free',
  'ept_inq_object', 'ept_mgmt_delete', 'ept_map_auth',
];

// ---- status codes (C706 App. O) ----
export const EPT_S_OK = 0;
/** "No more entries" / "not registered" (EPMAPPER_STATUS_NO_MORE_ENTRIES, impacket RPC_NO_MORE_ELEMENTS). */
export const EPT_S_NOT_REGISTERED = 0x16c9a0d6;
export const EPT_S_NO_MEMORY = 0x16c9a012;

/**
 * Names of the status and fault codes an endpoint-mapper conversation shows (C706 App. E/O,
 * MS-RPCE 2.2.2.10 nca_s_* faults), for people reading `rpcgw inspect`.
 */
export const RPC_STATUS_NAMES: ReadonlyMap<number, string> = new Map([
  [EPT_S_OK, 'EPT_S_OK'],
  [EPT_S_NOT_REGISTERED, 'EPT_S_NOT_REGISTERED'],
  [EPT_S_NO_MEMORY, 'EPT_S_NO_MEMORY'],
  [0x00000005, 'ERROR_ACCESS_DENIED'],
  [0x000006f7, 'RPC_X_BAD_STUB_DATA'],
  [0x1c010002, 'nca_s_op_rng_error'],
  [0x1c010003, 'nca_s_unk_if'],
  [0x1c01000b, 'nca_s_proto_error'],
  [0x1c00001a, 'nca_s_fault_context_mismatch'],
]);

// ---- ept_lookup inquiry_type and vers_option (C706 App. O) ----
export const RPC_C_EP_ALL_ELTS = 0;
export const RPC_C_EP_MATCH_BY_IF = 1;
export const RPC_C_EP_MATCH_BY_OBJ = 2;
export const RPC_C_EP_MATCH_BY_BOTH = 3;
export const RPC_C_VERS_ALL = 1;
export const RPC_C_VERS_COMPATIBLE = 2;
export const RPC_C_VERS_EXACT = 3;
export const RPC_C_VERS_MAJOR_ONLY = 4;
export const RPC_C_VERS_UPTO = 5;

// ---- NDR sizes ----
/** ept_lookup_handle_t / any context handle: attributes u32 + UUID (20 bytes in NDR and NDR64). */
export const CONTEXT_HANDLE_LEN = 20;
export const UUID_LEN = 16;
/** C706 App. O `ept_max_annotation_size`: the annotation is `[string] char[64]` (NUL included). */
export const EPT_MAX_ANNOTATION_SIZE = 64;

// ---- tower floor protocol ids (B.5; WS proto_id_vals, samba epm_protocol) ----
export const FLOOR_TCP = 0x07;
export const FLOOR_UDP = 0x08;
export const FLOOR_IPV4 = 0x09;
export const FLOOR_NCADG = 0x0a;
export const FLOOR_NCACN = 0x0b;
export const FLOOR_NCALRPC = 0x0c;
export const FLOOR_UUID = 0x0d;
export const FLOOR_NP_PIPE = 0x0f;
export const FLOOR_LRPC_PIPE = 0x10;
export const FLOOR_NETBIOS = 0x11;
export const FLOOR_HTTP = 0x1f;

// ---- tower byte layout (C706 App. L): no alignment, little-endian lengths ----
/** floor_count u16 LE. */
export const TOWER_FLOOR_COUNT_LEN = 2;
/** lhs_length u16 + rhs_length u16. */
export const FLOOR_LEN_FIELDS = 4;
/** Smallest floor: lhs_length, 1 protocol id byte, rhs_length, empty rhs. */
export const FLOOR_MIN_LEN = 5;
/** UUID floor lhs: protocol id (1) + UUID (16) + major version u16 LE. */
export const UUID_FLOOR_LHS_LEN = 19;
/** UUID floor rhs: minor version u16 LE. */
export const UUID_FLOOR_RHS_LEN = 2;
/** Whole UUID floor: 2 + 19 + 2 + 2. */
export const UUID_FLOOR_LEN = 25;
/** A UUID tower needs interface, transfer syntax and RPC protocol floors. */
export const TOWER_MIN_FLOORS = 3;
export const PORT_RHS_LEN = 2;
export const IPV4_RHS_LEN = 4;
/** Standard 5-floor ncacn_ip_tcp tower: 2 + 25 + 25 + 7 + 7 + 9. */
export const TCP_TOWER_LEN = 75;
/** In that standard tower: port (BE) at 64..65, IPv4 at 71..74. */
export const TCP_TOWER_OFF_PORT = 64;
export const TCP_TOWER_OFF_IPV4 = 71;

// ---- tower protocol classes, from floors 3..4 (MANIFEST.md oracle mapping) ----
export const PROTO_UNKNOWN = 0;
/** floors 0x0b / 0x07 / 0x09 */
export const PROTO_NCACN_IP_TCP = 1;
/** floors 0x0a / 0x08 / 0x09 */
export const PROTO_NCADG_IP_UDP = 2;
/** floors 0x0b / 0x0f / 0x11 */
export const PROTO_NCACN_NP = 3;
/** floors 0x0c / 0x10 */
export const PROTO_NCALRPC = 4;
/** floors 0x0b / 0x1f / (0x09 or anything) */
export const PROTO_NCACN_HTTP = 5;

/** Names indexed by PROTO_*; equal to the oracle's `protocol` column values. */
export const PROTO_NAMES: readonly string[] = [
  'unknown', 'ncacn_ip_tcp', 'ncadg_ip_udp', 'ncacn_np', 'ncalrpc', 'ncacn_http',
];

// ---- decoder bounds ----
/** Most towers one ept_map response view holds (Windows asks for 4). */
export const MAX_TOWERS = 512;
/** Most entries one ept_lookup response view holds (a real rpcdump answer holds 346). */
export const MAX_ENTRIES = 1024;
