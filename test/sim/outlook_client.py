#!/usr/bin/python3
"""Drives an Exchange (the simulator, or anything behind the gateway) the way Outlook 2003 does.

  /usr/bin/python3 test/sim/outlook_client.py --server 198.51.100.1 --callback-ip 203.0.113.10 \\
      --callback-port 40000 --auth-level 6 --password Outlook-2003 --wait 10

Flow: ept_map EMSMDB through SERVER:epm-port (our own bind and stub; every tower decoded here),
connect to SERVER:<tower port> (the tower's IP is reported, not used, like Windows; --use-tower-ip
changes that), bind EMSMDB (impacket, NTLM at levels 2-6), EcDoConnectEx,
EcRRegisterPushNotification with SOCKADDR(callback-ip, callback-port) and a random 16-byte
rgbContext, then wait up to --wait seconds for the UDP datagram on callback-port, then
EcDoRpcExt2 (as Outlook does after a notification) and EcDoDisconnect.
Options add the directory leg first (--directory: RFR RfrGetNewDSA, NSPI NspiBind/NspiUnbind)
and an AsyncEMSMDB leg (--async: EcDoAsyncConnectEx + EcDoAsyncWaitEx on its own connection).
--map IFACE and --lookup only query the endpoint mapper.

stdout: ONE JSON object (see README.md in this folder); stderr: JSON event lines.
Exit status 0 when every step asked for worked (the datagram matched, the async wait returned
NotificationPending), 1 otherwise.
"""
import sys
sys.dont_write_bytecode = True

import argparse
import ipaddress
import json
import os
import select
import socket
import struct
import threading
import time
import traceback
import uuid

from simrpc import *  # noqa: F401,F403
from simrpc import WireError, NdrReader, NdrWriter as _NdrWriter, log_event

from impacket.dcerpc.v5 import transport as imp_transport
from impacket.dcerpc.v5 import rpcrt as imp_rpcrt
from impacket.dcerpc.v5.rpcrt import DCERPCException
from impacket.uuid import uuidtup_to_bin

OUTLOOK_2003_VERSION = [11, 0, 8169]        # 11.0.8169 (Outlook 2003 SP3), rgwClientVersion
NDR_PAD = b'\x00'                           # --ndr-pad-byte


def NdrWriter(ndr64=False):
    return _NdrWriter(ndr64, NDR_PAD)


class RpcFault(Exception):
    def __init__(self, status):
        Exception.__init__(self, 'fault 0x%08x' % status)
        self.status = status


class RawRpc:
    """Minimal unauthenticated CO client: our own bind (several syntaxes) and request stubs."""

    def __init__(self, host, port, timeout):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.call_id = 1
        self.max_xmit = 5840

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def bind(self, contexts):
        """contexts: [(ctx_id, iface, [syntaxes])] -> (parsed bind_ack, accepted (ctx_id, ndr64) or None)."""
        self.sock.sendall(bind_pdu(self.call_id, contexts))
        self.call_id += 1
        pdu = recv_pdu(self.sock)
        if pdu is None:
            raise ConnectionError('connection closed during bind')
        h = parse_header(pdu)
        if h['ptype'] == PTYPE_BIND_NAK:
            raise RpcFault(struct.unpack_from('<H', pdu, HDR_LEN)[0])
        if h['ptype'] != PTYPE_BIND_ACK:
            raise WireError('expected bind_ack, got PTYPE %d' % h['ptype'])
        ack = parse_bind_ack(pdu)
        self.max_xmit = min(ack['maxRecv'], 5840) or 5840
        accepted = None
        for (ctx_id, _iface, syntaxes), (result, _reason, ts, _ver) in zip(contexts, ack['results']):
            if result == RESULT_ACCEPT and accepted is None:
                accepted = (ctx_id, ts == NDR64_SYNTAX[0])
        return ack, accepted

    def call(self, ctx_id, opnum, stub):
        call_id = self.call_id
        self.call_id += 1
        for p in request_pdus(call_id, ctx_id, opnum, stub, self.max_xmit):
            self.sock.sendall(p)
        out = b''
        while True:
            pdu = recv_pdu(self.sock)
            if pdu is None:
                raise ConnectionError('connection closed during call')
            h = parse_header(pdu)
            if h['ptype'] == PTYPE_FAULT:
                raise RpcFault(struct.unpack_from('<I', pdu, REQ_HDR_LEN)[0])
            if h['ptype'] != PTYPE_RESPONSE or h['callId'] != call_id:
                raise WireError('unexpected PTYPE %d call_id %d' % (h['ptype'], h['callId']))
            out += pdu[REQ_HDR_LEN:h['fragLen']]
            if h['flags'] & PFC_LAST_FRAG:
                return out


