#!/usr/bin/env bash
# monitor.sh, style B: main(), option=value also accepted, awk numerics, until-loop.
set -o errexit -o nounset -o pipefail

readonly USAGE="usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]"

declare -A opt=([url]=http://127.0.0.1:8000 [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)

bad() { printf 'monitor.sh: %s\n%s\n' "$*" "$USAGE" >&2; exit 2; }
stamp() { date -u '+%Y-%m-%dT%H:%M:%SZ'; }
say() { local level=$1; shift; echo "$(stamp) [$level] $*"; }
positive() { awk -v x="$1" 'BEGIN { exit !(x ~ /^([0-9]+\.?[0-9]*|\.[0-9]+)$/ && x + 0 > 0) }'; }

parse() {
  local key
  while [[ $# -gt 0 ]]; do
    case "$1" in
      -h|--help) echo "$USAGE"; exit 0 ;;
      --once) opt[once]=yes; shift ;;
      --url|--interval|--max-failures|--timeout)
        key=${1#--}
        [[ $# -ge 2 ]] || bad "$1 needs a value"
        opt[$key]=$2; shift 2 ;;
      *) bad "unknown argument: $1" ;;
    esac
  done
  positive "${opt[interval]}" || bad "--interval must be a positive number"
  positive "${opt[timeout]}" || bad "--timeout must be a positive number"
  { [[ ${opt[max-failures]} =~ ^[0-9]+$ ]] && positive "${opt[max-failures]}"; } || bad "--max-failures must be a positive integer"
  [[ ${opt[max-failures]} =~ ^0*[0-9]{1,18}$ ]] || bad "--max-failures has more than 18 digits: ${opt[max-failures]}"
}

probe() {
  local status
  if ! status=$(curl -s -o /dev/null -w '%{http_code}' -m "${opt[timeout]}" --connect-timeout "${opt[timeout]}" "${opt[url]}/health"); then
    status=${status:-000}
  fi
  if [[ "$status" = "200" ]]; then
    say INFO "health ok ${opt[url]} status=$status"
  else
    say WARN "health bad ${opt[url]} status=$status"
    return 1
  fi
}

metrics() {
  local load mem disk
  load=$(cut -d' ' -f1 /proc/loadavg)
  mem=$(awk '$1 == "MemTotal:" {t = $2} $1 == "MemAvailable:" {a = $2} END { printf "%d", (t - a) * 100 / t }' /proc/meminfo)
  disk=$(df -P / | tail -n 1 | awk '{ print $5 }' | tr -d '%')
  say INFO "load1=$load mem_used_pct=$mem disk_used_pct=$disk"
}

main() {
  parse "$@"
  if [[ ${opt[once]} == yes ]]; then
    local rc=0
    probe || rc=1
    metrics
    return "$rc"
  fi
  local streak=0 limit
  limit=$((10#${opt[max-failures]}))
  until ((streak >= limit)); do
    if probe; then streak=0; else streak=$((streak + 1)); fi
    metrics
    ((streak >= limit)) || sleep "${opt[interval]}"
  done
  say ERROR "giving up after $streak failed checks in a row"
  return 1
}

main "$@"
