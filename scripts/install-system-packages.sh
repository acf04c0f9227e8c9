#!/usr/bin/env bash
# Install the Debian packages the infrastructure tiers need, in one apt run, when missing.
#
#   docker.io, debootstrap          docker tier (engine + CLI; the offline base image)
#   redis-server                    redis tier (day 20's online feature store)
#   prometheus                      prometheus tier (prometheus and promtool; day 18)
#   prometheus-alertmanager         alert routing (day 21)
#   docker-compose                  describing a stack in one file (day 21)
#
# Usage: sudo scripts/install-system-packages.sh [PACKAGE...]   (default: all of the above)
# Only packages whose command is missing are installed; services the packages would
# start are stopped again, as the tests start their own servers on free loopback ports.
set -euo pipefail

say() { printf 'install-system-packages: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

declare -A COMMAND=(
  [docker.io]=dockerd [debootstrap]=debootstrap [redis-server]=redis-server
  [prometheus]=promtool [prometheus-alertmanager]=prometheus-alertmanager [docker-compose]=docker-compose
)
wanted=("$@")
[[ ${#wanted[@]} -gt 0 ]] || wanted=(docker.io debootstrap redis-server prometheus prometheus-alertmanager docker-compose)

missing=()
for package in "${wanted[@]}"; do
  [[ -n ${COMMAND[$package]:-} ]] || die "unknown package $package (known: ${!COMMAND[*]})"
  command -v "${COMMAND[$package]}" >/dev/null || missing+=("$package")
done
[[ ${#missing[@]} -gt 0 ]] || { say "all present: ${wanted[*]}"; exit 0; }

[[ $(id -u) -eq 0 ]] || die "installing ${missing[*]} needs root; run: sudo $0 ${missing[*]}"
command -v apt-get >/dev/null || die "no apt-get here; install ${missing[*]} with your package manager"
say "installing ${missing[*]} with apt-get"
timeout 300 apt-get update -qq
DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  for service in redis-server prometheus prometheus-alertmanager prometheus-node-exporter; do
    systemctl disable --now "$service" >/dev/null 2>&1 || true
  done
fi
say "installed ${missing[*]}"
