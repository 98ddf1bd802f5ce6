"""Shared byte-level helpers of the Exchange simulator and the Outlook-like client.

Test tooling, not shipped in the daemon. Layouts follow ../shared/protocol-notes.md sections A
(connection-oriented PDUs), B (EPM, towers, NDR/NDR64), D (Exchange UUIDs) and E (SOCKADDR).
Everything here is plain `struct` work so the bytes on the wire are exactly the ones written
below; impacket is used only for NTLM and as the EMSMDB/NSPI/RFR client transport.
"""
import ipaddress
import json
import socket
import struct
import sys
import threading
import time
import uuid

# --- PTYPE (A.2) and pfc_flags (A.3) ---
PTYPE_REQUEST = 0
PTYPE_RESPONSE = 2
PTYPE_FAULT = 3
PTYPE_BIND = 11
PTYPE_BIND_ACK = 12
PTYPE_BIND_NAK = 13
PTYPE_ALTER_CONTEXT = 14
PTYPE_ALTER_CONTEXT_RESP = 15
PTYPE_AUTH3 = 16
PTYPE_SHUTDOWN = 17
PTYPE_CO_CANCEL = 18
PTYPE_ORPHANED = 19

PFC_FIRST_FRAG = 0x01
PFC_LAST_FRAG = 0x02
PFC_SUPPORT_HEADER_SIGN = 0x04
PFC_OBJECT_UUID = 0x80

HDR_LEN = 16            # common header (A.1)
REQ_HDR_LEN = 24        # request/response header without object UUID (A.8)
SEC_TRAILER_LEN = 8     # auth_verifier_co_t before auth_value (A.10)
NTLM_SIG_LEN = 16       # NTLMSSP_MESSAGE_SIGNATURE

DREP_LE = b'\x10\x00\x00\x00'

# --- auth (A.10) ---
AUTH_TYPE_NONE = 0
AUTH_TYPE_SPNEGO = 9
AUTH_TYPE_WINNT = 10
AUTH_LEVEL_NONE = 1
AUTH_LEVEL_CONNECT = 2
AUTH_LEVEL_CALL = 3
AUTH_LEVEL_PKT = 4
AUTH_LEVEL_INTEGRITY = 5
AUTH_LEVEL_PRIVACY = 6

# --- bind results (A.6) ---
RESULT_ACCEPT = 0
RESULT_USER_REJECTION = 1
RESULT_PROVIDER_REJECTION = 2
RESULT_NEGOTIATE_ACK = 3
REASON_NOT_SPECIFIED = 0
REASON_ABSTRACT_SYNTAX_NOT_SUPPORTED = 1
REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED = 2
BIND_NAK_AUTH_TYPE_NOT_RECOGNIZED = 8

# --- fault status (A.8) ---
NCA_S_OP_RNG_ERROR = 0x1c010002
NCA_S_UNK_IF = 0x1c010003
NCA_S_CONTEXT_MISMATCH = 0x1c00001a
NCA_S_INVALID_PRES_CONTEXT_ID = 0x1c00001c
RPC_S_ACCESS_DENIED = 0x00000005
RPC_X_BAD_STUB_DATA = 0x000006f7

# --- EPM (B) ---
EPM_STATUS_OK = 0
EPM_S_NOT_REGISTERED = 0x16c9a0d6   # EPMAPPER_STATUS_NO_MORE_ENTRIES
EPM_OP_LOOKUP = 2
EPM_OP_MAP = 3
EPM_OP_LOOKUP_HANDLE_FREE = 4

# --- tower protocol ids (B.5) ---
PROT_UUID = 0x0d
PROT_NCACN = 0x0b
PROT_TCP = 0x07
PROT_UDP = 0x08
PROT_IP = 0x09
PROT_HTTP = 0x1f
PROT_NP = 0x0f
PROT_NETBIOS = 0x11

# --- syntaxes and interfaces (B, C, D): (uuid text, major, minor) ---
EPM_IF = ('e1af8308-5d1f-11c9-91a4-08002b14a0fa', 3, 0)
NDR_SYNTAX = ('8a885d04-1ceb-11c9-9fe8-08002b104860', 2, 0)
NDR64_SYNTAX = ('71710533-beba-4937-8319-b5dbef9ccc36', 1, 0)
# BTFN (C.3): the first 8 bytes identify it, the next 8 carry the feature bitmask.
BTFN_PREFIX = uuid.UUID('6cb71c2c-9812-4540-0000-000000000000').bytes_le[:8]
BTFN_WINDOWS = ('6cb71c2c-9812-4540-0300-000000000000', 1, 0)

