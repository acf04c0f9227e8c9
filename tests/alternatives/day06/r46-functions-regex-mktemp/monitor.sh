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
  -h, --help          print the usage on stdout, exit 0
USAGE
}

die_usage() {
  echo "monitor.sh: $1" >&2
  usage >&2
  exit 2
}

log() {
  local level=$1
  shift
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) [$level] $*"
}

is_positive_decimal() {
  [[ $1 =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)$ ]] || return 1
  [[ $1 =~ [1-9] ]]
}

is_positive_count() {
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  [[ $1 =~ [1-9] ]] || return 1
  local digits=${1#"${1%%[!0]*}"}
  ((${#digits} <= 18))
}

MON_URL=http://127.0.0.1:8000
MON_INTERVAL=30
MON_MAX_FAILURES=3
MON_TIMEOUT=5
MON_ONCE=0

while (($# > 0)); do
  case $1 in
    --url) (($# >= 2)) || die_usage "--url needs a value"; MON_URL=$2; shift 2 ;;
    --interval) (($# >= 2)) || die_usage "--interval needs a value"; MON_INTERVAL=$2; shift 2 ;;
    --max-failures) (($# >= 2)) || die_usage "--max-failures needs a value"; MON_MAX_FAILURES=$2; shift 2 ;;
    --timeout) (($# >= 2)) || die_usage "--timeout needs a value"; MON_TIMEOUT=$2; shift 2 ;;
    --once) MON_ONCE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die_usage "unknown argument: $1" ;;
  esac
done

is_positive_decimal "$MON_INTERVAL" || die_usage "--interval must be a positive number of seconds"
is_positive_decimal "$MON_TIMEOUT" || die_usage "--timeout must be a positive number of seconds"
is_positive_count "$MON_MAX_FAILURES" || die_usage "--max-failures must be a positive integer"
MON_MAX_FAILURES=$((10#$MON_MAX_FAILURES))

check_health() {
  local code
  code=$(curl --silent --output /dev/null --write-out '%{http_code}' \
    --connect-timeout "$MON_TIMEOUT" --max-time "$MON_TIMEOUT" "$MON_URL/health") || true
  if [[ $code == 200 ]]; then
    log INFO "health ok url=$MON_URL/health status=$code"
    return 0
  fi
  log WARN "health FAILED url=$MON_URL/health status=${code:-000}"
  return 1
}

log_metrics() {
  local load1 mem_total mem_avail mem_pct disk_pct
  load1=$(cut -d' ' -f1 /proc/loadavg)
  mem_total=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
  mem_avail=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
  mem_pct=$(awk -v t="$mem_total" -v a="$mem_avail" 'BEGIN {printf "%.1f", 100 * (t - a) / t}')
  disk_pct=$(df -P / | awk 'NR == 2 {sub("%", "", $5); print $5}')
  log INFO "metrics load1=$load1 mem_used_pct=$mem_pct disk_used_pct=$disk_pct"
}

if ((MON_ONCE)); then
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
    if ((failures >= MON_MAX_FAILURES)); then
      log ERROR "giving up after $failures consecutive failed checks"
      exit 1
    fi
  fi
  log_metrics
  sleep "$MON_INTERVAL"
done
