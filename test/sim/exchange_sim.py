#!/usr/bin/python3
"""A small Exchange 2003-like RPC server for tests: EPM + EMSMDB/AsyncEMSMDB + NSPI + RFR.

Not part of the daemon. It puts real DCE/RPC bytes on the wire (tshark decodes them as epm, mapi,
nspi, rfr) so the gateway can be tested without a real Exchange:

  /usr/bin/python3 test/sim/exchange_sim.py --listen 10.0.2.2 --epm-port 135 --store-port 6001 \\
      --nspi-port 6004 --rfr-port 6002 --control-port 127.0.0.1:7000 --password Outlook-2003

Ports may be 0 (the kernel picks; the `ready` log line gives the real ones). --control-port takes
a TCP port on 127.0.0.1, HOST:PORT, or a unix socket path. Control commands, one per line, one
JSON line answered: `notify [hNotification]`, `registrations`, `sessions`, `quit`.

Event log: one JSON object per line on stderr (`ready`, `bind`, `auth`, `request`, `ept_map`,
`connect`, `register`, `notify_sent`, `async_wait`, `fault`, `stopped`, ...).

Auth: binds at level 1 (none) without a verifier; NTLM (auth_type 10) at levels 2-6 with the
account --user/--password verified server-side (NTLMv2 or NTLMv1), then per-PDU signatures
checked (5) or the stub decrypted (6) and responses signed/sealed back. Other auth types get a
bind_nak (reason 8).
"""
import sys
sys.dont_write_bytecode = True  # keep test/sim free of __pycache__

import argparse
import calendar
import os
import random
import secrets
import json
import signal
import socket
import socketserver
import struct
import threading
import time
import traceback
import uuid

from simrpc import *  # noqa: F401,F403  (constants and codecs of the shared notes)
from simrpc import WireError, NdrReader, NdrWriter, log_event

from impacket import ntlm
from Cryptodome.Cipher import ARC4

SERVER_MAX_FRAG = 5840          # what Windows answers in bind_ack (protocol-notes A.11)
MAX_CALL_BYTES = 1 << 20        # reassembled request stub bound
MAX_OPEN_CALLS = 16             # fragmented calls in progress per connection
MAX_REGISTRATIONS = 1024

OPNAMES = {
    'epm': {0: 'ept_insert', 1: 'ept_delete', 2: 'ept_lookup', 3: 'ept_map', 4: 'ept_lookup_handle_free',
            5: 'ept_inq_object', 6: 'ept_mgmt_delete', 7: 'ept_map_auth'},
    'emsmdb': {1: 'EcDoDisconnect', 4: 'EcRRegisterPushNotification', 6: 'EcDummyRpc', 10: 'EcDoConnectEx',
               11: 'EcDoRpcExt2', 14: 'EcDoAsyncConnectEx'},
    'asyncemsmdb': {0: 'EcDoAsyncWaitEx'},
    'nspi': {0: 'NspiBind', 1: 'NspiUnbind'},
    'rfr': {0: 'RfrGetNewDSA', 1: 'RfrGetFQDNFromServerDN'},
}


class Fault(Exception):
    """Answer the call with a fault PDU carrying this status."""

    def __init__(self, status, reason=''):
        Exception.__init__(self, reason or hex(status))
        self.status = status


def new_handle():
    """A context handle as Windows builds it: attributes 0 + a fresh UUID."""
    return b'\x00\x00\x00\x00' + uuid.uuid4().bytes_le


# ------------------------------------------------------------------ shared state