EMSMDB_IF = ('a4f1db00-ca47-1067-b31f-00dd010662da', 0, 81)
ASYNCEMSMDB_IF = ('5261574a-4572-206e-b268-6b199213b4e4', 0, 1)
NSPI_IF = ('f5cc5a18-4264-101a-8c59-08002b2f8426', 56, 0)
RFR_IF = ('1544f5e0-613c-11d1-93df-00c04fd7bd09', 1, 0)

IFACE_NAMES = {
    EPM_IF[0]: 'epm',
    EMSMDB_IF[0]: 'emsmdb',
    ASYNCEMSMDB_IF[0]: 'asyncemsmdb',
    NSPI_IF[0]: 'nspi',
    RFR_IF[0]: 'rfr',
}
IFACES_BY_NAME = {
    'epm': EPM_IF, 'emsmdb': EMSMDB_IF, 'asyncemsmdb': ASYNCEMSMDB_IF, 'nspi': NSPI_IF, 'rfr': RFR_IF,
}

# --- EMSMDB (D, E) ---
EMSMDB_OP_DISCONNECT = 1
EMSMDB_OP_REGISTER_PUSH = 4
EMSMDB_OP_DUMMY = 6
EMSMDB_OP_CONNECT_EX = 10
EMSMDB_OP_RPC_EXT2 = 11
EMSMDB_OP_ASYNC_CONNECT_EX = 14
ASYNC_OP_WAIT_EX = 0
NSPI_OP_BIND = 0
NSPI_OP_UNBIND = 1
RFR_OP_GET_NEW_DSA = 0
RFR_OP_GET_FQDN = 1

EC_NONE = 0
EC_INVALID_PARAM = 0x80070057
EC_NOT_SUPPORTED = 0x80040102
EC_TOO_BIG = 0x80040305
EC_REJECTED = 0x000007ee
EC_ERROR = 0x80004005
NOTIFICATION_PENDING = 0x00000001
CONTEXT_MAX = 16                    # rgbContext at most 16 bytes (E.1)
ADVISE_BITS_ALL = 0xffffffff

AF_INET_WIRE = 2                    # Windows SOCKADDR families, little-endian on the wire (E.1)
AF_INET6_WIRE = 23
SOCKADDR_IN_LEN = 16
SOCKADDR_IN6_LEN = 28


class WireError(Exception):
    """Bytes that do not fit the layout being read (short, inconsistent counts)."""


def uuid_le(text):
    return uuid.UUID(text).bytes_le


def uuid_text(raw16):
    return str(uuid.UUID(bytes_le=bytes(raw16)))


def syntax_id(iface):
    """p_syntax_id_t: UUID (NDR, little-endian drep) + major u16 + minor u16 (A.5)."""
    return uuid_le(iface[0]) + struct.pack('<HH', iface[1], iface[2])


# ------------------------------------------------------------------ NDR

class NdrWriter:
    """NDR (v2) or NDR64 writer, little-endian. Alignment is relative to the stub start."""

    def __init__(self, ndr64=False, pad=b'\x00'):
        self.buf = bytearray()
        self.ndr64 = ndr64
        self.pad = pad      # alignment filler: receivers must ignore it (Outlook 2003 sent 0xa5)

    def align(self, n):
        self.buf += self.pad * ((-len(self.buf)) % n)

    def u8(self, v):
        self.buf += struct.pack('<B', v)

    def u16(self, v):
        self.align(2)
        self.buf += struct.pack('<H', v)

    def u32(self, v):
        self.align(4)
        self.buf += struct.pack('<I', v & 0xffffffff)

    def u64(self, v):
        self.align(8)
        self.buf += struct.pack('<Q', v)

    def count(self, v):
        """Conformance / variance counts: u32 in NDR, u64 in NDR64 (B.2)."""
        if self.ndr64:
            self.u64(v)
        else:
            self.u32(v)

    def ptr(self, referent):
        """Referent id of a pointer: u32 in NDR, u64 in NDR64 (B.2); 0 = NULL."""
        self.count(referent)

    def raw(self, b):
        self.buf += bytes(b)

    def ctx_handle(self, h):
        self.align(4)
        if len(h) != 20:
            raise ValueError('context handle must be 20 bytes')
        self.buf += h

    def string8(self, s):
        """[string] char*: conformant varying, counts include the NUL."""
        b = s.encode('latin-1') + b'\x00'
        self.count(len(b))
        self.count(0)
        self.count(len(b))
        self.raw(b)

    def getvalue(self):
        return bytes(self.buf)


