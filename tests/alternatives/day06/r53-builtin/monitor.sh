#!/usr/bin/env bash
# monitor.sh: watch a model server's /health and this host's load, memory and disk.
set -euo pipefail
export TZ=UTC

readonly USAGE='usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]'

log() {
  local level=$1; shift
  printf '%(%Y-%m-%dT%H:%M:%SZ)T [%s] %s\n' -1 "$level" "$*"
}

bad_usage() { printf '%s\n%s\n' "monitor.sh: $*" "$USAGE" >&2; exit 2; }

positive_seconds() {
  local v=$1
  [[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] || return 1
  [[ ${v//[0.]/} != "" ]]
}

parse() {
  opt_url=http://127.0.0.1:8000 opt_interval=30 opt_max=3 opt_timeout=5 opt_once=false
  local flag value
  while [[ $# -gt 0 ]]; do
    flag=$1
    case $flag in
      -h|--help) printf '%s\n' "$USAGE"; exit 0 ;;
      --once) opt_once=true; shift; continue ;;
      --url|--interval|--max-failures|--timeout)
        [[ $# -ge 2 ]] || bad_usage "$flag needs a value"
        value=$2; shift 2 ;;
      *) bad_usage "unknown argument" ;;
    esac
    case $flag in
      --url) opt_url=$value ;;
      --interval) opt_interval=$value ;;
      --max-failures) opt_max=$value ;;
      --timeout) opt_timeout=$value ;;
    esac
  done
  positive_seconds "$opt_interval" || bad_usage "bad --interval"
  positive_seconds "$opt_timeout" || bad_usage "bad --timeout"
  [[ $opt_max =~ ^0*([1-9][0-9]{0,17})$ ]] || bad_usage "bad --max-failures (a positive integer of at most 18 digits)"
  opt_max=${BASH_REMATCH[1]}
}

probe() {
  local status
  status=$(curl -s -o /dev/null -w '%{http_code}' -m "$opt_timeout" --connect-timeout "$opt_timeout" \
    -- "$opt_url/health" 2>/dev/null) || status=${status:-000}
  if [[ $status == 200 ]]; then
    log INFO "health ok (HTTP $status)"
  else
    log ERROR "health FAILED (HTTP $status)"
    return 1
  fi
}

metrics() {
  local load _rest key val _unit total=0 avail=0 used tenths disk
  read -r load _rest < /proc/loadavg
  while read -r key val _unit; do
    case $key in
      MemTotal:) total=$val ;;
      MemAvailable:) avail=$val ;;
    esac
  done < /proc/meminfo
  used=$((total - avail))
  tenths=$(( (used * 1000 + total / 2) / total ))
  disk=$(df -P / | awk 'NR == 2 {print $5}')
  disk=${disk%\%}
  log INFO "load1=$load mem_used_pct=$((tenths / 10)).$((tenths % 10)) disk_used_pct=$disk"
}

main() {
  parse "$@"
  if [[ $opt_once == true ]]; then
    local rc=0
    probe || rc=1
    metrics
    exit "$rc"
  fi
  local streak=0
  until false; do
    if probe; then
      streak=0
    else
      streak=$((streak + 1))
      if [[ $streak -ge $opt_max ]]; then
        log ERROR "giving up: $streak consecutive failed checks of $opt_url/health"
        exit 1
      fi
    fi
    metrics
    sleep "$opt_interval"
  done
}

main "$@"
