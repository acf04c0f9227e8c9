#!/usr/bin/env bash
# monitor.sh — poll a model server's /health and report host load, memory and disk.
set -o errexit -o nounset -o pipefail
export TZ=UTC

readonly USAGE='usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]'

declare -A opt=([url]=http://127.0.0.1:8000 [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)

say() {
  local stamp
  printf -v stamp '%(%Y-%m-%dT%H:%M:%SZ)T' -1
  printf '%s [%s] %s\n' "$stamp" "$1" "$2"
}

bad_usage() {
  printf 'monitor.sh: %s\n%s\n' "$1" "$USAGE" >&2
  exit 2
}

# A positive decimal: digits with at most one dot, at least one digit, not all zeros.
decimal_ok() {
  case $1 in
    '' | . | *[!0-9.]* | *.*.*) return 1 ;;
  esac
  [[ $1 == *[1-9]* ]]
}

count_ok() {
  case $1 in
    '' | *[!0-9]*) return 1 ;;
  esac
  [[ $1 == *[1-9]* ]]
}

parse() {
  while [[ $# -gt 0 ]]; do
    local flag=$1
    case $flag in
      -h | --help) echo "$USAGE"; exit 0 ;;
      --once) opt[once]=yes; shift; continue ;;
      --url | --interval | --max-failures | --timeout) ;;
      *) bad_usage "unexpected argument '$flag'" ;;
    esac
    [[ $# -ge 2 ]] || bad_usage "$flag needs a value"
    opt[${flag#--}]=$2
    shift 2
  done
  decimal_ok "${opt[interval]}" || bad_usage "bad --interval '${opt[interval]}'"
  decimal_ok "${opt[timeout]}" || bad_usage "bad --timeout '${opt[timeout]}'"
  count_ok "${opt[max-failures]}" || bad_usage "bad --max-failures '${opt[max-failures]}'"
  [[ ${opt[max-failures]} =~ ^0*[0-9]{1,18}$ ]] || bad_usage "--max-failures has more than 18 digits: ${opt[max-failures]}"
  opt[max-failures]=$((10#${opt[max-failures]}))
}

# Prints the status line's code of GET URL/health (000 when nothing answered in time).
probe() {
  local head status=000
  head=$(curl -s -i -o - -m "${opt[timeout]}" --connect-timeout "${opt[timeout]}" "${opt[url]}/health" 2>/dev/null \
    | head -n 1) || true
  if [[ $head =~ ^HTTP/[0-9.]+\ ([0-9]{3}) ]]; then
    status=${BASH_REMATCH[1]}
  fi
  echo "$status"
}

host_metrics() {
  local load1 rest key value total=0 avail=0 line fields
  read -r load1 rest < /proc/loadavg
  while read -r key value _; do
    case $key in
      MemTotal:) total=$value ;;
      MemAvailable:) avail=$value ;;
    esac
  done < /proc/meminfo
  local tenths=$(( (total - avail) * 1000 / total ))
  local disk=""
  while read -r line; do
    read -r -a fields <<< "$line"
    if [[ ${fields[4]:-} == *% && ${fields[4]} != Capacity ]]; then
      disk=${fields[4]%\%}
    fi
  done < <(df -P /)
  say INFO "load1=$load1 mem_used_pct=$((tenths / 10)).$((tenths % 10)) disk_used_pct=$disk"
}

one_check() {
  local status
  status=$(probe)
  if [[ $status == 200 ]]; then
    say INFO "health ok (HTTP $status from ${opt[url]}/health)"
  else
    say WARN "health FAILED (HTTP $status from ${opt[url]}/health)"
  fi
  host_metrics
  [[ $status == 200 ]]
}

main() {
  parse "$@"
  if [[ ${opt[once]} == yes ]]; then
    one_check
    exit
  fi
  local streak=0
  for ((;;)); do
    if one_check; then
      streak=0
    else
      streak=$((streak + 1))
      if ((streak >= ${opt[max-failures]})); then
        say ERROR "giving up: $streak failed checks in a row"
        exit 1
      fi
    fi
    sleep "${opt[interval]}"
  done
}

main "$@"
