#!/usr/bin/env bash
# monitor.sh: watch a model server's /health and this host's load, memory and disk.
set -euo pipefail

readonly USAGE="usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]"

stamp() {
  TZ=UTC0 printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1
}

say() {
  printf '%s [%s] %s\n' "$(stamp)" "$1" "$2"
}

bad_usage() {
  printf 'monitor.sh: %s\n%s\n' "$1" "$USAGE" >&2
  exit 2
}

is_positive_number() {
  [[ -n $1 && $1 =~ ^[0-9]*(\.[0-9]*)?$ && $1 =~ [1-9] ]]
}

declare -A opt=([url]="http://127.0.0.1:8000" [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)

parsed=$(getopt --name monitor.sh --options h --longoptions url:,interval:,max-failures:,timeout:,once,help -- "$@" 2>/dev/null) \
  || bad_usage "bad arguments: $*"
eval set -- "$parsed"
while true; do
  case $1 in
    --url|--interval|--max-failures|--timeout) opt[${1#--}]=$2; shift 2 ;;
    --once) opt[once]=yes; shift ;;
    -h|--help) echo "$USAGE"; exit 0 ;;
    --) shift; break ;;
  esac
done
(($# == 0)) || bad_usage "unexpected argument: $1"

is_positive_number "${opt[interval]}" || bad_usage "--interval wants a positive number of seconds"
is_positive_number "${opt[timeout]}" || bad_usage "--timeout wants a positive number of seconds"
[[ ${opt[max-failures]} =~ ^[0-9]+$ && ${opt[max-failures]} =~ [1-9] ]] || bad_usage "--max-failures wants a positive integer"
[[ ${opt[max-failures]} =~ ^0*[0-9]{1,18}$ ]] || bad_usage "--max-failures has more than 18 digits: ${opt[max-failures]}"
allowed=$((10#${opt[max-failures]}))

# One GET of /health; the status line of the response decides (no redirects followed).
probe() {
  local headers status=""
  headers=$(curl --silent --show-error --dump-header - --output /dev/null \
    --connect-timeout "${opt[timeout]}" --max-time "${opt[timeout]}" "${opt[url]}/health" 2>/dev/null) || headers=""
  if [[ $headers =~ ^HTTP/[0-9.]+\ ([0-9]{3}) ]]; then
    status=${BASH_REMATCH[1]}
  fi
  if [[ $status == 200 ]]; then
    say INFO "health ok (${opt[url]}/health answered 200)"
  else
    say WARN "health bad (${opt[url]}/health answered ${status:-nothing})"
    return 1
  fi
}

report_host() {
  local load rest key value total=0 avail=0 capacity
  read -r load rest < /proc/loadavg
  while read -r key value _; do
    case $key in
      MemTotal:) total=$value ;;
      MemAvailable:) avail=$value ;;
    esac
  done < /proc/meminfo
  { read -r _; read -r _ _ _ _ capacity _; } < <(cd / && df -P /)
  say INFO "$(printf 'load1=%s mem_used_pct=%d disk_used_pct=%s' "$load" $(((total - avail) * 100 / total)) "${capacity%\%}")"
}

if [[ ${opt[once]} == yes ]]; then
  rc=0
  probe || rc=1
  report_host
  exit "$rc"
fi

left=$allowed
while :; do
  if probe; then
    left=$allowed
  else
    left=$((left - 1))
  fi
  report_host
  if ((left == 0)); then
    say ERROR "giving up: $allowed failed checks in a row"
    exit 1
  fi
  sleep "${opt[interval]}"
done