class NdrReader:
    """Bounds-checked NDR/NDR64 reader; every read raises WireError when bytes are missing."""

    def __init__(self, data, ndr64=False):
        self.data = bytes(data)
        self.off = 0
        self.ndr64 = ndr64

    def need(self, n):
        if n < 0 or self.off + n > len(self.data):
            raise WireError('short stub: need %d bytes at offset %d of %d' % (n, self.off, len(self.data)))

    def align(self, n):
        pad = (-self.off) % n
        self.need(pad)
        self.off += pad

    def u8(self):
        self.need(1)
        v = self.data[self.off]
        self.off += 1
        return v

    def u16(self):
        self.align(2)
        self.need(2)
        v = struct.unpack_from('<H', self.data, self.off)[0]
        self.off += 2
        return v

    def u32(self):
        self.align(4)
        self.need(4)
        v = struct.unpack_from('<I', self.data, self.off)[0]
        self.off += 4
        return v

    def u64(self):
        self.align(8)
        self.need(8)
        v = struct.unpack_from('<Q', self.data, self.off)[0]
        self.off += 8
        return v

    def count(self):
        return self.u64() if self.ndr64 else self.u32()

    def ptr(self):
        return self.count()

    def raw(self, n):
        self.need(n)
        v = self.data[self.off:self.off + n]
        self.off += n
        return v

    def ctx_handle(self):
        self.align(4)
        return self.raw(20)

    def string8(self, limit=4096):
        max_count = self.count()
        offset = self.count()
        actual = self.count()
        if offset != 0 or actual > max_count or actual > limit:
            raise WireError('bad string counts max=%d offset=%d actual=%d' % (max_count, offset, actual))
        b = self.raw(actual)
        return b.split(b'\x00', 1)[0].decode('latin-1')

    def remaining(self):
        return len(self.data) - self.off


# ------------------------------------------------------------------ towers (B.5)

def floor_bytes(lhs, rhs):
    return struct.pack('<H', len(lhs)) + lhs + struct.pack('<H', len(rhs)) + rhs


def uuid_floor(iface_uuid, major, minor):
    return floor_bytes(bytes([PROT_UUID]) + uuid_le(iface_uuid) + struct.pack('<H', major), struct.pack('<H', minor))


def tcp_tower(iface, ip, port):
    """The 75-byte 5-floor ncacn_ip_tcp tower: port big-endian, IPv4 in network order (B.5)."""
    floors = [
        uuid_floor(*iface),
        uuid_floor(*NDR_SYNTAX),
        floor_bytes(bytes([PROT_NCACN]), b'\x00\x00'),
        floor_bytes(bytes([PROT_TCP]), struct.pack('>H', port)),
        floor_bytes(bytes([PROT_IP]), socket.inet_aton(ip)),
    ]
    return struct.pack('<H', len(floors)) + b''.join(floors)


def parse_tower(octets):
    """Tower octets -> dict {interface, version, syntax, protocol, port, ip, floors}. Raises WireError."""
    b = bytes(octets)
    if len(b) < 2:
        raise WireError('tower shorter than floor_count')
    n = struct.unpack_from('<H', b, 0)[0]
    off = 2
    floors = []
    for _ in range(n):
        if off + 2 > len(b):
            raise WireError('tower floor lhs length missing')
        lhs_len = struct.unpack_from('<H', b, off)[0]
        off += 2
        if lhs_len < 1 or off + lhs_len > len(b):
            raise WireError('tower floor lhs truncated')
        lhs = b[off:off + lhs_len]
        off += lhs_len
        if off + 2 > len(b):
            raise WireError('tower floor rhs length missing')
        rhs_len = struct.unpack_from('<H', b, off)[0]
        off += 2
        if off + rhs_len > len(b):
            raise WireError('tower floor rhs truncated')
        rhs = b[off:off + rhs_len]
        off += rhs_len
        floors.append((lhs, rhs))
    out = {'floorCount': n, 'interface': None, 'version': None, 'syntax': None,
           'protocol': None, 'port': None, 'ip': None}
    if len(floors) >= 1 and floors[0][0][0] == PROT_UUID and len(floors[0][0]) == 19 and len(floors[0][1]) == 2:
        lhs, rhs = floors[0]
        out['interface'] = uuid_text(lhs[1:17])
        out['version'] = '%d.%d' % (struct.unpack_from('<H', lhs, 17)[0], struct.unpack_from('<H', rhs, 0)[0])
    if len(floors) >= 2 and floors[1][0][0] == PROT_UUID and len(floors[1][0]) == 19 and len(floors[1][1]) == 2:
        lhs, rhs = floors[1]
        out['syntax'] = '%s v%d.%d' % (uuid_text(lhs[1:17]), struct.unpack_from('<H', lhs, 17)[0],
                                       struct.unpack_from('<H', rhs, 0)[0])
    protos = [f[0][0] for f in floors[2:]]
    for lhs, rhs in floors[2:]:
        pid = lhs[0]
        if pid in (PROT_TCP, PROT_UDP, PROT_HTTP) and len(rhs) == 2:
            out['port'] = struct.unpack('>H', rhs)[0]
        elif pid == PROT_IP and len(rhs) == 4:
            out['ip'] = socket.inet_ntoa(rhs)
    if PROT_NCACN in protos and PROT_TCP in protos:
        out['protocol'] = 'ncacn_ip_tcp'
    elif PROT_NCACN in protos and PROT_HTTP in protos:
        out['protocol'] = 'ncacn_http'
    elif PROT_NCACN in protos and PROT_NP in protos:
        out['protocol'] = 'ncacn_np'
    elif PROT_UDP in protos:
        out['protocol'] = 'ncadg_ip_udp'
    else:
        out['protocol'] = 'other:' + ','.join('0x%02x' % p for p in protos)
    return out


