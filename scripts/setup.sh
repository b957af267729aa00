#!/usr/bin/env bash
# Installs everything Caracal needs on a fresh Debian 12 machine (as root), then builds.
# Idempotent and quick when everything is already there: only missing tools trigger apt, and npm ci runs
# only when package-lock.json changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "setup: must run as root (or with sudo available)" >&2; exit 1; }
  SUDO="sudo"
fi

# tool -> Debian package that provides it
declare -A NEED=(
  [ip]=iproute2 [bridge]=iproute2 [nft]=nftables [bird]=bird2 [birdc]=bird2 [/usr/lib/frr/bgpd]=frr
  [gobgpd]=gobgpd [gobgp]=gobgpd [etcd]=etcd-server [etcdctl]=etcd-client [iperf3]=iperf3 [podman]=podman
  [runc]=runc [/usr/lib/cni/bridge]=containernetworking-plugins [tcpdump]=tcpdump [conntrack]=conntrack
  [busybox]=busybox-static [ping]=iputils-ping [nsenter]=util-linux [setpriv]=util-linux [pgrep]=procps [curl]=curl [python3]=python3
)
missing=()
for tool in "${!NEED[@]}"; do
  if [[ "$tool" == /* ]]; then [ -x "$tool" ] || missing+=("${NEED[$tool]}")
  else command -v "$tool" >/dev/null 2>&1 || missing+=("${NEED[$tool]}"); fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
  echo "setup: installing $pkgs"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
fi
# bird and frr packages may start system daemons on install; the labs run their own, so stop those.
for svc in bird frr; do
  if command -v service >/dev/null 2>&1 && service "$svc" status >/dev/null 2>&1; then $SUDO service "$svc" stop >/dev/null 2>&1 || true; fi
done

stamp=node_modules/.caracal-lock-hash
hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$hash" > "$stamp"
fi

echo "setup: building"
npm run --silent build
