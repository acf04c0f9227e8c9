#!/usr/bin/env bash
# deploy.sh — build, swap, health-check and promote a model container; roll back on failure.
set -o errexit -o nounset -o pipefail
shopt -s extglob

declare -A CFG=(
  [image]=ml-model [name]=ml-model [port]=8000 [context]=. [state-file]=.deployed-version
  [retries]=10 [interval]=1 [timeout]=5 [docker]="${DOCKER:-docker}"
)
declare -a BUILD_OPTS=() RUN_OPTS=() POSITIONAL=()
PHASE=init          # init -> swapping -> promoted
NEW_CONTAINER=""
OLD_CONTAINER=""

show_usage() {
  printf '%s\n' \
    "usage: deploy.sh [options] VERSION" \
    "  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)" \
    "  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS" \
    "  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)"
}

bad_usage() {
  printf 'deploy.sh: %s\n' "$*" >&2
  show_usage >&2
  exit 2
}

note() {
  local level=$1
  shift
  printf '%s [%s] %s\n' "$(TZ=UTC date +%FT%TZ)" "$level" "$*"
}

engine() { timeout 300 "${CFG[docker]}" "$@" 1>&2; }

is_decimal() { case $1 in +([0-9])?(.+([0-9]))) [[ $1 == *[1-9]* ]] ;; *) false ;; esac; }
is_count() { case $1 in +([0-9])) [[ $1 == *[1-9]* ]] ;; *) false ;; esac; }
is_port() { case $1 in +([0-9])) [[ ${#1} -le 5 ]] && (( 10#$1 >= 1 && 10#$1 <= 65535 )) ;; *) false ;; esac; }

parse() {
  while (($#)); do
    case $1 in
      -h|--help) show_usage; exit 0 ;;
      --build-arg|--label)
        (($# > 1)) || bad_usage "$1 needs a value"
        if [[ $1 == --build-arg ]]; then BUILD_OPTS+=("--build-arg=$2"); else RUN_OPTS+=("--label=$2"); fi
        shift 2 ;;
      --image|--name|--port|--context|--state-file|--retries|--interval|--timeout|--docker)
        (($# > 1)) || bad_usage "$1 needs a value"
        CFG[${1#--}]=$2
        shift 2 ;;
      --) shift; POSITIONAL+=("$@"); break ;;
      -?*) bad_usage "unknown option ${1%%=*}" ;;
      *) POSITIONAL+=("$1"); shift ;;
    esac
  done
  ((${#POSITIONAL[@]} == 1)) || bad_usage "expected exactly one VERSION, got ${#POSITIONAL[@]}"
  VERSION=${POSITIONAL[0]}
  [[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || bad_usage "invalid VERSION"
  is_port "${CFG[port]}" || bad_usage "invalid --port"
  is_count "${CFG[retries]}" || bad_usage "invalid --retries"
  [[ ${CFG[retries]} =~ ^0*[0-9]{1,18}$ ]] || bad_usage "--retries has more than 18 digits: ${CFG[retries]}"
  is_decimal "${CFG[interval]}" || bad_usage "invalid --interval"
  is_decimal "${CFG[timeout]}" || bad_usage "invalid --timeout"
}

# EXIT trap: whatever happened before promotion, undo it in the right order.
finish() {
  local rc=$?
  trap - EXIT
  if [[ $PHASE == swapping ]]; then
    note ERROR "rollback: removing ${NEW_CONTAINER}"
    engine rm -f "$NEW_CONTAINER" || note ERROR "rollback: docker rm -f ${NEW_CONTAINER} failed"
    if [[ -n $OLD_CONTAINER ]]; then
      note ERROR "rollback: starting ${OLD_CONTAINER} again"
      engine start "$OLD_CONTAINER" || note ERROR "rollback: docker start ${OLD_CONTAINER} failed, nothing serves"
    fi
    note ERROR "rollback finished; deploy failed"
    exit 1
  fi
  if [[ $rc -ne 0 && $rc -ne 2 ]]; then exit 1; fi
  exit "$rc"
}

probe_once() {
  local code
  code=$(curl -so /dev/null -w '%{http_code}' -m "${CFG[timeout]}" "http://127.0.0.1:$((10#${CFG[port]}))/health") || true
  [[ $code == 200 ]]
}

wait_healthy() {
  local attempt=0 total=$((10#${CFG[retries]}))
  while :; do
    attempt=$((attempt + 1))
    if probe_once; then
      note INFO "health check ${attempt}/${total}: ok"
      return 0
    fi
    note WARN "health check ${attempt}/${total}: failed"
    [[ $attempt -lt $total ]] || return 1
    sleep "${CFG[interval]}"
  done
}

main() {
  parse "$@"
  local state=${CFG[state-file]} previous=""
  if [[ -f $state ]]; then
    read -r previous <"$state" || true
  fi
  NEW_CONTAINER="${CFG[name]}-$VERSION"
  if [[ -n $previous ]]; then OLD_CONTAINER="${CFG[name]}-$previous"; fi
  if [[ $previous == "$VERSION" ]]; then
    note ERROR "refused: $VERSION is the version already serving; give a changed image a new tag"
    exit 1
  fi
  trap finish EXIT

  note INFO "build ${CFG[image]}:$VERSION from ${CFG[context]}"
  if ! engine build "${BUILD_OPTS[@]}" --tag "${CFG[image]}:$VERSION" "${CFG[context]}"; then
    note ERROR "build failed; nothing was changed"
    exit 1
  fi

  PHASE=swapping
  if [[ -n $OLD_CONTAINER ]]; then
    note INFO "stop $OLD_CONTAINER"
    engine stop "$OLD_CONTAINER" || { note ERROR "docker stop $OLD_CONTAINER failed"; exit 1; }
  fi
  note INFO "run $NEW_CONTAINER"
  engine run -d --name "$NEW_CONTAINER" -p "127.0.0.1:$((10#${CFG[port]})):8000" "${RUN_OPTS[@]}" \
    "${CFG[image]}:$VERSION" || { note ERROR "docker run failed"; exit 1; }
  wait_healthy || { note ERROR "$NEW_CONTAINER never became healthy"; exit 1; }

  PHASE=promoted
  if [[ -n $OLD_CONTAINER ]]; then
    engine rm -f "$OLD_CONTAINER" || note WARN "could not remove $OLD_CONTAINER (it is stopped; remove it by hand)"
  fi
  local tmp
  tmp=$(mktemp "$state.XXXXXX")
  printf '%s\n' "$VERSION" >"$tmp"
  mv -f -- "$tmp" "$state"
  note INFO "promoted $VERSION"
}

main "$@"
