#!/usr/bin/env bash
# deploy.sh — build VERSION, swap it in on the port, keep it only when healthy.
# 0: promoted   1: deploy failed (previous version restored)   2: usage error
set -o errexit -o nounset -o pipefail

readonly USAGE='usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)'

readonly TAG_FIRST='ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_'
readonly TAG_REST="$TAG_FIRST.-"

declare -A cfg=([image]=ml-model [name]=ml-model [port]=8000 [context]=. [state-file]=.deployed-version
                [retries]=10 [interval]=1 [timeout]=5 [docker]="${DOCKER:-docker}")
declare -a build_opts=() run_opts=() positional=()
previous=''
new_tmp=''

stamp() { TZ=UTC0 printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1; }
say() { printf '%s [%s] %s\n' "$(stamp)" "$1" "$2"; }
bad_usage() { printf 'deploy.sh: %s\n%s\n' "$1" "$USAGE" >&2; exit 2; }
cleanup() { if [ -n "$new_tmp" ]; then rm -f -- "$new_tmp"; fi; }
trap cleanup EXIT

only_chars() {  # only_chars STRING ALLOWED: every character of STRING is one of ALLOWED
  local s=$1 i
  for ((i = 0; i < ${#s}; i++)); do
    case $2 in *"${s:i:1}"*) ;; *) return 1 ;; esac
  done
}

valid_tag() {
  local LC_ALL=C
  [ ${#1} -ge 1 ] && [ ${#1} -le 128 ] && only_chars "${1:0:1}" "$TAG_FIRST" && only_chars "$1" "$TAG_REST"
}

decimal_ok() {
  case $1 in '' | *[!0-9.]* | *.*.* | .* | *.) return 1 ;; esac
  case $1 in *[1-9]*) return 0 ;; esac
  return 1
}

digits_value() {  # digits_value STRING MAX: the decimal value of STRING (digits only), capped at MAX
  case $1 in '' | *[!0-9]*) return 1 ;; esac
  awk -v n="$1" -v max="$2" 'BEGIN { sub(/^0+/, "", n); if (length(n) > 15 || n + 0 > max) n = max + 1; printf "%d", n + 0 }'
}

parse() {
  local flag
  while [ $# -gt 0 ]; do
    flag=$1
    case $flag in
      -h | --help) printf '%s\n' "$USAGE"; exit 0 ;;
      --image | --name | --port | --context | --state-file | --retries | --interval | --timeout | --docker | \
      --build-arg | --label)
        [ $# -ge 2 ] || bad_usage "$flag wants a value"
        case $flag in
          --build-arg) build_opts+=("--build-arg=$2") ;;
          --label) run_opts+=("--label=$2") ;;
          *) cfg[${flag#--}]=$2 ;;
        esac
        shift 2 ;;
      -*) bad_usage "unknown option ${flag%%=*}" ;;
      *) positional+=("$flag"); shift ;;
    esac
  done
  [ ${#positional[@]} -eq 1 ] || bad_usage "give exactly one VERSION (got ${#positional[@]})"
  VERSION=${positional[0]}
  valid_tag "$VERSION" || bad_usage "VERSION is not an image tag: $VERSION"
  local port retries
  port=$(digits_value "${cfg[port]}" 65535) || bad_usage "--port is not a number: ${cfg[port]}"
  [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || bad_usage "--port out of range: ${cfg[port]}"
  cfg[port]=$port
  retries=$(digits_value "${cfg[retries]}" 1000000000) || bad_usage "--retries is not a number: ${cfg[retries]}"
  [ "$retries" -ge 1 ] || bad_usage "--retries must be at least 1"
  cfg[retries]=$retries
  decimal_ok "${cfg[interval]}" || bad_usage "--interval is not a positive decimal: ${cfg[interval]}"
  decimal_ok "${cfg[timeout]}" || bad_usage "--timeout is not a positive decimal: ${cfg[timeout]}"
  [ -n "${cfg[docker]}" ] || cfg[docker]=docker
}

docker_do() { timeout 300 "${cfg[docker]}" "$@" 1>&2; }

wait_healthy() {
  local n=0 code
  while [ "$n" -lt "${cfg[retries]}" ]; do
    n=$((n + 1))
    code=$(curl -s -o /dev/null -w '%{response_code}' --max-time "${cfg[timeout]}" \
      "http://127.0.0.1:${cfg[port]}/health") || code=000
    if [ "$code" = 200 ]; then
      say INFO "check $n: healthy"
      return 0
    fi
    say WARN "check $n of ${cfg[retries]}: not healthy (status $code)"
    if [ "$n" -lt "${cfg[retries]}" ]; then sleep "${cfg[interval]}"; fi
  done
  return 1
}

rollback() {
  local new="${cfg[name]}-$VERSION"
  say ERROR "rollback: removing $new"
  docker_do rm --force "$new" || say ERROR "rollback: docker rm --force $new failed"
  if [ -n "$previous" ]; then
    say INFO "rollback: starting ${cfg[name]}-$previous again"
    docker_do start "${cfg[name]}-$previous" || say ERROR "rollback: could not start ${cfg[name]}-$previous: NOTHING SERVES"
  fi
  say ERROR "deploy of $VERSION failed, rolled back"
  exit 1
}

record() {
  new_tmp=$(dirname -- "${cfg[state-file]}")/.$(basename -- "${cfg[state-file]}").$$.new
  printf '%s\n' "$VERSION" >"$new_tmp"
  mv -- "$new_tmp" "${cfg[state-file]}"
  new_tmp=''
}

main() {
  parse "$@"
  if [ -f "${cfg[state-file]}" ]; then
    read -r previous <"${cfg[state-file]}" || true
  fi
  if [ -n "$previous" ] && [ "$previous" = "$VERSION" ]; then
    say ERROR "refused: $VERSION is the version serving now; deploy a new tag"
    exit 1
  fi
  say INFO "build ${cfg[image]}:$VERSION from ${cfg[context]}"
  if ! docker_do build --tag "${cfg[image]}:$VERSION" "${build_opts[@]}" "${cfg[context]}"; then
    say ERROR "build failed; nothing was changed"
    exit 1
  fi
  if [ -n "$previous" ]; then
    say INFO "stop ${cfg[name]}-$previous"
    docker_do stop "${cfg[name]}-$previous" || say WARN "docker stop ${cfg[name]}-$previous failed; carrying on"
  fi
  say INFO "run ${cfg[name]}-$VERSION on 127.0.0.1:${cfg[port]}"
  docker_do run --detach --name "${cfg[name]}-$VERSION" --publish "127.0.0.1:${cfg[port]}:8000" \
    "${run_opts[@]}" "${cfg[image]}:$VERSION" || rollback
  wait_healthy || rollback
  if [ -n "$previous" ]; then
    docker_do rm --force "${cfg[name]}-$previous" || say WARN "could not remove ${cfg[name]}-$previous"
  fi
  record
  say INFO "promoted $VERSION"
}

main "$@"
