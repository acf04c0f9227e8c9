#!/usr/bin/env bash
# monitor.sh — health and host metrics watcher (functions + main style, pure-bash parsing).
set -o errexit -o nounset -o pipefail

readonly USAGE='usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]'

stamp() { TZ=UTC printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1; }
say() { local level=$1; shift; printf '%s [%s] %s\n' "$(stamp)" "$level" "$*"; }
bad_usage() { printf '%s\n%s\n' "error: $*" "$USAGE" >&2; exit 2; }

decimal_ok() {
  case $1 in
    ''|*[!0-9.]*|*.*.*|.*|*.) return 1 ;;
  esac
  case $1 in
    *[1-9]*) return 0 ;;
    *) return 1 ;;
  esac
}

count_ok() {
  # positive integer that bash arithmetic can hold; prints it in base 10
  local n=$1
  case $n in ''|*[!0-9]*) return 1 ;; esac
  while [[ $n == 0?* ]]; do n=${n#0}; done
  [[ $n != 0 ]] || return 1
  ((${#n} < 19)) || return 1
  printf '%s' "$n"
}

host_metrics() {
  local load rest key value unit total=0 avail=0 cap
  read -r load rest < /proc/loadavg
  while read -r key value unit; do
    case $key in
      MemTotal:) total=$value ;;
      MemAvailable:) avail=$value ;;
    esac
  done < /proc/meminfo
  : "$rest" "$unit"
  cap=$(df -P / | { read -r _; read -r _ _ _ _ c _; printf '%s' "${c%\%}"; })
  local mem=0
  if ((total > 0)); then mem=$(( (total - avail) * 100 / total )); fi
  say INFO "load1=$load mem_used_pct=$mem disk_used_pct=$cap"
}

probe() {
  local status
  if ! status=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout "$TIMEOUT" --max-time "$TIMEOUT" \
      -- "$URL/health"); then
    say WARN "check failed: no answer from $URL/health within ${TIMEOUT}s (curl status ${status:-000})"
    return 1
  fi
  if [[ $status != 200 ]]; then
    say WARN "check failed: $URL/health answered $status"
    return 1
  fi
  say INFO "check passed: $URL/health answered 200"
}

main() {
  URL=http://127.0.0.1:8000 INTERVAL=30 TIMEOUT=5
  local max=3 once=false
  while (($#)); do
    case $1 in
      -h|--help) printf '%s\n' "$USAGE"; exit 0 ;;
      --once) once=true; shift; continue ;;
      --url|--interval|--max-failures|--timeout) (($# > 1)) || bad_usage "$1 needs a value" ;;
      *) bad_usage "unexpected argument: $1" ;;
    esac
    case $1 in
      --url) URL=$2 ;;
      --interval) INTERVAL=$2 ;;
      --max-failures) max=$2 ;;
      --timeout) TIMEOUT=$2 ;;
    esac
    shift 2
  done
  [[ -n $URL ]] || bad_usage "empty --url"
  decimal_ok "$INTERVAL" || bad_usage "bad --interval '$INTERVAL'"
  decimal_ok "$TIMEOUT" || bad_usage "bad --timeout '$TIMEOUT'"
  max=$(count_ok "$max") || bad_usage "bad --max-failures"

  if $once; then
    local rc=0
    probe || rc=1
    host_metrics
    exit "$rc"
  fi

  local streak=0
  for ((;;)); do
    if probe; then
      streak=0
    else
      streak=$((streak + 1))
      if ((streak >= max)); then
        say ERROR "giving up: $streak consecutive failed checks of $URL/health"
        exit 1
      fi
    fi
    host_metrics
    sleep "$INTERVAL"
  done
}

main "$@"
