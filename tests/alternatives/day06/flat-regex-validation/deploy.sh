#!/usr/bin/env bash
set -euo pipefail

IMAGE=ml-model
NAME=ml-model
PORT=8000
CONTEXT=.
STATE_FILE=.deployed-version
RETRIES=10
INTERVAL=1
TIMEOUT=5
DOCKER_BIN=${DOCKER:-docker}
BUILD_ARGS=()
LABELS=()
POSITIONAL=()

usage() {
  cat <<'USAGE'
usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)
USAGE
}
die_usage() { echo "deploy.sh: $1" >&2; usage >&2; exit 2; }
log() { printf '%s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2"; }
is_pos_number() { [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]] && [[ ! $1 =~ ^0+(\.0+)?$ ]]; }
is_pos_int() { [[ $1 =~ ^[0-9]+$ ]] && ((10#$1 > 0)); }

need() { (($1 >= 2)) || die_usage "$2 needs a value"; }
while (($# > 0)); do
  case $1 in
    --image) need $# "$1"; IMAGE=$2; shift 2 ;;
    --name) need $# "$1"; NAME=$2; shift 2 ;;
    --port) need $# "$1"; PORT=$2; shift 2 ;;
    --context) need $# "$1"; CONTEXT=$2; shift 2 ;;
    --build-arg) need $# "$1"; BUILD_ARGS+=(--build-arg "$2"); shift 2 ;;
    --label) need $# "$1"; LABELS+=(--label "$2"); shift 2 ;;
    --state-file) need $# "$1"; STATE_FILE=$2; shift 2 ;;
    --retries) need $# "$1"; RETRIES=$2; shift 2 ;;
    --interval) need $# "$1"; INTERVAL=$2; shift 2 ;;
    --timeout) need $# "$1"; TIMEOUT=$2; shift 2 ;;
    --docker) need $# "$1"; DOCKER_BIN=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die_usage "unknown option: ${1%%=*}" ;;
    *) POSITIONAL+=("$1"); shift ;;
  esac
done
((${#POSITIONAL[@]} == 1)) || die_usage "exactly one VERSION expected"
VERSION=${POSITIONAL[0]}
[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "bad VERSION: $VERSION"
if ! [[ $PORT =~ ^[0-9]{1,5}$ ]] || ((10#$PORT < 1 || 10#$PORT > 65535)); then die_usage "bad --port: $PORT"; fi
is_pos_int "$RETRIES" || die_usage "bad --retries: $RETRIES"
[[ $RETRIES =~ ^0*[0-9]{1,18}$ ]] || die_usage "--retries has more than 18 digits: $RETRIES"
is_pos_number "$INTERVAL" || die_usage "bad --interval: $INTERVAL"
is_pos_number "$TIMEOUT" || die_usage "bad --timeout: $TIMEOUT"
PORT=$((10#$PORT))
RETRIES=$((10#$RETRIES))

dock() { timeout 600 "$DOCKER_BIN" "$@" >&2; }

PREVIOUS=
if [[ -s $STATE_FILE ]]; then
  PREVIOUS=$(<"$STATE_FILE")
  PREVIOUS=${PREVIOUS//[[:space:]]/}
fi
[[ $VERSION != "$PREVIOUS" ]] || { log ERROR "$VERSION is already serving, nothing to deploy"; exit 1; }

healthy() {
  local i code
  for ((i = 1; i <= RETRIES; i++)); do
    code=$(curl --silent --output /dev/null --write-out '%{http_code}' \
      --connect-timeout "$TIMEOUT" --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health") || true
    if [[ $code == 200 ]]; then
      log INFO "health check $i/$RETRIES passed"
      return 0
    fi
    log WARN "health check $i/$RETRIES failed status=${code:-000}"
    if ((i < RETRIES)); then sleep "$INTERVAL"; fi
  done
  return 1
}

roll_back() {
  log ERROR "rolling back version=$VERSION"
  dock rm --force "$NAME-$VERSION" || log ERROR "could not remove $NAME-$VERSION"
  if [[ -n $PREVIOUS ]]; then
    dock start "$NAME-$PREVIOUS" || log ERROR "could not restart $NAME-$PREVIOUS"
  fi
  exit 1
}

log INFO "building $IMAGE:$VERSION from $CONTEXT"
dock build -t "$IMAGE:$VERSION" "${BUILD_ARGS[@]}" "$CONTEXT" || { log ERROR "build failed"; exit 1; }
if [[ -n $PREVIOUS ]]; then
  log INFO "stopping $NAME-$PREVIOUS"
  dock stop "$NAME-$PREVIOUS" || log WARN "could not stop $NAME-$PREVIOUS"
fi
log INFO "starting $NAME-$VERSION on 127.0.0.1:$PORT"
dock run --detach --name "$NAME-$VERSION" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$IMAGE:$VERSION" || roll_back
healthy || roll_back
if [[ -n $PREVIOUS ]]; then
  log INFO "removing $NAME-$PREVIOUS"
  dock rm --force "$NAME-$PREVIOUS" || log WARN "could not remove $NAME-$PREVIOUS"
fi
tmp="$STATE_FILE.tmp.$$"
printf '%s\n' "$VERSION" > "$tmp"
mv "$tmp" "$STATE_FILE"
log INFO "promoted version=$VERSION"
