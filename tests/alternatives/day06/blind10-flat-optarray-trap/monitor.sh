#!/usr/bin/env bash
# monitor.sh: a health and host-metrics watcher, written top to bottom with no helpers beyond log.
# Flags accept both "--flag value" and "--flag=value".
set -euo pipefail
shopt -s extglob

export TZ=UTC
readonly USAGE="usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]"

declare -A opt=([url]="http://127.0.0.1:8000" [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)

log() {
  local level=$1
  shift
  printf '%(%Y-%m-%dT%H:%M:%SZ)T [%s] %s\n' -1 "$level" "$*"
}

bad() {
  printf 'monitor.sh: %s\n%s\n' "$1" "$USAGE" >&2
  exit 2
}

while (($#)); do
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
      (($#)) || bad "$arg needs a value"
      opt[${arg#--}]=$1
      shift
      ;;
    *) bad "unexpected argument '$arg'" ;;
  esac
done

for key in interval timeout; do
  value=${opt[$key]}
  case $value in
    +([0-9])?(.+([0-9])) | .+([0-9])) ;;
    *) bad "--$key wants a positive number, not '$value'" ;;
  esac
  [[ $value == *[1-9]* ]] || bad "--$key must be above zero"
done
case ${opt[max-failures]} in
  +([0-9])) ;;
  *) bad "--max-failures wants a positive whole number, not '${opt[max-failures]}'" ;;
esac
[[ ${opt[max-failures]} =~ ^0*[0-9]{1,18}$ ]] || bad "--max-failures has more than 18 digits: ${opt[max-failures]}"
max_failures=$((10#${opt[max-failures]}))
((max_failures > 0)) || bad "--max-failures must be at least 1"
[[ -n ${opt[url]} ]] || bad "--url is empty"
health_url="${opt[url]%/}/health"

probe() {
  local status
  status=$(curl -sS -o /dev/null -w '%{response_code}' -m "${opt[timeout]}" "$health_url" 2>/dev/null) || status=${status:-000}
  if [[ $status == 200 ]]; then
    log INFO "health ok $health_url -> $status"
  else
    log WARN "health bad $health_url -> $status"
    return 1
  fi
}

metrics() {
  local load key value _unit total=0 avail=0 line
  read -r load _ </proc/loadavg
  while read -r key value _unit; do
    case $key in
      MemTotal:) total=$value ;;
      MemAvailable:) avail=$value ;;
    esac
  done </proc/meminfo
  local used_pct=0
  ((total > 0)) && used_pct=$(((total - avail) * 100 / total))
  line=$(df -P / | tail -n 1)
  read -r _ _ _ _ capacity _ <<<"$line"
  log INFO "load1=$load mem_used_pct=$used_pct disk_used_pct=${capacity%\%}"
}

if [[ ${opt[once]} == yes ]]; then
  rc=0
  probe || rc=1
  metrics
  exit "$rc"
fi

streak=0
until ((streak >= max_failures)); do
  if probe; then streak=0; else streak=$((streak + 1)); fi
  metrics
  ((streak >= max_failures)) || sleep "${opt[interval]}"
done
log ERROR "giving up: $streak failed checks in a row at $health_url"
exit 1
