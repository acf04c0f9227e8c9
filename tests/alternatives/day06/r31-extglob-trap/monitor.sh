#!/usr/bin/env bash
# monitor.sh — health and host metrics, with a consecutive-failure limit.
set -euo pipefail
shopt -s extglob
export TZ=UTC0

readonly USAGE='usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]'

declare -A opt=([url]=http://127.0.0.1:8000 [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)

say() { # say LEVEL words...
  printf '%(%Y-%m-%dT%H:%M:%SZ)T [%s] %s\n' -1 "$1" "${*:2}"
}

bad_usage() {
  printf 'monitor.sh: %s\n%s\n' "$1" "$USAGE" >&2
  exit 2
}

decimal_ok() { # a positive decimal: digits, optionally a point and digits, not all zero
  case $1 in
    +([0-9])?(.+([0-9]))) [[ ${1//[0.]/} != "" ]] ;;
    *) return 1 ;;
  esac
}

while [[ $# -gt 0 ]]; do
  arg=$1
  shift
  case $arg in
    -h | --help) printf '%s\n' "$USAGE"; exit 0 ;;
    --once) opt[once]=yes ;;
    --url=* | --interval=* | --max-failures=* | --timeout=*)
      key=${arg%%=*}
      opt[${key#--}]=${arg#*=}
      ;;
    --url | --interval | --max-failures | --timeout)
      [[ $# -gt 0 ]] || bad_usage "$arg needs a value"
      opt[${arg#--}]=$1
      shift
      ;;
    *) bad_usage "unexpected argument '$arg'" ;;
  esac
done

decimal_ok "${opt[interval]}" || bad_usage "bad --interval '${opt[interval]}'"
decimal_ok "${opt[timeout]}" || bad_usage "bad --timeout '${opt[timeout]}'"
case ${opt[max-failures]} in
  +([0-9])) [[ ${opt[max-failures]##+(0)} != "" ]] || bad_usage "--max-failures must be at least 1" ;;
  *) bad_usage "bad --max-failures '${opt[max-failures]}'" ;;
esac
limit=${opt[max-failures]##+(0)}
((${#limit} <= 18)) || bad_usage "--max-failures has more than 18 digits: '${opt[max-failures]}'"

probe() { # probe: returns 0 when /health answers 200
  local target="${opt[url]}/health" status
  if ! status=$(curl -s -o /dev/null -w '%{response_code}' -m "${opt[timeout]}" "$target"); then
    say WARN "check failed: no answer from $target (curl gave up or could not connect)"
    return 1
  fi
  if [[ $status != 200 ]]; then
    say WARN "check failed: $target returned HTTP $status"
    return 1
  fi
  say INFO "check ok: $target returned HTTP 200"
}

metrics() {
  local key value total=0 avail=0 load disk
  while read -r key value _; do
    case $key in
      MemTotal:) total=$value ;;
      MemAvailable:) avail=$value ;;
    esac
  done </proc/meminfo
  read -r load _ </proc/loadavg
  { read -r _; read -r _ _ _ _ disk _; } < <(df -P /)
  local tenths=$(((total - avail) * 1000 / total))
  say INFO "load1=$load mem_used_pct=$((tenths / 10)).$((tenths % 10)) disk_used_pct=${disk%\%}"
}

streak=0
until ((streak >= limit)); do
  if probe; then streak=0; else streak=$((streak + 1)); fi
  metrics
  if [[ ${opt[once]} == yes ]]; then
    exit $((streak > 0 ? 1 : 0))
  fi
  ((streak >= limit)) || sleep "${opt[interval]}"
done
say ERROR "giving up: $streak failed checks in a row"
exit 1