def parse_iface(spec):
    """'emsmdb', 'emsmdb:0.82' or 'UUID:MAJ.MIN' -> (uuid text, major, minor)."""
    name, _, ver = spec.lower().partition(':')
    if name in IFACES_BY_NAME:
        base = IFACES_BY_NAME[name]
        if not ver:
            return base
        u = base[0]
    else:
        u = str(uuid.UUID(name))
    major, _, minor = (ver or '0.0').partition('.')
    return (u, int(major), int(minor or 0))


def epm_contexts(ndr64):
    """What the client offers the EPM: NDR only (32-bit XP, Outlook 2003), or NDR+NDR64+BTFN (x64)."""
    if not ndr64:
        return [(0, EPM_IF, [NDR_SYNTAX])]
    return [(0, EPM_IF, [NDR_SYNTAX]), (1, EPM_IF, [NDR64_SYNTAX]), (2, EPM_IF, [BTFN_WINDOWS])]


def ept_map_stub(iface, ndr64):
    """ept_map request (protocol-notes B.3): object nil, EMSMDB-style TCP tower port 0 IP 0, 4 towers."""
    tower = tcp_tower(iface, '0.0.0.0', 0)
    w = NdrWriter(ndr64)
    w.ptr(1)
    w.raw(b'\x00' * 16)
    w.ptr(2)
    w.count(len(tower))
    w.u32(len(tower))
    w.raw(tower)
    w.ctx_handle(b'\x00' * 20)
    w.u32(4)
    return w.getvalue()


def parse_ept_map(stub, ndr64):
    """ept_map response (B.4) -> {status, numTowers, towers:[decoded]}; every tower decoded here."""
    r = NdrReader(stub, ndr64)
    r.ctx_handle()
    num = r.u32()
    r.count()
    offset = r.count()
    actual = r.count()
    if offset != 0 or actual != num or actual > 64:
        raise WireError('tower array counts num=%d offset=%d actual=%d' % (num, offset, actual))
    refs = [r.ptr() for _ in range(actual)]
    towers = []
    for ref in refs:
        if not ref:
            continue
        max_count = r.count()
        length = r.u32()
        if length > max_count:
            raise WireError('tower_length > max_count')
        octets = r.raw(length)
        t = parse_tower(octets)
        t['octetsHex'] = octets.hex()
        towers.append(t)
    status = r.u32()
    if r.remaining() != 0:
        raise WireError('%d bytes after the status' % r.remaining())
    return {'status': status, 'numTowers': num, 'towers': towers}


def ept_map(server, epm_port, iface, ndr64, timeout):
    """-> dict {iface, syntax, status, towers, port, ip} (port/ip of the first TCP tower)."""
    rpc = RawRpc(server, epm_port, timeout)
    try:
        ack, accepted = rpc.bind(epm_contexts(ndr64))
        if accepted is None:
            raise WireError('EPM refused every context: %r' % (ack['results'],))
        ctx_id, is64 = accepted
        res = parse_ept_map(rpc.call(ctx_id, EPM_OP_MAP, ept_map_stub(iface, is64)), is64)
    finally:
        rpc.close()
    tcp = [t for t in res['towers'] if t['protocol'] == 'ncacn_ip_tcp']
    res.update({'iface': IFACE_NAMES.get(iface[0], iface[0]), 'version': '%d.%d' % (iface[1], iface[2]),
                'ndr64': is64, 'statusHex': '0x%08x' % res['status'],
                'port': tcp[0]['port'] if tcp else None, 'ip': tcp[0]['ip'] if tcp else None})
    return res


