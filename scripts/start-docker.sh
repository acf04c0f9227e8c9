#!/usr/bin/env bash
# Make sure a Docker engine answers on this (Debian/Ubuntu) machine, for the docker tier.
#
# Installs docker.io (the engine and CLI) and debootstrap (for build-base-image.sh)
# with apt when they are missing, starts dockerd in the background when no engine
# answers, and waits for it with a deadline. Safe to run again: it does nothing when
# the engine already answers. CI runs it before the tests; on a desktop, Docker
# Desktop or the system service does this job instead.
#
# Usage: sudo scripts/start-docker.sh            Env: DOCKER_START_TIMEOUT (s, default 60)
set -euo pipefail

DEADLINE_S="${DOCKER_START_TIMEOUT:-60}"
LOG=/var/log/katas-dockerd.log

say() { printf 'start-docker: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

answers() { timeout 10 docker info >/dev/null 2>&1; }

"$(dirname "$0")/install-system-packages.sh" docker.io debootstrap

if answers; then
  say "the Docker engine already answers"
  exit 0
fi

[[ $(id -u) -eq 0 ]] || die "starting dockerd needs root; run: sudo $0"
if pgrep -x dockerd >/dev/null; then
  say "dockerd is running but not answering yet; waiting for it"
else
  # containerd ships with docker.io; dockerd starts its own when none runs.
  say "starting dockerd in the background (log: $LOG)"
  nohup dockerd >"$LOG" 2>&1 &
fi

deadline=$((SECONDS + DEADLINE_S))
until answers; do
  if ((SECONDS >= deadline)); then
    say "dockerd did not answer within ${DEADLINE_S} s; last lines of $LOG:"
    tail -n 20 "$LOG" >&2 || true
    exit 1
  fi
  sleep 1
done
say "the Docker engine answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
