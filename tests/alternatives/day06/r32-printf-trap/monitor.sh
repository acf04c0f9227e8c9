#!/usr/bin/env bash
# Style: bash builtins only for stamps and metrics (printf %()T, read), an options table, until-loop.
set -euo pipefail
export TZ=UTC0

declare -A opt=([url]=http://127.0.0.1:8000 [interval]=30 [max-failures]=3 [timeout]=5)
once=false

usage() {
  printf '%s\n' "usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]"
}
bad() { printf 'monitor.sh: %s\n' "$*" >&2; usage >&2; exit 2; }
say() {
  local now
  printf -v now '%(%Y-%m-%dT%H:%M:%SZ)T' -1
  printf '%s %-5s %s\n' "$now" "$1" "$2"
}

decimal_ok() {
  local v=$1
  case $v in
    '' | *[!0-9.]* | *.*.* | . ) return 1 ;;
  esac
  [[ $v == *[1-9]* ]]
}

args=("$@")
i=0
while ((i < ${#args[@]})); do
  a=${args[i]}
  case $a in
    --url | --interval | --max-failures | --timeout)
      ((i + 1 < ${#args[@]})) || bad "$a needs a value"
      opt[${a#--}]=${args[i + 1]}
      i=$((i + 2)) ;;
    --once) once=true; i=$((i + 1)) ;;
    -h | --help) usage; exit 0 ;;
    *) bad "unexpected argument '$a'" ;;
  esac
done

decimal_ok "${opt[interval]}" || bad "--interval must be a positive number of seconds"
decimal_ok "${opt[timeout]}" || bad "--timeout must be a positive number of seconds"
case ${opt[max-failures]} in
  '' | *[!0-9]*) bad "--max-failures must be a positive integer" ;;
esac
[[ ${opt[max-failures]} == *[1-9]* ]] || bad "--max-failures must be a positive integer"
mf=${opt[max-failures]}
while [[ $mf == 0* ]]; do mf=${mf#0}; done
# more digits than a 64-bit integer holds: as good as never giving up (bash arithmetic would wrap)
if ((${#mf} > 18)); then limit=999999999999999999; else limit=$((10#$mf)); fi

probe() {
  local status
  status=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout "${opt[timeout]}" -m "${opt[timeout]}" \
    "${opt[url]}/health" 2>/dev/null) || status=${status:-000}
  if [[ $status = 200 ]]; then
    say INFO "health ok (HTTP $status from ${opt[url]}/health)"
  else
    say WARN "health FAILED (HTTP $status from ${opt[url]}/health)"
    return 1
  fi
}

metrics() {
  local load1 rest key value unit total=0 avail=0 fs blocks used free cap mnt
  read -r load1 rest < /proc/loadavg
  while read -r key value unit; do
    case $key in
      MemTotal:) total=$value ;;
      MemAvailable:) avail=$value ;;
    esac
  done < /proc/meminfo
  local tenths=$(((total - avail) * 1000 / total))
  { read -r _; read -r fs blocks used free cap mnt; } < <(df -P /)
  say INFO "metrics load1=$load1 mem_used_pct=$((tenths / 10)).$((tenths % 10)) disk_used_pct=${cap%\%}"
  : "$fs$blocks$used$free$mnt$rest$unit"
}

if $once; then
  if probe; then rc=0; else rc=1; fi
  metrics
  exit "$rc"
fi

streak=0
until ((streak >= limit)); do
  if probe; then streak=0; else streak=$((streak + 1)); fi
  metrics
  ((streak >= limit)) && break
  sleep "${opt[interval]}"
done
say ERROR "giving up: $streak checks in a row failed"
exit 1