def ept_lookup(server, epm_port, ndr64, timeout):
    rpc = RawRpc(server, epm_port, timeout)
    try:
        _ack, accepted = rpc.bind(epm_contexts(ndr64))
        ctx_id, is64 = accepted
        w = NdrWriter(is64)
        w.u32(0)            # inquiry_type: all
        w.ptr(0)            # object NULL
        w.ptr(0)            # interface_id NULL
        w.u32(1)            # vers_option: all
        w.ctx_handle(b'\x00' * 20)
        w.u32(500)          # max_ents
        r = NdrReader(rpc.call(ctx_id, EPM_OP_LOOKUP, w.getvalue()), is64)
    finally:
        rpc.close()
    r.ctx_handle()
    num = r.u32()
    r.count()
    r.count()
    actual = r.count()
    if actual != num or actual > 500:
        raise WireError('entry counts num=%d actual=%d' % (num, actual))
    entries = []
    for _ in range(actual):
        if is64:
            r.align(8)
        r.raw(16)
        ref = r.ptr()
        r.count()
        n = r.count()
        note = r.raw(n).split(b'\x00', 1)[0].decode('latin-1')
        entries.append({'ref': ref, 'annotation': note})
    for e in entries:
        if e['ref']:
            r.count()
            e.update(parse_tower(r.raw(r.u32())))
        del e['ref']
    status = r.u32()
    return {'status': status, 'statusHex': '0x%08x' % status, 'entries': entries}


class Rpc:
    """An impacket association (NTLM when level > 1) used with our own hand-written stubs."""

    def __init__(self, host, port, iface, args, timeout):
        t = imp_transport.DCERPCTransportFactory('ncacn_ip_tcp:%s[%d]' % (host, port))
        t.set_connect_timeout(timeout)
        t.recv = self._recv_or_raise(t)
        self.dce = t.get_dce_rpc()
        if args.auth_level > AUTH_LEVEL_NONE:
            self.dce.set_credentials(args.user, args.password, args.domain)
            self.dce.set_auth_type(imp_rpcrt.RPC_C_AUTHN_WINNT)
        self.dce.set_auth_level(args.auth_level)
        self.dce.connect()
        self.dce.bind(uuidtup_to_bin((iface[0], '%d.%d' % (iface[1], iface[2]))))

    @staticmethod
    def _recv_or_raise(t):
        """impacket 0.10's TCPTransport.recv spins forever on EOF (recv() == b''): raise instead."""
        def recv(forceRecv=0, count=0):
            sock = t.get_socket()
            if not count:
                data = sock.recv(8192)
                if not data:
                    raise ConnectionError('connection closed by the server')
                return data
            buf = b''
            while len(buf) < count:
                data = sock.recv(count - len(buf))
                if not data:
                    raise ConnectionError('connection closed by the server')
                buf += data
            return buf
        return recv

    def call(self, opnum, stub):
        self.dce.call(opnum, stub)
        return self.dce.recv()

    def close(self):
        try:
            self.dce.disconnect()
        except Exception:
            pass


def connect_ex_stub(user_dn):
    w = NdrWriter()
    w.string8(user_dn)                     # szUserDN
    w.u32(0)                               # ulFlags
    w.u32(int.from_bytes(os.urandom(4), 'little'))   # ulConMod
    w.u32(0)                               # cbLimit
    w.u32(1252)                            # ulCpid
    w.u32(1033)                            # ulLcidString
    w.u32(1033)                            # ulLcidSort
    w.u32(0xffffffff)                      # ulIcxrLink
    w.u16(1)                               # usFCanConvertCodePages
    for v in OUTLOOK_2003_VERSION:         # rgwClientVersion[3]
        w.u16(v)
    w.u32(0)                               # pulTimeStamp
    w.u32(0)                               # rgbAuxIn: max_count 0, no bytes
    w.u32(0)                               # cbAuxIn
    w.u32(0x1008)                          # pcbAuxOut
    return w.getvalue()


