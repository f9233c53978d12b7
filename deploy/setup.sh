#!/usr/bin/env bash
# offpath set-up for a fresh Debian machine (run as root, or with sudo).
# Installs the system packages and npm dependencies, builds, puts `offpath` on the PATH, and runs the main job
# on the bundled default: a replay of a capture recorded by pcaps/record.sh.
# Safe to run again: every step is idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages, and why each is here:
#   libpcap-dev            live capture and injection (the cap binding and our native addon build against it)
#   redis-server           fleet intel store; tests start their own servers on free ports
#   tshark, tcpdump        independent decoders the tests compare against; tcpdump is also the benchmark floor
#   tcpreplay              replays captures onto an interface for the live-sensor benchmark
#   iproute2, ethtool      network namespaces, veth, tc mirroring, offload switches for end-to-end tests
#   python3, make, g++     node-gyp builds of native addons
#   nmap, dnsmasq-base, iputils-ping, bind9-dnsutils, socat, curl, openssl
#                          the real programs pcaps/record.sh records
APT_PACKAGES=(
  libpcap-dev redis-server tshark tcpdump tcpreplay iproute2 ethtool python3 make g++
  nmap dnsmasq-base iputils-ping bind9-dnsutils socat curl openssl procps ca-certificates
)

if [ "$(id -u)" -ne 0 ]; then
  echo "offpath setup: run as root (sudo $0): it installs Debian packages" >&2
  exit 1
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "offpath setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive # tshark asks about non-root capture otherwise
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "offpath setup: Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "Install it from your distribution's nodejs 20 packages or nodejs.org, then run this again." >&2
  exit 1
fi

# `npm install`, not `npm ci`: npm 11's ci refuses any lock file that lacks other platforms' optional packages
# (rollup's, through vitest), and npm itself never writes them on Linux. install still takes the locked versions.
echo "offpath setup: npm install (locked versions)"
npm install --no-audit --no-fund --loglevel=error
echo "offpath setup: build"
npm run --silent build
npm link --no-audit --no-fund --loglevel=error >/dev/null
chmod +x dist/src/cli/main.js

echo "offpath setup: main job on the bundled default (replay of bundled captures against deploy/intel/demo.csv)"
offpath replay --intel deploy/intel/demo.csv pcaps/http-curl.pcap pcaps/tls-sni.pcap pcaps/dns.pcap pcaps/qinq.pcap
