#!/usr/bin/env bash
# Build the local base image katas-base/python:3.11-bookworm from Debian packages.
#
# Why: the kata Dockerfiles start `FROM ${BASE_IMAGE}` with `python:3.11-slim` as the
# default. Where Docker Hub cannot be reached that image cannot be pulled, but Debian's
# package mirror usually can: debootstrap builds a bookworm root file system whose
# python3 is 3.11, and `docker import` turns it into an image the harness passes as
# BASE_IMAGE instead (mlops_katas/infra/images.py picks it).
#
# The image is made to behave like python:3.11-slim, so one Dockerfile works on both:
# `python`, `pip` and `/usr/local/bin/python` exist, and `pip install` is allowed
# outside a venv (Debian's PEP 668 marker is removed, the public image has none).
# It trusts the host's CA bundle and copies the host's pip settings (/etc/pip.conf,
# PIP_INDEX_URL), so a `pip install` inside a build reaches the same package index
# through the same TLS interception as the host does.
#
# Usage: scripts/build-base-image.sh [--force]     (needs root and debootstrap; ~1-2 min)
# Env:   KATAS_LOCAL_BASE_IMAGE (image name), DEBIAN_MIRROR (default deb.debian.org)
set -euo pipefail

IMAGE="${KATAS_LOCAL_BASE_IMAGE:-katas-base/python:3.11-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITE=bookworm
HOST_CA=/etc/ssl/certs/ca-certificates.crt
FORCE=0
started=$SECONDS

usage() { echo "usage: $0 [--force]   build $IMAGE (skipped when it exists unless --force)" >&2; }
step() { printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'build-base-image: %s\n' "$*" >&2; exit 1; }

case "${1:-}" in
  "") ;;
  --force) FORCE=1 ;;
  -h|--help) usage; exit 0 ;;
  *) usage; exit 2 ;;
esac

command -v docker >/dev/null || die "the docker CLI is not installed (scripts/start-docker.sh installs it)"
timeout 20 docker info >/dev/null 2>&1 || die "no Docker engine answers (scripts/start-docker.sh starts one)"

if [[ $FORCE -eq 0 ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "build-base-image: $IMAGE already exists; nothing to do (--force rebuilds it)" >&2
  exit 0
fi

[[ $(id -u) -eq 0 ]] || die "debootstrap needs root; run: sudo $0"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install -y debootstrap)"

WORK=$(mktemp -d /tmp/katas-base.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"


step "1/4 debootstrap $SUITE (minbase + python3) from $MIRROR into $ROOTFS"
timeout 900 debootstrap --variant=minbase \
  --include=python3,python3-venv,python3-pip,ca-certificates \
  "$SUITE" "$ROOTFS" "$MIRROR" 2>&1 | grep --line-buffered -E '^(I|W|E):' >&2 || true
[[ -x "$ROOTFS/usr/bin/python3" ]] || die "debootstrap did not produce /usr/bin/python3 (see the messages above)"

step "2/4 trust the host CA bundle and copy the host pip settings"
if [[ -f $HOST_CA ]]; then
  cp "$HOST_CA" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
  # Kept here too so a later update-ca-certificates inside a build keeps trusting it.
  cp "$HOST_CA" "$ROOTFS/usr/local/share/ca-certificates/katas-host-bundle.crt"
else
  echo "    no $HOST_CA on this host; the image keeps Debian's own CA bundle" >&2
fi
{
  if [[ -f /etc/pip.conf ]]; then
    cat /etc/pip.conf
  else
    echo "[global]"
  fi
} > "$ROOTFS/etc/pip.conf"
if [[ -n "${PIP_INDEX_URL:-}" ]] && ! grep -q '^index-url' "$ROOTFS/etc/pip.conf"; then
  sed -i "/^\[global\]/a index-url = ${PIP_INDEX_URL}" "$ROOTFS/etc/pip.conf"
fi
if ! grep -q '^cert' "$ROOTFS/etc/pip.conf"; then
  sed -i "/^\[global\]/a cert = /etc/ssl/certs/ca-certificates.crt" "$ROOTFS/etc/pip.conf"
fi

step "3/4 make it behave like python:3.11-slim and trim it"
rm -f "$ROOTFS"/usr/lib/python3*/EXTERNALLY-MANAGED
[[ -e "$ROOTFS/usr/bin/python" ]] || ln -s python3 "$ROOTFS/usr/bin/python"
[[ -e "$ROOTFS/usr/bin/pip" ]] || ln -s pip3 "$ROOTFS/usr/bin/pip"
for name in python python3 pip pip3; do
  ln -sf "/usr/bin/$name" "$ROOTFS/usr/local/bin/$name"
done
# Recipes for the public image often do `pip install --prefix=/install` in one stage and
# `COPY --from=build /install /usr/local` in the next. Debian's pip puts such installs
# under /install/local/..., which then lands in /usr/local/local/...: put that on
# sys.path (and on PATH below), and give Debian's dist-packages the public image's name.
py=$(basename "$(find "$ROOTFS/usr/lib" -maxdepth 1 -name 'python3.[0-9]*' -type d | sort | tail -n 1)")
echo "/usr/local/local/lib/$py/dist-packages" > "$ROOTFS/usr/lib/python3/dist-packages/katas-prefix-layout.pth"
mkdir -p "$ROOTFS/usr/local/lib/$py/dist-packages"
[[ -e "$ROOTFS/usr/local/lib/$py/site-packages" ]] || ln -s dist-packages "$ROOTFS/usr/local/lib/$py/site-packages"
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
  "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/var/log/*.log

step "4/4 docker import as $IMAGE"
tar -C "$ROOTFS" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/local/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
  --change 'LABEL org.mlops-katas.base-image=debootstrap-bookworm' \
  --change 'CMD ["python3"]' \
  - "$IMAGE" >/dev/null

version=$(timeout 60 docker run --rm "$IMAGE" python -c 'import sys, venv, ssl; print(sys.version.split()[0])')
size=$(docker image inspect "$IMAGE" --format '{{.Size}}')
echo "build-base-image: $IMAGE ready (Python $version, $((size / 1024 / 1024)) MiB) in $((SECONDS - started)) s" >&2