def parse_connect_ex(stub):
    r = NdrReader(stub)
    out = {'cxh': r.ctx_handle().hex(), 'pcmsPollsMax': r.u32(), 'pcRetry': r.u32(),
           'pcmsRetryDelay': r.u32(), 'picxr': r.u16()}
    out['szDNPrefix'] = r.string8() if r.ptr() else None
    out['szDisplayName'] = r.string8() if r.ptr() else None
    out['rgwServerVersion'] = [r.u16(), r.u16(), r.u16()]
    out['rgwBestVersion'] = [r.u16(), r.u16(), r.u16()]
    out['pulTimeStamp'] = r.u32()
    max_count = r.u32()
    offset = r.u32()
    actual = r.u32()
    if offset != 0 or actual > max_count:
        raise WireError('rgbAuxOut counts')
    r.raw(actual)
    out['pcbAuxOut'] = r.u32()
    out['ret'] = r.u32()
    if r.remaining():
        raise WireError('%d bytes after EcDoConnectEx return' % r.remaining())
    return out


def register_stub(cxh, context, sockaddr):
    w = NdrWriter()
    w.ctx_handle(cxh)
    w.u32(0)                     # iRpc
    w.u32(len(context))          # rgbContext (conformant array)
    w.raw(context)
    w.u16(len(context))          # cbContext
    w.u32(ADVISE_BITS_ALL)       # grbitAdviseBits
    w.u32(len(sockaddr))         # rgbCallbackAddress
    w.raw(sockaddr)
    w.u16(len(sockaddr))         # cbCallbackAddress
    return w.getvalue()


def rpc_ext2_stub(cxh):
    payload = struct.pack('<HHHH', 0, 0x0004, 2, 2) + struct.pack('<H', 2)
    w = NdrWriter()
    w.ctx_handle(cxh)
    w.u32(0x00000003)            # pulFlags: NoCompression | NoXorMagic
    w.u32(len(payload))
    w.raw(payload)
    w.u32(len(payload))          # cbIn
    w.u32(0x8000)                # pcbOut
    w.u32(0)                     # rgbAuxIn
    w.u32(0)                     # cbAuxIn
    w.u32(0x1008)                # pcbAuxOut
    return w.getvalue()


def parse_rpc_ext2(stub):
    r = NdrReader(stub)
    r.ctx_handle()
    flags = r.u32()
    r.u32()
    r.u32()
    n = r.u32()
    rgb_out = r.raw(n)
    cb_out = r.u32()
    r.u32()
    r.u32()
    r.raw(r.u32())
    r.u32()
    r.u32()
    return {'pulFlags': flags, 'pcbOut': cb_out, 'rgbOutHex': rgb_out.hex(), 'ret': r.u32()}


class UdpWaiter:
    """The callback socket, bound before the registration so no datagram can be missed."""

    def __init__(self, callback_ip, port, bind_ip):
        v6 = ipaddress.ip_address(callback_ip).version == 6
        self.sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((bind_ip if bind_ip is not None else ('::' if v6 else '0.0.0.0'), port))
        self.port = self.sock.getsockname()[1]

    def wait(self, context, seconds, started):
        """-> report dict; stops at the first datagram whose payload equals rgbContext."""
        seen = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                break
            data, src = self.sock.recvfrom(2048)
            rec = {'payloadHex': data.hex(), 'matches': data == context, 'sourceIp': src[0], 'sourcePort': src[1],
                   'afterMs': int((time.monotonic() - started) * 1000)}
            log_event('datagram', **rec)
            seen.append(rec)
            if rec['matches'] or len(seen) >= 16:
                break
        first = next((d for d in seen if d['matches']), seen[0] if seen else None)
        out = {'received': bool(seen), 'count': len(seen), 'waitedS': seconds}
        if first:
            out.update(first)
        else:
            out.update({'payloadHex': None, 'matches': False, 'sourceIp': None, 'sourcePort': None, 'afterMs': None})
        return out

    def close(self):
        self.sock.close()


STATUS_BY_NAME = {v: k for k, v in imp_rpcrt.rpc_status_codes.items()}


