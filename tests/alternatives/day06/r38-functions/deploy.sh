#!/usr/bin/env bash
# deploy.sh: build, swap, check, promote or roll back.
set -euo pipefail

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
  [[ $1 =~ ^[0-9]+(\.[0-9]+)?$ || $1 =~ ^\.[0-9]+$ ]] || return 1
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
PREVIOUS=
have_version=0

while (($# > 0)); do
  case $1 in
    --image|--name|--port|--context|--build-arg|--label|--state-file|--retries|--interval|--timeout|--docker)
      (($# >= 2)) || die_usage "$1 needs a value"
      case $1 in
        --image) IMAGE=$2 ;;
        --name) NAME=$2 ;;
        --port) PORT=$2 ;;
        --context) CONTEXT=$2 ;;
        --build-arg) BUILD_ARGS+=(--build-arg "$2") ;;
        --label) LABELS+=(--label "$2") ;;
        --state-file) STATE_FILE=$2 ;;
        --retries) RETRIES=$2 ;;
        --interval) INTERVAL=$2 ;;
        --timeout) TIMEOUT=$2 ;;
        --docker) DOCKER=$2 ;;
      esac
      shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die_usage "unknown option: ${1%%=*}" ;;
    *)
      ((have_version == 0)) || die_usage "exactly one VERSION, got another (not shown: it may hold a token)"
      VERSION=$1; have_version=1; shift ;;
  esac
done

((have_version)) || die_usage "VERSION is missing"
LC_ALL=C
[[ $VERSION =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die_usage "not a valid tag: $VERSION"
if ! [[ $PORT =~ ^[0-9]{1,5}$ ]] || ((10#$PORT < 1 || 10#$PORT > 65535)); then die_usage "bad --port: $PORT"; fi
PORT=$((10#$PORT))
if ! [[ $RETRIES =~ ^[0-9]{1,18}$ ]] || ((10#$RETRIES == 0)); then die_usage "bad --retries: $RETRIES"; fi
RETRIES=$((10#$RETRIES))
is_positive_decimal "$INTERVAL" || die_usage "bad --interval: $INTERVAL"
is_positive_decimal "$TIMEOUT" || die_usage "bad --timeout: $TIMEOUT"

dock() {
  timeout 600 "$DOCKER" "$@" >&2
}

if [[ -s $STATE_FILE ]]; then
  PREVIOUS=$(<"$STATE_FILE")
  PREVIOUS=${PREVIOUS//[[:space:]]/}
fi

if [[ -n $PREVIOUS && $PREVIOUS == "$VERSION" ]]; then
  log ERROR "version $VERSION is already serving: refusing to deploy it again (use a new tag)"
  exit 1
fi

roll_back() {
  log ERROR "rolling back version=$VERSION"
  dock rm -f "$NAME-$VERSION" || log ERROR "could not remove $NAME-$VERSION"
  if [[ -n $PREVIOUS ]]; then
    dock start "$NAME-$PREVIOUS" || log ERROR "could not restart $NAME-$PREVIOUS"
  fi
  log ERROR "rollback done: deploy of $VERSION failed"
  exit 1
}

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

log INFO "building $IMAGE:$VERSION"
dock build -t "$IMAGE:$VERSION" "${BUILD_ARGS[@]}" "$CONTEXT" || { log ERROR "build failed"; exit 1; }

if [[ -n $PREVIOUS ]]; then
  log INFO "stopping $NAME-$PREVIOUS"
  if ! dock stop "$NAME-$PREVIOUS"; then
    log ERROR "could not stop $NAME-$PREVIOUS"
    exit 1
  fi
fi

log INFO "starting $NAME-$VERSION on 127.0.0.1:$PORT"
dock run --detach --name "$NAME-$VERSION" --publish "127.0.0.1:$PORT:8000" "${LABELS[@]}" "$IMAGE:$VERSION" \
  || { log ERROR "container did not start"; roll_back; }

healthy || { log ERROR "never became healthy"; roll_back; }

if [[ -n $PREVIOUS ]]; then
  log INFO "removing $NAME-$PREVIOUS"
  dock rm -f "$NAME-$PREVIOUS" || log WARN "could not remove $NAME-$PREVIOUS"
fi

tmp=$(mktemp "$STATE_FILE.XXXXXX")
printf '%s\n' "$VERSION" > "$tmp"
mv "$tmp" "$STATE_FILE"
log INFO "promoted $VERSION"
exit 0
