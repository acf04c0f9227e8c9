#!/usr/bin/env bash
# deploy.sh: build a new version, swap it in on the same port, check its health, roll back on failure.
# Exit codes: 0 promoted, 1 deploy failed, 2 usage error.
set -euo pipefail

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

is_positive_decimal() {
  [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ ]] && [[ $1 =~ [1-9] ]]
}

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
BUILD_KEYS=()
LABELS=()
VERSION=
have_version=0
PREVIOUS=

need() { (($1 >= 2)) || die_usage "$2 needs a value"; }

while (($# > 0)); do
  case $1 in
    --image) need $# "$1"; IMAGE=$2; shift 2 ;;
    --name) need $# "$1"; NAME=$2; shift 2 ;;
    --port) need $# "$1"; PORT=$2; shift 2 ;;
    --context) need $# "$1"; CONTEXT=$2; shift 2 ;;
    --build-arg) need $# "$1"
      BUILD_ARGS+=(--build-arg "$2"); BUILD_KEYS+=("${2%%=*}"); shift 2 ;;
    --label) need $# "$1"; LABELS+=(--label "$2"); shift 2 ;;
    --state-file) need $# "$1"; STATE_FILE=$2; shift 2 ;;
    --retries) need $# "$1"; RETRIES=$2; shift 2 ;;
    --interval) need $# "$1"; INTERVAL=$2; shift 2 ;;
    --timeout) need $# "$1"; TIMEOUT=$2; shift 2 ;;
    --docker) need $# "$1"; DOCKER_BIN=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift
      while (($# > 0)); do
        ((have_version == 0)) || die_usage "more than one VERSION"
        VERSION=$1; have_version=1; shift
      done ;;
    -?*) die_usage "unknown option: ${1%%=*}" ;;
    *) ((have_version == 0)) || die_usage "more than one VERSION"
      VERSION=$1; have_version=1; shift ;;
  esac
done

((have_version)) || die_usage "missing VERSION"
LC_ALL=C
[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "bad VERSION: $VERSION"
[[ -n $IMAGE ]] || die_usage "--image must not be empty"
[[ -n $NAME ]] || die_usage "--name must not be empty"
[[ -n $CONTEXT ]] || die_usage "--context must not be empty"
[[ -n $STATE_FILE ]] || die_usage "--state-file must not be empty"
[[ -n $DOCKER_BIN ]] || die_usage "--docker must not be empty"
[[ $PORT =~ ^[0-9]{1,10}$ ]] || die_usage "bad --port: $PORT"
((10#$PORT >= 1 && 10#$PORT <= 65535)) || die_usage "bad --port: $PORT"
PORT=$((10#$PORT))
[[ $RETRIES =~ ^[0-9]+$ ]] || die_usage "bad --retries: $RETRIES"
stripped=${RETRIES#"${RETRIES%%[!0]*}"}
[[ -n $stripped ]] || die_usage "--retries must be positive"
((${#stripped} <= 18)) || die_usage "--retries too big: $RETRIES"
RETRIES=$((10#$stripped))
is_positive_decimal "$INTERVAL" || die_usage "bad --interval: $INTERVAL"
is_positive_decimal "$TIMEOUT" || die_usage "bad --timeout: $TIMEOUT"

if [[ -s $STATE_FILE ]]; then
  PREVIOUS=$(<"$STATE_FILE")
fi

dock() { "$DOCKER_BIN" "$@" >&2; }

if [[ -n $PREVIOUS && $PREVIOUS == "$VERSION" ]]; then
  log ERROR "version $VERSION is already serving; refusing to redeploy it (use a new tag)"
  exit 1
fi

log INFO "deploying image=$IMAGE:$VERSION name=$NAME-$VERSION port=$PORT previous=${PREVIOUS:-none}"

roll_back() {
  log ERROR "rolling back version=$VERSION"
  dock rm -f "$NAME-$VERSION" || log ERROR "could not remove $NAME-$VERSION"
  if [[ -n $PREVIOUS ]]; then
    dock start "$NAME-$PREVIOUS" || log ERROR "could not restart $NAME-$PREVIOUS"
    log INFO "rollback: restarted $NAME-$PREVIOUS"
  fi
  exit 1
}

if ((${#BUILD_KEYS[@]})); then
  log INFO "build args: ${BUILD_KEYS[*]}"
fi
log INFO "building $IMAGE:$VERSION from $CONTEXT"
if ! dock build -t "$IMAGE:$VERSION" "${BUILD_ARGS[@]}" "$CONTEXT"; then
  log ERROR "build of $IMAGE:$VERSION failed"
  exit 1
fi

if [[ -n $PREVIOUS ]]; then
  log INFO "stopping $NAME-$PREVIOUS"
  dock stop "$NAME-$PREVIOUS" || log WARN "could not stop $NAME-$PREVIOUS; carrying on"
fi

log INFO "starting $NAME-$VERSION on 127.0.0.1:$PORT"
dock run --detach --name "$NAME-$VERSION" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$IMAGE:$VERSION" \
  || { log ERROR "container $NAME-$VERSION did not start"; roll_back; }

healthy() {
  local i=1 code
  while true; do
    code=$(curl --silent --output /dev/null --write-out '%{http_code}' \
      --connect-timeout "$TIMEOUT" --max-time "$TIMEOUT" "http://127.0.0.1:$PORT/health") || true
    if [[ $code == 200 ]]; then
      log INFO "health check $i/$RETRIES passed"
      return 0
    fi
    log WARN "health check $i/$RETRIES failed (HTTP ${code:-000})"
    if ((i >= RETRIES)); then return 1; fi
    i=$((i + 1))
    sleep "$INTERVAL"
  done
}

healthy || { log ERROR "$NAME-$VERSION never became healthy"; roll_back; }

if [[ -n $PREVIOUS ]]; then
  log INFO "removing $NAME-$PREVIOUS"
  dock rm -f "$NAME-$PREVIOUS" || log WARN "could not remove $NAME-$PREVIOUS"
fi

tmp=$(mktemp "$STATE_FILE.XXXXXX")
printf '%s\n' "$VERSION" > "$tmp"
mv -f "$tmp" "$STATE_FILE"
log INFO "promoted $IMAGE:$VERSION"
exit 0
