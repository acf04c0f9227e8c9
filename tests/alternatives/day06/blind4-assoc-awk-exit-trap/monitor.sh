#!/usr/bin/env bash
# monitor.sh — health and host metrics of a model server, with a consecutive-failure budget.
set -o errexit -o nounset -o pipefail
export TZ=UTC0   # every timestamp below is UTC, whatever the caller's TZ

declare -A opt=([url]="http://127.0.0.1:8000" [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)

print_usage() {
  printf '%s\n' \
    "usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]" \
    "  defaults: --url http://127.0.0.1:8000 --interval 30 --max-failures 3 --timeout 5"
}

bad_usage() {
  printf 'monitor.sh: %s\n' "$1" >&2
  print_usage >&2
  exit 2
}

stamp() { printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1; }
say() { printf '%s [%s] %s\n' "$(stamp)" "$1" "$2"; }

# awk decides: a plain decimal (digits, optional fraction) that is greater than zero.
positive_number() { awk -v x="$1" 'BEGIN { exit !(x ~ /^([0-9]+|[0-9]*\.[0-9]+|[0-9]+\.[0-9]*)$/ && x + 0 > 0) }'; }
positive_integer() { awk -v x="$1" 'BEGIN { exit !(x ~ /^[0-9]+$/ && x + 0 > 0) }'; }

args=("$@")
i=0
while ((i < ${#args[@]})); do
  flag=${args[i]}
  case $flag in
    --url|--interval|--max-failures|--timeout)
      ((i + 1 < ${#args[@]})) || bad_usage "$flag needs a value"
      opt[${flag#--}]=${args[i + 1]}
      i=$((i + 2))
      ;;
    --once) opt[once]=yes; i=$((i + 1)) ;;
    --help|-h) print_usage; exit 0 ;;
    *) bad_usage "unexpected argument: $flag" ;;
  esac
done

positive_number "${opt[interval]}" || bad_usage "bad --interval: ${opt[interval]}"
positive_number "${opt[timeout]}" || bad_usage "bad --timeout: ${opt[timeout]}"
positive_integer "${opt[max-failures]}" || bad_usage "bad --max-failures: ${opt[max-failures]}"
[[ ${opt[max-failures]} =~ ^0*[0-9]{1,18}$ ]] || bad_usage "--max-failures has more than 18 digits: ${opt[max-failures]}"

probe() {
  local status
  if ! status=$(curl -s -o /dev/null -w '%{http_code}' -m "${opt[timeout]}" "${opt[url]}/health"); then
    status=${status:-000}
  fi
  case $status in
    200) say INFO "health ok (${opt[url]}/health answered 200)"; return 0 ;;
    000) say WARN "health unreachable (${opt[url]}/health: no answer within ${opt[timeout]} s)" ;;
    *) say WARN "health bad (${opt[url]}/health answered $status)" ;;
  esac
  return 1
}

host_metrics() {
  local loadavg total="" avail="" key value _unit
  loadavg=$(cut -d' ' -f1 /proc/loadavg)
  while read -r key value _unit; do
    case $key in
      MemTotal:) total=$value ;;
      MemAvailable:) avail=$value ;;
    esac
  done < /proc/meminfo
  local mem_pct=$(( (total - avail) * 100 / total ))
  local disk_pct
  disk_pct=$(df -P / | tail -n 1 | tr -s ' ' | cut -d' ' -f5)
  say INFO "load1=$loadavg mem_used_pct=$mem_pct disk_used_pct=${disk_pct%\%}"
}

budget=$((10#${opt[max-failures]}))
streak=0
while :; do
  if probe; then streak=0; else streak=$((streak + 1)); fi
  host_metrics
  if [[ ${opt[once]} == yes ]]; then
    ((streak == 0)) && exit 0
    exit 1
  fi
  if ((streak >= budget)); then
    say ERROR "giving up: $streak checks in a row failed" >&2
    exit 1
  fi
  sleep "${opt[interval]}"
done
