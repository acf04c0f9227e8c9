#!/usr/bin/env bash
# monitor.sh -- health and host metrics, one check or a loop that gives up after N consecutive failures.
set -euo pipefail
shopt -s extglob
export TZ=UTC0

readonly USAGE='usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]'

declare -A opt=([url]="http://127.0.0.1:8000" [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)

stamp() { printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1; }
say() { echo "$(stamp) [$1] ${*:2}"; }
bad() { printf '%s\nerror: %s\n' "$USAGE" "$*" >&2; exit 2; }

# a positive decimal: digits with an optional fraction (or a bare fraction), not all zeros
decimal_ok() {
  case $1 in
    +([0-9]) | +([0-9]).+([0-9]) | .+([0-9])) [[ $1 == *[1-9]* ]] ;;
    *) return 1 ;;
  esac
}

# a positive count; one too long for 64-bit arithmetic means "never give up" (stored as 0)
count_ok() {
  case $1 in
    +([0-9])) ;;
    *) return 1 ;;
  esac
  local n=${1##+(0)}
  [[ -n $n ]]
}

while [[ $# -gt 0 ]]; do
  arg=$1
  shift
  case $arg in
    -h | --help) echo "$USAGE"; exit 0 ;;
    --once) opt[once]=yes ;;
    --url=* | --interval=* | --max-failures=* | --timeout=*)
      key=${arg%%=*}; opt[${key#--}]=${arg#*=} ;;
    --url | --interval | --max-failures | --timeout)
      [[ $# -gt 0 ]] || bad "$arg needs a value"
      opt[${arg#--}]=$1
      shift ;;
    *) bad "unexpected argument '$arg'" ;;
  esac
done

decimal_ok "${opt[interval]}" || bad "--interval: not a positive number: ${opt[interval]}"
decimal_ok "${opt[timeout]}" || bad "--timeout: not a positive number: ${opt[timeout]}"
count_ok "${opt[max-failures]}" || bad "--max-failures: not a positive integer: ${opt[max-failures]}"
limit=${opt[max-failures]##+(0)}
if ((${#limit} > 18)); then
  limit=0 # never give up
else
  limit=$((10#$limit))
fi

probe() {
  local status
  status=$(curl -s -o /dev/null -w '%{response_code}' -m "${opt[timeout]}" "${opt[url]}/health" 2>/dev/null) || status=${status:-000}
  if [[ $status == 200 ]]; then
    say INFO "check ok: ${opt[url]}/health answered 200"
  elif [[ $status == 000 ]]; then
    say WARN "check failed: no answer from ${opt[url]}/health within ${opt[timeout]} s"
    return 1
  else
    say WARN "check failed: ${opt[url]}/health answered $status"
    return 1
  fi
}

metrics() {
  local line
  line=$(awk '
    FILENAME == "/proc/loadavg" { load = $1 }
    FILENAME == "/proc/meminfo" && $1 == "MemTotal:" { total = $2 }
    FILENAME == "/proc/meminfo" && $1 == "MemAvailable:" { avail = $2 }
    END { printf "load1=%s mem_used_pct=%.2f", load, 100 * (total - avail) / total }
  ' /proc/loadavg /proc/meminfo)
  local capacity
  capacity=$(df -P / | awk 'END { print $5 }')
  say INFO "$line disk_used_pct=${capacity%\%}"
}

if [[ ${opt[once]} == yes ]]; then
  status=0
  probe || status=1
  metrics
  exit "$status"
fi

streak=0
until false; do
  if probe; then
    streak=0
  else
    streak=$((streak + 1))
  fi
  metrics
  if ((limit > 0 && streak >= limit)); then
    say ERROR "giving up: $streak checks in a row failed" >&2
    exit 1
  fi
  sleep "${opt[interval]}"
done