# ------------------------------------------------------------------ SOCKADDR (E.1)

def build_sockaddr(ip, port):
    """Windows SOCKADDR bytes as Outlook registers them: family LE, port BE, address, zeros."""
    addr = ipaddress.ip_address(ip)
    if addr.version == 4:
        return struct.pack('<H', AF_INET_WIRE) + struct.pack('>H', port) + addr.packed + b'\x00' * 8
    return (struct.pack('<H', AF_INET6_WIRE) + struct.pack('>H', port) + b'\x00' * 4 + addr.packed
            + b'\x00' * 4)


def parse_sockaddr(b):
    """-> (family_wire, ip_text, port) or raises WireError for a family/size Exchange refuses."""
    b = bytes(b)
    if len(b) < 2:
        raise WireError('SOCKADDR shorter than its family field')
    family = struct.unpack_from('<H', b, 0)[0]
    if family == AF_INET_WIRE:
        if len(b) != SOCKADDR_IN_LEN:
            raise WireError('AF_INET SOCKADDR must be 16 bytes, got %d' % len(b))
        return family, socket.inet_ntoa(b[4:8]), struct.unpack_from('>H', b, 2)[0]
    if family == AF_INET6_WIRE:
        if len(b) != SOCKADDR_IN6_LEN:
            raise WireError('AF_INET6 SOCKADDR must be 28 bytes, got %d' % len(b))
        return family, str(ipaddress.IPv6Address(b[8:24])), struct.unpack_from('>H', b, 2)[0]
    raise WireError('unsupported SOCKADDR family %d' % family)


# ------------------------------------------------------------------ PDUs (A)

def pdu_header(ptype, flags, frag_len, auth_len, call_id):
    return struct.pack('<BBBB4sHHI', 5, 0, ptype, flags, DREP_LE, frag_len, auth_len, call_id)


def parse_header(b):
    """-> dict of the 16-byte common header; raises WireError on what framing cannot accept (A.1)."""
    if len(b) < HDR_LEN:
        raise WireError('short header')
    vers, minor, ptype, flags = b[0], b[1], b[2], b[3]
    if vers != 5:
        raise WireError('rpc_vers %d is not 5' % vers)
    if b[4] & 0xf0 != 0x10:
        raise WireError('big-endian drep not supported by the simulator')
    frag_len, auth_len, call_id = struct.unpack_from('<HHI', b, 8)
    if frag_len < HDR_LEN:
        raise WireError('frag_length %d < 16' % frag_len)
    if auth_len and auth_len + SEC_TRAILER_LEN > frag_len - HDR_LEN:
        raise WireError('auth_length %d does not fit frag_length %d' % (auth_len, frag_len))
    return {'vers': vers, 'minor': minor, 'ptype': ptype, 'flags': flags, 'fragLen': frag_len,
            'authLen': auth_len, 'callId': call_id}


def recv_exact(sock, n):
    chunks = []
    got = 0
    while got < n:
        c = sock.recv(n - got)
        if not c:
            return None
        chunks.append(c)
        got += len(c)
    return b''.join(chunks)


