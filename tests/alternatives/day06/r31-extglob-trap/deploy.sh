#!/usr/bin/env bash
# deploy.sh — build, swap, health-check, promote; an EXIT trap rolls back whatever was started.
set -euo pipefail
shopt -s extglob
export TZ=UTC0

readonly USAGE='usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)'
readonly TAG_CHARS='abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_'

say() { printf '%(%Y-%m-%dT%H:%M:%SZ)T [%s] %s\n' -1 "$1" "${*:2}"; }
bad_usage() { printf 'deploy.sh: %s\n%s\n' "$1" "$USAGE" >&2; exit 2; }

declare -A cfg=([image]=ml-model [name]=ml-model [port]=8000 [context]=. [state-file]=.deployed-version
  [retries]=10 [interval]=1 [timeout]=5 [docker]="${DOCKER:-docker}")
build_extra=()
run_extra=()
positional=()

set_option() { # set_option KEY VALUE
  case $1 in
    build-arg) build_extra+=("--build-arg=$2") ;;
    label) run_extra+=("--label=$2") ;;
    *) cfg[$1]=$2 ;;
  esac
}

while [[ $# -gt 0 ]]; do
  arg=$1
  shift
  case $arg in
    -h | --help) printf '%s\n' "$USAGE"; exit 0 ;;
    --@(image|name|port|context|build-arg|label|state-file|retries|interval|timeout|docker)=*)
      key=${arg%%=*}
      set_option "${key#--}" "${arg#*=}"
      ;;
    --@(image|name|port|context|build-arg|label|state-file|retries|interval|timeout|docker))
      [[ $# -gt 0 ]] || bad_usage "$arg needs a value"
      set_option "${arg#--}" "$1"
      shift
      ;;
    -*) bad_usage "unknown option ${arg%%=*}" ;;
    *) positional+=("$arg") ;;
  esac
done

decimal_ok() {
  case $1 in
    +([0-9])?(.+([0-9]))) [[ ${1//[0.]/} != "" ]] ;;
    *) return 1 ;;
  esac
}

[[ ${#positional[@]} -eq 1 ]] || bad_usage "expected exactly one VERSION, got ${#positional[@]}"
VERSION=${positional[0]}
case $VERSION in
  [$TAG_CHARS]*([$TAG_CHARS.-])) [[ ${#VERSION} -le 128 ]] || bad_usage "tag '$VERSION' is longer than 128" ;;
  *) bad_usage "'$VERSION' is not a valid image tag" ;;
esac
case ${cfg[port]} in
  +([0-9])) ;;
  *) bad_usage "bad --port '${cfg[port]}'" ;;
esac
port=${cfg[port]##+(0)}
if [[ ${#port} -gt 5 || -z $port ]] || ((port > 65535)); then bad_usage "--port must be 1-65535"; fi
case ${cfg[retries]} in
  +([0-9])) ;;
  *) bad_usage "bad --retries '${cfg[retries]}'" ;;
esac
retries=${cfg[retries]##+(0)}
[[ -n $retries ]] || bad_usage "--retries must be at least 1"
((${#retries} <= 18)) || bad_usage "--retries has more than 18 digits: '${cfg[retries]}'"
decimal_ok "${cfg[interval]}" || bad_usage "bad --interval '${cfg[interval]}'"
decimal_ok "${cfg[timeout]}" || bad_usage "bad --timeout '${cfg[timeout]}'"

new="${cfg[name]}-$VERSION"
previous=
if [[ -f ${cfg[state-file]} ]]; then
  read -r previous <"${cfg[state-file]}" || true
fi
old="${cfg[name]}-$previous"

docker_do() { "${cfg[docker]}" "$@" 1>&2; }

phase=checking
# shellcheck disable=SC2329  # invoked by the EXIT trap
finish() {
  local status=$?
  trap - EXIT
  if [[ $phase == swapping ]]; then
    say ERROR "rollback of $VERSION: removing $new"
    docker_do rm -f "$new" || say ERROR "rollback: docker rm -f $new failed"
    if [[ -n $previous ]]; then
      docker_do start "$old" || say ERROR "rollback: docker start $old failed, nothing serves"
    fi
    exit 1
  fi
  exit "$status"
}
trap finish EXIT

if [[ $VERSION == "$previous" ]]; then
  say ERROR "$VERSION is the version already serving; refusing to redeploy it"
  exit 1
fi

say INFO "build ${cfg[image]}:$VERSION"
if ! docker_do build -t "${cfg[image]}:$VERSION" "${build_extra[@]}" "${cfg[context]}"; then
  say ERROR "build failed, nothing changed"
  exit 1
fi

phase=swapping
if [[ -n $previous ]]; then
  say INFO "stop $old"
  docker_do stop "$old" || say WARN "docker stop $old failed; carrying on"
fi
say INFO "run $new on 127.0.0.1:$port"
if ! docker_do run --detach --name "$new" --publish "127.0.0.1:$port:8000" "${run_extra[@]}" "${cfg[image]}:$VERSION"; then
  say ERROR "container $new did not start"
  exit 1
fi

attempt=1
while :; do
  status=$(curl -s -o /dev/null -w '%{http_code}' -m "${cfg[timeout]}" "http://127.0.0.1:$port/health") || true
  if [[ $status == 200 ]]; then
    say INFO "health check $attempt passed"
    break
  fi
  say WARN "health check $attempt of $retries failed (HTTP $status)"
  if [[ $attempt -ge $retries ]]; then
    say ERROR "$new never became healthy"
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep "${cfg[interval]}"
done

phase=promoted
if [[ -n $previous ]]; then
  docker_do rm -f "$old" || say WARN "could not remove the old container $old"
fi
printf '%s\n' "$VERSION" >"${cfg[state-file]}.new.$$"
mv "${cfg[state-file]}.new.$$" "${cfg[state-file]}"
say INFO "promoted $VERSION"
exit 0
