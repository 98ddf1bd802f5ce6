#!/usr/bin/env bash
# Installs what rpcgw needs on a fresh Debian 12 machine, then builds it.
#
#   bash scripts/install.sh          the gateway only: what `rpcgw run` needs on a production firewall
#   bash scripts/install.sh --lab    plus the lab and test peers (Samba, Impacket, tshark, nginx ...)
#   --print-packages                 list the Debian packages it would install, and stop
#
# Gateway packages:
#   - libpcap-dev: the `cap` addon compiles against it (and libpcap is the capture at run time)
#   - build-essential, python3: the C++ compiler, make and node-gyp's python for the native addons
#     (cap, raw-socket, unix-dgram)
#   - nftables, ethtool, iproute2: the daemon's kernel guard, offload control, interfaces
#   - conntrack: kernel-mode rules (`rpcgw mappings` lists, stop removes their connections)
#   - apache2-utils: htpasswd -B, to create the RPC over HTTPS users file
# Lab and test packages (--lab):
#   - tshark, tcpdump: the independent oracle of what is on the wire (tests, troubleshooting)
#   - samba, smbclient, python3-impacket: the real RPC server and clients of the lab and live tests
#   - nginx-light, openssl, python3-samba: RPC over HTTPS and web publishing tests
# Idempotent: packages already present are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."

lab=0
print_only=0
for a in "$@"; do
  case "$a" in
    --lab) lab=1 ;;
    --print-packages) print_only=1 ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument $a (use --lab for the lab and test peers)" >&2; exit 64 ;;
  esac
done

packages=(libpcap-dev build-essential python3 nftables conntrack ethtool iproute2 apache2-utils)
lab_packages=(tshark tcpdump samba smbclient python3-impacket nginx-light openssl python3-samba)
[ "$lab" -eq 1 ] && packages+=("${lab_packages[@]}")
if [ "$print_only" -eq 1 ]; then
  echo "${packages[*]}"
  exit 0
fi

# Node.js 20 or newer (Debian 12's own nodejs is 18).
if ! command -v node >/dev/null 2>&1; then
  echo "install.sh: Node.js is not installed. rpcgw needs Node.js 20 or newer: install it from https://nodejs.org or NodeSource (deb.nodesource.com), then run this again." >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "install.sh: Node.js $(node -v) is too old; rpcgw needs 20 or newer (Debian 12's nodejs package is 18): install a current one from https://nodejs.org or NodeSource, then run this again." >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
  fi
  echo "install.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer no without a prompt.
  [ "$lab" -eq 1 ] && echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The native addons are compiled by npm ci: say so clearly if the toolchain is still missing.
for tool in g++ make python3; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "install.sh: $tool is missing: the native addons (cap, raw-socket, unix-dgram) cannot be compiled; apt-get install build-essential python3" >&2
    exit 1
  fi
done

npm ci --no-fund --no-audit
npm run build
