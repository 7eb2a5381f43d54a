#!/usr/bin/env bash
# Prepares a fresh clone: Debian packages (when missing), npm packages, the native TAP addon and
# the TypeScript build. Idempotent and quick when everything is already there. Called by
# `npm test` and `npm run demo`, so a newcomer never needs a separate setup step.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages and why (see native-deps.md): build tools for the addon, iproute2 for the lab's
# namespaces, curl/iperf3/iputils-ping/tshark/tcpdump as real clients and capture tools in tests,
# libpcap-dev for the libpcap attachment, openssl for the SSL_GET probe's test certificate.
PKGS=(iproute2 curl iperf3 iputils-ping tshark tcpdump libpcap-dev ethtool make g++ python3 procps openssl keepalived socat chromium)
# `setup.sh --bench` (npm run bench): the comparison points and load generators of bench/ too.
if [ "${1:-}" = "--bench" ]; then PKGS+=(wrk haproxy nftables gcc); fi
# keepalived: the real VRRP peer of the two-director tests (it is never started as a service).
# socat: the file transfer of the kernel's ipvs.sh selftest re-created with tapvsd.
# chromium: the headless browser that loads tapvsd's --http status page in its integration test.
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer no without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# node-gyp must build against the running Node's headers; the distribution's Node keeps them in
# /usr/include/node, and pointing node-gyp there avoids a header download (no network needed).
if [ -f /usr/include/node/node_api.h ] && [ -z "${npm_config_nodedir:-}" ]; then
  export npm_config_nodedir=/usr
fi

# npm packages (the "install" script builds the native addon with node-gyp).
stamp=node_modules/.tapvs-installed
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || { [ -f package-lock.json ] && [ package-lock.json -nt "$stamp" ]; }; then
  echo "setup: npm install"
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
  touch "$stamp"
fi

# Two addons: tapvs_tap (TAP devices, sockets) and tapvs_bpf (libpcap's compiler for trace filters).
if [ ! -f build/Release/tapvs_tap.node ] || [ native/tap.cc -nt build/Release/tapvs_tap.node ] ||
  [ native/notify.cc -nt build/Release/tapvs_tap.node ] || [ native/poll-spin.cc -nt build/Release/tapvs_tap.node ] ||
  [ native/packet.cc -nt build/Release/tapvs_tap.node ] ||
  [ ! -f build/Release/tapvs_bpf.node ] || [ native/bpf.cc -nt build/Release/tapvs_bpf.node ] ||
  [ binding.gyp -nt build/Release/tapvs_tap.node ]; then
  echo "setup: building the native addons"
  npx --no-install node-gyp rebuild >/dev/null
fi

echo "setup: compiling TypeScript"
npx --no-install tsc -p tsconfig.json
chmod +x dist/src/cli/tapvsd.js dist/src/cli/tapvsadm.js dist/src/cli/tapvsadm-save.js dist/src/cli/tapvsadm-restore.js
