#!/usr/bin/env bash
# deploy.sh: build a new version, swap it in, check its health, roll back when unhealthy.
set -euo pipefail

IMAGE=ml-model
NAME=ml-model
PORT=8000
CONTEXT=.
STATE_FILE=.deployed-version
RETRIES=10
INTERVAL=1
TIMEOUT=5
DOCKER=${DOCKER:-docker}
BUILD_ARGS=()
LABELS=()
VERSION=
PREVIOUS=

usage() {
  cat <<'USAGE'
usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)
USAGE
}

die_usage() {
  echo "deploy.sh: $1" >&2
  usage >&2
  exit 2
}

log() {
  local level=$1
  shift
  printf '%s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$level" "$*"
}

is_positive_decimal() {
  [[ $1 =~ ^[0-9]+(\.[0-9]+)?$|^\.[0-9]+$ ]] && [[ $1 =~ [1-9] ]]
}

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
    --docker) need $# "$1"; DOCKER=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die_usage "unknown option: ${1%%=*}" ;;
    *) [[ -z $VERSION ]] || die_usage "exactly one VERSION, got another (not shown: it may hold a token)"; VERSION=$1; shift ;;
  esac
done

[[ -n $VERSION ]] || die_usage "VERSION is missing"
[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "not a valid image tag: $VERSION"
if ! [[ $PORT =~ ^[0-9]{1,5}$ ]] || ((10#$PORT < 1 || 10#$PORT > 65535)); then
  die_usage "--port must be 1-65535: $PORT"
fi
if ! [[ $RETRIES =~ ^[0-9]+$ ]] || ((10#$RETRIES < 1)); then
  die_usage "--retries must be a positive integer: $RETRIES"
fi
[[ $RETRIES =~ ^0*[0-9]{1,18}$ ]] || die_usage "--retries has more than 18 digits: $RETRIES"
RETRIES=$((10#$RETRIES))
is_positive_decimal "$INTERVAL" || die_usage "--interval must be a positive number: $INTERVAL"
is_positive_decimal "$TIMEOUT" || die_usage "--timeout must be a positive number: $TIMEOUT"
[[ -n $IMAGE && -n $NAME && -n $DOCKER ]] || die_usage "--image, --name and --docker must not be empty"

dock() { timeout 600 "$DOCKER" "$@" >&2; }

healthy() {
  local i code
  for ((i = 1; i <= RETRIES; i++)); do
    code=$(curl --silent --output /dev/null --write-out '%{http_code}' \
      --connect-timeout "$TIMEOUT" --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health") || true
    if [[ $code == 200 ]]; then
      log INFO "health check $i/$RETRIES ok"
      return 0
    fi
    log WARN "health check $i/$RETRIES failed status=${code:-000}"
    ((i < RETRIES)) && sleep "$INTERVAL"
  done
  return 1
}

roll_back() {
  log ERROR "rolling back version=$VERSION"
  dock rm --force "$NAME-$VERSION" || log ERROR "could not remove $NAME-$VERSION"
  if [[ -n $PREVIOUS ]]; then
    dock start "$NAME-$PREVIOUS" || log ERROR "could not restart $NAME-$PREVIOUS"
    log INFO "rollback done: $NAME-$PREVIOUS serves again"
  fi
  exit 1
}

if [[ -s $STATE_FILE ]]; then
  PREVIOUS=$(<"$STATE_FILE")
  PREVIOUS=${PREVIOUS//[[:space:]]/}
fi
[[ $VERSION != "$PREVIOUS" ]] || { log ERROR "$VERSION is already serving, nothing to deploy"; exit 1; }

log INFO "deploying $IMAGE:$VERSION previous=${PREVIOUS:-none}"
log INFO "building $IMAGE:$VERSION from $CONTEXT"
if ! dock build -t "$IMAGE:$VERSION" "${BUILD_ARGS[@]}" "$CONTEXT"; then
  log ERROR "build failed"
  exit 1
fi

if [[ -n $PREVIOUS ]]; then
  log INFO "stopping $NAME-$PREVIOUS"
  dock stop "$NAME-$PREVIOUS" || log WARN "could not stop $NAME-$PREVIOUS"
fi

log INFO "starting $NAME-$VERSION on 127.0.0.1:$PORT"
dock run --detach --name "$NAME-$VERSION" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$IMAGE:$VERSION" \
  || { log ERROR "container did not start"; roll_back; }

healthy || { log ERROR "$NAME-$VERSION never became healthy"; roll_back; }

if [[ -n $PREVIOUS ]]; then
  log INFO "removing $NAME-$PREVIOUS"
  dock rm --force "$NAME-$PREVIOUS" || log WARN "could not remove $NAME-$PREVIOUS"
fi
tmp=$(mktemp "$STATE_FILE.XXXXXX")
printf '%s\n' "$VERSION" > "$tmp"
mv "$tmp" "$STATE_FILE"
log INFO "promoted $IMAGE:$VERSION"
