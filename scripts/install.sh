#!/usr/bin/env bash
# Installs everything rpcgw and its tests need on a fresh Debian 12 machine, then builds it.
#   - libpcap-dev: the `cap` addon compiles against it
#   - nftables, ethtool, iproute2: the daemon's kernel guard, offload control and the lab's namespaces
#   - conntrack: kernel-mode rules (`rpcgw mappings` lists, stop removes their connections)
#   - tshark, tcpdump: the independent oracle of what is on the wire (tests, troubleshooting)
#   - samba, smbclient, python3-impacket: the real RPC server and clients of the lab and live tests
#   - apache2-utils (htpasswd -B), nginx-light, openssl, python3-samba: RPC over HTTPS and web publishing tests
# Idempotent: packages already present are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libpcap-dev nftables conntrack ethtool iproute2 tshark tcpdump samba smbclient python3-impacket apache2-utils nginx-light openssl python3-samba)
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
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

npm ci --no-fund --no-audit
npm run build
