#!/usr/bin/env bash
# monitor.sh: watch a model server's /health and this host's load, memory and disk.
set -euo pipefail

readonly USAGE='usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]'

declare -A OPT=([url]=http://127.0.0.1:8000 [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)

stamp() { TZ=UTC0 printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1; }
say() { local level=$1; shift; printf '%s [%s] %s\n' "$(stamp)" "$level" "$*"; }
bad() { printf 'monitor.sh: %s\n%s\n' "$1" "$USAGE" >&2; exit 2; }

decimal_ok() {
  local v=$1
  case $v in
    '' | *[!0-9.]* | *.*.* | . | *.) return 1 ;;
  esac
  case $v in
    *[1-9]*) return 0 ;;
    *) return 1 ;;
  esac
}

# prints the count without leading zeros, or "forever" when it is too big to matter
count_ok() {
  local v=$1
  case $v in '' | *[!0-9]*) return 1 ;; esac
  v=${1##+(0)}
  [[ -n $v ]] || return 1
  if ((${#v} > 15)); then echo forever; else echo "$v"; fi
}

parse() {
  while [[ $# -gt 0 ]]; do
    case $1 in
      -h | --help) echo "$USAGE"; exit 0 ;;
      --once) OPT[once]=yes; shift ;;
      --url | --interval | --max-failures | --timeout)
        [[ $# -ge 2 ]] || bad "$1 needs a value"
        OPT[${1#--}]=$2; shift 2 ;;
      *) bad "unexpected argument: $1" ;;
    esac
  done
  decimal_ok "${OPT[interval]}" || bad "bad --interval"
  decimal_ok "${OPT[timeout]}" || bad "bad --timeout"
  OPT[max-failures]=$(count_ok "${OPT[max-failures]}") || bad "bad --max-failures"
}

probe() {
  local status
  if ! status=$(curl -s -o /dev/null -w '%{response_code}' -m "${OPT[timeout]}" "${OPT[url]}/health"); then
    status=${status:-000}
  fi
  case $status in
    200) say INFO "health ok (HTTP 200 from ${OPT[url]}/health)"; return 0 ;;
    000) say ERROR "health check failed: no answer from ${OPT[url]}/health" ;;
    *) say ERROR "health check failed: HTTP $status from ${OPT[url]}/health" ;;
  esac
  return 1
}

metrics() {
  local load rest key value unit total=0 avail=0 fs blocks used free cap mnt
  read -r load rest < /proc/loadavg
  while read -r key value unit; do
    case $key in
      MemTotal:) total=$value ;;
      MemAvailable:) avail=$value ;;
    esac
  done < /proc/meminfo
  { read -r _; read -r fs blocks used free cap mnt; } < <(df -P /)
  : "$rest" "$unit" "$fs" "$blocks" "$used" "$free" "$mnt"
  say INFO "metrics load1=$load mem_used_pct=$(( (total - avail) * 100 / total )) disk_used_pct=${cap%\%}"
}

main() {
  shopt -s extglob
  parse "$@"
  local streak=0 limit=${OPT[max-failures]}
  if [[ ${OPT[once]} == yes ]]; then
    local rc=0
    probe || rc=1
    metrics
    return "$rc"
  fi
  while :; do
    if probe; then streak=0; else streak=$((streak + 1)); fi
    metrics
    if [[ $limit != forever ]] && ((streak >= limit)); then
      say ERROR "giving up: $streak consecutive failed checks"
      return 1
    fi
    sleep "${OPT[interval]}"
  done
}

main "$@"
