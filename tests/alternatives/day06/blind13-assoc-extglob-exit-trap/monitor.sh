#!/usr/bin/env bash
# monitor.sh: watch a model server's /health and this host's load, memory and disk.
set -euo pipefail
shopt -s extglob

declare -A cfg=([url]=http://127.0.0.1:8000 [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)

print_usage() {
  printf '%s\n' \
    "usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]" \
    "       monitor.sh -h|--help"
}

usage_error() {
  printf 'monitor.sh: %s\n' "$1" >&2
  print_usage >&2
  exit 2
}

stamp() {
  # bash's own strftime, in UTC whatever the caller's TZ is
  TZ=UTC0 printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1
}

say() {
  printf '%s [%s] %s\n' "$(stamp)" "$1" "$2"
}

valid() {
  local kind=$1 value=$2
  case $kind in
    seconds)
      case $value in
        +([0-9])?(.*([0-9])) | .+([0-9])) ;;
        *) return 1 ;;
      esac ;;
    count)
      case $value in
        +([0-9])) ;;
        *) return 1 ;;
      esac ;;
  esac
  case $value in
    *[1-9]*) return 0 ;;
    *) return 1 ;;
  esac
}

declare -A kinds=([interval]=seconds [timeout]=seconds [max-failures]=count [url]=any)

while [[ $# -gt 0 ]]; do
  arg=$1
  case $arg in
    -h | --help)
      print_usage
      exit 0 ;;
    --once)
      cfg[once]=yes
      shift ;;
    --url | --interval | --max-failures | --timeout)
      key=${arg#--}
      [[ $# -ge 2 ]] || usage_error "$arg needs a value"
      if [[ ${kinds[$key]} != any ]] && ! valid "${kinds[$key]}" "$2"; then
        usage_error "bad value for $arg: $2"
      fi
      cfg[$key]=$2
      shift 2 ;;
    *)
      usage_error "unexpected argument: $arg" ;;
  esac
done

[[ ${cfg[max-failures]} =~ ^0*[0-9]{1,18}$ ]] || usage_error "--max-failures has more than 18 digits: ${cfg[max-failures]}"
max_failures=$((10#${cfg[max-failures]}))

probe() {
  local status
  if ! status=$(curl -s -o /dev/null -w '%{response_code}' -m "${cfg[timeout]}" "${cfg[url]}/health"); then
    status=${status:-000}
  fi
  if [[ $status == 200 ]]; then
    say INFO "health ok (${cfg[url]}/health answered 200)"
  else
    say ERROR "health failed (${cfg[url]}/health answered ${status})"
    return 1
  fi
}

metrics() {
  local load1 rest key value total=0 avail=0 line mem_tenths disk
  read -r load1 rest </proc/loadavg
  while read -r key value _; do
    case $key in
      MemTotal:) total=$value ;;
      MemAvailable:) avail=$value ;;
    esac
  done </proc/meminfo
  mem_tenths=$(((total - avail) * 1000 / total))
  disk=
  while read -r line; do
    disk=$line
  done < <(df -P / | tail -n +2)
  read -r _ _ _ _ disk _ <<<"$disk"
  say INFO "load1=$load1 mem_used_pct=$((mem_tenths / 10)).$((mem_tenths % 10)) disk_used_pct=${disk%\%}"
}

if [[ ${cfg[once]} == yes ]]; then
  if probe; then
    metrics
    exit 0
  fi
  metrics
  exit 1
fi

left=$max_failures
while :; do
  if probe; then
    left=$max_failures
  else
    left=$((left - 1))
    if ((left <= 0)); then
      metrics
      say ERROR "giving up: $max_failures failed checks in a row"
      exit 1
    fi
  fi
  metrics
  sleep "${cfg[interval]}"
done