def fmt_error(step, e):
    if isinstance(e, DCERPCException):
        code = getattr(e, 'error_code', None)
        if code is None:
            # impacket raises faults by name only ('rpc_s_access_denied'): map the name back.
            code = STATUS_BY_NAME.get(str(e))
        return {'step': step, 'error': str(e), 'status': ('0x%08x' % code) if code is not None else None}
    if isinstance(e, RpcFault):
        return {'step': step, 'error': str(e), 'status': '0x%08x' % e.status}
    return {'step': step, 'error': '%s: %s' % (type(e).__name__, e)}


def directory_leg(args, result, errors):
    out = {}
    result['directory'] = out
    try:
        m = ept_map(args.server, args.epm_port, RFR_IF, args.epm_ndr64, args.timeout)
        out['rfrTower'] = {'port': m['port'], 'ip': m['ip'], 'status': m['statusHex']}
        rpc = Rpc(args.tower_host(m), m['port'], RFR_IF, args, args.timeout)
        try:
            w = NdrWriter()
            w.u32(0)                    # ulFlags
            w.string8(args.user_dn)     # pUserDN
            w.ptr(0)                    # ppszUnused NULL
            w.ptr(0x00020000)           # ppszServer -> NULL string pointer on input
            w.ptr(0)
            r = NdrReader(rpc.call(RFR_OP_GET_NEW_DSA, w.getvalue()))
            if r.ptr():
                if r.ptr():
                    r.string8()
            server = None
            if r.ptr() and r.ptr():
                server = r.string8()
            out['rfr'] = {'ppszServer': server, 'ret': r.u32()}
        finally:
            rpc.close()
    except Exception as e:
        errors.append(fmt_error('rfr', e))
    try:
        m = ept_map(args.server, args.epm_port, NSPI_IF, args.epm_ndr64, args.timeout)
        out['nspiTower'] = {'port': m['port'], 'ip': m['ip'], 'status': m['statusHex']}
        rpc = Rpc(args.tower_host(m), m['port'], NSPI_IF, args, args.timeout)
        try:
            w = NdrWriter()
            w.u32(0)                                            # dwFlags
            for v in (0, 0, 0, 0, 0, 0, 1252, 1033, 1033):      # STAT
                w.u32(v)
            w.ptr(0x00020000)                                   # pServerGuid
            w.raw(b'\x00' * 16)
            r = NdrReader(rpc.call(NSPI_OP_BIND, w.getvalue()))
            guid = r.raw(16).hex() if r.ptr() else None
            handle = r.ctx_handle()
            out['nspiBind'] = {'serverGuid': guid, 'handle': handle.hex(), 'ret': r.u32()}
            w = NdrWriter()
            w.ctx_handle(handle)
            w.u32(0)
            r = NdrReader(rpc.call(NSPI_OP_UNBIND, w.getvalue()))
            r.ctx_handle()
            out['nspiUnbind'] = {'ret': r.u32()}
        finally:
            rpc.close()
    except Exception as e:
        errors.append(fmt_error('nspi', e))


def async_leg(args, store, cxh, errors):
    """EcDoAsyncConnectEx on the store connection, then EcDoAsyncWaitEx held on a new one."""
    out = {'started': False}
    r = NdrReader(store.call(EMSMDB_OP_ASYNC_CONNECT_EX, cxh))
    acxh = r.ctx_handle()
    out['acxh'] = acxh.hex()
    out['connectRet'] = r.u32()
    m = ept_map(args.server, args.epm_port, ASYNCEMSMDB_IF, args.epm_ndr64, args.timeout)
    out['tower'] = {'port': m['port'], 'ip': m['ip'], 'status': m['statusHex']}
    rpc = Rpc(args.tower_host(m), m['port'], ASYNCEMSMDB_IF, args, args.wait + args.timeout)

    def run():
        t0 = time.monotonic()
        try:
            w = NdrWriter()
            w.ctx_handle(acxh)
            w.u32(0)
            rr = NdrReader(rpc.call(ASYNC_OP_WAIT_EX, w.getvalue()))
            out['pulFlagsOut'] = rr.u32()
            out['ret'] = rr.u32()
            out['notificationPending'] = out['pulFlagsOut'] == NOTIFICATION_PENDING
        except Exception as e:
            errors.append(fmt_error('async_wait', e))
        finally:
            out['afterMs'] = int((time.monotonic() - t0) * 1000)
            rpc.close()

    th = threading.Thread(target=run, daemon=True)
    th.start()
    out['started'] = True
    return out, th


