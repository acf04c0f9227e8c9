#!/usr/bin/env bash
# monitor.sh: watch a model server's /health and this host's load, memory and disk.
set -euo pipefail

readonly USAGE="usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]"

url="http://127.0.0.1:8000"
interval=30
max_failures=3
timeout_s=5
once=false

log() {
  local level=$1
  shift
  printf '%s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$level" "$*"
}

usage_error() {
  printf '%s\n' "monitor.sh: $1" "$USAGE" >&2
  exit 2
}

is_positive_number() {
  [[ $1 =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+)$ ]] || return 1
  [[ $1 =~ [1-9] ]]
}

is_positive_integer() {
  [[ $1 =~ ^[0-9]+$ && $1 =~ [1-9] ]]
}

parse_args() {
  while (($# > 0)); do
    case $1 in
      -h | --help)
        printf '%s\n' "$USAGE"
        exit 0
        ;;
      --once)
        once=true
        shift
        ;;
      --url | --interval | --max-failures | --timeout)
        (($# >= 2)) || usage_error "$1 needs a value"
        case $1 in
          --url) url=$2 ;;
          --interval) interval=$2 ;;
          --max-failures) max_failures=$2 ;;
          --timeout) timeout_s=$2 ;;
        esac
        shift 2
        ;;
      *) usage_error "unknown argument: $1" ;;
    esac
  done
  [[ -n $url ]] || usage_error "--url must not be empty"
  is_positive_number "$interval" || usage_error "--interval must be a positive number, got '$interval'"
  is_positive_number "$timeout_s" || usage_error "--timeout must be a positive number, got '$timeout_s'"
  is_positive_integer "$max_failures" || usage_error "--max-failures must be a positive integer, got '$max_failures'"
  [[ $max_failures =~ ^0*[0-9]{1,18}$ ]] || usage_error "--max-failures has more than 18 digits: $max_failures"
  max_failures=$((10#$max_failures))
}

check_health() {
  local code
  code=$(curl --silent --output /dev/null --write-out '%{http_code}' \
    --connect-timeout "$timeout_s" --max-time "$timeout_s" "${url%/}/health") || true
  if [[ $code == 200 ]]; then
    log INFO "health ok url=$url"
    return 0
  fi
  log WARN "health failed url=$url status=${code:-000}"
  return 1
}

log_metrics() {
  local load1 mem disk
  load1=$(awk '{print $1}' /proc/loadavg)
  mem=$(awk '/^MemTotal:/ {t=$2} /^MemAvailable:/ {a=$2} END {if (t > 0) printf "%.1f", (t - a) * 100 / t; else print 0}' /proc/meminfo)
  disk=$(df -P / | awk 'NR == 2 {sub(/%/, "", $5); print $5}')
  log INFO "metrics load1=$load1 mem_used_pct=$mem disk_used_pct=$disk"
}

main() {
  parse_args "$@"
  if [[ $once == true ]]; then
    local rc=0
    check_health || rc=1
    log_metrics
    exit "$rc"
  fi
  local failures=0
  while true; do
    if check_health; then
      failures=0
    else
      failures=$((failures + 1))
      if ((failures >= max_failures)); then
        log_metrics
        log ERROR "giving up after $failures consecutive failed checks"
        exit 1
      fi
    fi
    log_metrics
    sleep "$interval"
  done
}

main "$@"
