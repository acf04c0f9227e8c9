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
  printf '%s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$level" "$*"
}

is_positive_decimal() {
  [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]] || return 1
  [[ $1 =~ [1-9] ]]
}

is_positive_int() {
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  local stripped
  stripped=$(printf '%s' "$1" | sed 's/^0*//')
  [[ -n $stripped ]] && ((${#stripped} <= 18))
}

url="http://127.0.0.1:8000"
interval=30
max_failures=3
timeout=5
once=0

while (($# > 0)); do
  case $1 in
    --url) (($# >= 2)) || die_usage "--url needs a value"; url=$2; shift 2 ;;
    --interval) (($# >= 2)) || die_usage "--interval needs a value"; interval=$2; shift 2 ;;
    --max-failures) (($# >= 2)) || die_usage "--max-failures needs a value"; max_failures=$2; shift 2 ;;
    --timeout) (($# >= 2)) || die_usage "--timeout needs a value"; timeout=$2; shift 2 ;;
    --once) once=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die_usage "unknown argument: $1" ;;
  esac
done

is_positive_decimal "$interval" || die_usage "--interval must be a positive number of seconds"
is_positive_decimal "$timeout" || die_usage "--timeout must be a positive number of seconds"
is_positive_int "$max_failures" || die_usage "--max-failures must be a positive integer"
max_failures=$((10#$max_failures))

check_health() {
  local code
  code=$(curl -q --silent --output /dev/null --write-out '%{http_code}' \
    --connect-timeout "$timeout" --max-time "$timeout" "$url/health") || true
  if [[ $code == 200 ]]; then
    log INFO "health ok url=$url/health status=$code"
    return 0
  fi
  log ERROR "health failed url=$url/health status=${code:-000}"
  return 1
}

log_metrics() {
  local load1 mem disk
  load1=$(awk '{print $1}' /proc/loadavg)
  mem=$(awk '/^MemTotal:/ {t=$2} /^MemAvailable:/ {a=$2} END {if (t > 0) printf "%.1f", 100 * (t - a) / t; else print 0}' /proc/meminfo)
  disk=$(df -P / | awk 'NR == 2 {sub(/%/, "", $5); print $5}')
  log INFO "metrics load1=$load1 mem_used_pct=$mem disk_used_pct=$disk"
}

if ((once)); then
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
    if ((failures >= max_failures)); then
      log ERROR "giving up after $failures consecutive failed checks"
      exit 1
    fi
  fi
  log_metrics
  sleep "$interval"
done