def run_flow(args):
    result = {'server': args.server, 'epmPort': args.epm_port, 'authLevel': args.auth_level,
              'tower': None, 'connect': None, 'registration': None, 'datagram': None, 'errors': []}
    errors = result['errors']
    if args.directory:
        directory_leg(args, result, errors)
    try:
        result['tower'] = ept_map(args.server, args.epm_port, EMSMDB_IF, args.epm_ndr64, args.timeout)
    except Exception as e:
        errors.append(fmt_error('ept_map', e))
        return result
    tower = result['tower']
    if tower['port'] is None:
        errors.append({'step': 'ept_map', 'error': 'no ncacn_ip_tcp tower', 'status': tower['statusHex']})
        return result
    udp = UdpWaiter(args.callback_ip, args.callback_port, args.udp_bind)
    store = None
    try:
        host = args.tower_host(tower)
        conn = {'host': host, 'port': tower['port'], 'ok': False}
        result['connect'] = conn
        try:
            store = Rpc(host, tower['port'], EMSMDB_IF, args, args.timeout)
            conn.update(parse_connect_ex(store.call(EMSMDB_OP_CONNECT_EX, connect_ex_stub(args.user_dn))))
            conn['ok'] = conn['ret'] == 0
        except Exception as e:
            errors.append(fmt_error('EcDoConnectEx', e))
            return result
        cxh = bytes.fromhex(conn['cxh'])
        async_out = th = None
        if args.async_leg:
            try:
                async_out, th = async_leg(args, store, cxh, errors)
            except Exception as e:
                errors.append(fmt_error('async', e))
            result['async'] = async_out
        context = bytes.fromhex(args.context_hex) if args.context_hex else os.urandom(args.context_len)
        sockaddr = build_sockaddr(args.callback_ip, udp.port)
        reg = {'ok': False, 'callbackIp': args.callback_ip, 'callbackPort': udp.port,
               'sockaddrHex': sockaddr.hex(), 'rgbContextHex': context.hex()}
        result['registration'] = reg
        try:
            r = NdrReader(store.call(EMSMDB_OP_REGISTER_PUSH, register_stub(cxh, context, sockaddr)))
            r.ctx_handle()
            reg['hNotification'] = r.u32()
            reg['ret'] = r.u32()
            reg['ok'] = reg['ret'] == 0
        except Exception as e:
            errors.append(fmt_error('EcRRegisterPushNotification', e))
            return result
        registered = time.monotonic()
        log_event('registered', port=udp.port, hNotification=reg.get('hNotification'), contextHex=context.hex())
        if args.wait > 0:
            result['datagram'] = udp.wait(context, args.wait, registered)
            if result['datagram']['matches']:
                try:
                    result['rpcExt2'] = parse_rpc_ext2(store.call(EMSMDB_OP_RPC_EXT2, rpc_ext2_stub(cxh)))
                except Exception as e:
                    errors.append(fmt_error('EcDoRpcExt2', e))
        if th is not None:
            th.join(max(0.0, args.wait - (time.monotonic() - registered)) + args.timeout)
        try:
            r = NdrReader(store.call(EMSMDB_OP_DISCONNECT, cxh))
            r.ctx_handle()
            result['disconnect'] = {'ret': r.u32()}
        except Exception as e:
            errors.append(fmt_error('EcDoDisconnect', e))
    finally:
        udp.close()
        if store is not None:
            store.close()
    return result


