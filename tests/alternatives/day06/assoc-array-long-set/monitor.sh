#!/usr/bin/env bash
# monitor.sh: health and host metrics, in a loop that gives up after N consecutive failures.
set -o errexit -o nounset -o pipefail

declare -A opt=([url]=http://127.0.0.1:8000 [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)

print_usage() {
  printf '%s\n' "usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]" \
    "  -h, --help  print this help"
}

bad_usage() {
  printf 'error: %s\n' "$*" >&2
  print_usage >&2
  exit 2
}

stamp() { printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1; }
say() { printf '%s [%s] %s\n' "$(TZ=UTC stamp)" "$1" "$2"; }

while [[ $# -gt 0 ]]; do
  arg=$1
  shift
  case $arg in
    -h | --help) print_usage; exit 0 ;;
    --once) opt[once]=yes ;;
    --url=* | --interval=* | --max-failures=* | --timeout=*)
      key=${arg%%=*}; opt[${key#--}]=${arg#*=} ;;
    --url | --interval | --max-failures | --timeout)
      [[ $# -gt 0 ]] || bad_usage "$arg requires a value"
      opt[${arg#--}]=$1; shift ;;
    *) bad_usage "unexpected argument '$arg'" ;;
  esac
done

positive() {
  # awk decides: a plain decimal number greater than zero
  [[ $1 =~ ^[0-9]*\.?[0-9]+$|^[0-9]+\.$ ]] && awk -v v="$1" 'BEGIN { exit !(v + 0 > 0) }'
}
positive "${opt[interval]}" || bad_usage "--interval must be a positive number"
positive "${opt[timeout]}" || bad_usage "--timeout must be a positive number"
case ${opt[max-failures]} in
  '' | *[!0-9]* | 0 | 00*) bad_usage "--max-failures must be a positive integer" ;;
esac
[[ ${opt[max-failures]} =~ ^0*[0-9]{1,18}$ ]] || bad_usage "--max-failures has more than 18 digits: ${opt[max-failures]}"

probe() {
  local status
  if ! status=$(curl -s -o /dev/null -w '%{http_code}' -m "${opt[timeout]}" "${opt[url]%/}/health"); then
    say WARN "health unreachable (curl failed, status ${status:-000})"
    return 1
  fi
  if [[ $status != 200 ]]; then
    say WARN "health unhealthy: HTTP $status"
    return 1
  fi
  say INFO "health ok: HTTP 200"
}

host_metrics() {
  local load1 rest key value unit total=0 avail=0 disk
  read -r load1 rest </proc/loadavg
  while read -r key value unit; do
    case $key in
      MemTotal:) total=$value ;;
      MemAvailable:) avail=$value ;;
    esac
  done </proc/meminfo
  : "$rest" "$unit"
  disk=$(df -P / | tail -n 1 | tr -s ' ' | cut -d ' ' -f 5)
  say INFO "load1=$load1 mem_used_pct=$(( total > 0 ? (total - avail) * 100 / total : 0 )) disk_used_pct=${disk%\%}"
}

if [[ ${opt[once]} == yes ]]; then
  rc=0
  probe || rc=1
  host_metrics
  exit "$rc"
fi

streak=0
until (( streak >= 10#${opt[max-failures]} )); do
  if probe; then
    streak=0
  else
    streak=$(( streak + 1 ))
  fi
  host_metrics
  if (( streak >= 10#${opt[max-failures]} )); then
    break
  fi
  sleep "${opt[interval]}"
done
say ERROR "giving up: unhealthy for $streak consecutive checks"
exit 1
