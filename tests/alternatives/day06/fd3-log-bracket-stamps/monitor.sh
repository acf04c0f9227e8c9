#!/usr/bin/env bash
# monitor.sh — health and host metrics watcher. Exit codes: 0 healthy (--once), 1 unhealthy, 2 usage.
set -o errexit -o nounset -o pipefail

declare -A opt=([url]="http://127.0.0.1:8000" [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)

print_usage() {
  echo "usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]"
}

bad_usage() {
  {
    echo "error: $*"
    print_usage
  } >&2
  exit 2
}

stamp() {
  TZ=UTC printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1
}

say() {
  echo "$(stamp) [$1] $2"
}

# positive decimal number: digits with at most one dot, and some non-zero digit
positive() {
  LC_ALL=C awk -v x="$1" 'BEGIN { exit !(x ~ /^([0-9]+|[0-9]*\.[0-9]+)$/ && x + 0 > 0) }'
}

while [[ $# -gt 0 ]]; do
  arg=$1
  shift
  case $arg in
    --help | -h)
      print_usage
      exit 0
      ;;
    --once) opt[once]=yes ;;
    --url=* | --interval=* | --max-failures=* | --timeout=*)
      key=${arg%%=*}
      opt[${key#--}]=${arg#*=}
      ;;
    --url | --interval | --max-failures | --timeout)
      [[ $# -gt 0 ]] || bad_usage "$arg requires a value"
      opt[${arg#--}]=$1
      shift
      ;;
    *) bad_usage "unexpected argument '$arg'" ;;
  esac
done

positive "${opt[interval]}" || bad_usage "--interval: not a positive number: ${opt[interval]}"
positive "${opt[timeout]}" || bad_usage "--timeout: not a positive number: ${opt[timeout]}"
[[ ${opt[max-failures]} =~ ^[1-9][0-9]*$ ]] || bad_usage "--max-failures: not a positive integer: ${opt[max-failures]}"
[[ ${opt[max-failures]} =~ ^0*[0-9]{1,18}$ ]] || bad_usage "--max-failures has more than 18 digits: ${opt[max-failures]}"

probe() {
  local status
  status=$(curl -s -o /dev/null -w '%{response_code}' -m "${opt[timeout]}" "${opt[url]}/health" || :)
  if [[ $status == 200 ]]; then
    say INFO "health ok (${opt[url]}/health answered 200)"
  else
    say WARN "health failing (${opt[url]}/health answered ${status:-nothing})"
    return 1
  fi
}

metrics() {
  local load1 _rest key value _unit total=0 avail=0 disk
  read -r load1 _rest </proc/loadavg
  while read -r key value _unit; do
    case $key in
      MemTotal:) total=$value ;;
      MemAvailable:) avail=$value ;;
    esac
  done </proc/meminfo
  disk=$(df -P / | tail -n 1)
  disk=${disk% *}
  disk=${disk##* }
  say INFO "metrics load1=${load1} mem_used_pct=$(((total - avail) * 100 / total)) disk_used_pct=${disk%\%}"
}

if [[ ${opt[once]} == yes ]]; then
  status=0
  probe || status=1
  metrics
  exit "$status"
fi

streak=0
until ((streak >= opt[max-failures])); do
  if probe; then
    streak=0
  else
    streak=$((streak + 1))
  fi
  metrics
  if ((streak < opt[max-failures])); then
    sleep "${opt[interval]}"
  fi
done
say ERROR "giving up: ${streak} consecutive failed checks (--max-failures ${opt[max-failures]})"
exit 1