def flow_ok(args, result):
    if result['errors']:
        return False
    if not (result['connect'] and result['connect'].get('ok') and result['registration']
            and result['registration'].get('ok')):
        return False
    if args.wait > 0 and not (result['datagram'] and result['datagram']['matches']):
        return False
    if args.async_leg and not (result.get('async') or {}).get('notificationPending'):
        return False
    return True


def parse_args(argv):
    p = argparse.ArgumentParser(description='Outlook 2003-like EMSMDB client (test tool)')
    p.add_argument('--server', required=True, help='the address the client believes the Exchange server is')
    p.add_argument('--epm-port', type=int, default=135)
    p.add_argument('--callback-ip', help="the client's own address, registered in the SOCKADDR")
    p.add_argument('--callback-port', type=int, default=0, help='UDP port to listen on (0 = pick one)')
    p.add_argument('--udp-bind', default=None, help='address the UDP socket binds (default: any)')
    p.add_argument('--auth-level', type=int, default=1, choices=[1, 2, 3, 4, 5, 6])
    p.add_argument('--user', default='outlook')
    p.add_argument('--password', default='Outlook-2003')
    p.add_argument('--domain', default='')
    p.add_argument('--user-dn', default='/o=Contoso/ou=First Administrative Group/cn=Recipients/cn=outlook')
    p.add_argument('--wait', type=float, default=10.0, help='seconds to wait for the UDP datagram (0 = do not)')
    p.add_argument('--timeout', type=float, default=15.0, help='seconds for each TCP connect/RPC')
    p.add_argument('--context-hex', help='fixed rgbContext (hex; more than 16 bytes lets a test see ecTooBig)')
    p.add_argument('--context-len', type=int, default=16,
                   help='length of the random rgbContext (16; the 2003 Outlook in the public capture used 8)')
    p.add_argument('--directory', action='store_true', help='RFR + NSPI first, like Outlook at start-up')
    p.add_argument('--async', dest='async_leg', action='store_true', help='also EcDoAsyncConnectEx + EcDoAsyncWaitEx')
    p.add_argument('--epm-ndr64', action='store_true', help='offer NDR, NDR64 and BTFN to the EPM like x64 Windows')
    p.add_argument('--ndr-pad-byte', type=lambda v: int(v, 0), default=0,
                   help='byte used for NDR alignment padding in our stubs (Outlook 2003 sent 0xa5)')
    p.add_argument('--use-tower-ip', action='store_true', help="connect to the tower's IP instead of --server")
    p.add_argument('--map', action='append', metavar='IFACE',
                   help='only ept_map IFACE (emsmdb, asyncemsmdb, nspi, rfr, epm or UUID:MAJ.MIN); repeatable')
    p.add_argument('--lookup', action='store_true', help='only ept_lookup (all entries)')
    a = p.parse_args(argv)
    if not (a.map or a.lookup) and not a.callback_ip:
        p.error('--callback-ip is required for the Outlook flow')
    a.tower_host = (lambda m: m['ip'] if a.use_tower_ip and m.get('ip') else a.server)
    global NDR_PAD
    NDR_PAD = bytes([a.ndr_pad_byte])
    return a


def main(argv):
    args = parse_args(argv)
    if args.map or args.lookup:
        result = {'server': args.server, 'epmPort': args.epm_port, 'maps': [], 'errors': []}
        for spec in args.map or []:
            try:
                result['maps'].append(ept_map(args.server, args.epm_port, parse_iface(spec), args.epm_ndr64,
                                              args.timeout))
            except Exception as e:
                result['errors'].append(fmt_error('ept_map ' + spec, e))
        if args.lookup:
            try:
                result['lookup'] = ept_lookup(args.server, args.epm_port, args.epm_ndr64, args.timeout)
            except Exception as e:
                result['errors'].append(fmt_error('ept_lookup', e))
        result['ok'] = not result['errors']
    else:
        try:
            result = run_flow(args)
        except Exception as e:
            result = {'errors': [fmt_error('client', e)], 'traceback': traceback.format_exc()}
        result['ok'] = flow_ok(args, result) if 'connect' in result else False
    sys.stdout.write(json.dumps(result) + '\n')
    sys.stdout.flush()
    return 0 if result['ok'] else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
