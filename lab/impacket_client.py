#!/usr/bin/python3
"""A real DCE/RPC client for the rpcgw lab, built on Debian's python3-impacket (0.10).

Run it with /usr/bin/python3 (Debian's interpreter, where impacket lives) inside the lab's client
namespace. Every subcommand prints exactly ONE JSON object on stdout:

  map    --host H --uuid U --version MAJ.MIN [--src S] [--max-towers N]
         sends epm.ept_map itself and decodes every returned tower (impacket's hept_map would
         drop the tower's IP and hand back the host we asked, hiding what the gateway wrote).
  call   --host H --port P --iface samr|srvsvc|wkssvc|winreg --auth-level 1|5|6
         [--user U --password W] [--src S] [--repeat N --interval S]
         binds to the interface on that endpoint and makes real calls (N rounds on one
         connection, S seconds apart). [--ready-file R --wait-file W]: between rounds, create R
         and wait, the connection idle, until W exists (instead of --interval).
  probe  --src S --host H --port P --timeout T
         a TCP connect from a given source address: connected / refused / timeout / unreachable.
  lookup --host H [--src S]
         ept_lookup, paging until the handle is null, reading the response itself (Samba answers
         entries together with status 0x16c9a0d6, which stock hept_lookup treats as an error).

Exit codes: 0 when the command got an answer (including an EPM status other than 0, or a probe
that timed out: those are results), 1 with {"error": ..., "kind": ...} when it could not
(connection reset or refused, timeout, RPC fault, bad arguments). Never a traceback on stdout.
"""
import argparse
import errno
import json
import signal
import socket
import sys
import time
import uuid as uuidlib

RESULT = {}


def emit(obj, code):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()
    sys.exit(code)


class ArgError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    # argparse prints usage on stderr and exits 2; we want one JSON object and exit 1 instead.
    def error(self, message):
        raise ArgError(message)


try:
    from impacket.dcerpc.v5 import epm, transport, samr, srvs, wkst, rrp
    from impacket.dcerpc.v5.rpcrt import DCERPCException
    from impacket.uuid import uuidtup_to_bin
except Exception as e:  # impacket missing or broken: still one JSON object
    emit({"error": "impacket is not importable: %s" % e, "kind": "setup"}, 1)


