#!/usr/bin/env bash
# monitor.sh: watch a model server's /health and this host's load, memory and disk.
set -o errexit -o nounset -o pipefail

export TZ=UTC

readonly USAGE="usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]"

declare -A opt=([url]=http://127.0.0.1:8000 [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)

stamp() { printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1; }
say() { printf '%s [%s] %s\n' "$(stamp)" "$1" "$2"; }
bad_usage() { printf 'monitor.sh: %s\n%s\n' "$1" "$USAGE" >&2; exit 2; }

decimal_ok() {
  case $1 in
    '' | *[!0-9.]* | *.*.* | .* | *.) return 1 ;;
  esac
  [[ ${1//[0.]/} != "" ]]
}

count_ok() {
  case $1 in
    '' | *[!0-9]*) return 1 ;;
  esac
  ((10#$1 > 0))
}

parse() {
  while (($#)); do
    local flag=$1
    case $flag in
      -h | --help) echo "$USAGE"; exit 0 ;;
      --once) opt[once]=yes; shift; continue ;;
      --url | --interval | --max-failures | --timeout)
        [[ $# -ge 2 ]] || bad_usage "$flag wants a value"
        opt[${flag#--}]=$2
        shift 2
        ;;
      *) bad_usage "unexpected: $flag" ;;
    esac
  done
  decimal_ok "${opt[interval]}" || bad_usage "bad --interval ${opt[interval]}"
  decimal_ok "${opt[timeout]}" || bad_usage "bad --timeout ${opt[timeout]}"
  count_ok "${opt[max-failures]}" || bad_usage "bad --max-failures ${opt[max-failures]}"
  [[ ${opt[max-failures]} =~ ^0*[0-9]{1,18}$ ]] || bad_usage "--max-failures has more than 18 digits: ${opt[max-failures]}"
  opt[max-failures]=$((10#${opt[max-failures]}))
}

probe() {
  local status
  if ! status=$(curl -s -o /dev/null -w '%{response_code}' -m "${opt[timeout]}" "${opt[url]}/health"); then
    say ERROR "check failed: no answer from ${opt[url]}/health (${status:-000})"
    return 1
  fi
  if [[ $status != 200 ]]; then
    say ERROR "check failed: ${opt[url]}/health answered $status"
    return 1
  fi
  say INFO "check passed: ${opt[url]}/health answered 200"
}

metrics() {
  local load rest key value total=0 available=0 mem
  read -r load rest </proc/loadavg
  while read -r key value _; do
    case $key in
      MemTotal:) total=$value ;;
      MemAvailable:) available=$value ;;
    esac
  done </proc/meminfo
  mem=$(((total - available) * 100 / total))
  local capacity
  capacity=$(df -P / | tail -n 1 | awk '{print $5}')
  say INFO "load1=$load mem_used_pct=$mem disk_used_pct=${capacity%\%}"
}

main() {
  parse "$@"
  local streak=0 healthy
  while :; do
    healthy=yes
    probe || healthy=no
    metrics
    if [[ ${opt[once]} == yes ]]; then
      [[ $healthy == yes ]]
      return
    fi
    if [[ $healthy == yes ]]; then
      streak=0
    else
      streak=$((streak + 1))
      if ((streak >= opt[max-failures])); then
        say ERROR "giving up: $streak checks failed in a row"
        return 1
      fi
    fi
    sleep "${opt[interval]}"
  done
}

main "$@"
