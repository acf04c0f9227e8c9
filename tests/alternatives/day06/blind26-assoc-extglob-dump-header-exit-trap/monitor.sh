#!/usr/bin/env bash
# monitor.sh — health and host metrics watcher (exit 0 healthy/--once ok, 1 unhealthy, 2 usage).
set -euo pipefail
shopt -s extglob
export TZ=UTC0

declare -A OPT=([url]="http://127.0.0.1:8000" [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)

print_usage() {
  printf '%s\n' \
    "usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]" \
    "  defaults: --url http://127.0.0.1:8000 --interval 30 --max-failures 3 --timeout 5"
}

usage_error() {
  printf 'monitor.sh: %s\n' "$1" >&2
  print_usage >&2
  exit 2
}

say() {
  local stamp
  printf -v stamp '%(%Y-%m-%dT%H:%M:%S)T' -1
  printf '%sZ [%s] %s\n' "$stamp" "$1" "$2"
}

positive_number() {
  case $1 in
    +([0-9])?(.+([0-9]))) [[ $1 == *[1-9]* ]] ;;
    *) return 1 ;;
  esac
}

positive_whole() {
  case $1 in
    +([0-9])) [[ $1 == *[1-9]* ]] ;;
    *) return 1 ;;
  esac
}

parse_args() {
  local key
  while [[ $# -gt 0 ]]; do
    case $1 in
      -h|--help) print_usage; exit 0 ;;
      --once) OPT[once]=yes; shift ;;
      --url|--interval|--max-failures|--timeout)
        key=${1#--}
        [[ $# -ge 2 ]] || usage_error "$1 requires a value"
        OPT[$key]=$2
        shift 2 ;;
      *) usage_error "unexpected argument '$1'" ;;
    esac
  done
  positive_number "${OPT[interval]}" || usage_error "bad --interval '${OPT[interval]}'"
  positive_number "${OPT[timeout]}" || usage_error "bad --timeout '${OPT[timeout]}'"
  positive_whole "${OPT[max-failures]}" || usage_error "bad --max-failures '${OPT[max-failures]}'"
  [[ ${OPT[max-failures]} =~ ^0*[0-9]{1,18}$ ]] || usage_error "--max-failures has more than 18 digits: ${OPT[max-failures]}"
}

# Reads the status line from the response headers; prints the status code (or nothing).
probe() {
  local headers
  headers=$(curl -s -D - -o /dev/null -m "${OPT[timeout]}" "${OPT[url]}/health" 2>/dev/null) || true
  headers=${headers%%$'\r'*}
  local -a words
  read -r -a words <<<"$headers"
  printf '%s' "${words[1]:-}"
}

check() {
  local status
  status=$(probe)
  if [[ $status == 200 ]]; then
    say INFO "health ok (HTTP 200)"
    return 0
  fi
  say WARN "health FAILED (${status:-no answer})"
  return 1
}

metrics() {
  local load rest key value total=0 avail=0 disk
  read -r load rest </proc/loadavg
  while IFS=': ' read -r key value _; do
    case $key in
      MemTotal) total=$value ;;
      MemAvailable) avail=$value ;;
    esac
  done </proc/meminfo
  disk=$(df -P / | tail -n 1 | tr -s ' ' | cut -d' ' -f5)
  say INFO "load1=$load mem_used_pct=$(( (total - avail) * 100 / total )) disk_used_pct=${disk%\%}"
}

main() {
  parse_args "$@"
  local limit=$((10#${OPT[max-failures]})) streak=0
  if [[ ${OPT[once]} == yes ]]; then
    local rc=0
    check || rc=1
    metrics
    return "$rc"
  fi
  until false; do
    if check; then streak=0; else streak=$((streak + 1)); fi
    metrics
    if [[ $streak -ge $limit ]]; then
      say ERROR "giving up: $streak consecutive failed checks"
      return 1
    fi
    sleep "${OPT[interval]}"
  done
}

main "$@"
