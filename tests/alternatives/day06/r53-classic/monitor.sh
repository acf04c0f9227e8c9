#!/usr/bin/env bash
# monitor.sh: watch a model server's /health and this host's load, memory and disk.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]
  --url URL           base URL; GET URL/health is checked (default http://127.0.0.1:8000)
  --interval SECONDS  pause between checks (default 30)
  --max-failures N    exit 1 after N consecutive failed checks (default 3)
  --timeout SECONDS   limit for one health request (default 5)
  --once              check once: exit 0 when healthy, 1 when not
  -h, --help          print this help
USAGE
}

die_usage() { echo "monitor.sh: $1" >&2; usage >&2; exit 2; }

log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) [$1] $2"; }

is_positive_decimal() {
  [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]] && [[ $1 =~ [1-9] ]]
}

URL=http://127.0.0.1:8000
INTERVAL=30
MAX_FAILURES=3
TIMEOUT=5
ONCE=0

while (($# > 0)); do
  case $1 in
    --url) (($# >= 2)) || die_usage "--url needs a value"; URL=$2; shift 2 ;;
    --interval) (($# >= 2)) || die_usage "--interval needs a value"; INTERVAL=$2; shift 2 ;;
    --max-failures) (($# >= 2)) || die_usage "--max-failures needs a value"; MAX_FAILURES=$2; shift 2 ;;
    --timeout) (($# >= 2)) || die_usage "--timeout needs a value"; TIMEOUT=$2; shift 2 ;;
    --once) ONCE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die_usage "unknown argument" ;;
  esac
done

is_positive_decimal "$INTERVAL" || die_usage "--interval must be a positive number of seconds"
is_positive_decimal "$TIMEOUT" || die_usage "--timeout must be a positive number of seconds"
[[ $MAX_FAILURES =~ ^[0-9]+$ ]] || die_usage "--max-failures must be a positive integer"
MAX_FAILURES=${MAX_FAILURES#"${MAX_FAILURES%%[!0]*}"}
[[ -n $MAX_FAILURES ]] || die_usage "--max-failures must be a positive integer"
((${#MAX_FAILURES} <= 18)) || die_usage "--max-failures is too big"

check_health() {
  local code
  code=$(curl --silent --output /dev/null --write-out '%{http_code}' \
    --connect-timeout "$TIMEOUT" --max-time "$TIMEOUT" "$URL/health") || true
  if [[ $code == 200 ]]; then
    log INFO "health ok url=$URL/health status=$code"
    return 0
  fi
  log ERROR "health failed url=$URL/health status=${code:-000}"
  return 1
}

log_metrics() {
  local load mem disk
  load=$(awk '{print $1}' /proc/loadavg)
  mem=$(awk '/^MemTotal:/ {t=$2} /^MemAvailable:/ {a=$2} END {printf "%.1f", 100 * (t - a) / t}' /proc/meminfo)
  disk=$(df -P / | awk 'NR == 2 {sub(/%$/, "", $5); print $5}')
  log INFO "metrics load1=$load mem_used_pct=$mem disk_used_pct=$disk"
}

if ((ONCE)); then
  if check_health; then log_metrics; exit 0; fi
  log_metrics
  exit 1
fi

failures=0
while true; do
  if check_health; then
    failures=0
  else
    failures=$((failures + 1))
    if ((failures >= MAX_FAILURES)); then
      log ERROR "giving up after $failures consecutive failed checks"
      exit 1
    fi
  fi
  log_metrics
  sleep "$INTERVAL"
done
