#!/usr/bin/python3
"""RPC over HTTP v2 client for the rpcgw lab, on Debian's python3-impacket (0.10).

  rpch_client.py --proxy ADDR --remote NAME --port P --iface samr|srvsvc|lsarpc|epm --auth-level 1|5|6
                 --user U --password W [--http-auth basic|auto]

Opens an ncacn_http virtual connection through the RPC proxy at ADDR:443 to NAME:P, binds the
interface (NTLM at the given level; the same credentials go to the proxy with HTTP Basic) and
makes a real call. Prints ONE JSON object: {"ok", "bound", "result" | "error", "kind"}; exit 0
when the call worked, 1 otherwise. Never a traceback on stdout.
"""
import argparse
import json
import sys


def emit(obj, code):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()
    sys.exit(code)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--proxy", required=True)
    p.add_argument("--remote", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--iface", choices=["samr", "srvsvc", "lsarpc", "epm"], required=True)
    p.add_argument("--auth-level", type=int, default=6)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--http-auth", choices=["basic", "auto"], default="basic")
    a = p.parse_args()
    result = {"ok": False, "bound": False}
    try:
        from impacket.dcerpc.v5 import transport, samr, srvs, epm, lsad
        from impacket.http import AUTH_BASIC
        from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_WINNT
        binding = "ncacn_http:%s[%d,RpcProxy=%s:443]" % (a.remote, a.port, a.proxy)
        t = transport.DCERPCTransportFactory(binding)
        t.set_credentials(a.user, a.password, "")
        if a.http_auth == "basic":
            t.set_auth_type(AUTH_BASIC)
        t.set_connect_timeout(15)
        dce = t.get_dce_rpc()
        if a.auth_level > 1:
            dce.set_credentials(a.user, a.password, "")
            dce.set_auth_type(RPC_C_AUTHN_WINNT)
            dce.set_auth_level(a.auth_level)
        dce.connect()
        iface = {"samr": samr.MSRPC_UUID_SAMR, "srvsvc": srvs.MSRPC_UUID_SRVS, "lsarpc": lsad.MSRPC_UUID_LSAD,
                 "epm": epm.MSRPC_UUID_PORTMAP}[a.iface]
        if a.iface != "epm":  # hept_map binds the endpoint mapper itself
            dce.bind(iface)
            result["bound"] = True
        if a.iface == "samr":
            h = samr.hSamrConnect(dce)["ServerHandle"]
            r = samr.hSamrEnumerateDomainsInSamServer(dce, h)
            result["result"] = sorted(d["Name"] for d in r["Buffer"]["Buffer"])
        elif a.iface == "srvsvc":
            r = srvs.hNetrShareEnum(dce, 1)
            result["result"] = sorted(s["shi1_netname"][:-1] for s in r["InfoStruct"]["ShareInfo"]["Level1"]["Buffer"])
        elif a.iface == "lsarpc":
            result["result"] = "bound"  # Samba refuses LSA calls over TCP; the bind is what is tested
        else:
            r = epm.hept_map(a.remote, samr.MSRPC_UUID_SAMR, dce=dce, protocol="ncacn_ip_tcp")
            result["bound"] = True
            result["result"] = r
        dce.disconnect()
        result["ok"] = True
        emit(result, 0)
    except SystemExit:
        raise
    except BaseException as e:  # report every failure as data
        result["error"] = str(e)
        result["kind"] = type(e).__name__
        emit(result, 1)


if __name__ == "__main__":
    main()
