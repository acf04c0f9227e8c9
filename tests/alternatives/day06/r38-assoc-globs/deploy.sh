#!/usr/bin/env bash
# deploy.sh — build, swap, check, then promote or roll back; settings kept in one table.
set -euo pipefail
shopt -s extglob
export TZ=UTC0

readonly USAGE='usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)'

stamp() { printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1; }
say() { printf '%s [%s] %s\n' "$(stamp)" "$1" "$2"; }
bad_usage() { printf 'deploy.sh: %s\n%s\n' "$1" "$USAGE" >&2; exit 2; }

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

declare -A cfg=([image]=ml-model [name]=ml-model [port]=8000 [context]=. [state-file]=.deployed-version
                [retries]=10 [interval]=1 [timeout]=5 [docker]="${DOCKER:-docker}")
declare -a build_args=() labels=() positional=()
serving=""

docker_do() {
  timeout 600 "${cfg[docker]}" "$@" 1>&2
}

health_ok() {
  local left=${cfg[retries]} code
  while :; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout "${cfg[timeout]}" --max-time "${cfg[timeout]}" \
      "http://127.0.0.1:${cfg[port]}/health") || code=000
    left=$((left - 1))
    if [[ $code == 200 ]]; then
      say INFO "healthy (http 200)"
      return 0
    fi
    say WARN "not healthy yet (http $code), $left check(s) left"
    ((left > 0)) || return 1
    sleep "${cfg[interval]}"
  done
}

undo() {
  local new="${cfg[name]}-${positional[0]}"
  say ERROR "$1: rollback of ${positional[0]} begins"
  docker_do rm --force "$new" || say ERROR "rollback: removing $new failed"
  if [[ -n $serving ]]; then
    docker_do start "${cfg[name]}-$serving" || say ERROR "rollback: restarting ${cfg[name]}-$serving failed"
  fi
  say ERROR "rollback finished; ${serving:-nothing} is serving"
  exit 1
}

main() {
  while (($#)); do
    case $1 in
      -h|--help) printf '%s\n' "$USAGE"; exit 0 ;;
      --image|--name|--port|--context|--state-file|--retries|--interval|--timeout|--docker|--build-arg|--label)
        (($# > 1)) || bad_usage "$1 wants a value"
        case $1 in
          --build-arg) build_args+=("--build-arg=$2") ;;
          --label) labels+=("--label=$2") ;;
          *) cfg[${1#--}]=$2 ;;
        esac
        shift 2 ;;
      -?*) bad_usage "unknown option ${1%%=*}" ;;
      *) positional+=("$1"); shift ;;
    esac
  done
  ((${#positional[@]} == 1)) || bad_usage "give exactly one VERSION"
  local version=${positional[0]}
  local LC_ALL=C
  [[ $version =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || bad_usage "$version is not a valid tag"
  case ${cfg[port]} in
    [1-9]?([0-9])?([0-9])?([0-9])?([0-9])) ((cfg[port] <= 65535)) || bad_usage "port out of range" ;;
    *) bad_usage "bad port ${cfg[port]}" ;;
  esac
  case ${cfg[retries]} in
    +([0-9])) ;;
    *) bad_usage "retries must be a positive integer" ;;
  esac
  cfg[retries]=${cfg[retries]##+(0)}
  [[ -n ${cfg[retries]} ]] || bad_usage "retries must be a positive integer"
  ((${#cfg[retries]} <= 18)) || bad_usage "retries: too many"
  positive_decimal "${cfg[interval]}" || bad_usage "bad interval"
  positive_decimal "${cfg[timeout]}" || bad_usage "bad timeout"

  local state=${cfg[state-file]}
  if [[ -f $state ]]; then
    read -r serving <"$state" || true
  fi
  if [[ $serving == "$version" ]]; then
    say ERROR "$version is already serving; refusing to deploy it again"
    exit 1
  fi

  local image="${cfg[image]}:$version" new="${cfg[name]}-$version"
  say INFO "build $image from ${cfg[context]}"
  if ! docker_do build -t "$image" "${build_args[@]}" "${cfg[context]}"; then
    say ERROR "build of $image failed"
    exit 1
  fi
  if [[ -n $serving ]]; then
    say INFO "stop ${cfg[name]}-$serving"
    docker_do stop "${cfg[name]}-$serving" || undo "stopping ${cfg[name]}-$serving failed"
  fi
  say INFO "run $new on 127.0.0.1:${cfg[port]}"
  docker_do run --detach --name "$new" --publish "127.0.0.1:${cfg[port]}:8000" "${labels[@]}" "$image" \
    || undo "$new did not start"
  health_ok || undo "$new never became healthy"
  if [[ -n $serving ]]; then
    docker_do rm -f "${cfg[name]}-$serving" || say WARN "could not remove ${cfg[name]}-$serving (ignored)"
  fi
  local tmp
  tmp=$(mktemp "$state.XXXXXX")
  printf '%s\n' "$version" >"$tmp"
  mv -f -- "$tmp" "$state"
  say INFO "promoted $version"
}

main "$@"
