#!/usr/bin/env bash
# monitor.sh: one health check, or a loop of them that ends after N consecutive failures.
set -euo pipefail

declare -A opt=([url]=http://127.0.0.1:8000 [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)

print_usage() {
  printf '%s\n' \
    "usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]" \
    "  defaults: --url http://127.0.0.1:8000 --interval 30 --max-failures 3 --timeout 5" \
    "  -h, --help  print this usage"
}

usage_error() {
  printf 'monitor.sh: %s\n' "$1" >&2
  print_usage >&2
  exit 2
}

stamp() {
  local now
  TZ=UTC0 printf -v now '%(%Y-%m-%dT%H:%M:%SZ)T' -1
  printf '%s [%s] %s\n' "$now" "$1" "$2"
}

args=("$@")
i=0
while ((i < ${#args[@]})); do
  word=${args[i]}
  case $word in
    -h | --help) print_usage; exit 0 ;;
    --once) opt[once]=yes ;;
    --url | --interval | --max-failures | --timeout)
      ((i + 1 < ${#args[@]})) || usage_error "$word needs a value"
      i=$((i + 1))
      opt[${word#--}]=${args[i]}
      ;;
    *) usage_error "unexpected argument: $word" ;;
  esac
  i=$((i + 1))
done

for key in interval timeout; do
  value=${opt[$key]}
  case $value in
    '' | *[!0-9.]* | *.*.* | . | .* | *.) usage_error "--$key must be a positive decimal number, not '$value'" ;;
  esac
  [[ $value == *[1-9]* ]] || usage_error "--$key must be greater than 0, not '$value'"
done
case ${opt[max-failures]} in
  '' | *[!0-9]*) usage_error "--max-failures must be a positive integer, not '${opt[max-failures]}'" ;;
esac
[[ ${opt[max-failures]} =~ ^0*[0-9]{1,18}$ ]] || usage_error "--max-failures has more than 18 digits: ${opt[max-failures]}"
limit=$((10#${opt[max-failures]}))
((limit > 0)) || usage_error "--max-failures must be at least 1"

probe() {
  local status
  if ! status=$(curl -s -o /dev/null -w '%{response_code}' -m "${opt[timeout]}" \
    --connect-timeout "${opt[timeout]}" "${opt[url]}/health"); then
    status=000
  fi
  if [[ $status == 200 ]]; then
    stamp INFO "health ok (200 from ${opt[url]}/health)"
    return 0
  fi
  stamp WARN "health failing (status $status from ${opt[url]}/health)"
  return 1
}

metrics() {
  local load _rest key value _unit total=0 avail=0 cap
  read -r load _rest < /proc/loadavg
  while read -r key value _unit; do
    case $key in
      MemTotal:) total=$value ;;
      MemAvailable:) avail=$value ;;
    esac
  done < /proc/meminfo
  local used_tenths=$(((total - avail) * 1000 / total))
  cap=$(df -P / | tail -n 1)
  cap=${cap% /}
  cap=${cap##* }
  stamp INFO "load1=$load mem_used_pct=$((used_tenths / 10)).$((used_tenths % 10)) disk_used_pct=${cap%\%}"
}

if [[ ${opt[once]} == yes ]]; then
  rc=0
  probe || rc=1
  metrics
  exit "$rc"
fi

streak=0
until ((streak >= limit)); do
  if probe; then streak=0; else streak=$((streak + 1)); fi
  metrics
  if ((streak < limit)); then sleep "${opt[interval]}"; fi
done
stamp ERROR "giving up: $streak consecutive failed checks of ${opt[url]}/health" >&2
exit 1