def recv_pdu(sock, max_frag=65535):
    """One whole PDU from a stream socket, or None at EOF."""
    head = recv_exact(sock, HDR_LEN)
    if head is None:
        return None
    h = parse_header(head)
    if h['fragLen'] > max_frag:
        raise WireError('frag_length %d above the limit %d' % (h['fragLen'], max_frag))
    rest = recv_exact(sock, h['fragLen'] - HDR_LEN)
    if rest is None:
        return None
    return head + rest


def split_auth(pdu, h):
    """-> (body_without_verifier, trailer dict or None, auth_value). Trailer located from the end (A.10)."""
    if not h['authLen']:
        return pdu[HDR_LEN:], None, b''
    t_off = h['fragLen'] - h['authLen'] - SEC_TRAILER_LEN
    auth_type, auth_level, pad_len, _rsv, ctx_id = struct.unpack_from('<BBBBI', pdu, t_off)
    trailer = {'authType': auth_type, 'authLevel': auth_level, 'padLen': pad_len, 'ctxId': ctx_id,
               'offset': t_off}
    return pdu[HDR_LEN:t_off], trailer, pdu[t_off + SEC_TRAILER_LEN:h['fragLen']]


def bind_pdu(call_id, contexts, max_xmit=5840, max_recv=5840, assoc_group=0, ptype=PTYPE_BIND):
    """contexts: list of (ctx_id, abstract iface tuple, [transfer syntax tuples])."""
    body = struct.pack('<HHIB3x', max_xmit, max_recv, assoc_group, len(contexts))
    for ctx_id, abstract, transfers in contexts:
        body += struct.pack('<HBx', ctx_id, len(transfers)) + syntax_id(abstract)
        for ts in transfers:
            body += uuid_le(ts[0]) + struct.pack('<HH', ts[1], ts[2])
    return pdu_header(ptype, PFC_FIRST_FRAG | PFC_LAST_FRAG, HDR_LEN + len(body), 0, call_id) + body


def parse_bind_ack(pdu):
    """-> dict {maxXmit, maxRecv, assocGroup, secAddr, results:[(result, reason, syntax uuid text, ver)]}."""
    h = parse_header(pdu)
    body, _trailer, _auth = split_auth(pdu, h)
    r = NdrReader(body)
    max_xmit = r.u16()
    max_recv = r.u16()
    assoc = r.u32()
    sec_len = r.u16()
    sec_addr = r.raw(sec_len).split(b'\x00', 1)[0].decode('latin-1')
    # pad to 4 relative to the PDU start: body offset 0 is PDU offset 16, so the same modulus.
    r.align(4)
    n = r.u8()
    r.raw(3)
    results = []
    for _ in range(n):
        result = r.u16()
        reason = r.u16()
        ts = r.raw(16)
        ver = r.u32()
        results.append((result, reason, uuid_text(ts), ver))
    return {'ptype': h['ptype'], 'maxXmit': max_xmit, 'maxRecv': max_recv, 'assocGroup': assoc,
            'secAddr': sec_addr, 'results': results}


def request_pdus(call_id, ctx_id, opnum, stub, max_frag=5840):
    """Unauthenticated request, fragmented to max_frag when needed (A.11)."""
    room = max_frag - REQ_HDR_LEN
    chunks = [stub[i:i + room] for i in range(0, len(stub), room)] or [b'']
    out = []
    remaining = len(stub)
    for i, chunk in enumerate(chunks):
        flags = (PFC_FIRST_FRAG if i == 0 else 0) | (PFC_LAST_FRAG if i == len(chunks) - 1 else 0)
        frag_len = REQ_HDR_LEN + len(chunk)
        out.append(pdu_header(PTYPE_REQUEST, flags, frag_len, 0, call_id)
                   + struct.pack('<IHH', remaining, ctx_id, opnum) + chunk)
        remaining -= len(chunk)
    return out


# ------------------------------------------------------------------ logging

def now_iso():
    t = time.time()
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(t)) + '.%03dZ' % int((t % 1) * 1000)


_log_lock = threading.Lock()


def log_event(event, **fields):
    """One JSON object per line on stderr: the simulator's and client's event log."""
    rec = {'ts': now_iso(), 'event': event}
    rec.update(fields)
    line = json.dumps(rec) + '\n'
    with _log_lock:
        try:
            sys.stderr.write(line)
            sys.stderr.flush()
        except (BrokenPipeError, ValueError):
            pass