class LabTCPTransport(transport.TCPTransport):
    """impacket's TCP transport with two fixes for a lab that drops and resets connections:
    an optional source address, and an EOF that raises instead of spinning (stock recv(count)
    loops forever when the peer closes mid-PDU)."""

    def __init__(self, host, port, src, timeout):
        transport.TCPTransport.__init__(self, host, port)
        self.src = src
        self.set_connect_timeout(timeout)

    def connect(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.settimeout(self.get_connect_timeout())
            if self.src:
                s.bind((self.src, 0))
            s.connect((self.getRemoteHost(), self.get_dport()))
        except OSError:
            s.close()
            raise
        self._TCPTransport__socket = s
        return 1

    def recv(self, forceRecv=0, count=0):
        s = self._TCPTransport__socket
        if count:
            buf = b""
            while len(buf) < count:
                chunk = s.recv(count - len(buf))
                if not chunk:
                    raise ConnectionError("connection closed by the peer")
                buf += chunk
            return buf
        buf = s.recv(8192)
        if not buf:
            raise ConnectionError("connection closed by the peer")
        return buf

    def local_endpoint(self):
        s = self._TCPTransport__socket
        try:
            a = s.getsockname()
            return "%s:%d" % (a[0], a[1])
        except Exception:
            return None


def dce_for(host, port, src, timeout):
    t = LabTCPTransport(host, port, src, timeout)
    return t, t.get_dce_rpc()


# ---- towers ----------------------------------------------------------------------------------

# Floor 4 (index 3) protocol identifiers (C706 appendix I, MS-RPCE 2.2.1.1.8)
TRANSPORTS = {0x07: "ncacn_ip_tcp", 0x08: "ncadg_ip_udp", 0x0F: "ncacn_np", 0x10: "ncalrpc",
              0x11: "ncacn_nb", 0x1F: "ncacn_http"}


def decode_tower(raw):
    """Every field of one tower that a test checks: interface, transport, IP, port."""
    out = {"length": len(raw)}
    try:
        tower = epm.EPMTower(raw)
        floors = tower["Floors"]
        out["floors"] = len(floors)
        if len(floors) >= 1:
            f0 = floors[0]
            out["interface"] = str(uuidlib.UUID(bytes_le=bytes(f0["InterfaceUUID"])))
            out["version"] = "%d.%d" % (f0["MajorVersion"], f0["MinorVersion"])
        protocol = None
        for f in floors[2:]:
            lhs = f["ProtocolData"]
            rhs = f["RelatedData"]
            if not lhs:
                continue
            ident = lhs[0]
            if ident in TRANSPORTS and protocol is None:
                protocol = TRANSPORTS[ident]
                if ident in (0x07, 0x08, 0x1F) and len(rhs) == 2:
                    out["port"] = (rhs[0] << 8) | rhs[1]
                elif ident in (0x0F, 0x10, 0x11):
                    out["endpoint"] = rhs.rstrip(b"\x00").decode("latin-1")
            elif ident == 0x09 and len(rhs) == 4:
                out["ip"] = socket.inet_ntoa(rhs)
        out["protocol"] = protocol or "unknown"
    except Exception as e:
        out["decodeError"] = str(e)
    return out


def ept_map_request(uuid_text, version, max_towers):
    """An ept_map request for ncacn_ip_tcp, built the way impacket's hept_map builds it (Windows
    2003 insists on referent IDs 1 and 2)."""
    if_bin = uuidtup_to_bin((uuid_text, version))
    ndr = uuidtup_to_bin(("8a885d04-1ceb-11c9-9fe8-08002b104860", "2.0"))
    interface = epm.EPMRPCInterface()
    interface["InterfaceUUID"] = if_bin[:16]
    interface["MajorVersion"] = int.from_bytes(if_bin[16:18], "little")
    interface["MinorVersion"] = int.from_bytes(if_bin[18:20], "little")
    data_rep = epm.EPMRPCDataRepresentation()
    data_rep["DataRepUuid"] = ndr[:16]
    data_rep["MajorVersion"] = 2
    data_rep["MinorVersion"] = 0
    prot = epm.EPMProtocolIdentifier()
    prot["ProtIdentifier"] = epm.FLOOR_RPCV5_IDENTIFIER
    port = epm.EPMPortAddr()
    port["IpPort"] = 0
    host = epm.EPMHostAddr()
    host["Ip4addr"] = socket.inet_aton("0.0.0.0")
    tower = epm.EPMTower()
    tower["NumberOfFloors"] = 5
    tower["Floors"] = interface.getData() + data_rep.getData() + prot.getData() + port.getData() + host.getData()
    req = epm.ept_map()
    req["max_towers"] = max_towers
    req["map_tower"]["tower_length"] = len(tower)
    req["map_tower"]["tower_octet_string"] = tower.getData()
    req.fields["obj"].fields["ReferentID"] = 1
    req.fields["map_tower"].fields["ReferentID"] = 2
    return req


def status_hex(v):
    return "0x%08x" % (v & 0xFFFFFFFF)


def cmd_map(a):
    RESULT.update(op="map", host=a.host, uuid=a.uuid.lower(), version=a.version)
    t, dce = dce_for(a.host, 135, a.src, a.timeout)
    dce.connect()
    RESULT["local"] = t.local_endpoint()
    dce.bind(epm.MSRPC_UUID_PORTMAP)
    resp = dce.request(ept_map_request(a.uuid, a.version, a.max_towers), checkError=False)
    towers = []
    for i in range(resp["num_towers"]):
        towers.append(decode_tower(b"".join(resp["ITowers"][i]["Data"]["tower_octet_string"])))
    dce.disconnect()
    RESULT.update(status=resp["status"], statusHex=status_hex(resp["status"]), towers=towers)
    return 0


def cmd_lookup(a):
    RESULT.update(op="lookup", host=a.host)
    t, dce = dce_for(a.host, 135, a.src, a.timeout)
    dce.connect()
    RESULT["local"] = t.local_endpoint()
    dce.bind(epm.MSRPC_UUID_PORTMAP)
    entries = []
    statuses = []
    handle = epm.ept_lookup_handle_t()
    for _ in range(64):  # Samba answers in one call; bound the paging anyway
        req = epm.ept_lookup()
        req["inquiry_type"] = epm.RPC_C_EP_ALL_ELTS
        req["object"] = epm.NULL
        req["Ifid"] = epm.NULL
        req["vers_option"] = epm.RPC_C_VERS_ALL
        req["entry_handle"] = handle
        req["max_ents"] = 500
        resp = dce.request(req, checkError=False)
        statuses.append(status_hex(resp["status"]))
        for i in range(resp["num_ents"]):
            e = resp["entries"][i]
            tw = decode_tower(b"".join(e["tower"]["tower_octet_string"]))
            tw["annotation"] = b"".join(e["annotation"]).rstrip(b"\x00").decode("latin-1")
            entries.append(tw)
        handle = resp["entry_handle"]
        if handle.isNull() or resp["num_ents"] == 0:
            break
    dce.disconnect()
    RESULT.update(statuses=statuses, entries=entries)
    return 0


IFACES = {
    "samr": samr.MSRPC_UUID_SAMR,
    "srvsvc": srvs.MSRPC_UUID_SRVS,
    "wkssvc": wkst.MSRPC_UUID_WKST,
    "winreg": rrp.MSRPC_UUID_RRP,
}


def calls_samr(dce):
    h = samr.hSamrConnect(dce)["ServerHandle"]
    r = samr.hSamrEnumerateDomainsInSamServer(dce, h)
    domains = [d["Name"] for d in r["Buffer"]["Buffer"]]
    samr.hSamrCloseHandle(dce, h)
    return {"calls": ["SamrConnect", "SamrEnumerateDomainsInSamServer"], "domains": domains}


def calls_srvsvc(dce):
    r = srvs.hNetrShareEnum(dce, 1)
    shares = [s["shi1_netname"].rstrip("\x00") for s in r["InfoStruct"]["ShareInfo"]["Level1"]["Buffer"]]
    return {"calls": ["NetrShareEnum"], "shares": shares}


def calls_wkssvc(dce):
    r = wkst.hNetrWkstaGetInfo(dce, 100)
    info = r["WkstaInfo"]["WkstaInfo100"]
    return {"calls": ["NetrWkstaGetInfo"], "computerName": info["wki100_computername"].rstrip("\x00"),
            "langroup": info["wki100_langroup"].rstrip("\x00")}


def calls_winreg(dce):
    root = rrp.hOpenLocalMachine(dce)["phKey"]
    key = rrp.hBaseRegOpenKey(dce, root, "SYSTEM\\CurrentControlSet\\Control\\ProductOptions")["phkResult"]
    vtype, value = rrp.hBaseRegQueryValue(dce, key, "ProductType")
    rrp.hBaseRegCloseKey(dce, key)
    rrp.hBaseRegCloseKey(dce, root)
    if isinstance(value, bytes):
        value = value.decode("utf-16-le", "replace")
    return {"calls": ["OpenLocalMachine", "BaseRegOpenKey", "BaseRegQueryValue"], "productType": str(value).rstrip("\x00")}


CALLS = {"samr": calls_samr, "srvsvc": calls_srvsvc, "wkssvc": calls_wkssvc, "winreg": calls_winreg}


def cmd_call(a):
    RESULT.update(op="call", host=a.host, port=a.port, iface=a.iface, authLevel=a.auth_level)
    if a.auth_level != 1 and not a.user:
        raise ArgError("--auth-level %d needs --user and --password" % a.auth_level)
    t, dce = dce_for(a.host, a.port, a.src, a.timeout)
    if a.auth_level != 1:
        dce.set_credentials(a.user, a.password or "", a.domain)
        dce.set_auth_level(a.auth_level)
    dce.connect()
    RESULT["local"] = t.local_endpoint()
    dce.bind(IFACES[a.iface])
    RESULT["bound"] = True
    # --repeat: the same calls again on the same connection, --interval seconds apart (to
    # show a connection living through something, e.g. a reload of the gateway's rules).
    for i in range(a.repeat):
        if i > 0 and a.wait_file:
            wait_for_file(a.ready_file, a.wait_file)
        elif i > 0:
            time.sleep(a.interval)
        RESULT["result"] = CALLS[a.iface](dce)
        RESULT["rounds"] = i + 1
    dce.disconnect()
    RESULT["ok"] = True
    return 0


def wait_for_file(ready_file, wait_file):
    """--wait-file: between rounds, say so (create --ready-file) and hold the connection open,
    idle, until the test creates the wait file (e.g. once the gateway has restarted)."""
    # Let the last delayed ACKs go out first: the connection must be idle when the test acts.
    time.sleep(0.5)
    if ready_file:
        open(ready_file, "w").close()
    while True:
        try:
            open(wait_file).close()
            return
        except OSError:
            time.sleep(0.05)


def cmd_probe(a):
    RESULT.update(op="probe", src=a.src, host=a.host, port=a.port)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    start = time.monotonic()
    try:
        s.bind((a.src, 0))
        s.settimeout(a.timeout)
        try:
            s.connect((a.host, a.port))
            res = "connected"
        except socket.timeout:
            res = "timeout"
        except ConnectionRefusedError:
            res = "refused"
        except OSError as e:
            if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                res = "unreachable"
            else:
                raise
    finally:
        s.close()
    RESULT.update(result=res, elapsedMs=int((time.monotonic() - start) * 1000))
    return 0


def classify(e):
    """Short machine-readable kind of a failure, so tests can tell a gateway reset from a
    silent drop from an RPC-level refusal."""
    if isinstance(e, ArgError):
        return "usage"
    if isinstance(e, ConnectionResetError):
        return "reset"
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(e, (BrokenPipeError, ConnectionError)):
        return "closed"
    if isinstance(e, DCERPCException):
        text = str(e)
        if "reset" in text.lower():
            return "reset"
        if "timed out" in text.lower():
            return "timeout"
        return "rpc"
    if isinstance(e, OSError):
        return "os"
    return "other"


def on_deadline(signum, frame):
    raise TimeoutError("overall deadline passed")


def main(argv):
    p = Parser(prog="impacket_client.py", add_help=False)
    sub = p.add_subparsers(dest="cmd")
    common = Parser(add_help=False)
    common.add_argument("--host", required=True)
    common.add_argument("--timeout", type=float, default=10.0)
    m = sub.add_parser("map", parents=[common], add_help=False)
    m.add_argument("--uuid", required=True)
    m.add_argument("--version", required=True)
    m.add_argument("--src")
    m.add_argument("--max-towers", type=int, default=4)
    c = sub.add_parser("call", parents=[common], add_help=False)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--iface", choices=sorted(IFACES), required=True)
    c.add_argument("--auth-level", type=int, choices=[1, 5, 6], default=1)
    c.add_argument("--user")
    c.add_argument("--password")
    c.add_argument("--domain", default="")
    c.add_argument("--src")
    c.add_argument("--repeat", type=int, default=1)
    c.add_argument("--interval", type=float, default=1.0)
    c.add_argument("--ready-file")
    c.add_argument("--wait-file")
    pr = sub.add_parser("probe", parents=[common], add_help=False)
    pr.add_argument("--src", required=True)
    pr.add_argument("--port", type=int, required=True)
    lk = sub.add_parser("lookup", parents=[common], add_help=False)
    lk.add_argument("--src")
    a = p.parse_args(argv)
    if a.cmd is None:
        raise ArgError("name a subcommand: map, call, probe or lookup")
    # A backstop: whatever impacket does, the process ends with one JSON object.
    signal.signal(signal.SIGALRM, on_deadline)
    signal.alarm(int(a.timeout * 3 + getattr(a, "repeat", 1) * getattr(a, "interval", 0)) + 5)
    return {"map": cmd_map, "call": cmd_call, "probe": cmd_probe, "lookup": cmd_lookup}[a.cmd](a)


if __name__ == "__main__":
    try:
        code = main(sys.argv[1:])
        emit(RESULT, code)
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - every failure becomes the one JSON object
        RESULT["error"] = ("%s: %s" % (type(e).__name__, e)).strip()
        RESULT["kind"] = classify(e)
        emit(RESULT, 1)
