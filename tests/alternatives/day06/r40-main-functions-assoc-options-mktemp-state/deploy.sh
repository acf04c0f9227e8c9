#!/usr/bin/env bash
# deploy.sh: build a new version, swap it in on the same port, check its health, and roll
# back to the previous container when it never becomes healthy.
# Exit codes: 0 promoted, 1 deploy failed (the previous version serves again), 2 usage error.
set -euo pipefail

readonly USAGE='usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)'

declare -A CFG=([image]=ml-model [name]=ml-model [port]=8000 [context]=. [state-file]=.deployed-version
                [retries]=10 [interval]=1 [timeout]=5 [docker]="${DOCKER:-docker}")
declare -a BUILD_OPTS=() RUN_OPTS=() POSITIONAL=()
PREV=''

stamp() { TZ=UTC0 printf '%(%Y-%m-%dT%H:%M:%SZ)T' -1; }
say() { local level=$1; shift; printf '%s [%s] %s\n' "$(stamp)" "$level" "$*"; }
bad() { printf 'deploy.sh: %s\n%s\n' "$1" "$USAGE" >&2; exit 2; }

decimal_ok() {
  case $1 in '' | *[!0-9.]* | *.*.* | . | *.) return 1 ;; esac
  case $1 in *[1-9]*) return 0 ;; *) return 1 ;; esac
}

engine() { "${CFG[docker]}" "$@" 1>&2; }

parse() {
  while [[ $# -gt 0 ]]; do
    case $1 in
      -h | --help) echo "$USAGE"; exit 0 ;;
      --build-arg | --label | --image | --name | --port | --context | --state-file | --retries | --interval | --timeout | --docker)
        [[ $# -ge 2 ]] || bad "$1 needs a value"
        case $1 in
          --build-arg) BUILD_OPTS+=("$1" "$2") ;;
          --label) RUN_OPTS+=("$1" "$2") ;;
          *) CFG[${1#--}]=$2 ;;
        esac
        shift 2 ;;
      -?*) bad "unknown option: ${1%%=*}" ;;
      *) POSITIONAL+=("$1"); shift ;;
    esac
  done
  [[ ${#POSITIONAL[@]} -eq 1 ]] || bad "exactly one VERSION is needed"
  VERSION=${POSITIONAL[0]}
  local LC_ALL=C
  [[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || bad "not a valid tag: $VERSION"
  case ${CFG[port]} in '' | *[!0-9]*) bad "bad --port" ;; esac
  [[ ${#CFG[port]} -le 5 ]] || bad "bad --port"
  CFG[port]=$((10#${CFG[port]}))
  ((CFG[port] >= 1 && CFG[port] <= 65535)) || bad "port out of range"
  case ${CFG[retries]} in '' | *[!0-9]*) bad "bad --retries" ;; esac
  shopt -s extglob
  CFG[retries]=${CFG[retries]##+(0)}
  [[ -n ${CFG[retries]} ]] || bad "--retries must be positive"
  # a count past what bash can hold is "that many": more checks than anyone will wait for
  [[ ${#CFG[retries]} -le 15 ]] || CFG[retries]=999999999999999
  decimal_ok "${CFG[interval]}" || bad "bad --interval"
  decimal_ok "${CFG[timeout]}" || bad "bad --timeout"
  [[ -n ${CFG[docker]} ]] || CFG[docker]=docker
}

wait_healthy() {
  local n=0 code url="http://127.0.0.1:${CFG[port]}/health"
  while ((n < CFG[retries])); do
    n=$((n + 1))
    code=$(curl -s -o /dev/null -w '%{response_code}' -m "${CFG[timeout]}" "$url") || code=${code:-000}
    [[ $code == 200 ]] && { say INFO "health check $n: HTTP 200"; return 0; }
    say WARN "health check $n: HTTP ${code:-000}"
    ((n >= CFG[retries])) || sleep "${CFG[interval]}"
  done
  return 1
}

undo() {
  local new="${CFG[name]}-$VERSION"
  say ERROR "rollback: removing $new"
  engine rm -f "$new" || say ERROR "rollback: docker rm -f $new failed"
  if [[ -n $PREV ]]; then
    say INFO "rollback: starting ${CFG[name]}-$PREV again"
    engine start "${CFG[name]}-$PREV" || say ERROR "rollback: docker start ${CFG[name]}-$PREV failed"
  fi
  say ERROR "rolled back; $VERSION was not deployed"
  exit 1
}

promote() {
  local dir tmp
  if [[ -n $PREV ]]; then
    engine rm -f "${CFG[name]}-$PREV" || say WARN "could not remove ${CFG[name]}-$PREV; carrying on"
  fi
  dir=$(dirname -- "${CFG[state-file]}")
  tmp=$(mktemp "$dir/.deployed.XXXXXX")
  printf '%s\n' "$VERSION" > "$tmp"
  mv -f -- "$tmp" "${CFG[state-file]}"
  say INFO "promoted $VERSION"
}

main() {
  parse "$@"
  local sf=${CFG[state-file]}
  if [[ -f $sf ]]; then
    PREV=$(head -n 1 -- "$sf")
  fi
  if [[ -n $PREV && "$PREV" == "$VERSION" ]]; then
    say ERROR "refusing: $VERSION is already serving"
    exit 1
  fi
  say INFO "build ${CFG[image]}:$VERSION from ${CFG[context]}"
  engine build -t "${CFG[image]}:$VERSION" "${BUILD_OPTS[@]}" "${CFG[context]}" || { say ERROR "build failed"; exit 1; }
  if [[ -n $PREV ]]; then
    say INFO "stop ${CFG[name]}-$PREV"
    engine stop "${CFG[name]}-$PREV" || say WARN "docker stop ${CFG[name]}-$PREV failed; carrying on"
  fi
  say INFO "run ${CFG[name]}-$VERSION on 127.0.0.1:${CFG[port]}"
  engine run --detach --name "${CFG[name]}-$VERSION" --publish "127.0.0.1:${CFG[port]}:8000" \
    "${RUN_OPTS[@]}" "${CFG[image]}:$VERSION" || { say ERROR "container did not start"; undo; }
  wait_healthy || { say ERROR "never healthy after ${CFG[retries]} checks"; undo; }
  promote
}

main "$@"
