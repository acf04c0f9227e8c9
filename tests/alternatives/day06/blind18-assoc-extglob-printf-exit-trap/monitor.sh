#!/usr/bin/env bash
# monitor.sh: watch a model server's /health and this host's load, memory and disk.
set -euo pipefail
shopt -s extglob

declare -A opt=([url]=http://127.0.0.1:8000 [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)

print_usage() {
  printf '%s\n' \
    'usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]' \
    '  defaults: --url http://127.0.0.1:8000 --interval 30 --max-failures 3 --timeout 5' \
    '  -h, --help  print this usage'
}

bad_usage() {
  printf 'monitor.sh: %s\n' "$*" >&2
  print_usage >&2
  exit 2
}

stamp() {
  local now
  TZ=UTC0 printf -v now '%(%Y-%m-%dT%H:%M:%S)TZ' -1
  printf '%s [%s] %s\n' "$now" "$1" "${*:2}"
}

is_seconds() {
  case $1 in
    +([0-9])?(.+([0-9]))) [[ $1 == *[1-9]* ]] ;;
    *) return 1 ;;
  esac
}

args=("$@")
i=0
while ((i < ${#args[@]})); do
  a=${args[i]}
  case $a in
    -h|--help) print_usage; exit 0 ;;
    --once) opt[once]=yes; i=$((i + 1)) ;;
    --url|--interval|--max-failures|--timeout)
      ((i + 1 < ${#args[@]})) || bad_usage "$a wants a value"
      opt[${a#--}]=${args[i + 1]}
      i=$((i + 2)) ;;
    *) bad_usage "what is '$a'?" ;;
  esac
done

is_seconds "${opt[interval]}" || bad_usage "bad --interval ${opt[interval]}"
is_seconds "${opt[timeout]}" || bad_usage "bad --timeout ${opt[timeout]}"
[[ ${opt[max-failures]} =~ ^0*[0-9]{1,18}$ ]] || bad_usage "--max-failures has more than 18 digits: ${opt[max-failures]}"
case ${opt[max-failures]} in
  *([0])[1-9]*([0-9])) limit=$((10#${opt[max-failures]})) ;;
  *) bad_usage "bad --max-failures ${opt[max-failures]}" ;;
esac
target="${opt[url]%/}/health"

probe() {
  local status
  status=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout "${opt[timeout]}" \
    -m "${opt[timeout]}" -- "$target" || :)
  case $status in
    200) stamp INFO "health ok ($target answered 200)" ;;
    000 | '') stamp WARN "health FAILED ($target: no answer)"; return 1 ;;
    *) stamp WARN "health FAILED ($target answered $status)"; return 1 ;;
  esac
}

metrics() {
  local load1 rest key value total=0 avail=0 used_pct cap
  read -r load1 rest </proc/loadavg
  while read -r key value _; do
    case $key in
      MemTotal:) total=$value ;;
      MemAvailable:) avail=$value ;;
    esac
  done </proc/meminfo
  used_pct=$(((total - avail) * 100 / total))
  {
    read -r rest
    read -r _ _ _ _ cap rest
  } < <(cd / && df -P /)
  stamp INFO "load1=$load1 mem_used_pct=$used_pct disk_used_pct=${cap%\%}"
}

streak=0
while :; do
  if probe; then streak=0; else streak=$((streak + 1)); fi
  metrics
  if [[ ${opt[once]} == yes ]]; then
    exit $((streak > 0 ? 1 : 0))
  fi
  if ((streak >= limit)); then
    stamp ERROR "giving up: $streak checks in a row failed"
    exit 1
  fi
  sleep "${opt[interval]}"
done
