#!/usr/bin/env bash
# monitor.sh: a health and host-metrics watcher with a consecutive-failure exit.
set -o errexit -o nounset -o pipefail

print_usage() {
  printf '%s\n' "usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]"
}
bad() { printf 'monitor.sh: %s\n' "$1" >&2; print_usage >&2; exit 2; }

stamp() { TZ=UTC0 printf '%(%Y-%m-%dT%H:%M:%S)TZ' -1; }
say() { printf '%s [%s] %s\n' "$(stamp)" "$1" "$2"; }

# Positive decimal: digits with at most one dot, at least one digit, not all zeros.
positive_decimal() {
  case $1 in
    ''|*[!0-9.]*|*.*.*|.) return 1 ;;
  esac
  case $1 in
    *[1-9]*) return 0 ;;
    *) return 1 ;;
  esac
}
positive_int() {
  case $1 in
    ''|*[!0-9]*) return 1 ;;
  esac
  case $1 in *[1-9]*) return 0 ;; *) return 1 ;; esac
}

declare -A opt=([url]=http://127.0.0.1:8000 [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)
while [[ $# -gt 0 ]]; do
  arg=$1
  shift
  case $arg in
    -h|--help) print_usage; exit 0 ;;
    --once) opt[once]=yes ;;
    --url|--interval|--max-failures|--timeout)
      [[ $# -gt 0 ]] || bad "$arg needs a value"
      opt[${arg#--}]=$1
      shift ;;
    *) bad "unexpected argument: $arg" ;;
  esac
done
positive_decimal "${opt[interval]}" || bad "bad --interval: ${opt[interval]}"
positive_decimal "${opt[timeout]}" || bad "bad --timeout: ${opt[timeout]}"
positive_int "${opt[max-failures]}" || bad "bad --max-failures: ${opt[max-failures]}"
[[ ${opt[max-failures]} =~ ^0*[0-9]{1,18}$ ]] || bad "--max-failures has more than 18 digits: ${opt[max-failures]}"

probe() {
  local status
  if ! status=$(curl -s -o /dev/null -w '%{response_code}' -m "${opt[timeout]}" \
      --connect-timeout "${opt[timeout]}" -- "${opt[url]}/health"); then
    say WARN "health check failed: no answer from ${opt[url]}/health"
    return 1
  fi
  if [[ $status != 200 ]]; then
    say WARN "health check failed: ${opt[url]}/health answered $status"
    return 1
  fi
  say INFO "health ok"
}

host_metrics() {
  local key value _unit total=0 avail=0 load rest cols
  while read -r key value _unit; do
    case $key in
      MemTotal:) total=$value ;;
      MemAvailable:) avail=$value ;;
    esac
  done < /proc/meminfo
  read -r load rest < /proc/loadavg
  : "$rest"
  read -r -a cols < <(df -P / | tail -n 1)
  say INFO "load1=$load mem_used_pct=$(( (total - avail) * 100 / (total > 0 ? total : 1) )) disk_used_pct=${cols[4]%\%}"
}

if [[ ${opt[once]} == yes ]]; then
  if probe; then rc=0; else rc=1; fi
  host_metrics
  exit "$rc"
fi

streak=0
limit=$((10#${opt[max-failures]}))
until ((streak >= limit)); do
  if probe; then streak=0; else streak=$((streak + 1)); fi
  host_metrics
  ((streak >= limit)) || sleep "${opt[interval]}"
done
say ERROR "giving up: $streak consecutive failed health checks"
exit 1