class Store:
    """Sessions, push registrations and async waits of the whole simulator (all threads)."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.sessions = {}          # cxh bytes -> dict
        self.acxh = {}              # acxh bytes -> cxh bytes
        self.waiting = set()        # acxh with an outstanding EcDoAsyncWaitEx
        self.pending = {}           # cxh -> count of notifications not yet delivered to an async wait
        self.registrations = []     # dicts, oldest first
        self.next_h = 1
        self.stopping = False

    def session_view(self):
        with self.lock:
            return [{'cxh': k.hex(), 'user': v['user'], 'client': v['client'], 'authLevel': v['authLevel'],
                     'connectedAt': v['at']} for k, v in self.sessions.items()]

    def registration_view(self):
        with self.lock:
            return [{k: v for k, v in r.items() if not k.startswith('_')} for r in self.registrations]

    def add_registration(self, cxh, family, ip, port, sockaddr, context, client):
        with self.lock:
            h = self.next_h
            self.next_h += 1
            self.registrations.append({
                'hNotification': h, 'cxh': cxh.hex(),
                'callback': {'family': family, 'ip': ip, 'port': port, 'sockaddrHex': sockaddr.hex()},
                'contextHex': context.hex(), 'client': client, 'registeredAt': time.time(),
                '_context': context, '_cxh': cxh,
            })
            del self.registrations[:-MAX_REGISTRATIONS]
            return h

    def drop_session(self, cxh):
        with self.lock:
            existed = self.sessions.pop(cxh, None) is not None
            self.registrations = [r for r in self.registrations if r['_cxh'] != cxh]
            for a in [a for a, c in self.acxh.items() if c == cxh]:
                del self.acxh[a]
            self.pending.pop(cxh, None)
            self.cond.notify_all()
            return existed

    def notify(self, only_h=None):
        """Send the UDP datagrams of MS-OXCNOTIF 2.2.1.3.3 and wake async waits. -> report dict."""
        with self.lock:
            regs = [r for r in self.registrations if only_h is None or r['hNotification'] == only_h]
            cxhs = set(r['_cxh'] for r in regs) if only_h is not None else set(self.sessions)
            for c in cxhs:
                self.pending[c] = self.pending.get(c, 0) + 1
            self.cond.notify_all()
        sent = []
        for r in regs:
            sent.append(send_datagram(r))
        return {'ok': True, 'sent': sent, 'sessionsSignalled': len(cxhs)}


def send_datagram(reg):
    """ONE datagram, payload exactly rgbContext, from a fresh socket so the source port is ephemeral."""
    cb = reg['callback']
    fam = socket.AF_INET6 if cb['family'] == AF_INET6_WIRE else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        s.connect((cb['ip'], cb['port']))   # connect so getsockname shows the source the kernel chose
        n = s.send(reg['_context'])
        src = s.getsockname()
        rec = {'hNotification': reg['hNotification'], 'to': '%s:%d' % (cb['ip'], cb['port']),
               'from': '%s:%d' % (src[0], src[1]), 'bytes': n, 'payloadHex': reg['_context'].hex()}
        log_event('notify_sent', **rec)
        return rec
    except OSError as e:
        rec = {'hNotification': reg['hNotification'], 'to': '%s:%d' % (cb['ip'], cb['port']), 'error': str(e)}
        log_event('notify_error', **rec)
        return rec
    finally:
        s.close()


# ------------------------------------------------------------------ NTLM, server side

class NtlmContext:
    """One NTLM security context (auth_context_id) of a connection: MS-NLMP server role.

    Keys follow MS-NLMP 3.4: with extended session security each direction has its own RC4
    stream and sequence counter; without it one RC4 stream and one counter serve both directions
    (that is also what impacket's client does, so the keystreams stay in step).
    """

    def __init__(self, cfg, auth_type, level, ctx_id):
        self.cfg = cfg
        self.auth_type = auth_type
        self.level = level
        self.ctx_id = ctx_id
        self.challenge = secrets.token_bytes(8)
        self.negotiate_flags = 0
        self.complete = False
        self.failed = False
        self.user = None
        self.flags = 0

    def challenge_message(self, negotiate_token):
        neg = ntlm.NTLMAuthNegotiate()
        neg.fromString(negotiate_token)
        nf = neg['flags']
        self.negotiate_flags = nf
        flags = (ntlm.NTLMSSP_NEGOTIATE_VERSION | ntlm.NTLMSSP_NEGOTIATE_TARGET_INFO
                 | ntlm.NTLMSSP_TARGET_TYPE_DOMAIN | ntlm.NTLMSSP_NEGOTIATE_NTLM | ntlm.NTLMSSP_REQUEST_TARGET)
        for f in (ntlm.NTLMSSP_NEGOTIATE_56, ntlm.NTLMSSP_NEGOTIATE_128, ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH,
                  ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY, ntlm.NTLMSSP_NEGOTIATE_UNICODE,
                  ntlm.NTLM_NEGOTIATE_OEM, ntlm.NTLMSSP_NEGOTIATE_SIGN, ntlm.NTLMSSP_NEGOTIATE_SEAL,
                  ntlm.NTLMSSP_NEGOTIATE_ALWAYS_SIGN):
            if nf & f:
                flags |= f
        av = ntlm.AV_PAIRS()
        av[ntlm.NTLMSSP_AV_HOSTNAME] = self.cfg.netbios_name.encode('utf-16le')
        av[ntlm.NTLMSSP_AV_DOMAINNAME] = self.cfg.domain.encode('utf-16le')
        av[ntlm.NTLMSSP_AV_DNS_HOSTNAME] = self.cfg.fqdn.encode('utf-16le')
        av[ntlm.NTLMSSP_AV_DNS_DOMAINNAME] = self.cfg.fqdn.split('.', 1)[-1].encode('utf-16le')
        av[ntlm.NTLMSSP_AV_TIME] = struct.pack('<q', 116444736000000000 + calendar.timegm(time.gmtime()) * 10000000)
        msg = ntlm.NTLMAuthChallenge()
        msg['flags'] = flags
        dom = self.cfg.domain.encode('utf-16le')
        msg['domain_len'] = len(dom)
        msg['domain_max_len'] = len(dom)
        msg['domain_offset'] = 40 + 16
        msg['challenge'] = self.challenge
        msg['domain_name'] = dom
        raw_av = av.getData()
        msg['TargetInfoFields_len'] = len(raw_av)
        msg['TargetInfoFields_max_len'] = len(raw_av)
        msg['TargetInfoFields'] = raw_av
        msg['TargetInfoFields_offset'] = 40 + 16 + len(dom)
        msg['Version'] = b'\x05\x02\xce\x0e\x00\x00\x00\x0f'   # 5.2 build 3790: Windows Server 2003
        msg['VersionLen'] = 8
        return msg.getData()

    def authenticate(self, token):
        """Verifies an AUTHENTICATE_MESSAGE against --user/--password; sets up keys. -> (ok, why)."""
        auth = ntlm.NTLMAuthChallengeResponse()
        auth.fromString(token)
        flags = auth['flags']
        uni = flags & ntlm.NTLMSSP_NEGOTIATE_UNICODE
        dec = (lambda b: b.decode('utf-16le')) if uni else (lambda b: b.decode('latin-1'))
        user = dec(auth['user_name'])
        domain = dec(auth['domain_name'])
        self.user = user
        nt = auth['ntlm']
        lm = auth['lanman']
        if user.lower() != self.cfg.user.lower():
            return False, 'unknown user %r' % user
        password = self.cfg.password
        if len(nt) > 24:
            # NTLMv2 (MS-NLMP 3.3.2)
            key_nt = ntlm.NTOWFv2(user, password, domain)
            proof = ntlm.hmac_md5(key_nt, self.challenge + nt[16:])
            if proof != nt[:16]:
                return False, 'NTLMv2 proof mismatch (wrong password?)'
            session_base = ntlm.hmac_md5(key_nt, proof)
            kek = session_base
        elif len(nt) == 24:
            # NTLMv1 (MS-NLMP 3.3.1), with or without extended session security
            nthash = ntlm.compute_nthash(password)
            if flags & ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY:
                import hashlib
                expect = ntlm.ntlmssp_DES_encrypt(nthash, hashlib.md5(self.challenge + lm[:8]).digest()[:8])
            else:
                expect = ntlm.ntlmssp_DES_encrypt(nthash, self.challenge)
            if expect != nt:
                return False, 'NTLMv1 response mismatch (wrong password?)'
            session_base = ntlm.generateSessionKeyV1(password, '', '')
            kek = ntlm.KXKEY(flags, session_base, lm, self.challenge, password, '', '', False)
        else:
            return False, 'anonymous or malformed NT response (%d bytes)' % len(nt)
        if flags & ntlm.NTLMSSP_NEGOTIATE_KEY_EXCH and auth['session_key']:
            session_key = ARC4.new(kek).decrypt(auth['session_key'])
        else:
            session_key = kek
        self.flags = flags
        self.ess = bool(flags & ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY)
        if self.ess:
            self.client_sign = ntlm.SIGNKEY(flags, session_key, 'Client')
            self.server_sign = ntlm.SIGNKEY(flags, session_key, 'Server')
            self.client_rc4 = ARC4.new(ntlm.SEALKEY(flags, session_key, 'Client')).encrypt
            self.server_rc4 = ARC4.new(ntlm.SEALKEY(flags, session_key, 'Server')).encrypt
        else:
            self.client_sign = self.server_sign = session_key
            shared = ARC4.new(ntlm.SEALKEY(flags, session_key, 'Client')).encrypt
            self.client_rc4 = self.server_rc4 = shared
        self.client_seq = 0
        self.server_seq = 0
        self.complete = True
        return True, 'ok'

    def _next_in_seq(self):
        if self.ess:
            s = self.client_seq
            self.client_seq += 1
        else:
            s = self.client_seq
            self.client_seq += 1
            self.server_seq = self.client_seq
        return s

    def _next_out_seq(self):
        if self.ess:
            s = self.server_seq
            self.server_seq += 1
        else:
            s = self.server_seq
            self.server_seq += 1
            self.client_seq = self.server_seq
        return s

    def unwrap(self, pdu, h, stub_off, trailer, signature):
        """Check (and at level 6 decrypt) one request fragment. -> plaintext stub+pad or raise Fault."""
        t_off = trailer['offset']
        body = pdu[stub_off:t_off]
        seq = self._next_in_seq()
        level = trailer['authLevel']
        if level == AUTH_LEVEL_PRIVACY:
            plain = self.client_rc4(body)
        else:
            plain = body
        signed = pdu[:stub_off] + plain + pdu[t_off:h['fragLen'] - h['authLen']]
        msg = signed if self.ess else plain
        expect = ntlm.MAC(self.flags, self.client_rc4, self.client_sign, seq, msg).getData()
        if expect != bytes(signature):
            raise Fault(RPC_S_ACCESS_DENIED, 'bad NTLM signature on request (seq %d)' % seq)
        return plain

    def wrap(self, stub_padded, trailer, level, build_header):
        """Sign (5) or seal+sign (6) a response fragment. -> (header, body, signature bytes)."""
        seq = self._next_out_seq()
        hdr = build_header(NTLM_SIG_LEN)
        signed = hdr + stub_padded + trailer
        msg = signed if self.ess else stub_padded
        if level == AUTH_LEVEL_PRIVACY:
            body, sig = ntlm.SEAL(self.flags, self.server_sign, None, msg, stub_padded, seq, self.server_rc4)
        else:
            body = stub_padded
            sig = ntlm.SIGN(self.flags, self.server_sign, msg, seq, self.server_rc4)
        return hdr, body, sig.getData()


# ------------------------------------------------------------------ one connection

class Connection:
    """A DCE/RPC association on one TCP connection of one listener (set of served interfaces)."""

    def __init__(self, sim, listener, sock, peer):
        self.sim = sim
        self.cfg = sim.cfg
        self.listener = listener
        self.sock = sock
        self.peer = '%s:%d' % peer[:2]
        self.contexts = {}          # p_cont_id -> (iface name, ndr64 bool)
        self.sec = {}               # auth_context_id -> NtlmContext
        self.calls = {}             # call_id -> dict(ctxId, opnum, stub bytearray, authLevel)
        self.max_xmit = SERVER_MAX_FRAG
        self.assoc_group = 0
        self.send_lock = threading.Lock()

    # -- plumbing
    def send(self, data):
        with self.send_lock:
            self.sock.sendall(data)

    def log(self, event, **kw):
        log_event(event, port=self.listener.name, client=self.peer, **kw)

    def run(self):
        self.log('conn_open')
        try:
            while True:
                try:
                    pdu = recv_pdu(self.sock)
                except WireError as e:
                    self.log('framing_error', error=str(e))
                    break
                if pdu is None:
                    break
                self.dispatch(pdu)
        except (ConnectionError, OSError) as e:
            if not self.sim.store.stopping:
                self.log('conn_error', error=str(e))
        except Exception as e:     # a simulator bug: say so in the log, drop this connection only
            self.log('internal_error', error='%s: %s' % (type(e).__name__, e), traceback=traceback.format_exc())
        finally:
            self.log('conn_close')

    def dispatch(self, pdu):
        h = parse_header(pdu)
        t = h['ptype']
        if t in (PTYPE_BIND, PTYPE_ALTER_CONTEXT):
            self.on_bind(pdu, h)
        elif t == PTYPE_AUTH3:
            self.on_auth3(pdu, h)
        elif t == PTYPE_REQUEST:
            self.on_request(pdu, h)
        elif t in (PTYPE_CO_CANCEL, PTYPE_ORPHANED):
            self.calls.pop(h['callId'], None)
        else:
            self.log('unexpected_pdu', ptype=t)

    # -- bind / alter_context (A.5, A.6)
    def on_bind(self, pdu, h):
        is_bind = h['ptype'] == PTYPE_BIND
        body, trailer, auth_value = split_auth(pdu, h)
        r = NdrReader(body)
        try:
            max_xmit = r.u16()
            max_recv = r.u16()
            assoc = r.u32()
            n = r.u8()
            r.raw(3)
            elems = []
            for _ in range(n):
                ctx_id = r.u16()
                n_ts = r.u8()
                r.raw(1)
                abstract = r.raw(16)
                a_major = r.u16()
                a_minor = r.u16()
                tss = [(r.raw(16), r.u32()) for _ in range(n_ts)]
                elems.append((ctx_id, abstract, a_major, a_minor, tss))
        except WireError as e:
            self.log('bad_bind', error=str(e))
            self.bind_nak(h['callId'], REASON_NOT_SPECIFIED)
            return
        if is_bind:
            self.max_xmit = max(1432, min(max_recv, SERVER_MAX_FRAG))
            self.assoc_group = assoc or random.randint(0x1000, 0xfffff)
        # Security first: a verifier we cannot serve means bind_nak, as Windows does.
        auth_out = b''
        sec_ctx = None
        if trailer is not None:
            if trailer['authType'] != AUTH_TYPE_WINNT or not auth_value.startswith(b'NTLMSSP\x00'):
                self.log('bind_nak', reason='auth type %d not supported' % trailer['authType'])
                self.bind_nak(h['callId'], BIND_NAK_AUTH_TYPE_NOT_RECOGNIZED)
                return
            msg_type = struct.unpack_from('<I', auth_value, 8)[0] if len(auth_value) >= 12 else 0
            if msg_type == 1:
                sec_ctx = NtlmContext(self.cfg, trailer['authType'], trailer['authLevel'], trailer['ctxId'])
                self.sec[trailer['ctxId']] = sec_ctx
                auth_out = sec_ctx.challenge_message(auth_value)
            elif msg_type == 3 and trailer['ctxId'] in self.sec:
                self.complete_auth(self.sec[trailer['ctxId']], auth_value)
            else:
                self.bind_nak(h['callId'], BIND_NAK_AUTH_TYPE_NOT_RECOGNIZED)
                return
        results = []
        summary = []
        for ctx_id, abstract, a_major, a_minor, tss in elems:
            res = self.judge_context(abstract, a_major, a_minor, tss, elems)
            results.append(res)
            if res[0] == RESULT_ACCEPT:
                name = IFACE_NAMES[uuid_text(abstract)]
                ndr64 = res[2] == uuid_le(NDR64_SYNTAX[0])
                self.contexts[ctx_id] = (name, ndr64)
            summary.append({'ctxId': ctx_id, 'iface': IFACE_NAMES.get(uuid_text(abstract), uuid_text(abstract)),
                            'version': '%d.%d' % (a_major, a_minor),
                            'syntaxes': [self.syntax_name(ts) for ts, _v in tss],
                            'result': res[0], 'reason': res[1]})
        self.log('bind' if is_bind else 'alter_context', callId=h['callId'], contexts=summary,
                 authType=trailer['authType'] if trailer else 0,
                 authLevel=trailer['authLevel'] if trailer else AUTH_LEVEL_NONE)
        self.bind_ack(h, results, trailer, auth_out)

    @staticmethod
    def syntax_name(ts):
        if ts == uuid_le(NDR_SYNTAX[0]):
            return 'ndr'
        if ts == uuid_le(NDR64_SYNTAX[0]):
            return 'ndr64'
        if ts[:8] == BTFN_PREFIX:
            return 'btfn'
        return uuid_text(ts)

    def judge_context(self, abstract, a_major, a_minor, tss, elems):
        """-> (result, reason, transfer syntax uuid bytes, version) for one p_cont_elem_t."""
        ndr = uuid_le(NDR_SYNTAX[0])
        ndr64 = uuid_le(NDR64_SYNTAX[0])
        zero = b'\x00' * 16
        if any(ts[:8] == BTFN_PREFIX for ts, _v in tss):
            # Bind-time feature negotiation (C.3): acknowledge, offer no features.
            return (RESULT_NEGOTIATE_ACK, 0, zero, 0)
        served = self.listener.ifaces
        text = uuid_text(abstract)
        name = IFACE_NAMES.get(text)
        if name not in served:
            return (RESULT_PROVIDER_REJECTION, REASON_ABSTRACT_SYNTAX_NOT_SUPPORTED, zero, 0)
        iface = IFACES_BY_NAME[name]
        if a_major != iface[1] or a_minor > iface[2]:
            return (RESULT_PROVIDER_REJECTION, REASON_ABSTRACT_SYNTAX_NOT_SUPPORTED, zero, 0)
        allow64 = name == 'epm' and self.cfg.epm_ndr64
        offered64 = any(ts == ndr64 for e in elems if e[1] == abstract for ts, _v in e[4])
        syntaxes = [ts for ts, _v in tss]
        if allow64 and ndr64 in syntaxes:
            return (RESULT_ACCEPT, 0, ndr64, 1)
        if ndr in syntaxes and not (allow64 and offered64):
            return (RESULT_ACCEPT, 0, ndr, 2)
        return (RESULT_PROVIDER_REJECTION, REASON_TRANSFER_SYNTAXES_NOT_SUPPORTED, zero, 0)

    def bind_ack(self, h, results, trailer, auth_out):
        is_bind = h['ptype'] == PTYPE_BIND
        sec_addr = (str(self.listener.port).encode() + b'\x00') if is_bind else b''
        body = struct.pack('<HHIH', self.max_xmit, self.max_xmit, self.assoc_group, len(sec_addr)) + sec_addr
        body += b'\x00' * ((-(HDR_LEN + len(body))) % 4)
        body += struct.pack('<B3x', len(results))
        for result, reason, ts, ver in results:
            body += struct.pack('<HH', result, reason) + ts + struct.pack('<I', ver)
        flags = PFC_FIRST_FRAG | PFC_LAST_FRAG
        if trailer is not None and h['flags'] & PFC_SUPPORT_HEADER_SIGN:
            flags |= PFC_SUPPORT_HEADER_SIGN
        auth = b''
        if trailer is not None and auth_out:
            auth = struct.pack('<BBBBI', trailer['authType'], trailer['authLevel'], 0, 0, trailer['ctxId']) + auth_out
        ptype = PTYPE_BIND_ACK if is_bind else PTYPE_ALTER_CONTEXT_RESP
        auth_len = len(auth_out)
        frag_len = HDR_LEN + len(body) + len(auth)
        self.send(pdu_header(ptype, flags, frag_len, auth_len, h['callId']) + body + auth)

    def bind_nak(self, call_id, reason):
        body = struct.pack('<HBBB', reason, 1, 5, 0)
        body += b'\x00' * ((-(HDR_LEN + len(body))) % 4)
        self.send(pdu_header(PTYPE_BIND_NAK, PFC_FIRST_FRAG | PFC_LAST_FRAG, HDR_LEN + len(body), 0, call_id) + body)

    def on_auth3(self, pdu, h):
        _body, trailer, auth_value = split_auth(pdu, h)
        if trailer is None or trailer['ctxId'] not in self.sec:
            self.log('auth3_unexpected')
            return
        self.complete_auth(self.sec[trailer['ctxId']], auth_value)

    def complete_auth(self, ctx, token):
        try:
            ok, why = ctx.authenticate(token)
        except Exception as e:  # malformed AUTHENTICATE: a failed logon, not a crash
            ok, why = False, 'malformed AUTHENTICATE: %s' % e
        ctx.failed = not ok
        self.log('auth', ok=ok, user=ctx.user, authLevel=ctx.level, ctxId=ctx.ctx_id, detail=why,
                 ess=bool(ok and ctx.ess))

    # -- requests (A.8), fragments (A.11), verifiers (A.10)
    def on_request(self, pdu, h):
        call_id = h['callId']
        if h['fragLen'] < REQ_HDR_LEN:
            return self.fault(call_id, 0, RPC_X_BAD_STUB_DATA)
        _alloc_hint, ctx_id, opnum = struct.unpack_from('<IHH', pdu, HDR_LEN)
        stub_off = REQ_HDR_LEN + (16 if h['flags'] & PFC_OBJECT_UUID else 0)
        _body, trailer, auth_value = split_auth(pdu, h)
        end = trailer['offset'] if trailer else h['fragLen']
        if stub_off > end:
            return self.fault(call_id, ctx_id, RPC_X_BAD_STUB_DATA)
        level = AUTH_LEVEL_NONE
        sec_ctx = None
        if self.sec:
            sec_ctx = self.sec.get(trailer['ctxId']) if trailer else next(iter(self.sec.values()))
            if sec_ctx is None or not sec_ctx.complete or sec_ctx.failed:
                self.calls.pop(call_id, None)
                return self.fault(call_id, ctx_id, RPC_S_ACCESS_DENIED, 'not authenticated')
            level = sec_ctx.level
        try:
            if trailer is not None and sec_ctx is not None and trailer['authLevel'] >= AUTH_LEVEL_PKT:
                plain = sec_ctx.unwrap(pdu, h, stub_off, trailer, auth_value)
                stub = plain[:len(plain) - trailer['padLen']] if trailer['padLen'] else plain
            elif sec_ctx is not None and level >= AUTH_LEVEL_INTEGRITY:
                raise Fault(RPC_S_ACCESS_DENIED, 'request without verifier at level %d' % level)
            else:
                stub = pdu[stub_off:end - (trailer['padLen'] if trailer else 0)]
        except Fault as f:
            self.calls.pop(call_id, None)
            return self.fault(call_id, ctx_id, f.status, str(f))
        if h['flags'] & PFC_FIRST_FRAG:
            if len(self.calls) >= MAX_OPEN_CALLS:
                return self.fault(call_id, ctx_id, RPC_X_BAD_STUB_DATA, 'too many open calls')
            self.calls[call_id] = {'ctxId': ctx_id, 'opnum': opnum, 'stub': bytearray()}
        call = self.calls.get(call_id)
        if call is None:
            return self.fault(call_id, ctx_id, RPC_X_BAD_STUB_DATA, 'fragment without a first fragment')
        call['stub'] += stub
        if len(call['stub']) > MAX_CALL_BYTES:
            del self.calls[call_id]
            return self.fault(call_id, ctx_id, RPC_X_BAD_STUB_DATA, 'call too large')
        if not h['flags'] & PFC_LAST_FRAG:
            return
        del self.calls[call_id]
        self.serve(call_id, call['ctxId'], call['opnum'], bytes(call['stub']), sec_ctx, trailer)

    def serve(self, call_id, ctx_id, opnum, stub, sec_ctx, trailer):
        ctx = self.contexts.get(ctx_id)
        if ctx is None:
            return self.fault(call_id, ctx_id, NCA_S_INVALID_PRES_CONTEXT_ID, 'unknown p_cont_id')
        name, ndr64 = ctx
        level = trailer['authLevel'] if trailer else (sec_ctx.level if sec_ctx else AUTH_LEVEL_NONE)
        self.log('request', iface=name, opnum=opnum, op=OPNAMES.get(name, {}).get(opnum, '?'), callId=call_id,
                 ctxId=ctx_id, ndr64=ndr64, authLevel=level, stubLen=len(stub))
        handler = getattr(self.sim.ifaces, name)
        try:
            out = handler(self, opnum, stub, ndr64)
        except WireError as e:
            return self.fault(call_id, ctx_id, RPC_X_BAD_STUB_DATA, str(e))
        except Fault as f:
            return self.fault(call_id, ctx_id, f.status, str(f))
        except Exception as e:
            self.log('internal_error', error='%s: %s' % (type(e).__name__, e), traceback=traceback.format_exc())
            return self.fault(call_id, ctx_id, RPC_X_BAD_STUB_DATA, 'internal error')
        if out is None:     # the call was abandoned (shutdown during an async wait)
            return
        self.respond(call_id, ctx_id, out, sec_ctx if trailer is not None else None, trailer)

    def respond(self, call_id, ctx_id, stub, sec_ctx, trailer):
        signing = sec_ctx is not None and trailer['authLevel'] >= AUTH_LEVEL_PKT
        # A request that carried a verifier below PKT level (Outlook at level 2 does) is answered
        # with a trailer and a dummy NTLM verifier, as Exchange 2003 does (public capture
        # exchange-outlook-mapi-epm.pcap, frame 798).
        dummy = sec_ctx is not None and not signing
        overhead = REQ_HDR_LEN + ((SEC_TRAILER_LEN + NTLM_SIG_LEN + 15) if (signing or dummy) else 0)
        room = max(8, (self.max_xmit - overhead) & ~7)
        chunks = [stub[i:i + room] for i in range(0, len(stub), room)] or [b'']
        remaining = len(stub)
        for i, chunk in enumerate(chunks):
            flags = (PFC_FIRST_FRAG if i == 0 else 0) | (PFC_LAST_FRAG if i == len(chunks) - 1 else 0)
            rest = struct.pack('<IHBB', remaining, ctx_id, 0, 0)
            if dummy:
                pad = (-len(chunk)) % 16
                tr = struct.pack('<BBBBI', trailer['authType'], trailer['authLevel'], pad, 0, trailer['ctxId'])
                verifier = b'\x01\x00\x00\x00' + b'\x00' * 12
                frag_len = REQ_HDR_LEN + len(chunk) + pad + SEC_TRAILER_LEN + NTLM_SIG_LEN
                self.send(pdu_header(PTYPE_RESPONSE, flags, frag_len, NTLM_SIG_LEN, call_id) + rest + chunk
                          + b'\x00' * pad + tr + verifier)
            elif not signing:
                frag_len = REQ_HDR_LEN + len(chunk)
                self.send(pdu_header(PTYPE_RESPONSE, flags, frag_len, 0, call_id) + rest + chunk)
            else:
                pad = (-len(chunk)) % 16        # Windows pads the stub to 16 before the trailer
                padded = chunk + b'\x00' * pad
                tr = struct.pack('<BBBBI', trailer['authType'], trailer['authLevel'], pad, 0, trailer['ctxId'])
                frag_len = REQ_HDR_LEN + len(padded) + SEC_TRAILER_LEN + NTLM_SIG_LEN

                def build_header(auth_len, flags=flags, frag_len=frag_len, rest=rest):
                    return pdu_header(PTYPE_RESPONSE, flags, frag_len, auth_len, call_id) + rest
                hdr, body, sig = sec_ctx.wrap(padded, tr, trailer['authLevel'], build_header)
                self.send(hdr + body + tr + sig)
            remaining -= len(chunk)

    def fault(self, call_id, ctx_id, status, why=''):
        self.log('fault', callId=call_id, status='0x%08x' % status, detail=why)
        flags = PFC_FIRST_FRAG | PFC_LAST_FRAG
        if status in (NCA_S_OP_RNG_ERROR, NCA_S_UNK_IF, NCA_S_INVALID_PRES_CONTEXT_ID):
            flags |= 0x20   # PFC_DID_NOT_EXECUTE
        body = struct.pack('<IHBBII', 0, ctx_id, 0, 0, status, 0)
        self.send(pdu_header(PTYPE_FAULT, flags, HDR_LEN + len(body), 0, call_id) + body)


# ------------------------------------------------------------------ interfaces

class Interfaces:
    """Server stubs: each method takes (conn, opnum, stub, ndr64) and returns the response stub."""

    def __init__(self, sim):
        self.sim = sim
        self.cfg = sim.cfg
        self.store = sim.store
        self.server_guid = uuid.uuid4().bytes_le

    # ---- EPM (B.3, B.4, B.6)
    def epm(self, conn, opnum, stub, ndr64):
        if opnum == EPM_OP_MAP:
            return self.ept_map(conn, stub, ndr64)
        if opnum == EPM_OP_LOOKUP:
            if ndr64:
                # No reference NDR64 ept_lookup to check our bytes against (Wireshark 4.0 disagrees
                # with itself on it), so refuse rather than put doubtful bytes on the wire.
                raise Fault(NCA_S_OP_RNG_ERROR, 'ept_lookup is served in NDR only')
            return self.ept_lookup(conn, stub, ndr64)
        if opnum == EPM_OP_LOOKUP_HANDLE_FREE:
            r = NdrReader(stub, ndr64)
            r.ctx_handle()
            w = NdrWriter(ndr64)
            w.ctx_handle(b'\x00' * 20)
            w.u32(EPM_STATUS_OK)
            return w.getvalue()
        raise Fault(NCA_S_OP_RNG_ERROR, 'EPM opnum %d not served' % opnum)

    def registered(self):
        """(iface tuple, port) for everything this endpoint mapper knows."""
        l = self.sim.listeners
        return [(EMSMDB_IF, l['store'].port), (ASYNCEMSMDB_IF, l['store'].port),
                (NSPI_IF, l['nspi'].port), (RFR_IF, l['rfr'].port)]

    def ept_map(self, conn, stub, ndr64):
        r = NdrReader(stub, ndr64)
        if r.ptr():
            r.raw(16)
        tower = None
        if r.ptr():
            max_count = r.count()
            tower_len = r.u32()
            if tower_len > max_count:
                raise WireError('tower_length %d > max_count %d' % (tower_len, max_count))
            tower = r.raw(tower_len)
        r.ctx_handle()
        max_towers = r.u32()
        asked = None
        towers = []
        if tower is not None:
            asked = parse_tower(tower)
            for iface, port in self.registered():
                if asked['interface'] != iface[0] or asked['version'] is None:
                    continue
                major, minor = (int(x) for x in asked['version'].split('.'))
                if major == iface[1] and minor <= iface[2] and asked['protocol'] == 'ncacn_ip_tcp':
                    towers.append(tcp_tower(iface, self.cfg.tower_ip, port))
        towers = towers[:max_towers]
        status = EPM_STATUS_OK if towers else EPM_S_NOT_REGISTERED
        w = NdrWriter(ndr64)
        w.ctx_handle(b'\x00' * 20)
        w.u32(len(towers))
        w.count(max_towers)
        w.count(0)
        w.count(len(towers))
        for i in range(len(towers)):
            w.ptr(3 + i)
        for t in towers:
            w.count(len(t))
            w.u32(len(t))
            w.raw(t)
        w.u32(status)
        conn.log('ept_map', ndr64=ndr64, asked=asked and {'interface': asked['interface'],
                 'name': IFACE_NAMES.get(asked['interface']), 'version': asked['version'],
                 'protocol': asked['protocol']},
                 towers=[{'ip': self.cfg.tower_ip, 'port': parse_tower(t)['port']} for t in towers],
                 status='0x%08x' % status)
        return w.getvalue()

    def ept_lookup(self, conn, stub, ndr64):
        r = NdrReader(stub, ndr64)
        inquiry = r.u32()
        obj = None
        if r.ptr():
            obj = r.raw(16)
        if_uuid = None
        if_ver = None
        if r.ptr():
            if_uuid = uuid_text(r.raw(16))
            if_ver = (r.u16(), r.u16())
        vers_option = r.u32()
        r.ctx_handle()
        max_ents = r.u32()
        entries = []
        for iface, port in self.registered():
            if inquiry in (1, 3) and if_uuid != iface[0]:
                continue
            if inquiry in (1, 3) and vers_option == 3 and if_ver != (iface[1], iface[2]):
                continue
            if inquiry in (2, 3) and obj not in (None, b'\x00' * 16):
                continue
            entries.append((iface, tcp_tower(iface, self.cfg.tower_ip, port)))
        entries = entries[:max_ents]
        w = NdrWriter(ndr64)
        w.ctx_handle(b'\x00' * 20)
        w.u32(len(entries))
        w.count(max_ents)
        w.count(0)
        w.count(len(entries))
        for i, (iface, _t) in enumerate(entries):
            if ndr64:
                w.align(8)
            w.raw(b'\x00' * 16)         # object UUID (nil)
            w.ptr(3 + i)                # tower referent
            note = ('Exchange %s' % IFACE_NAMES[iface[0]]).encode() + b'\x00'
            w.count(0)                  # annotation: offset, actual_count, bytes
            w.count(len(note))
            w.raw(note)
        for _iface, t in entries:
            w.count(len(t))
            w.u32(len(t))
            w.raw(t)
        status = EPM_STATUS_OK if entries else EPM_S_NOT_REGISTERED
        w.u32(status)
        conn.log('ept_lookup', ndr64=ndr64, inquiry=inquiry, entries=len(entries), status='0x%08x' % status)
        return w.getvalue()

    # ---- EMSMDB (MS-OXCRPC 3.1.4; protocol-notes D, E.1)
    def emsmdb(self, conn, opnum, stub, ndr64):
        if ndr64:
            raise Fault(RPC_X_BAD_STUB_DATA, 'EMSMDB is served in NDR only')
        if opnum == EMSMDB_OP_CONNECT_EX:
            return self.connect_ex(conn, stub)
        if opnum == EMSMDB_OP_REGISTER_PUSH:
            return self.register_push(conn, stub)
        if opnum == EMSMDB_OP_DISCONNECT:
            r = NdrReader(stub)
            cxh = r.ctx_handle()
            if not self.store.drop_session(cxh):
                raise Fault(NCA_S_CONTEXT_MISMATCH, 'EcDoDisconnect: unknown CXH')
            conn.log('disconnect', cxh=cxh.hex())
            w = NdrWriter()
            w.ctx_handle(b'\x00' * 20)
            w.u32(EC_NONE)
            return w.getvalue()
        if opnum == EMSMDB_OP_RPC_EXT2:
            return self.rpc_ext2(conn, stub)
        if opnum == EMSMDB_OP_DUMMY:
            return struct.pack('<I', EC_NONE)
        if opnum == EMSMDB_OP_ASYNC_CONNECT_EX:
            r = NdrReader(stub)
            cxh = r.ctx_handle()
            self.session(cxh)
            acxh = new_handle()
            with self.store.lock:
                self.store.acxh[acxh] = cxh
            conn.log('async_connect', cxh=cxh.hex(), acxh=acxh.hex())
            w = NdrWriter()
            w.ctx_handle(acxh)
            w.u32(EC_NONE)
            return w.getvalue()
        raise Fault(NCA_S_OP_RNG_ERROR, 'EMSMDB opnum %d not served' % opnum)

    def session(self, cxh):
        with self.store.lock:
            s = self.store.sessions.get(cxh)
        if s is None:
            raise Fault(NCA_S_CONTEXT_MISMATCH, 'unknown CXH %s' % cxh.hex())
        return s

    def connect_ex(self, conn, stub):
        # In: szUserDN, ulFlags, ulConMod, cbLimit, ulCpid, ulLcidString, ulLcidSort, ulIcxrLink,
        # usFCanConvertCodePages, rgwClientVersion[3], pulTimeStamp, rgbAuxIn[cbAuxIn], cbAuxIn, pcbAuxOut.
        r = NdrReader(stub)
        user_dn = r.string8(1024)
        ul_flags, con_mod, cb_limit, cpid, lcid_string, lcid_sort, icxr_link = (r.u32() for _ in range(7))
        can_convert = r.u16()
        client_version = [r.u16(), r.u16(), r.u16()]
        timestamp = r.u32()
        aux_size = r.u32()
        r.raw(aux_size)
        cb_aux_in = r.u32()
        if cb_aux_in != aux_size:
            raise WireError('cbAuxIn %d != rgbAuxIn size %d' % (cb_aux_in, aux_size))
        cb_aux_out = r.u32()
        if cb_aux_out > 0x1008:
            raise WireError('pcbAuxOut %d > 0x1008' % cb_aux_out)
        cxh = new_handle()
        icxr = random.randint(1, 0x7fff)
        sec_level = max((c.level for c in conn.sec.values() if c.complete and not c.failed), default=AUTH_LEVEL_NONE)
        with self.store.lock:
            self.store.sessions[cxh] = {'user': user_dn, 'client': conn.peer, 'authLevel': sec_level,
                                        'at': time.time(), 'icxr': icxr}
        server_version = [6, 5, 7638]          # Exchange 2003 SP2 (6.5.7638)
        conn.log('connect', cxh=cxh.hex(), userDn=user_dn, cpid=cpid, clientVersion=client_version,
                 authLevel=sec_level, conMod=con_mod, flags=ul_flags)
        w = NdrWriter()
        w.ctx_handle(cxh)
        w.u32(self.cfg.polls_max_ms)            # pcmsPollsMax
        w.u32(6)                                # pcRetry
        w.u32(10000)                            # pcmsRetryDelay
        w.u16(icxr)                             # picxr
        w.ptr(0x00020000)                       # szDNPrefix (unique pointer + string)
        w.string8(self.cfg.dn_prefix)
        w.ptr(0x00020004)                       # szDisplayName
        w.string8(self.cfg.display_name)
        for v in server_version:                # rgwServerVersion[3]
            w.u16(v)
        for v in client_version:                # rgwBestVersion[3]: the client's own is good enough
            w.u16(v)
        w.u32(int(time.time()) & 0xffffffff if timestamp == 0 else timestamp)   # pulTimeStamp
        w.count(0)                              # rgbAuxOut: max_count, offset, actual_count
        w.count(0)
        w.count(0)
        w.u32(0)                                # pcbAuxOut
        w.u32(EC_NONE)
        return w.getvalue()

    def register_push(self, conn, stub):
        # In: pcxh, iRpc, rgbContext[cbContext], cbContext, grbitAdviseBits,
        # rgbCallbackAddress[cbCallbackAddress], cbCallbackAddress (protocol-notes E.1).
        r = NdrReader(stub)
        cxh = r.ctx_handle()
        i_rpc = r.u32()
        n = r.u32()
        context = r.raw(n)
        cb_context = r.u16()
        if cb_context != n:
            raise WireError('cbContext %d != rgbContext size %d' % (cb_context, n))
        advise_bits = r.u32()
        n2 = r.u32()
        addr = r.raw(n2)
        cb_addr = r.u16()
        if cb_addr != n2:
            raise WireError('cbCallbackAddress %d != rgbCallbackAddress size %d' % (cb_addr, n2))
        self.session(cxh)
        ret = EC_NONE
        h = 0
        parsed = None
        detail = 'registered'
        if cb_context > CONTEXT_MAX:
            ret, detail = EC_TOO_BIG, 'rgbContext longer than 16 bytes'
        elif advise_bits != ADVISE_BITS_ALL:
            ret, detail = EC_INVALID_PARAM, 'grbitAdviseBits 0x%08x is not 0xFFFFFFFF' % advise_bits
        else:
            try:
                parsed = parse_sockaddr(addr)
            except WireError as e:
                ret, detail = EC_INVALID_PARAM, str(e)
        if ret == EC_NONE:
            family, ip, port = parsed
            h = self.store.add_registration(cxh, family, ip, port, addr, context, conn.peer)
            if self.cfg.auto_notify_ms > 0:
                t = threading.Timer(self.cfg.auto_notify_ms / 1000.0, self.store.notify, kwargs={'only_h': h})
                t.daemon = True
                t.start()
        conn.log('register', cxh=cxh.hex(), iRpc=i_rpc, contextHex=context.hex(), adviseBits='0x%08x' % advise_bits,
                 sockaddrHex=addr.hex(), callback=parsed and {'family': parsed[0], 'ip': parsed[1], 'port': parsed[2]},
                 hNotification=h, ret='0x%08x' % ret, detail=detail)
        w = NdrWriter()
        w.ctx_handle(cxh)
        w.u32(h)
        w.u32(ret)
        return w.getvalue()

    def rpc_ext2(self, conn, stub):
        r = NdrReader(stub)
        cxh = r.ctx_handle()
        flags = r.u32()
        n = r.u32()
        r.raw(n)
        if r.u32() != n:
            raise WireError('cbIn mismatch')
        cb_out = r.u32()
        if cb_out > 0x40000:
            raise WireError('pcbOut > 0x40000')
        n2 = r.u32()
        r.raw(n2)
        if r.u32() != n2:
            raise WireError('cbAuxIn mismatch')
        r.u32()
        self.session(cxh)
        # rgbOut: RPC_HEADER_EXT {Version 0, Flags Last (0x0004), Size 2, SizeActual 2} + RopSize 2 (no ROPs).
        out = struct.pack('<HHHH', 0, 0x0004, 2, 2) + struct.pack('<H', 2)
        conn.log('rpc_ext2', cxh=cxh.hex(), cbIn=n)
        w = NdrWriter()
        w.ctx_handle(cxh)
        w.u32(flags)
        w.count(len(out))
        w.count(0)
        w.count(len(out))
        w.raw(out)
        w.u32(len(out))             # pcbOut
        w.count(0)                  # rgbAuxOut
        w.count(0)
        w.count(0)
        w.u32(0)                    # pcbAuxOut
        w.u32(0)                    # pulTransTime
        w.u32(EC_NONE)
        return w.getvalue()

    # ---- AsyncEMSMDB (MS-OXCRPC 3.3; protocol-notes E.3)
    def asyncemsmdb(self, conn, opnum, stub, ndr64):
        if ndr64 or opnum != ASYNC_OP_WAIT_EX:
            raise Fault(NCA_S_OP_RNG_ERROR, 'AsyncEMSMDB opnum %d not served' % opnum)
        r = NdrReader(stub)
        acxh = r.ctx_handle()
        r.u32()
        st = self.store
        with st.lock:
            cxh = st.acxh.get(acxh)
            if cxh is None:
                raise Fault(NCA_S_CONTEXT_MISMATCH, 'unknown ACXH')
            if acxh in st.waiting:
                return struct.pack('<II', 0, EC_REJECTED)
            st.waiting.add(acxh)
        conn.log('async_wait', state='begin', acxh=acxh.hex(), timeoutS=self.cfg.async_timeout_s)
        deadline = time.monotonic() + self.cfg.async_timeout_s
        flags_out = 0
        with st.lock:
            try:
                while True:
                    if st.stopping:
                        return None
                    if st.pending.get(cxh, 0) > 0:
                        st.pending[cxh] = 0
                        flags_out = NOTIFICATION_PENDING
                        break
                    if acxh not in st.acxh:
                        break
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    st.cond.wait(min(left, 1.0))
            finally:
                st.waiting.discard(acxh)
        conn.log('async_wait', state='end', acxh=acxh.hex(), flagsOut=flags_out)
        return struct.pack('<II', flags_out, EC_NONE)

    # ---- NSPI (MS-NSPI 3.1.4.1.1-2)
    def nspi(self, conn, opnum, stub, ndr64):
        if ndr64:
            raise Fault(RPC_X_BAD_STUB_DATA, 'NSPI is served in NDR only')
        r = NdrReader(stub)
        if opnum == NSPI_OP_BIND:
            flags = r.u32()
            stat = [r.u32() for _ in range(9)]
            guid_ptr = r.ptr()
            if guid_ptr:
                r.raw(16)
            h = new_handle()
            conn.log('nspi_bind', flags=flags, codePage=stat[6], handle=h.hex())
            w = NdrWriter()
            w.ptr(guid_ptr)
            if guid_ptr:
                w.raw(self.server_guid)
            w.ctx_handle(h)
            w.u32(EC_NONE)
            return w.getvalue()
        if opnum == NSPI_OP_UNBIND:
            h = r.ctx_handle()
            r.u32()
            conn.log('nspi_unbind', handle=h.hex())
            w = NdrWriter()
            w.ctx_handle(b'\x00' * 20)
            w.u32(1)            # UnbindSuccess
            return w.getvalue()
        raise Fault(NCA_S_OP_RNG_ERROR, 'NSPI opnum %d not served' % opnum)

    # ---- RFR (MS-OXABREF 3.1.4.1-2)
    def rfr(self, conn, opnum, stub, ndr64):
        if ndr64:
            raise Fault(RPC_X_BAD_STUB_DATA, 'RFR is served in NDR only')
        r = NdrReader(stub)
        if opnum == RFR_OP_GET_NEW_DSA:
            flags = r.u32()
            user_dn = r.string8()
            unused_ptr = r.ptr()
            if unused_ptr and r.ptr():
                r.string8()
            server_ptr = r.ptr()
            if server_ptr and r.ptr():
                r.string8()
            conn.log('rfr_get_new_dsa', flags=flags, userDn=user_dn, answer=self.cfg.fqdn)
            w = NdrWriter()
            w.ptr(unused_ptr)
            if unused_ptr:
                w.ptr(0)
            w.ptr(server_ptr)
            if server_ptr:
                w.ptr(0x00020008)
                w.string8(self.cfg.fqdn)
            w.u32(EC_NONE if server_ptr else EC_INVALID_PARAM)
            return w.getvalue()
        if opnum == RFR_OP_GET_FQDN:
            flags = r.u32()
            cb = r.u32()
            dn = r.string8()
            conn.log('rfr_get_fqdn', flags=flags, cb=cb, serverDn=dn, answer=self.cfg.fqdn)
            w = NdrWriter()
            w.ptr(0x00020000)
            w.string8(self.cfg.fqdn)
            w.u32(EC_NONE)
            return w.getvalue()
        raise Fault(NCA_S_OP_RNG_ERROR, 'RFR opnum %d not served' % opnum)


# ------------------------------------------------------------------ listeners and control

class Listener:
    def __init__(self, sim, name, ifaces, host, port):
        self.sim = sim
        self.name = name
        self.ifaces = ifaces
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                sim.track(self.request, True)
                try:
                    Connection(sim, outer, self.request, self.client_address).run()
                finally:
                    sim.track(self.request, False)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server((host, port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={'poll_interval': 0.2},
                                       name='listen-' + name, daemon=True)


class ControlHandler(socketserver.StreamRequestHandler):
    def handle(self):
        sim = self.server.sim
        for raw in self.rfile:
            line = raw.decode('utf-8', 'replace').strip()
            if not line:
                continue
            words = line.split()
            cmd = words[0].lower()
            if cmd == 'notify':
                only = None
                if len(words) > 1:
                    try:
                        only = int(words[1], 0)
                    except ValueError:
                        self.reply({'ok': False, 'error': 'notify takes an optional hNotification number'})
                        continue
                self.reply(sim.store.notify(only))
            elif cmd == 'registrations':
                self.reply(sim.store.registration_view())
            elif cmd == 'sessions':
                self.reply(sim.store.session_view())
            elif cmd == 'ports':
                self.reply(sim.ports())
            elif cmd == 'quit':
                self.reply({'ok': True})
                sim.stop_event.set()
                return
            else:
                self.reply({'ok': False, 'error': 'unknown command %r (notify, registrations, sessions, ports, quit)'
                            % cmd})

    def reply(self, obj):
        self.wfile.write((json.dumps(obj) + '\n').encode())
        self.wfile.flush()


class Simulator:
    def __init__(self, cfg):
        self.cfg = cfg
        self.store = Store(cfg)
        self.stop_event = threading.Event()
        self.active = set()
        self.active_lock = threading.Lock()
        host = cfg.listen
        self.listeners = {
            'epm': Listener(self, 'epm', {'epm'}, host, cfg.epm_port),
            'store': Listener(self, 'store', {'emsmdb', 'asyncemsmdb'}, host, cfg.store_port),
            'nspi': Listener(self, 'nspi', {'nspi'}, host, cfg.nspi_port),
            'rfr': Listener(self, 'rfr', {'rfr'}, host, cfg.rfr_port),
        }
        self.ifaces = Interfaces(self)
        self.control = self.make_control(cfg.control_port)

    def make_control(self, spec):
        if spec is None:
            return None
        if '/' in spec:
            if os.path.exists(spec):
                os.unlink(spec)

            class UnixServer(socketserver.ThreadingUnixStreamServer):
                daemon_threads = True
            srv = UnixServer(spec, ControlHandler)
            self.control_desc = spec
        else:
            host, _, port = spec.rpartition(':')

            class TcpServer(socketserver.ThreadingTCPServer):
                allow_reuse_address = True
                daemon_threads = True
            srv = TcpServer((host or '127.0.0.1', int(port)), ControlHandler)
            self.control_desc = '%s:%d' % srv.server_address[:2]
        srv.sim = self
        return srv

    def ports(self):
        p = {k: l.port for k, l in self.listeners.items()}
        p['control'] = self.control_desc if self.control else None
        return p

    def track(self, sock, add):
        with self.active_lock:
            (self.active.add if add else self.active.discard)(sock)

    def run(self):
        for l in self.listeners.values():
            l.thread.start()
        if self.control:
            threading.Thread(target=self.control.serve_forever, kwargs={'poll_interval': 0.2},
                             name='control', daemon=True).start()
        log_event('ready', listen=self.cfg.listen, towerIp=self.cfg.tower_ip, ports=self.ports(),
                  user=self.cfg.user, epmNdr64=self.cfg.epm_ndr64, pid=os.getpid())
        while not self.stop_event.wait(0.5):
            pass
        self.shutdown()

    def shutdown(self):
        with self.store.lock:
            self.store.stopping = True
            self.store.cond.notify_all()
        servers = [l.server for l in self.listeners.values()] + ([self.control] if self.control else [])
        for s in servers:
            s.shutdown()
            s.server_close()
        with self.active_lock:
            socks = list(self.active)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self.control and '/' in self.control_desc and os.path.exists(self.control_desc):
            os.unlink(self.control_desc)
        log_event('stopped', connectionsClosed=len(socks))


def parse_args(argv):
    p = argparse.ArgumentParser(description='Exchange 2003-like EPM/EMSMDB/NSPI/RFR simulator (test tool)')
    p.add_argument('--listen', required=True, help='IPv4 address every RPC listener binds to')
    p.add_argument('--tower-ip', help='IPv4 written into ept_map towers (default: --listen)')
    p.add_argument('--epm-port', type=int, default=135)
    p.add_argument('--store-port', type=int, default=6001, help='EMSMDB + AsyncEMSMDB')
    p.add_argument('--nspi-port', type=int, default=6004)
    p.add_argument('--rfr-port', type=int, default=6002)
    p.add_argument('--control-port', help='PORT (on 127.0.0.1), HOST:PORT or a unix socket path')
    p.add_argument('--user', default='outlook', help='NTLM test account')
    p.add_argument('--password', default='Outlook-2003', help='password of the NTLM test account')
    p.add_argument('--domain', default='CONTOSO', help='NetBIOS domain announced in the NTLM CHALLENGE')
    p.add_argument('--fqdn', default='exch01.contoso.local', help='server FQDN (RFR answers, NTLM target info)')
    p.add_argument('--epm-ndr64', action='store_true',
                   help='accept NDR64 on the endpoint mapper (like 64-bit Windows); default: reject it')
    p.add_argument('--async-timeout-s', type=float, default=300.0, help='EcDoAsyncWaitEx hold time (spec: 5 min)')
    p.add_argument('--auto-notify-ms', type=int, default=0,
                   help='send the UDP datagram this long after each registration (0 = only on `notify`)')
    p.add_argument('--polls-max-ms', type=int, default=60000, help='pcmsPollsMax of EcDoConnectEx')
    cfg = p.parse_args(argv)
    cfg.tower_ip = cfg.tower_ip or cfg.listen
    if cfg.tower_ip == '0.0.0.0':
        p.error('--listen 0.0.0.0 needs --tower-ip (the address clients are told)')
    cfg.netbios_name = cfg.fqdn.split('.', 1)[0].upper()[:15]
    cfg.dn_prefix = '/o=Contoso/ou=First Administrative Group/cn=Recipients'
    cfg.display_name = 'Outlook Test User'
    if cfg.control_port and cfg.control_port.isdigit():
        cfg.control_port = '127.0.0.1:' + cfg.control_port
    return cfg


def main(argv):
    cfg = parse_args(argv)
    try:
        sim = Simulator(cfg)
    except OSError as e:
        log_event('fatal', error=str(e))
        return 2

    def on_signal(signum, _frame):
        log_event('signal', signal=signum)
        sim.stop_event.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sim.run()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
