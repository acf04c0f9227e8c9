#!/usr/bin/env bash
# monitor.sh — health and host metrics of a model server, for cron or a supervisor.
set -o errexit -o nounset -o pipefail

readonly USAGE='usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]'

# Settings, all from the command line only.
declare -A opt=([url]=http://127.0.0.1:8000 [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)

stamp() { TZ=UTC0 printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1; }
say() { printf '%s [%s] %s\n' "$(stamp)" "$1" "$2"; }
bad_usage() { printf 'monitor.sh: %s\n%s\n' "$1" "$USAGE" >&2; exit 2; }

decimal_ok() {
  case $1 in
    '' | *[!0-9.]* | *.*.* | .* | *.) return 1 ;;
  esac
  case $1 in *[1-9]*) return 0 ;; esac
  return 1
}

count_ok() {
  case $1 in '' | *[!0-9]*) return 1 ;; esac
  case $1 in *[1-9]*) return 0 ;; esac
  return 1
}

parse() {
  local flag value
  while [ $# -gt 0 ]; do
    flag=$1
    case $flag in
      -h | --help) printf '%s\n' "$USAGE"; exit 0 ;;
      --once) opt[once]=yes; shift; continue ;;
      --url | --interval | --max-failures | --timeout)
        [ $# -ge 2 ] || bad_usage "$flag wants a value"
        value=$2; shift 2 ;;
      *) bad_usage "unexpected argument '$flag'" ;;
    esac
    case $flag in
      --interval | --timeout) decimal_ok "$value" || bad_usage "$flag: not a positive decimal: $value" ;;
      --max-failures)
        count_ok "$value" || bad_usage "$flag: not a positive integer: $value"
        value=$(awk -v n="$value" 'BEGIN { n = n + 0; if (n > 1e15) n = 1e15; printf "%d", n }') ;;
    esac
    opt[${flag#--}]=$value
  done
}

# One health check; prints the HTTP status (000: nothing answered in time).
probe() {
  local status
  if ! status=$(curl -s -o /dev/null -w '%{response_code}' --max-time "${opt[timeout]}" "${opt[url]}/health"); then
    status=000
  fi
  printf '%s' "${status:-000}"
}

metrics() {
  local load rest key val total=0 avail=0 disk
  read -r load rest </proc/loadavg
  while read -r key val _; do
    case $key in
      MemTotal:) total=$val ;;
      MemAvailable:) avail=$val ;;
    esac
  done </proc/meminfo
  disk=$(df -P / | awk 'END { print $(NF - 1) }')
  say INFO "load1=$load mem_used_pct=$(((total - avail) * 100 / total)) disk_used_pct=${disk%\%}"
}

main() {
  parse "$@"
  local streak=0 status
  while :; do
    status=$(probe)
    if [ "$status" = 200 ]; then
      say INFO "health ok ($status) at ${opt[url]}/health"
      streak=0
    else
      streak=$((streak + 1))
      say WARN "health check failed (status $status) at ${opt[url]}/health, $streak in a row"
    fi
    metrics
    if [ "${opt[once]}" = yes ]; then
      if [ "$streak" -eq 0 ]; then return 0; fi
      return 1
    fi
    if [ "$streak" -ge "${opt[max-failures]}" ]; then
      say ERROR "giving up: $streak consecutive failed checks"
      return 1
    fi
    sleep "${opt[interval]}"
  done
}

main "$@"
