#!/usr/bin/env bash
# deploy.sh: build a new version, swap it in on the same port, check its health, and roll
# back to the previous container when it never becomes healthy.
# Exit codes: 0 promoted, 1 deploy failed (the previous version serves again), 2 usage error.
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
VERSION_SEEN=0

usage() {
  cat <<'USAGE'
usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)
  -h, --help    print this usage on stdout, exit 0
USAGE
}

die_usage() {
  echo "deploy.sh: $1" >&2
  usage >&2
  exit 2
}

log() {
  printf '%s [%s] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2"
}

positive_decimal() {
  [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ && $1 =~ [1-9] ]]
}

need() {
  (($1 >= 2)) || die_usage "$2 needs a value"
}

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
    *)
      ((VERSION_SEEN == 0)) || die_usage "exactly one VERSION, got another (not shown: it may hold a token)"
      VERSION=$1; VERSION_SEEN=1; shift ;;
  esac
done

((VERSION_SEEN)) || die_usage "VERSION is missing"
[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "not a valid image tag: $VERSION"
[[ $PORT =~ ^[0-9]{1,5}$ ]] || die_usage "--port must be a number of at most 5 digits: $PORT"
PORT=$((10#$PORT))
((PORT >= 1 && PORT <= 65535)) || die_usage "--port must be 1-65535: $PORT"
[[ $RETRIES =~ ^[0-9]+$ ]] || die_usage "--retries must be a positive integer: $RETRIES"
[[ $RETRIES =~ ^0*[0-9]{1,18}$ ]] || die_usage "--retries has more than 18 digits: $RETRIES"
RETRIES=$((10#$RETRIES))
((RETRIES > 0)) || die_usage "--retries must be a positive integer"
positive_decimal "$INTERVAL" || die_usage "--interval must be a positive number of seconds: $INTERVAL"
positive_decimal "$TIMEOUT" || die_usage "--timeout must be a positive number of seconds: $TIMEOUT"
[[ -n $IMAGE && -n $NAME && -n $CONTEXT && -n $STATE_FILE && -n $DOCKER ]] || die_usage "empty option value"

dock() {
  timeout 600 "$DOCKER" "$@" >&2
}

PREVIOUS=
if [[ -s $STATE_FILE ]]; then
  PREVIOUS=$(<"$STATE_FILE")
  PREVIOUS=${PREVIOUS//[[:space:]]/}
fi
[[ $VERSION != "$PREVIOUS" ]] || { log ERROR "$VERSION is already serving, nothing to deploy"; exit 1; }

healthy() {
  local attempt code
  for ((attempt = 1; attempt <= RETRIES; attempt++)); do
    code=$(curl --silent --output /dev/null --write-out '%{http_code}' \
      --connect-timeout "$TIMEOUT" --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health") || true
    if [[ $code == 200 ]]; then
      log INFO "health check $attempt/$RETRIES passed"
      return 0
    fi
    log WARN "health check $attempt/$RETRIES failed status=${code:-000}"
    if ((attempt < RETRIES)); then
      sleep "$INTERVAL"
    fi
  done
  return 1
}

roll_back() {
  log ERROR "rolling back version=$VERSION"
  dock rm --force "$NAME-$VERSION" || log ERROR "rollback: could not remove $NAME-$VERSION"
  if [[ -n $PREVIOUS ]]; then
    if dock start "$NAME-$PREVIOUS"; then
      log INFO "rollback: $NAME-$PREVIOUS serves again"
    else
      log ERROR "rollback: could not start $NAME-$PREVIOUS"
    fi
  fi
  exit 1
}

log INFO "deploying $IMAGE:$VERSION as $NAME-$VERSION on 127.0.0.1:$PORT (serving: ${PREVIOUS:-none})"
if ! dock build -t "$IMAGE:$VERSION" "${BUILD_ARGS[@]}" "$CONTEXT"; then
  log ERROR "build of $IMAGE:$VERSION failed"
  exit 1
fi
log INFO "built $IMAGE:$VERSION"

if [[ -n $PREVIOUS ]]; then
  log INFO "stopping $NAME-$PREVIOUS"
  dock stop "$NAME-$PREVIOUS" || log WARN "could not stop $NAME-$PREVIOUS"
fi

log INFO "starting $NAME-$VERSION"
dock run --detach --name "$NAME-$VERSION" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$IMAGE:$VERSION" || roll_back

healthy || roll_back

if [[ -n $PREVIOUS ]]; then
  dock rm --force "$NAME-$PREVIOUS" || log WARN "could not remove $NAME-$PREVIOUS"
fi
tmp=$(mktemp "$STATE_FILE.XXXXXX")
printf '%s\n' "$VERSION" >"$tmp"
mv -f "$tmp" "$STATE_FILE"
log INFO "promoted $VERSION"
