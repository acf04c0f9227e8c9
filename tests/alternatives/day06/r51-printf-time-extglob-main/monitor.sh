#!/usr/bin/env bash
# monitor.sh: watch a model server's /health and this host's load, memory and disk.
set -euo pipefail
shopt -s extglob
export TZ=UTC0

readonly USAGE='usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]'

declare -A opt=([url]=http://127.0.0.1:8000 [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)

bad_usage() {
  printf 'monitor.sh: %s\n%s\n' "$1" "$USAGE" >&2
  exit 2
}

stamp() {
  printf '%(%Y-%m-%dT%H:%M:%SZ)T [%s] %s\n' -1 "$1" "$2"
}

positive_seconds() {
  case $1 in
    +([0-9])?(.+([0-9]))) [[ $1 == *[1-9]* ]] ;;
    *) return 1 ;;
  esac
}

while (($#)); do
  case $1 in
    --url|--interval|--max-failures|--timeout)
      (($# > 1)) || bad_usage "$1 needs a value"
      opt[${1#--}]=$2
      shift 2
      ;;
    --once) opt[once]=yes; shift ;;
    -h|--help) printf '%s\n' "$USAGE"; exit 0 ;;
    *) bad_usage "unexpected argument: $1" ;;
  esac
done

positive_seconds "${opt[interval]}" || bad_usage "bad --interval: ${opt[interval]}"
positive_seconds "${opt[timeout]}" || bad_usage "bad --timeout: ${opt[timeout]}"
limit=${opt[max-failures]}
case $limit in
  +([0-9])) limit=${limit##+(0)} ;;
  *) bad_usage "bad --max-failures: $limit" ;;
esac
[[ -n $limit ]] || bad_usage "--max-failures must be at least 1"
# more digits than shell arithmetic holds: never give up
((${#limit} <= 18)) || limit=0

probe() {
  local status rc=0
  status=$(curl -q -sS -o /dev/null -w '%{response_code}' --connect-timeout "${opt[timeout]}" \
    --max-time "${opt[timeout]}" -- "${opt[url]}/health" 2>/dev/null) || rc=$?
  if ((rc == 0)) && [[ $status == 200 ]]; then
    stamp INFO "health ok (HTTP $status)"
    return 0
  fi
  stamp WARN "health FAILED (HTTP ${status:-000}, curl exit $rc)"
  return 1
}

metrics() {
  local load1 rest key value _unit total=0 avail=0 cap
  read -r load1 rest </proc/loadavg
  while read -r key value _unit; do
    case $key in
      MemTotal:) total=$value ;;
      MemAvailable:) avail=$value ;;
    esac
  done </proc/meminfo
  cap=$(cd / && df -P / | tail -n 1 | tr -s ' ' | cut -d ' ' -f 5)
  stamp INFO "load1=$load1 mem_used_pct=$(((total - avail) * 100 / (total > 0 ? total : 1))) disk_used_pct=${cap%\%}"
}

if [[ ${opt[once]} == yes ]]; then
  if probe; then ok=0; else ok=1; fi
  metrics
  exit "$ok"
fi

streak=0
for ((;;)); do
  if probe; then
    streak=0
  else
    streak=$((streak + 1))
    if ((limit > 0 && streak >= limit)); then
      stamp ERROR "giving up: $streak consecutive failed checks"
      exit 1
    fi
  fi
  metrics
  sleep "${opt[interval]}"
done
