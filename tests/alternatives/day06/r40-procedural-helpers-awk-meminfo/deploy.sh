#!/usr/bin/env bash
# deploy.sh: build a new version, swap it in on the same port, check its health, and roll
# back to the previous container when it never becomes healthy.
# Exit codes: 0 promoted, 1 deploy failed (the previous version serves again), 2 usage error.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: deploy.sh [options] VERSION
  --image NAME  --name NAME  --port PORT  --context DIR  --build-arg K=V (repeatable)
  --label K=V (repeatable)  --state-file PATH  --retries N  --interval SECONDS
  --timeout SECONDS  --docker PATH          (docker binary also from env DOCKER)
  -h, --help    print this usage on stdout, exit 0
USAGE
}

die_usage() { echo "deploy.sh: $1" >&2; usage >&2; exit 2; }

log() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) [$1] $2"; }

is_positive_decimal() {
  [[ $1 =~ ^[0-9]+(\.[0-9]+)?$|^\.[0-9]+$ ]] || return 1
  [[ $1 =~ [1-9] ]]
}

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
HAVE_VERSION=0
PREVIOUS=

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
    *)
      ((HAVE_VERSION == 0)) || die_usage "more than one VERSION (not shown: it may hold a token)"
      VERSION=$1; HAVE_VERSION=1; shift ;;
  esac
done

((HAVE_VERSION)) || die_usage "VERSION is missing"
LC_ALL=C
[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "bad VERSION: $VERSION"
if ! [[ $PORT =~ ^[0-9]{1,5}$ ]] || ((10#$PORT < 1 || 10#$PORT > 65535)); then die_usage "bad --port: $PORT"; fi
PORT=$((10#$PORT))
[[ $RETRIES =~ ^[0-9]+$ ]] || die_usage "bad --retries: $RETRIES"
while [[ $RETRIES == 0* ]]; do RETRIES=${RETRIES#0}; done
[[ -n $RETRIES ]] || die_usage "--retries must be positive"
((${#RETRIES} <= 18)) || die_usage "--retries too big"
is_positive_decimal "$INTERVAL" || die_usage "bad --interval: $INTERVAL"
is_positive_decimal "$TIMEOUT" || die_usage "bad --timeout: $TIMEOUT"
[[ -n $IMAGE && -n $NAME && -n $CONTEXT && -n $STATE_FILE && -n $DOCKER ]] || die_usage "empty value"

dock() { "$DOCKER" "$@" >&2; }

if [[ -s $STATE_FILE ]]; then
  PREVIOUS=$(<"$STATE_FILE")
  PREVIOUS=${PREVIOUS%$'\n'}
fi

if [[ -n $PREVIOUS && $PREVIOUS == "$VERSION" ]]; then
  log ERROR "version $VERSION is already serving; refusing to redeploy it (use a new tag)"
  exit 1
fi

roll_back() {
  log ERROR "rolling back version=$VERSION"
  dock rm -f "$NAME-$VERSION" || log ERROR "could not remove $NAME-$VERSION"
  if [[ -n $PREVIOUS ]]; then
    dock start "$NAME-$PREVIOUS" || log ERROR "could not restart $NAME-$PREVIOUS"
  fi
  log ERROR "rollback done; deploy of $VERSION failed"
  exit 1
}

healthy() {
  local i code
  for ((i = 1; i <= RETRIES; i++)); do
    code=$(curl --silent --output /dev/null --write-out '%{http_code}' \
      --connect-timeout "$TIMEOUT" --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health") || true
    if [[ $code == 200 ]]; then
      log INFO "health check $i passed"
      return 0
    fi
    log WARN "health check $i/$RETRIES failed status=${code:-000}"
    if ((i < RETRIES)); then sleep "$INTERVAL"; fi
  done
  return 1
}

log INFO "building $IMAGE:$VERSION"
if ! dock build -t "$IMAGE:$VERSION" "${BUILD_ARGS[@]}" "$CONTEXT"; then
  log ERROR "build of $IMAGE:$VERSION failed"
  exit 1
fi

if [[ -n $PREVIOUS ]]; then
  log INFO "stopping $NAME-$PREVIOUS"
  if ! dock stop "$NAME-$PREVIOUS"; then
    log ERROR "could not stop $NAME-$PREVIOUS"
    exit 1
  fi
fi

log INFO "starting $NAME-$VERSION on 127.0.0.1:$PORT"
if ! dock run --detach --name "$NAME-$VERSION" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$IMAGE:$VERSION"; then
  log ERROR "container $NAME-$VERSION did not start"
  roll_back
fi

if ! healthy; then
  log ERROR "$NAME-$VERSION never became healthy"
  roll_back
fi

if [[ -n $PREVIOUS ]]; then
  log INFO "removing $NAME-$PREVIOUS"
  dock rm -f "$NAME-$PREVIOUS" || log WARN "could not remove $NAME-$PREVIOUS"
fi

tmp=$(mktemp "$STATE_FILE.XXXXXX")
printf '%s\n' "$VERSION" > "$tmp"
mv "$tmp" "$STATE_FILE"
log INFO "deployed $VERSION"
exit 0
