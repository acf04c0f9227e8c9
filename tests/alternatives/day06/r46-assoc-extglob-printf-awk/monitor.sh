#!/usr/bin/env bash
# monitor.sh: watch a model server's /health and this host's load, memory and disk.
set -euo pipefail
shopt -s extglob
export TZ=UTC0

readonly USAGE='usage: monitor.sh [--url URL] [--interval SECONDS] [--max-failures N] [--timeout SECONDS] [--once]'

# settings, keyed by option name (never read from the environment)
declare -A opt=([url]=http://127.0.0.1:8000 [interval]=30 [max-failures]=3 [timeout]=5 [once]=no)

stamp() {
  local level=$1 msg=$2 now
  printf -v now '%(%Y-%m-%dT%H:%M:%S)T' -1
  printf '%sZ [%s] %s\n' "$now" "$level" "$msg"
}

bad_usage() {
  printf 'monitor.sh: %s\n%s\n' "$1" "$USAGE" >&2
  exit 2
}

# a positive decimal like 0.5 or 30 (no units, no exponent, not zero)
seconds_ok() {
  case $1 in
    +([0-9])?(.*([0-9])) | .+([0-9])) ;;
    *) return 1 ;;
  esac
  case $1 in *[1-9]*) return 0 ;; esac
  return 1
}

parse() {
  while (($#)); do
    case $1 in
      -h | --help) printf '%s\n' "$USAGE"; exit 0 ;;
      --once) opt[once]=yes ;;
      --url | --interval | --max-failures | --timeout)
        [[ $# -ge 2 ]] || bad_usage "$1 needs a value"
        opt[${1#--}]=$2
        shift ;;
      *) bad_usage "unexpected argument: $1" ;;
    esac
    shift
  done
  seconds_ok "${opt[interval]}" || bad_usage "bad --interval: ${opt[interval]}"
  seconds_ok "${opt[timeout]}" || bad_usage "bad --timeout: ${opt[timeout]}"
  local n=${opt[max-failures]}
  case $n in
    +([0-9])) ;;
    *) bad_usage "bad --max-failures: $n" ;;
  esac
  n=${n##+(0)}
  [[ -n $n ]] || bad_usage "--max-failures must be at least 1"
  if ((${#n} > 18)); then
    opt[max-failures]=0 # too big to count to: never give up
  else
    opt[max-failures]=$((10#$n))
  fi
}

# prints the HTTP status of one GET URL/health (000 when nothing answered in time)
probe() {
  curl -s -o /dev/null -w '%{http_code}' -m "${opt[timeout]}" --connect-timeout "${opt[timeout]}" \
    "${opt[url]}/health" || :
}

metrics_line() {
  local disk=
  local _fs _blocks _used _avail cap _mnt
  while read -r _fs _blocks _used _avail cap _mnt; do
    disk=${cap%\%}
  done < <(df -P / | tail -n +2)
  awk -v disk="$disk" '
    FILENAME == "/proc/loadavg" { load = $1 }
    $1 == "MemTotal:" { total = $2 }
    $1 == "MemAvailable:" { avail = $2 }
    END { printf "load1=%s mem_used_pct=%.1f disk_used_pct=%s\n", load, (total - avail) * 100 / total, disk }
  ' /proc/loadavg /proc/meminfo
}

one_check() {
  local status
  status=$(probe)
  if [[ $status == 200 ]]; then
    stamp INFO "health ok (HTTP 200 from ${opt[url]}/health)"
    return 0
  fi
  stamp ERROR "health check failed (HTTP ${status:-000} from ${opt[url]}/health)"
  return 1
}

main() {
  parse "$@"
  local streak=0 ok
  while :; do
    ok=yes
    one_check || ok=no
    if [[ ${opt[once]} == yes ]]; then
      stamp INFO "$(metrics_line)"
      [[ $ok == yes ]]
      return
    fi
    if [[ $ok == yes ]]; then
      streak=0
    else
      streak=$((streak + 1))
      if ((opt[max-failures] > 0 && streak >= opt[max-failures])); then
        stamp ERROR "giving up: $streak consecutive failed checks"
        return 1
      fi
    fi
    stamp INFO "$(metrics_line)"
    sleep "${opt[interval]}"
  done
}

main "$@"
