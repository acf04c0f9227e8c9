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
  -h, --help          print this usage on stdout, exit 0
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
  [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ && $1 =~ [1-9] ]]
}

url=http://127.0.0.1:8000
interval=30
max_failures=3
timeout=5
once=0

while (($# > 0)); do
  case $1 in
    --url | --interval | --max-failures | --timeout)
      (($# >= 2)) || die_usage "$1 needs a value"
      case $1 in
        --url) url=$2 ;;
        --interval) interval=$2 ;;
        --max-failures) max_failures=$2 ;;
        --timeout) timeout=$2 ;;
      esac
      shift 2
      ;;
    --once) once=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die_usage "unknown argument: $1" ;;
  esac
done

is_positive_decimal "$interval" || die_usage "--interval must be a positive number of seconds, not '$interval'"
is_positive_decimal "$timeout" || die_usage "--timeout must be a positive number of seconds, not '$timeout'"
if ! [[ $max_failures =~ ^[0-9]+$ ]] || ((10#$max_failures == 0)); then
  die_usage "--max-failures must be a positive integer, not '$max_failures'"
fi
[[ $max_failures =~ ^0*[0-9]{1,18}$ ]] || die_usage "--max-failures has more than 18 digits: $max_failures"
max_failures=$((10#$max_failures))

check_health() {
  local code
  code=$(curl --silent --output /dev/null --write-out '%{http_code}' \
    --connect-timeout "$timeout" --max-time "$timeout" "$url/health") || true
  if [[ $code == 200 ]]; then
    log INFO "health ok: $url/health answered 200"
    return 0
  fi
  if [[ -z $code || $code == 000 ]]; then
    log WARN "health failed: no answer from $url/health within ${timeout}s"
  else
    log WARN "health failed: $url/health answered $code"
  fi
  return 1
}

log_metrics() {
  local load1 rest mem disk
  read -r load1 rest </proc/loadavg
  mem=$(awk '/^MemTotal:/ {t = $2} /^MemAvailable:/ {a = $2} END {printf "%.1f", 100 * (t - a) / t}' /proc/meminfo)
  disk=$(df -P / | awk 'NR == 2 {sub(/%/, "", $5); print $5}')
  log INFO "load1=$load1 mem_used_pct=$mem disk_used_pct=$disk"
}

failures=0
while true; do
  if check_health; then
    failures=0
  else
    failures=$((failures + 1))
  fi
  log_metrics
  if ((once)); then
    ((failures == 0)) && exit 0
    exit 1
  fi
  if ((failures >= max_failures)); then
    log ERROR "giving up after $failures consecutive failed checks of $url/health"
    exit 1
  fi
  sleep "$interval"
done
