#!/usr/bin/env bash
# monitor.sh: watch a model server's /health and this host's load, memory and disk.
set -euo pipefail
shopt -s extglob

readonly USAGE='usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]'

declare -A cfg=([url]=http://127.0.0.1:8000 [interval]=30 [max_failures]=3 [timeout]=5 [once]=no)

stamp() { TZ=UTC0 printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1; }
say() { printf '%s [%s] %s\n' "$(stamp)" "$1" "$2"; }
bad() { printf '%s\n%s\n' "monitor.sh: $1" "$USAGE" >&2; exit 2; }

# extglob patterns instead of regexes
decimal_ok() {
  case $1 in
    +([0-9])?(.*([0-9])) | .+([0-9])) [[ $1 == *[1-9]* ]] ;;
    *) return 1 ;;
  esac
}
count_ok() {
  case $1 in
    +([0-9])) local n=${1##+(0)}; [[ -n $n ]] && ((${#n} < 19)) ;;
    *) return 1 ;;
  esac
}

parse() {
  local flag key
  while (($#)); do
    flag=$1
    case $flag in
      -h|--help) echo "$USAGE"; exit 0 ;;
      --once) cfg[once]=yes; shift; continue ;;
      --url|--interval|--max-failures|--timeout)
        (($# > 1)) || bad "$flag needs a value"
        key=${flag#--}; key=${key//-/_}
        cfg[$key]=$2; shift 2 ;;
      *) bad "unexpected argument: $flag" ;;
    esac
  done
  decimal_ok "${cfg[interval]}" || bad "bad --interval: ${cfg[interval]}"
  decimal_ok "${cfg[timeout]}" || bad "bad --timeout: ${cfg[timeout]}"
  count_ok "${cfg[max_failures]}" || bad "bad --max-failures: ${cfg[max_failures]}"
  cfg[max_failures]=${cfg[max_failures]##+(0)}
}

probe() {
  local status
  if status=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout "${cfg[timeout]}" \
      -m "${cfg[timeout]}" "${cfg[url]}/health"); then :; fi
  case $status in
    200) say INFO "health check passed (HTTP 200)"; return 0 ;;
    ''|000) say ERROR "health check failed: no answer from ${cfg[url]}/health" ;;
    *) say ERROR "health check failed: HTTP $status" ;;
  esac
  return 1
}

metrics() {
  local load _ key value total=0 avail=0 line cap
  read -r load _ </proc/loadavg
  while read -r key value _; do
    case $key in
      MemTotal:) total=$value ;;
      MemAvailable:) avail=$value ;;
    esac
  done </proc/meminfo
  { read -r _; read -r line; } < <(df -P /)
  read -r _ _ _ _ cap _ <<<"$line"
  say INFO "$(printf 'load1=%s mem_used_pct=%d disk_used_pct=%s' "$load" $(( (total - avail) * 100 / total )) "${cap%\%}")"
}

main() {
  parse "$@"
  local streak=0
  if [[ ${cfg[once]} == yes ]]; then
    local rc=0
    probe || rc=1
    metrics
    return "$rc"
  fi
  while :; do
    if probe; then streak=0; else streak=$((streak + 1)); fi
    metrics
    if ((streak >= 10#${cfg[max_failures]})); then
      say ERROR "giving up: $streak consecutive failed health checks"
      return 1
    fi
    sleep "${cfg[interval]}"
  done
}

main "$@"
