#!/usr/bin/env bash
# deploy.sh: build a new version, swap it in on the same port, check its health, and roll
# back to the previous container when it never becomes healthy.
# Exit codes: 0 promoted, 1 deploy failed (the previous version serves again), 2 usage error.
set -euo pipefail
shopt -s extglob
export TZ=UTC0

usage_text() {
  cat <<'EOT'
usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)
EOT
}

say() {
  local now
  printf -v now '%(%Y-%m-%dT%H:%M:%S)T' -1
  printf '%sZ [%s] %s\n' "$now" "$1" "$2"
}

refuse() {
  printf 'deploy.sh: %s\n' "$1" >&2
  usage_text >&2
  exit 2
}

readonly TAGCHAR='ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_'

seconds_ok() {
  case $1 in
    +([0-9])?(.*([0-9])) | .+([0-9])) ;;
    *) return 1 ;;
  esac
  [[ $1 == *[123456789]* ]]
}

declare -A cfg=([image]=ml-model [name]=ml-model [port]=8000 [context]=. [state-file]=.deployed-version
  [retries]=10 [interval]=1 [timeout]=5 [docker]="${DOCKER:-docker}")
build_flags=()
label_flags=()
positional=()
unlimited_checks=no

parse_args() {
  while (($#)); do
    case $1 in
      -h | --help) usage_text; exit 0 ;;
      --image | --name | --port | --context | --state-file | --retries | --interval | --timeout | --docker)
        (($# > 1)) || refuse "$1 needs a value"
        cfg[${1#--}]=$2; shift 2 ;;
      --build-arg)
        (($# > 1)) || refuse "$1 needs a value"
        build_flags+=("--build-arg=$2"); shift 2 ;;
      --label)
        (($# > 1)) || refuse "$1 needs a value"
        label_flags+=("--label=$2"); shift 2 ;;
      --) shift; positional+=("$@"); break ;;
      -?*) refuse "unknown option ${1%%=*}" ;;
      *) positional+=("$1"); shift ;;
    esac
  done
  ((${#positional[@]} == 1)) || refuse "expected exactly one VERSION, got ${#positional[@]}"
  VERSION=${positional[0]}
  ((${#VERSION} <= 128)) || refuse "VERSION is longer than 128 characters"
  case $VERSION in
    ["$TAGCHAR"]*(["$TAGCHAR.-"])) ;;
    *) refuse "VERSION is not a valid image tag" ;;
  esac
  case ${cfg[port]} in
    +([0-9])) ;;
    *) refuse "bad --port" ;;
  esac
  local port=${cfg[port]##+(0)}
  if [[ -z $port ]] || ((${#port} > 5)) || ((10#$port > 65535)); then
    refuse "--port must be 1-65535"
  fi
  cfg[port]=$((10#$port))
  case ${cfg[retries]} in
    +([0-9])) ;;
    *) refuse "bad --retries" ;;
  esac
  local retries=${cfg[retries]##+(0)}
  [[ -n $retries ]] || refuse "--retries must be at least 1"
  if ((${#retries} > 18)); then
    unlimited_checks=yes # more checks than anyone will ever wait for
    cfg[retries]=1
  else
    cfg[retries]=$((10#$retries))
  fi
  seconds_ok "${cfg[interval]}" || refuse "bad --interval"
  seconds_ok "${cfg[timeout]}" || refuse "bad --timeout"
}

docker_do() {
  "${cfg[docker]}" "$@" 1>&2
}

status_of_health() {
  curl -s -o /dev/null -w '%{http_code}' --connect-timeout "${cfg[timeout]}" -m "${cfg[timeout]}" \
    "http://127.0.0.1:${cfg[port]}/health" || :
}

wait_until_healthy() {
  local attempt=1 code
  while :; do
    code=$(status_of_health)
    if [[ $code == 200 ]]; then
      say INFO "health check $attempt passed"
      return 0
    fi
    say WARN "health check $attempt failed: HTTP ${code:-000}"
    if [[ $unlimited_checks == no ]] && ((attempt >= cfg[retries])); then
      return 1
    fi
    attempt=$((attempt + 1))
    sleep "${cfg[interval]}"
  done
}

undo() {
  say ERROR "rollback: removing ${cfg[name]}-$VERSION"
  docker_do rm --force "${cfg[name]}-$VERSION" || say ERROR "rollback: removing ${cfg[name]}-$VERSION failed"
  if [[ -n $serving ]]; then
    say INFO "rollback: starting ${cfg[name]}-$serving again"
    docker_do start "${cfg[name]}-$serving" || say ERROR "rollback: starting ${cfg[name]}-$serving failed"
  fi
  exit 1
}

record_version() {
  local tmp="${cfg[state-file]}.new.$$"
  printf '%s\n' "$VERSION" >"$tmp" && mv -f "$tmp" "${cfg[state-file]}"
}

main() {
  parse_args "$@"
  serving=
  if [[ -f ${cfg[state-file]} ]]; then
    read -r serving <"${cfg[state-file]}" || :
  fi
  if [[ $serving == "$VERSION" && -n $serving ]]; then
    say ERROR "refused: $VERSION is already serving; a changed image needs a new tag"
    exit 1
  fi
  local keys=() arg
  for arg in "${build_flags[@]}"; do
    arg=${arg#--build-arg=}
    keys+=("${arg%%=*}")
  done
  say INFO "build ${cfg[image]}:$VERSION from ${cfg[context]} (${#keys[@]} build args: ${keys[*]})"
  docker_do build -t "${cfg[image]}:$VERSION" "${build_flags[@]}" "${cfg[context]}" || {
    say ERROR "build failed: nothing changed"
    exit 1
  }
  if [[ -n $serving ]]; then
    say INFO "stop ${cfg[name]}-$serving"
    docker_do stop "${cfg[name]}-$serving" || {
      say ERROR "stop of ${cfg[name]}-$serving failed: giving up, nothing changed"
      exit 1
    }
  fi
  say INFO "run ${cfg[name]}-$VERSION on 127.0.0.1:${cfg[port]}"
  if ! docker_do run --detach --name "${cfg[name]}-$VERSION" --publish "127.0.0.1:${cfg[port]}:8000" \
    "${label_flags[@]}" "${cfg[image]}:$VERSION"; then
    say ERROR "${cfg[name]}-$VERSION did not start"
    undo
  fi
  wait_until_healthy || undo
  if [[ -n $serving ]]; then
    say INFO "remove ${cfg[name]}-$serving"
    docker_do rm --force "${cfg[name]}-$serving" || say WARN "remove of ${cfg[name]}-$serving failed (ignored)"
  fi
  record_version
  say INFO "promoted $VERSION"
}

main "$@"
