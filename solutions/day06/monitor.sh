#!/usr/bin/env bash
# Watch a model server: its /health endpoint and this host's load, memory and disk.
# Exits 1 after --max-failures consecutive failed health checks, so a supervisor or CI
# job notices instead of a loop that logs errors forever.
set -euo pipefail

URL="http://127.0.0.1:8000"
INTERVAL=30
MAX_FAILURES=3
TIMEOUT=5
ONCE=0

usage() {
  cat <<USAGE
usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]
  --url URL           base URL of the service; GET URL/health is checked (default http://127.0.0.1:8000)
  --interval SECONDS  pause between checks (default 30)
  --max-failures N    exit 1 after N consecutive failed checks (default 3)
  --timeout SECONDS   give up on one health request after this long (default 5)
  --once              check once: exit 0 when healthy, 1 when not
USAGE
}

die_usage() {
  echo "monitor.sh: $*" >&2
  usage >&2
  exit 2
}

log() {
  local level=$1
  shift
  printf '%s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$level" "$*"
}

is_positive_number() { [[ $1 =~ ^[0-9]*\.?[0-9]+$ ]] && [[ ! $1 =~ ^0*\.?0*$ ]]; }
# Leading zeros aside, at most 18 digits: past 2**63 bash arithmetic wraps without a word.
is_positive_integer() { [[ $1 =~ ^0*[1-9][0-9]{0,17}$ ]]; }

while (($# > 0)); do
  case $1 in
    --url) (($# >= 2)) || die_usage "--url needs a value"; URL=$2; shift 2 ;;
    --interval) (($# >= 2)) || die_usage "--interval needs a value"; INTERVAL=$2; shift 2 ;;
    --max-failures) (($# >= 2)) || die_usage "--max-failures needs a value"; MAX_FAILURES=$2; shift 2 ;;
    --timeout) (($# >= 2)) || die_usage "--timeout needs a value"; TIMEOUT=$2; shift 2 ;;
    --once) ONCE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die_usage "unknown argument: $1" ;;
  esac
done

[[ $URL =~ ^https?://[^[:space:]]+$ ]] || die_usage "--url must be an http(s) URL, not '$URL'"
is_positive_number "$INTERVAL" || die_usage "--interval must be a positive number of seconds, not '$INTERVAL'"
is_positive_integer "$MAX_FAILURES" || die_usage "--max-failures must be a positive integer of at most 18 digits, not '$MAX_FAILURES'"
MAX_FAILURES=$((10#$MAX_FAILURES)) # decimal: bash arithmetic would read 010 as octal 8
is_positive_number "$TIMEOUT" || die_usage "--timeout must be a positive number of seconds, not '$TIMEOUT'"

check_health() {
  local code
  # --max-time bounds the whole request: a server that accepts and never answers cannot stall us.
  code=$(curl --silent --output /dev/null --write-out '%{http_code}' \
    --connect-timeout "$TIMEOUT" --max-time "$TIMEOUT" "${URL%/}/health") || true
  if [[ $code == 200 ]]; then
    log INFO "health ok url=${URL%/}/health"
  else
    log ERROR "health failed url=${URL%/}/health status=${code:-none}"
    return 1
  fi
}

log_metrics() {
  local load1 mem_used disk_used
  load1=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo unknown)
  mem_used=$(awk '/^MemTotal:/ {t=$2} /^MemAvailable:/ {a=$2} END {if (t > 0) printf "%.1f", (t - a) * 100 / t; else print "unknown"}' /proc/meminfo 2>/dev/null || echo unknown)
  disk_used=$(df -P / 2>/dev/null | awk 'NR == 2 {sub("%", "", $5); print $5}' || echo unknown)
  log INFO "metrics load1=${load1:-unknown} mem_used_pct=${mem_used:-unknown} disk_used_pct=${disk_used:-unknown}"
}

if ((ONCE)); then
  status=0
  check_health || status=1
  log_metrics
  exit "$status"
fi

failures=0
while true; do
  if check_health; then
    failures=0
  else
    failures=$((failures + 1))
    if ((failures >= MAX_FAILURES)); then
      log ERROR "giving up after $failures consecutive failed health checks"
      exit 1
    fi
  fi
  log_metrics
  sleep "$INTERVAL"
done
