#!/usr/bin/env bash
# monitor.sh — health and host metrics, in one main() with an options table.
set -euo pipefail
shopt -s extglob
export TZ=UTC0

readonly USAGE='usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]'

stamp() { printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1; }
say() { printf '%s [%s] %s\n' "$(stamp)" "$1" "$2"; }
bad_usage() { printf 'monitor.sh: %s\n%s\n' "$1" "$USAGE" >&2; exit 2; }

# a positive decimal: digits with at most one dot and digits on both sides, not all zeros
positive_decimal() {
  case $1 in
    +([0-9])?(.+([0-9]))) ;;
    *) return 1 ;;
  esac
  case $1 in
    *[1-9]*) return 0 ;;
    *) return 1 ;;
  esac
}

declare -A opt=([url]=http://127.0.0.1:8000 [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)

probe() {
  local status
  if ! status=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout "${opt[timeout]}" \
      --max-time "${opt[timeout]}" -- "${opt[url]}/health"); then
    say WARN "health FAILED: no answer from ${opt[url]}/health within ${opt[timeout]}s (http ${status:-000})"
    return 1
  fi
  case $status in
    200) say INFO "health ok: ${opt[url]}/health answered 200" ;;
    *) say WARN "health FAILED: ${opt[url]}/health answered $status"; return 1 ;;
  esac
}

metrics() {
  local load key value total=0 avail=0
  local -a fields
  read -r load _ </proc/loadavg
  while read -r key value _; do
    case $key in
      MemTotal:) total=$value ;;
      MemAvailable:) avail=$value ;;
    esac
  done </proc/meminfo
  local -a rows
  mapfile -t rows < <(df -P /)
  read -r -a fields <<<"${rows[-1]}"
  local used=$(( (total - avail) * 1000 / total ))
  say INFO "$(printf 'load1=%s mem_used_pct=%d.%d disk_used_pct=%s' "$load" $((used / 10)) $((used % 10)) "${fields[4]%\%}")"
}

main() {
  local flag
  while (($#)); do
    flag=$1
    case $flag in
      -h|--help) printf '%s\n' "$USAGE"; exit 0 ;;
      --once) opt[once]=yes; shift; continue ;;
      --url|--interval|--max-failures|--timeout)
        (($# > 1)) || bad_usage "$flag wants a value"
        opt[${flag#--}]=$2; shift 2 ;;
      *) bad_usage "what is $flag?" ;;
    esac
  done
  positive_decimal "${opt[interval]}" || bad_usage "--interval must be a positive number of seconds"
  positive_decimal "${opt[timeout]}" || bad_usage "--timeout must be a positive number of seconds"
  case ${opt[max-failures]} in
    +([0-9])) ;;
    *) bad_usage "--max-failures must be a positive integer" ;;
  esac
  local limit=${opt[max-failures]##+(0)}
  [[ -n $limit ]] || bad_usage "--max-failures must be a positive integer"
  # more than 18 digits may not fit in 64 bits: such a limit means "never give up"
  ((${#limit} <= 18)) || limit=0

  if [[ ${opt[once]} == yes ]]; then
    local rc=0
    probe || rc=1
    metrics
    return "$rc"
  fi

  local streak=0
  for (( ; ; )); do
    if probe; then streak=0; else streak=$((streak + 1)); fi
    metrics
    if ((limit > 0 && streak >= limit)); then
      say ERROR "giving up: $streak failed checks in a row"
      return 1
    fi
    sleep "${opt[interval]}"
  done
}

main "$@"
